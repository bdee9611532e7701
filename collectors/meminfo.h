#pragma once

#include <string>
#include <string_view>
#include <vector>

/// The `meminfo` collector (factory NewMeminfoCollector in collectors/factories.h): one
/// gauge `node_memory_<field>` per line of `<procfs>/meminfo`, named as node_exporter 1.5
/// names them.
namespace nines::collectors::internal {

/// One line of /proc/meminfo, named and scaled as node_exporter does.
struct MeminfoField {
  /// The metric name without the "node_memory_" prefix: the kernel's field name with
  /// "(...)" turned into "_..." (`Active(anon)` -> `Active_anon`), plus "_bytes" when the
  /// line has a "kB" unit (`HugePages_Total` has none).
  std::string name;
  /// The value, in bytes for "kB" lines (kB * 1024).
  double value = 0;

  bool operator==(const MeminfoField&) const = default;
};

/// Parses the text of /proc/meminfo ("MemTotal:       24684084 kB\n..."), keeping the
/// kernel's order. Blank lines are skipped (some 3.10 kernels print them), as node_exporter
/// does.
///
/// Throws std::runtime_error naming the line number, the field and the bad value when a
/// line's name does not end in ':', is empty or does not make a valid metric name, its value
/// is missing or not a non-negative decimal integer in the uint64 range, its unit is not
/// "kB", it has more than a value and a unit, or two lines make the same metric name, e.g.
/// `line 3: MemAvailable: not a number (got "x")`. node_exporter fails the collector on bad
/// values and extra fields too; nines is stricter only where node_exporter would report a
/// wrong number or an invalid metric name (fractional or negative values, another unit,
/// repeated names, a name without ':' whose last character it drops).
std::vector<MeminfoField> ParseMeminfo(std::string_view text);

}  // namespace nines::collectors::internal
