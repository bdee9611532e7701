// node_exporter doing the host-metrics job of nines with its built-in defaults: the ten
// collectors nines has on by default, and the device and mount-point excludes nines uses.
// Shared by the benchmarks that run the two side by side.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#ifndef NODE_EXPORTER
#error "NODE_EXPORTER must be the absolute path of prometheus-node-exporter"
#endif

namespace nines::bench {

/// The collectors nines enables by default, in the table's order.
inline constexpr std::array<std::string_view, 10> kHostCollectors = {
    "cpu",    "diskstats", "filesystem", "loadavg", "meminfo",
    "netdev", "pressure",  "stat",       "time",    "uname"};

/// Upstream node_exporter 1.5's default (nines' too); Debian's build defaults to another.
inline constexpr std::string_view kMountPointsExclude =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

/// The command line of a node_exporter on 127.0.0.1:`port` with kHostCollectors only, no
/// network device excluded, and kMountPointsExclude.
inline std::vector<std::string> NodeExporterArgv(int port) {
  std::vector<std::string> argv = {
      NODE_EXPORTER, "--web.listen-address=127.0.0.1:" + std::to_string(port),
      "--collector.disable-defaults", "--collector.netdev.device-exclude=",
      "--collector.filesystem.mount-points-exclude=" + std::string(kMountPointsExclude)};
  for (std::string_view name : kHostCollectors) {
    argv.push_back("--collector." + std::string(name));
  }
  return argv;
}

}  // namespace nines::bench
