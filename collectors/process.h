#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/proc_file.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace nines::collectors {

/// Exposes the standard process metrics of the running process, named, typed and
/// documented as client_golang's process collector does:
///
///   process_cpu_seconds_total      counter  (utime + stime) / CLK_TCK, from self/stat
///   process_open_fds               gauge    entries of self/fd
///   process_max_fds                gauge    soft "Max open files" from self/limits
///   process_virtual_memory_bytes   gauge    vsize, from self/stat
///   process_resident_memory_bytes  gauge    rss pages * page size, from self/stat
///   process_start_time_seconds     gauge    btime (stat) + starttime / CLK_TCK (self/stat)
///
/// Everything is read at scrape time below the procfs path given at construction, so
/// tests run on a fixture tree. Collect() never fails the scrape: when a source cannot be
/// read or parsed, the metrics that depend on it are left out and the error is logged at
/// debug level; the other metrics still appear.
///
/// Thread safety: the object holds no mutable state; Collect() may run concurrently from
/// any number of threads.
class ProcessCollector : public prometheus::Collectable {
 public:
  /// `procfs_path` is the procfs mount point (node_exporter's `--path.procfs`); it is not
  /// checked here, since a missing source only costs the metrics that depend on it.
  explicit ProcessCollector(std::string procfs_path = "/proc");

  /// Reads the sources and returns one family per metric that could be computed, in
  /// client_golang's order; an empty vector when nothing could be read. Throws only what
  /// allocation throws.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string procfs_path_;
  // Read on every scrape, so kept open.
  const ProcFile self_stat_;
  const ProcDir self_fd_;
  const ProcFile self_limits_;
  const ProcFile stat_;
};

namespace internal {

/// The fields of `/proc/<pid>/stat` the collector uses, as the kernel reports them
/// (field numbers from proc(5)).
struct ProcSelfStat {
  std::uint64_t utime_ticks = 0;      // field 14, in clock ticks
  std::uint64_t stime_ticks = 0;      // field 15, in clock ticks
  std::uint64_t starttime_ticks = 0;  // field 22, clock ticks after boot
  std::uint64_t vsize_bytes = 0;      // field 23
  std::uint64_t rss_pages = 0;        // field 24
};

/// The value ParseMaxOpenFiles returns for "unlimited": the largest uint64, as Go's
/// procfs (and so client_golang) reports it.
inline constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

/// Parses the text of `/proc/self/stat`. The comm field (2) may hold spaces and
/// parentheses, so the fields after it are found from the last ')'.
/// Throws std::runtime_error naming the field and the bad value when the text is
/// truncated, a field is missing, not a non-negative integer or out of the uint64 range,
/// e.g. `self/stat: field 14 (utime): not a number (got "abc")`.
ProcSelfStat ParseProcSelfStat(std::string_view text);

/// Parses the text of `/proc/self/limits` and returns the soft limit of "Max open files";
/// kUnlimited when the soft limit is "unlimited".
/// Throws std::runtime_error when the line is absent or its soft limit is missing, not a
/// number or out of range.
std::uint64_t ParseMaxOpenFiles(std::string_view limits_text);

/// Parses the text of `/proc/stat` and returns the `btime` value: the boot time in
/// seconds since the Unix epoch.
/// Throws std::runtime_error when the line is absent or malformed.
std::uint64_t ParseBootTime(std::string_view proc_stat_text);

}  // namespace internal
}  // namespace nines::collectors
