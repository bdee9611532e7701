#include "collectors/netdev.h"

#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/statfs.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "collectors/link_stats.h"
#include "collectors/options.h"
#include "collectors/proc_file.h"
#include "collectors/text.h"

namespace nines::collectors {
namespace internal {
namespace {

// The kernel's dev_valid_name(): 1 to IFNAMSIZ - 1 bytes, not "." or "..", no '/', ':'
// or whitespace. Control bytes and invalid UTF-8 cannot come from a real kernel either
// and would corrupt the exposition.
bool IsValidDeviceName(std::string_view name) {
  constexpr std::size_t kMaxNameBytes = 15;
  if (name.empty() || name.size() > kMaxNameBytes || name == "." || name == "..") {
    return false;
  }
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || byte <= 0x20 || byte == 0x7f) {
      return false;
    }
  }
  return IsValidUtf8(name);
}

// The column names of the second header line, receive then transmit.
constexpr std::array<std::string_view, 8> kReceiveHeader = {
    "bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast"};
constexpr std::array<std::string_view, 8> kTransmitHeader = {
    "bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed"};

template <std::size_t N>
bool FieldsAre(std::string_view text, const std::array<std::string_view, N>& want,
               std::vector<std::string_view>& scratch) {
  return SplitFields(text, N, scratch) == N &&
         std::equal(scratch.begin(), scratch.end(), want.begin(), want.end());
}

void CheckHeader(std::string_view line) {
  // " face |bytes    packets ... multicast|bytes    packets ... compressed"
  const std::size_t first = line.find('|');
  const std::size_t second = first == std::string_view::npos ? first : line.find('|', first + 1);
  std::vector<std::string_view> scratch;
  if (second == std::string_view::npos ||
      !FieldsAre(line.substr(first + 1, second - first - 1), kReceiveHeader, scratch) ||
      !FieldsAre(line.substr(second + 1), kTransmitHeader, scratch)) {
    throw std::runtime_error("line 2: unexpected header (got " + Quote(line) + ")");
  }
}

}  // namespace

std::vector<NetDevLine> ParseNetDev(std::string_view text) {
  std::vector<NetDevLine> devices;
  devices.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));
  std::vector<std::string_view> fields;
  fields.reserve(kNetDevColumns.size() + 1);
  std::size_t number = 0;
  while (!text.empty()) {
    const std::string_view line = NextLine(text);
    ++number;
    // Line 1 ("Inter-|   Receive ...|  Transmit") only groups the columns.
    if (number == 1) {
      continue;
    }
    if (number == 2) {
      CheckHeader(line);
      continue;
    }
    if (Trim(line).empty()) {
      continue;
    }
    const auto where = [number] { return "line " + std::to_string(number); };
    // Names cannot hold ':', and a long first counter follows the colon without a space
    // ("eth0:18446744073709551615"), so the first ':' ends the name.
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      throw std::runtime_error(where() + ": no ':' after the device name (got " + Quote(line) +
                               ")");
    }
    const std::string_view name = Trim(line.substr(0, colon));
    if (!IsValidDeviceName(name)) {
      throw std::runtime_error(where() + ": invalid device name (got " + Quote(name) + ")");
    }
    const auto device_where = [&] { return where() + ": device " + Quote(name); };
    const std::size_t count = SplitFields(line.substr(colon + 1), kNetDevColumns.size(), fields);
    if (count != kNetDevColumns.size()) {
      throw std::runtime_error(device_where() + ": " + std::to_string(count) + " values, want 16");
    }
    NetDevLine& device = devices.emplace_back();
    device.device = std::string(name);
    for (std::size_t i = 0; i < kNetDevColumns.size(); ++i) {
      device.values[i] = ParseUint64(
          fields[i], [&] { return device_where() + ": " + std::string(kNetDevColumns[i]); });
    }
  }
  if (number < 2) {
    throw std::runtime_error("line 2: missing header");
  }
  std::sort(devices.begin(), devices.end(),
            [](const NetDevLine& a, const NetDevLine& b) { return a.device < b.device; });
  const auto twice = std::adjacent_find(
      devices.begin(), devices.end(),
      [](const NetDevLine& a, const NetDevLine& b) { return a.device == b.device; });
  if (twice != devices.end()) {
    throw std::runtime_error("device " + Quote(twice->device) + " appears twice");
  }
  return devices;
}

std::uint64_t ParseSysfsCounter(std::string_view text) {
  if (text.ends_with('\n')) {
    text.remove_suffix(1);
  }
  // The caller names the file; the message is only the problem and the value.
  return ParseUint64(text, "");
}

}  // namespace internal

namespace {

using internal::kNetDevColumns;
using internal::NetDevLine;

// A counter is at most 20 digits and '\n'; a larger file is garbage and is read only far
// enough to reject it.
constexpr std::size_t kMaxCounterFileBytes = 64;

class NetdevCollector : public Collector {
 public:
  NetdevCollector(Paths paths, DeviceFilter filter)
      : paths_(std::move(paths)),
        dev_file_(paths_.Proc("net/dev")),
        filter_(std::move(filter)),
        use_netlink_(IsProcfs(dev_file_.path())) {
    for (std::size_t column = 0; column < kNetDevColumns.size(); ++column) {
      const std::string key(kNetDevColumns[column]);
      names_[column] = "node_network_" + key + "_total";
      helps_[column] = "Network device statistic " + key + ".";
    }
  }

  void Update(SampleSink& sink) const override {
    const std::string& path = dev_file_.path();
    const std::string text = dev_file_.Read();
    std::vector<NetDevLine> devices;
    try {
      devices = internal::ParseNetDev(text);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
    std::erase_if(devices,
                  [this](const NetDevLine& device) { return filter_.Ignored(device.device); });

    std::vector<Labels> labels;
    labels.reserve(devices.size());
    for (const NetDevLine& device : devices) {
      labels.push_back({{"device", device.device}});
    }
    for (std::size_t column = 0; column < kNetDevColumns.size(); ++column) {
      for (std::size_t i = 0; i < devices.size(); ++i) {
        sink.Counter(names_[column], helps_[column], static_cast<double>(devices[i].values[column]),
                     labels[i]);
      }
    }
    std::optional<std::map<std::string, std::uint64_t, std::less<>>> from_netlink;
    if (use_netlink_) {
      from_netlink = NoHandlerFromNetlink(devices);
    }
    for (std::size_t i = 0; i < devices.size(); ++i) {
      std::optional<std::uint64_t> nohandler;
      if (from_netlink) {
        auto it = from_netlink->find(devices[i].device);
        if (it != from_netlink->end()) {
          nohandler = it->second;
        }
      } else {
        nohandler = ReadNoHandler(devices[i].device);
      }
      if (nohandler) {
        sink.Counter("node_network_receive_nohandler_total",
                     "Network device statistic receive_nohandler.", static_cast<double>(*nohandler),
                     labels[i]);
      }
    }
  }

 private:
  // Whether `path` is on a procfs, that is the live /proc/net/dev of this network
  // namespace rather than a copy (a test's fixture): netlink answers for the former only.
  static bool IsProcfs(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
  }

  // receive_nohandler of the devices over netlink (LinkStats), or nullopt when netlink
  // fails, which is logged once (then at debug level) and answered from sysfs instead.
  std::optional<std::map<std::string, std::uint64_t, std::less<>>> NoHandlerFromNetlink(
      const std::vector<NetDevLine>& devices) const {
    std::vector<std::string> names;
    names.reserve(devices.size());
    for (const NetDevLine& device : devices) {
      names.push_back(device.device);
    }
    try {
      auto values = link_stats_.NoHandler(names);
      if (netlink_failing_.exchange(false)) {
        spdlog::info("netdev: netlink works again");
      }
      return values;
    } catch (const std::exception& e) {
      if (!netlink_failing_.exchange(true)) {
        spdlog::warn("netdev: {}; reading receive_nohandler from sysfs instead", e.what());
      } else {
        spdlog::debug("netdev: {}", e.what());
      }
      return std::nullopt;
    }
  }

  // node_exporter takes rx_nohandler from the same rtnl_link_stats64 over netlink. A
  // missing file (kernels before 4.6, or a device missing from a sysfs mounted for another
  // network namespace) or a bad one costs only this series, so it is skipped rather than
  // failing the collector.
  std::optional<std::uint64_t> ReadNoHandler(const std::string& device) const {
    const std::string path = paths_.Sys("class/net/" + device + "/statistics/rx_nohandler");
    std::optional<std::string> text;
    try {
      text = ReadOptionalFile(path, kMaxCounterFileBytes);
    } catch (const std::runtime_error& e) {
      spdlog::debug("netdev: no receive_nohandler for {}: {}", device, e.what());
      return std::nullopt;
    }
    if (!text) {
      return std::nullopt;
    }
    try {
      return internal::ParseSysfsCounter(*text);
    } catch (const std::runtime_error& e) {
      spdlog::debug("netdev: no receive_nohandler for {}: {}: {}", device, path, e.what());
      return std::nullopt;
    }
  }

  const Paths paths_;
  const ProcFile dev_file_;
  const DeviceFilter filter_;
  const bool use_netlink_;
  const LinkStats link_stats_;
  mutable std::atomic<bool> netlink_failing_{false};
  std::array<std::string, kNetDevColumns.size()> names_;
  std::array<std::string, kNetDevColumns.size()> helps_;
};

}  // namespace

std::unique_ptr<Collector> NewNetdevCollector(const CollectorOptions& options) {
  return std::make_unique<NetdevCollector>(
      options.paths,
      DeviceFilter(options.netdev_device_exclude, "--collector.netdev.device-exclude",
                   options.netdev_device_include, "--collector.netdev.device-include"));
}

}  // namespace nines::collectors
