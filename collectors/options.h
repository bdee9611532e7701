#pragma once

#include <re2/re2.h>

#include <memory>
#include <string>
#include <string_view>

/// The regular expressions of the `--collector.*` flags, compiled once when a collector is
/// made, so that a bad pattern fails at start (or config check) rather than at a scrape.
namespace nines::collectors {

/// Compiles `pattern`, the value of the flag `flag`, as an RE2 expression; RE2 logs nothing.
/// The caller owns the result, which is immutable and safe to match from any thread.
/// Throws std::invalid_argument
/// `<flag>: invalid regular expression: <RE2's error> (got "<pattern>")`.
std::unique_ptr<const RE2> CompileRegexp(const std::string& pattern, std::string_view flag);

/// node_exporter's deviceFilter, for a `--collector.<name>.device-exclude` and
/// `--collector.<name>.device-include` pair: a device is left out when it matches the
/// exclude pattern or does not match the include pattern (unanchored matches, as Go's
/// MatchString). An empty pattern is unset. Immutable once made: Ignored() may run on any
/// number of threads at once.
class DeviceFilter {
 public:
  /// Throws std::invalid_argument `<exclude_flag> and <include_flag> are mutually exclusive`
  /// when both patterns are set, or CompileRegexp's error when one is not a valid RE2
  /// expression (checked in that order).
  DeviceFilter(const std::string& exclude, std::string_view exclude_flag,
               const std::string& include, std::string_view include_flag);

  /// Whether `device` is left out.
  bool Ignored(std::string_view device) const;

 private:
  std::unique_ptr<const RE2> exclude_;  // null when unset
  std::unique_ptr<const RE2> include_;  // null when unset
};

}  // namespace nines::collectors
