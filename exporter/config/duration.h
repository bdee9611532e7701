#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace nines::config {

/// Durations in config and flags. Nanosecond resolution holds every value users write
/// (`250ms`, `1.5s`) and still spans centuries.
using Duration = std::chrono::nanoseconds;

/// Parses a duration written as Prometheus and Go write them: one or more
/// `<number><unit>` parts, units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d` (24h), `w` (7d),
/// `y` (365d); decimals allowed (`1.5s`), `0` alone allowed. On failure returns
/// std::nullopt and sets `error` to why, e.g. "missing unit" or "negative duration".
std::optional<Duration> ParseDuration(std::string_view text, std::string* error);

/// Formats a duration in the shortest Prometheus form (`1h30m`, `250ms`, `0s`).
std::string FormatDuration(Duration d);

/// Seconds as a double, for metric values and Prometheus bucket bounds.
double ToSeconds(Duration d);

}  // namespace nines::config
