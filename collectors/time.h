#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// The `time` collector (factory NewTimeCollector in collectors/factories.h), as node_exporter
/// 1.5 exposes it:
///
///   node_time_seconds                                     now, from CollectorOptions::now
///   node_time_zone_offset_seconds{time_zone}              the local zone at that instant
///   node_time_clocksource_available_info{clocksource,device}  1 per name in
///       <sysfs>/devices/system/clocksource/clocksource*/available_clocksource
///   node_time_clocksource_current_info{clocksource,device}    1, from current_clocksource
///
/// As in node_exporter, `device` is the position of the clocksource directory in the sorted
/// list of `clocksource[0-9]*` entries ("0", "1", ...), not the number in its name. A sysfs
/// without the clocksource directory yields no clocksource metrics and is not an error.
namespace nines::collectors::internal {

/// A time zone abbreviation and its offset east of UTC at some instant.
struct TimeZone {
  std::string name;
  std::int64_t offset_seconds = 0;

  bool operator==(const TimeZone&) const = default;
};

/// Seconds since the epoch as node_exporter computes them: nanoseconds as a double / 1e9.
double UnixSeconds(std::chrono::system_clock::time_point at);

/// Whether node_exporter (Go) uses UTC as the local time zone when the TZ environment
/// variable is `tz` (nullptr: unset). Go loads TZ only as a zoneinfo file name and falls back
/// to UTC where the C library would read a POSIX rule (TZ="CET-1CEST") or an unknown name;
/// with TZ unset both read /etc/localtime.
bool GoUsesUtc(const char* tz);

/// The local time zone at `at` (localtime_r), or UTC when `utc`.
/// Throws std::runtime_error when localtime_r fails (a time outside its range).
TimeZone ZoneAt(std::chrono::system_clock::time_point at, bool utc);

/// Splits the text of `available_clocksource` ("tsc kvm-clock \n") into names.
/// Throws std::runtime_error when a name is not valid UTF-8 or is repeated, which would make
/// an invalid label value or a repeated series, e.g. `repeated clocksource "tsc"`.
std::vector<std::string> ParseAvailableClocksources(std::string_view text);

/// The text of `current_clocksource` without surrounding whitespace, as node_exporter reads
/// it (so a garbled file gives a label value of what it holds, as there).
/// Throws std::runtime_error when it is not valid UTF-8.
std::string ParseCurrentClocksource(std::string_view text);

}  // namespace nines::collectors::internal
