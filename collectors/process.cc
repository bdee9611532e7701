#include "collectors/process.h"

#include <unistd.h>

#include <cstddef>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "collectors/collector.h"
#include "collectors/proc_file.h"
#include "collectors/text.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"
#include "spdlog/spdlog.h"

namespace nines::collectors {
namespace internal {

ProcSelfStat ParseProcSelfStat(std::string_view text) {
  if (text.empty()) {
    throw std::runtime_error("self/stat: empty");
  }
  // comm (field 2) is the executable name in parentheses and may itself hold spaces and
  // parentheses; the kernel prints nothing after it that can hold ')', so the last ')'
  // closes it.
  const std::size_t close = text.rfind(')');
  if (close == std::string_view::npos) {
    throw std::runtime_error("self/stat: no ')' closing the comm field (got " + Quote(text) + ")");
  }
  const std::size_t open = text.find('(');
  if (open == std::string_view::npos || open > close) {
    throw std::runtime_error("self/stat: no '(' opening the comm field (got " + Quote(text) + ")");
  }
  // fields[0] is field 3 (state); fields after rss (24) are not read.
  constexpr std::size_t kFirstField = 3;
  constexpr std::size_t kLastField = 24;
  std::vector<std::string_view> fields;
  const std::size_t count =
      SplitFields(text.substr(close + 1), kLastField - kFirstField + 1, fields);
  const auto field = [&fields, count](std::size_t number, std::string_view name) {
    const std::string what =
        "self/stat: field " + std::to_string(number) + " (" + std::string(name) + ")";
    if (number - kFirstField >= fields.size()) {
      throw std::runtime_error(what + ": missing (line has " +
                               std::to_string(count + kFirstField - 1) + " fields)");
    }
    return ParseUint64(fields[number - kFirstField], what);
  };
  ProcSelfStat stat;
  stat.utime_ticks = field(14, "utime");
  stat.stime_ticks = field(15, "stime");
  stat.starttime_ticks = field(22, "starttime");
  stat.vsize_bytes = field(23, "vsize");
  stat.rss_pages = field(24, "rss");
  return stat;
}

std::uint64_t ParseMaxOpenFiles(std::string_view limits_text) {
  constexpr std::string_view kName = "Max open files";
  std::optional<std::string_view> rest;
  while (!rest && !limits_text.empty()) {
    const std::string_view line = NextLine(limits_text);
    if (line.starts_with(kName) && (line.size() == kName.size() || IsSpace(line[kName.size()]))) {
      rest = line.substr(kName.size());
    }
  }
  if (!rest) {
    throw std::runtime_error("self/limits: no \"Max open files\" line");
  }
  // Columns: soft limit, hard limit, units.
  const std::string_view soft_limit = NextField(*rest);
  constexpr std::string_view kWhat = "self/limits: \"Max open files\" soft limit";
  if (soft_limit.empty()) {
    throw std::runtime_error(std::string(kWhat) + ": missing");
  }
  if (soft_limit == "unlimited") {
    return kUnlimited;
  }
  return ParseUint64(soft_limit, kWhat);
}

std::uint64_t ParseBootTime(std::string_view proc_stat_text) {
  // What follows "btime" on its line.
  std::optional<std::string_view> rest;
  while (!rest && !proc_stat_text.empty()) {
    std::string_view line = NextLine(proc_stat_text);
    if (NextField(line) == "btime") {
      rest = line;
    }
  }
  if (!rest) {
    throw std::runtime_error("stat: no \"btime\" line");
  }
  const std::string_view value = NextField(*rest);
  if (value.empty()) {
    throw std::runtime_error("stat: btime: missing value");
  }
  if (const std::string_view extra = NextField(*rest); !extra.empty()) {
    throw std::runtime_error("stat: btime: unexpected data after the value (got " + Quote(extra) +
                             ")");
  }
  return ParseUint64(value, "stat: btime");
}

}  // namespace internal

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// On the real procfs the directory handle used for the listing is itself an entry of
// self/fd and is counted, exactly as client_golang counts its own.
std::uint64_t CountEntries(const ProcDir& dir) {
  const std::optional<std::vector<std::string>> names = dir.List();
  if (!names) {
    throw std::system_error(ENOENT, std::generic_category(), "cannot list " + dir.path());
  }
  return names->size();
}

// sysconf() values are read per scrape: they cannot change while the process runs and
// cost a few nanoseconds, and this keeps the collector free of state.
double SysconfValue(int name, const char* name_text) {
  const long value = ::sysconf(name);
  if (value <= 0) {
    throw std::runtime_error(std::string("sysconf(") + name_text + ") returned " +
                             std::to_string(value));
  }
  return static_cast<double>(value);
}

// Runs `fn`; on failure logs why `omitted` metrics are left out and returns nullopt.
template <typename Fn>
auto Try(std::string_view omitted, Fn fn) -> std::optional<decltype(fn())> {
  try {
    return fn();
  } catch (const std::exception& e) {
    spdlog::debug("process collector: omitting {}: {}", omitted, e.what());
  }
  return std::nullopt;
}

MetricFamily MakeFamily(std::string name, std::string help, MetricType type, double value) {
  ClientMetric metric;
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return MetricFamily{std::move(name), std::move(help), type, {std::move(metric)}};
}

}  // namespace

ProcessCollector::ProcessCollector(std::string procfs_path)
    : procfs_path_(std::move(procfs_path)),
      self_stat_((std::filesystem::path(procfs_path_) / "self" / "stat").string()),
      self_fd_((std::filesystem::path(procfs_path_) / "self" / "fd").string()),
      self_limits_((std::filesystem::path(procfs_path_) / "self" / "limits").string()),
      stat_((std::filesystem::path(procfs_path_) / "stat").string()) {}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  const std::filesystem::path self = std::filesystem::path(procfs_path_) / "self";

  const auto stat =
      Try("process_cpu_seconds_total, process_*_memory_bytes and "
          "process_start_time_seconds",
          [&] { return internal::ParseProcSelfStat(self_stat_.Read()); });
  const auto open_fds =
      Try("process_open_fds", [&] { return static_cast<double>(CountEntries(self_fd_)); });
  // client_golang reports an "unlimited" soft limit as-is: procfs parses it as the largest
  // uint64, so the gauge reads 1.8446744073709552e+19. Doing the same keeps the series
  // present and dashboards that compare process_open_fds / process_max_fds working.
  const auto max_fds = Try("process_max_fds", [&] {
    return static_cast<double>(internal::ParseMaxOpenFiles(self_limits_.Read()));
  });

  std::optional<double> cpu_seconds;
  std::optional<double> resident_bytes;
  std::optional<double> start_time;
  if (stat) {
    cpu_seconds = Try("process_cpu_seconds_total", [&] {
      // Summed as doubles: the uint64 sum of two parsed fields could wrap.
      return (static_cast<double>(stat->utime_ticks) + static_cast<double>(stat->stime_ticks)) /
             SysconfValue(_SC_CLK_TCK, "_SC_CLK_TCK");
    });
    resident_bytes = Try("process_resident_memory_bytes", [&] {
      return static_cast<double>(stat->rss_pages) * SysconfValue(_SC_PAGESIZE, "_SC_PAGESIZE");
    });
    // /proc/stat can be large on many-CPU hosts; it is only read when it is useful.
    start_time = Try("process_start_time_seconds", [&] {
      const std::uint64_t boot_time = internal::ParseBootTime(stat_.Read());
      return static_cast<double>(boot_time) +
             static_cast<double>(stat->starttime_ticks) / SysconfValue(_SC_CLK_TCK, "_SC_CLK_TCK");
    });
  }

  // Names, help texts and order as in client_golang's process collector.
  std::vector<MetricFamily> families;
  families.reserve(6);
  if (cpu_seconds) {
    families.push_back(MakeFamily("process_cpu_seconds_total",
                                  "Total user and system CPU time spent in seconds.",
                                  MetricType::Counter, *cpu_seconds));
  }
  if (open_fds) {
    families.push_back(MakeFamily("process_open_fds", "Number of open file descriptors.",
                                  MetricType::Gauge, *open_fds));
  }
  if (max_fds) {
    families.push_back(MakeFamily("process_max_fds", "Maximum number of open file descriptors.",
                                  MetricType::Gauge, *max_fds));
  }
  if (stat) {
    families.push_back(MakeFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                  MetricType::Gauge, static_cast<double>(stat->vsize_bytes)));
  }
  if (resident_bytes) {
    families.push_back(MakeFamily("process_resident_memory_bytes", "Resident memory size in bytes.",
                                  MetricType::Gauge, *resident_bytes));
  }
  if (start_time) {
    families.push_back(MakeFamily("process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds.",
                                  MetricType::Gauge, *start_time));
  }
  return families;
}

}  // namespace nines::collectors
