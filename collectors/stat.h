#pragma once

#include <cstdint>

#include "collectors/proc_stat.h"

/// The `stat` collector (collectors/stat.cc, factory NewStatCollector): kernel counters from
/// /proc/stat, as node_exporter 1.5 exports them by default:
///
///   node_boot_time_seconds       gauge    btime
///   node_context_switches_total  counter  ctxt
///   node_forks_total             counter  processes
///   node_intr_total              counter  intr (the total)
///   node_procs_running           gauge    procs_running
///   node_procs_blocked           gauge    procs_blocked
///
/// node_softirqs_total needs --collector.stat.softirq in node_exporter and is not produced.
namespace nines::collectors::internal {

/// The values of every stat family, taken from a parsed /proc/stat.
struct StatCounters {
  std::uint64_t boot_time = 0;
  std::uint64_t context_switches = 0;
  std::uint64_t forks = 0;
  std::uint64_t interrupts = 0;
  std::uint64_t procs_running = 0;
  std::uint64_t procs_blocked = 0;

  bool operator==(const StatCounters&) const = default;
};

/// Picks the stat values out of `stat`. Every line has been in /proc/stat since Linux 2.6,
/// so a missing one means a damaged file: where node_exporter exports 0 for it, this throws
/// std::runtime_error naming the first missing line in file order, e.g. `no "btime" line`.
StatCounters StatCountersFrom(const ProcStat& stat);

}  // namespace nines::collectors::internal
