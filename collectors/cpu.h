#pragma once

#include <cstdint>
#include <vector>

#include "collectors/proc_stat.h"

/// The `cpu` collector (collectors/cpu.cc, factory NewCpuCollector): per-CPU times from the
/// "cpuN" lines of /proc/stat, as node_exporter 1.5 exports them by default:
///
///   node_cpu_seconds_total{cpu,mode}        counter  modes idle, iowait, irq, nice,
///                                                    softirq, steal, system, user
///   node_cpu_guest_seconds_total{cpu,mode}  counter  modes nice, user
///
/// in seconds (ticks / sysconf(_SC_CLK_TCK)). As in node_exporter, user and nice still
/// include the guest time (the kernel counts it in both). node_exporter's other cpu families
/// need /sys or flags and are not produced: node_cpu_info, node_cpu_flag_info and
/// node_cpu_bug_info (--collector.cpu.info), node_cpu_isolated (isolcpus) and
/// node_cpu_{core,package}_throttles_total (x86 thermal_throttle in sysfs).
namespace nines::collectors::internal {

/// node_exporter's hotplug guess: an idle counter falling by this many seconds or more
/// means the CPU was replaced, so its counters start afresh.
inline constexpr std::uint64_t kIdleJumpBackSeconds = 3;

/// Keeps the counters of each CPU monotonic across scrapes, exactly as node_exporter 1.5's
/// cpu collector does with its cache (the kernel's iowait, and idle on some kernels, can go
/// backwards a little): a column lower than in `previous` keeps its previous value, unless
/// idle fell by kIdleJumpBackSeconds * `user_hz` ticks or more, in which case all of the
/// CPU's `current` columns are taken. When the set of CPUs differs from `previous` (hotplug,
/// or the first scrape with an empty `previous`), `current` is returned unchanged, as
/// node_exporter resets its cache when the number of CPUs changes. Both vectors are sorted
/// by CPU number; the result is the next call's `previous`. Pure apart from debug logs.
std::vector<CpuTicks> MonotonicCpuTicks(const std::vector<CpuTicks>& previous,
                                        std::vector<CpuTicks> current, std::uint64_t user_hz);

}  // namespace nines::collectors::internal
