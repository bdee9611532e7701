#pragma once

#include <string_view>

/// The `loadavg` collector (factory NewLoadavgCollector in collectors/factories.h): the
/// gauges `node_load1`, `node_load5` and `node_load15` from `<procfs>/loadavg`, as
/// node_exporter 1.5 exposes them.
namespace nines::collectors::internal {

/// The three load averages of /proc/loadavg.
struct LoadAverage {
  double load1 = 0;
  double load5 = 0;
  double load15 = 0;

  bool operator==(const LoadAverage&) const = default;
};

/// Parses the text of /proc/loadavg ("0.05 0.22 0.49 1/115 20048\n"). Only the first three
/// fields are read, as node_exporter does; the run queue and last-PID fields are not checked.
///
/// Throws std::runtime_error when there are fewer than three fields or a load is not a
/// finite non-negative decimal number, e.g. `field 2 (load5): not a number (got "x")`.
/// node_exporter (strconv.ParseFloat) also accepts exponents, hex floats, "NaN" and "Inf",
/// none of which the kernel prints; nines rejects them rather than report them.
LoadAverage ParseLoadavg(std::string_view text);

}  // namespace nines::collectors::internal
