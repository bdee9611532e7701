#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

/// The `pressure` collector (factory NewPressureCollector in collectors/factories.h): the
/// pressure stall information (PSI) of `<procfs>/pressure/{cpu,io,memory}` as node_exporter
/// 1.5 exposes it, counters in seconds from the `total=` microsecond fields:
///
///   node_pressure_cpu_waiting_seconds_total      cpu "some"
///   node_pressure_io_waiting_seconds_total       io "some"
///   node_pressure_io_stalled_seconds_total       io "full"
///   node_pressure_memory_waiting_seconds_total   memory "some"
///   node_pressure_memory_stalled_seconds_total   memory "full"
///
/// The "full" line of cpu (Linux 5.13 and later) is not exposed: node_exporter 1.5 does not.
/// A kernel without PSI (before 4.20, built without CONFIG_PSI, or booted with psi=0) has no
/// /proc/pressure: the collector then adds nothing and succeeds.
namespace nines::collectors::internal {

/// The `total=` fields of one /proc/pressure file, in microseconds; a value is absent when
/// its line is.
struct PressureTotals {
  std::optional<std::uint64_t> some_us;
  std::optional<std::uint64_t> full_us;

  bool operator==(const PressureTotals&) const = default;
};

/// Parses the text of a /proc/pressure file
/// ("some avg10=0.00 avg60=0.00 avg300=0.00 total=140095848\nfull ...\n").
///
/// Lines are found by their first word; other lines are skipped and logged at debug level,
/// as node_exporter (procfs) skips them, so that a kernel adding a kind of line does not
/// break the collector. In a "some" or "full" line only the `total=` field is read; the
/// averages are not.
///
/// Throws std::runtime_error naming the line when a "some" or "full" line has no `total=`
/// field, its value is not a non-negative decimal integer in the uint64 range, or the line
/// is repeated, e.g. `line 1: some: total: not a number (got "x")`. node_exporter fails the
/// collector on a malformed "some"/"full" line too (its format is checked with Sscanf);
/// nines also accepts the fields in another order, which cannot change the total it reads.
PressureTotals ParsePressure(std::string_view text);

}  // namespace nines::collectors::internal
