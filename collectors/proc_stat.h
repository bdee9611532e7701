#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "collectors/collector.h"
#include "collectors/proc_file.h"

/// The parser of /proc/stat shared by the `cpu` and `stat` collectors. Like node_exporter
/// (whose two collectors both call procfs' one Stat()), both collectors parse the whole file
/// the same way, so a malformed line fails both.
namespace nines::collectors::internal {

/// The times of one per-CPU line of /proc/stat ("cpuN ..."), in USER_HZ ticks exactly as the
/// kernel prints them. Columns an old kernel does not print are 0: steal (before 2.6.11),
/// guest (before 2.6.24) and guest_nice (before 2.6.33). As on the kernel, user and nice
/// include guest and guest_nice.
struct CpuTicks {
  std::uint64_t cpu = 0;  // N of "cpuN"
  std::uint64_t user = 0;
  std::uint64_t nice = 0;
  std::uint64_t system = 0;
  std::uint64_t idle = 0;
  std::uint64_t iowait = 0;
  std::uint64_t irq = 0;
  std::uint64_t softirq = 0;
  std::uint64_t steal = 0;
  std::uint64_t guest = 0;
  std::uint64_t guest_nice = 0;

  bool operator==(const CpuTicks&) const = default;
};

/// The time columns of a per-CPU line in the kernel's order, with their proc(5) names.
inline constexpr std::array<std::pair<std::string_view, std::uint64_t CpuTicks::*>, 10>
    kCpuTickColumns = {{{"user", &CpuTicks::user},
                        {"nice", &CpuTicks::nice},
                        {"system", &CpuTicks::system},
                        {"idle", &CpuTicks::idle},
                        {"iowait", &CpuTicks::iowait},
                        {"irq", &CpuTicks::irq},
                        {"softirq", &CpuTicks::softirq},
                        {"steal", &CpuTicks::steal},
                        {"guest", &CpuTicks::guest},
                        {"guest_nice", &CpuTicks::guest_nice}}};

/// How many columns a per-CPU line must have: user to softirq, printed since Linux 2.6.0.
inline constexpr std::size_t kMinCpuTickColumns = 7;

/// What the collectors use from /proc/stat. A value is absent when its line is.
struct ProcStat {
  std::vector<CpuTicks> cpus;                     // the "cpuN" lines, sorted by N
  std::optional<std::uint64_t> boot_time;         // "btime", seconds since the epoch
  std::optional<std::uint64_t> context_switches;  // "ctxt"
  std::optional<std::uint64_t> forks;             // "processes"
  std::optional<std::uint64_t> interrupts;        // "intr", its first value (the total)
  std::optional<std::uint64_t> procs_running;     // "procs_running"
  std::optional<std::uint64_t> procs_blocked;     // "procs_blocked"
};

/// Parses the text of /proc/stat.
///
/// Lines are found by their first field, in any order. As in node_exporter (procfs), lines
/// with a known key but no value are skipped (logged at debug level), and the aggregate
/// "cpu" line, "softirq", the per-IRQ counts after the "intr" total, extra columns after
/// guest_nice and unknown keys are not read.
///
/// Throws std::runtime_error naming the line, the field and the bad value when a line that
/// is read holds a value that is not a non-negative decimal integer in the uint64 range, a
/// per-CPU line has fewer than kMinCpuTickColumns columns, a single-value line has more than
/// one value, or a line is repeated, e.g. `line 2: cpu0 idle: not a number (got "x")`.
/// node_exporter fails both collectors on malformed values too; nines is stricter only where
/// node_exporter would report a wrong number (negative or fractional values, extra values,
/// repeated lines).
ProcStat ParseProcStat(std::string_view text);

/// Reads and parses `file` (`<procfs>/stat`). Throws std::runtime_error with the path in
/// front of ParseProcStat's message, or ProcFile::Read's "cannot read <path>: <strerror>".
ProcStat ReadProcStat(const ProcFile& file);

}  // namespace nines::collectors::internal
