#include "collectors/time.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "collectors/proc_file.h"
#include "collectors/text.h"

namespace nines::collectors {
namespace internal {
namespace {

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Where the clocksources are (below sysfs), and how their directories are named.
constexpr std::string_view kClocksourceDir = "devices/system/clocksource";
constexpr std::string_view kClocksourcePrefix = "clocksource";

}  // namespace

double UnixSeconds(std::chrono::system_clock::time_point at) {
  const auto nanoseconds =
      std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  return static_cast<double>(nanoseconds) / 1e9;
}

bool GoUsesUtc(const char* tz) {
  // Go 1.19's time.initLocal (zoneinfo_unix.go), which node_exporter 1.5 runs at start.
  if (tz == nullptr) {
    return false;  // /etc/localtime; without it both Go and the C library use UTC
  }
  std::string_view name = tz;
  if (name.starts_with(':')) {
    name.remove_prefix(1);
  }
  if (name.empty() || name == "UTC") {
    return true;
  }
  if (name.starts_with('/')) {
    return !IsRegularFile(std::string(name));
  }
  constexpr std::array<std::string_view, 3> kZoneSources = {
      "/usr/share/zoneinfo/", "/usr/share/lib/zoneinfo/", "/usr/lib/locale/TZ/"};
  return std::none_of(kZoneSources.begin(), kZoneSources.end(), [name](std::string_view dir) {
    return IsRegularFile(std::string(dir) + std::string(name));
  });
}

TimeZone ZoneAt(std::chrono::system_clock::time_point at, bool utc) {
  if (utc) {
    return TimeZone{"UTC", 0};
  }
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm local{};
  if (::localtime_r(&seconds, &local) == nullptr) {
    throw std::runtime_error("cannot convert " + std::to_string(seconds) +
                             " seconds since the epoch to local time");
  }
  return TimeZone{local.tm_zone != nullptr ? local.tm_zone : "", local.tm_gmtoff};
}

std::vector<std::string> ParseAvailableClocksources(std::string_view text) {
  std::vector<std::string> names;
  names.reserve(4);
  for (std::string_view name = NextField(text); !name.empty(); name = NextField(text)) {
    if (!IsValidUtf8(name)) {
      throw std::runtime_error("clocksource name is not valid UTF-8 (got " + Quote(name) + ")");
    }
    // Two equal series would make the page invalid; the kernel lists each name once.
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      throw std::runtime_error("repeated clocksource " + Quote(name));
    }
    names.emplace_back(name);
  }
  return names;
}

std::string ParseCurrentClocksource(std::string_view text) {
  const std::string_view name = Trim(text);
  if (!IsValidUtf8(name)) {
    throw std::runtime_error("clocksource name is not valid UTF-8 (got " + Quote(name) + ")");
  }
  return std::string(name);
}

}  // namespace internal

namespace {

class TimeCollector final : public Collector {
 public:
  TimeCollector(std::function<std::chrono::system_clock::time_point()> now, bool utc,
                std::string clocksource_dir)
      : now_(std::move(now)), utc_(utc), clocksource_dir_(std::move(clocksource_dir)) {}

  void Update(SampleSink& sink) const override {
    const auto now = now_();
    sink.Gauge("node_time_seconds", "System time in seconds since epoch (1970).",
               internal::UnixSeconds(now));
    const internal::TimeZone zone = internal::ZoneAt(now, utc_);
    sink.Gauge("node_time_zone_offset_seconds", "System time zone offset in seconds.",
               static_cast<double>(zone.offset_seconds), {{"time_zone", zone.name}});

    const std::vector<std::string> dirs = ClocksourceDirs();
    // (clocksource, device) label values.
    std::vector<std::pair<std::string, std::string>> available_samples;
    std::vector<std::pair<std::string, std::string>> current_samples;
    available_samples.reserve(dirs.size() * 4);
    current_samples.reserve(dirs.size());
    for (std::size_t i = 0; i < dirs.size(); ++i) {
      const std::string device = std::to_string(i);
      const std::string available_path = dirs[i] + "/available_clocksource";
      const std::string available_text = File(available_path).Read();
      const std::string current_path = dirs[i] + "/current_clocksource";
      const std::string current_text = File(current_path).Read();
      std::vector<std::string> available;
      std::string current;
      try {
        available = internal::ParseAvailableClocksources(available_text);
      } catch (const std::runtime_error& e) {
        throw std::runtime_error(available_path + ": " + e.what());
      }
      try {
        current = internal::ParseCurrentClocksource(current_text);
      } catch (const std::runtime_error& e) {
        throw std::runtime_error(current_path + ": " + e.what());
      }
      for (std::string& name : available) {
        available_samples.emplace_back(std::move(name), device);
      }
      current_samples.emplace_back(std::move(current), device);
    }
    // Samples sorted by label values, labels sorted by name, as client_golang prints them,
    // so that the pages read the same.
    std::sort(available_samples.begin(), available_samples.end());
    std::sort(current_samples.begin(), current_samples.end());
    for (auto& [clocksource, device] : available_samples) {
      sink.Gauge("node_time_clocksource_available_info",
                 "Available clocksources read from '/sys/devices/system/clocksource'.", 1,
                 {{"clocksource", std::move(clocksource)}, {"device", std::move(device)}});
    }
    for (auto& [clocksource, device] : current_samples) {
      sink.Gauge("node_time_clocksource_current_info",
                 "Current clocksource read from '/sys/devices/system/clocksource'.", 1,
                 {{"clocksource", std::move(clocksource)}, {"device", std::move(device)}});
    }
  }

 private:
  // The `clocksource[0-9]*` entries of the clocksource directory, sorted bytewise as Go's
  // filepath.Glob sorts them. A missing directory (a sysfs without it) has none, as
  // filepath.Glob has; other errors fail the collector rather than hide the metrics.
  std::vector<std::string> ClocksourceDirs() const {
    std::optional<std::vector<std::string>> entries = clocksource_dir_.List();
    if (!entries) {
      return {};
    }
    std::vector<std::string> names = *std::move(entries);
    std::erase_if(names, [](std::string_view name) {
      return name.size() <= internal::kClocksourcePrefix.size() ||
             !name.starts_with(internal::kClocksourcePrefix) ||
             name[internal::kClocksourcePrefix.size()] < '0' ||
             name[internal::kClocksourcePrefix.size()] > '9';
    });
    std::sort(names.begin(), names.end());
    for (std::string& name : names) {
      name.insert(0, clocksource_dir_.path() + "/");
    }
    return names;
  }

  // The file at `path` below a clocksource directory, kept open from one scrape to the
  // next: a clocksource device is never renamed, so the path always names the same object.
  const ProcFile& File(const std::string& path) const {
    std::lock_guard lock(files_mutex_);
    std::unique_ptr<ProcFile>& file = files_[path];
    if (!file) {
      file = std::make_unique<ProcFile>(path);
    }
    return *file;
  }

  const std::function<std::chrono::system_clock::time_point()> now_;
  const bool utc_;
  const ProcDir clocksource_dir_;
  mutable std::mutex files_mutex_;
  // Two per clocksource directory; entries are never removed, which keeps references valid.
  mutable std::map<std::string, std::unique_ptr<ProcFile>, std::less<>> files_;
};

}  // namespace

std::unique_ptr<Collector> NewTimeCollector(const CollectorOptions& options) {
  // Go reads TZ once, when node_exporter starts; so does this, when the collector is made.
  const bool utc = internal::GoUsesUtc(std::getenv("TZ"));
  return std::make_unique<TimeCollector>(options.now, utc,
                                         options.paths.Sys(internal::kClocksourceDir));
}

}  // namespace nines::collectors
