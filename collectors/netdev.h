#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// The netdev collector (NewNetdevCollector in factories.h): node_exporter 1.5's
/// `node_network_{receive,transmit}_*_total{device}` counters, one per column of
/// `<procfs>/net/dev`, plus `node_network_receive_nohandler_total` from
/// `<sysfs>/class/net/<device>/statistics/rx_nohandler`.
///
/// node_exporter 1.5 reads these counters over rtnetlink by default
/// (`--collector.netdev.netlink`) and maps them back to the /proc/net/dev column names
/// (its `legacy()`); the kernel computes both views from the same `rtnl_link_stats64`,
/// so the values are the same. Only `rx_nohandler` is not a /proc/net/dev column: sysfs
/// exposes it per device (since Linux 4.6). Reading files rather than netlink keeps every
/// read under `--path.procfs` / `--path.sysfs`, so the collector runs on fixture trees.
namespace nines::collectors::internal {

/// The columns of /proc/net/dev in order, named as node_exporter names its metrics
/// (`node_network_<name>_total`).
inline constexpr std::array<std::string_view, 16> kNetDevColumns = {
    "receive_bytes",  "receive_packets",  "receive_errs",       "receive_drop",
    "receive_fifo",   "receive_frame",    "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errs",      "transmit_drop",
    "transmit_fifo",  "transmit_colls",   "transmit_carrier",   "transmit_compressed"};

/// One device's line of /proc/net/dev.
struct NetDevLine {
  std::string device;
  /// Indexed like kNetDevColumns.
  std::array<std::uint64_t, kNetDevColumns.size()> values{};

  bool operator==(const NetDevLine&) const = default;
};

/// Parses the text of /proc/net/dev: two header lines, then one line per device,
/// `<name>: <16 counters>`. Returns the devices sorted by name (the order node_exporter
/// prints them in).
///
/// The second header line must name exactly the 16 columns every kernel since 2.6 prints
/// (a different layout would put numbers under the wrong names). As node_exporter's
/// procfs parser does, any bad line fails the whole file: throws std::runtime_error
/// naming the line and the problem, e.g.
/// `line 4: device "eth0": receive_packets: not a number (got "12x")`. Empty lines are
/// ignored. Device names must be what the kernel allows (1 to 15 bytes, no '/', ':' or
/// whitespace) and valid UTF-8 (they become label values).
std::vector<NetDevLine> ParseNetDev(std::string_view text);

/// Parses a sysfs counter file such as `statistics/rx_nohandler`: one unsigned decimal
/// number and an optional '\n'. Throws std::runtime_error, e.g.
/// `not a number (got "abc")`.
std::uint64_t ParseSysfsCounter(std::string_view text);

}  // namespace nines::collectors::internal
