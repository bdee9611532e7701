#include "exporter/config/duration.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace nines::config {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t nanos;
};

// Longer names first so "ms" is not read as "m" followed by "s".
constexpr std::array<Unit, 10> kUnits = {{
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // µs (U+00B5)
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
    {"d", 86'400'000'000'000},
    {"w", 604'800'000'000'000},
    {"y", 31'536'000'000'000'000},
}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<Duration> ParseDuration(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<Duration> {
    if (error != nullptr) {
      *error = std::move(why);
    }
    return std::nullopt;
  };
  if (text.empty()) {
    return fail("empty duration");
  }
  if (text.front() == '-') {
    return fail("negative duration");
  }
  if (text == "0") {
    return Duration::zero();
  }
  long double total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t n = 0;
    while (n < rest.size() && (IsDigit(rest[n]) || rest[n] == '.')) {
      ++n;
    }
    if (n == 0) {
      return fail("expected a number");
    }
    std::string_view number = rest.substr(0, n);
    double value = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || ptr != number.data() + number.size() || number.front() == '.' ||
        number.back() == '.') {
      return fail("not a number: " + std::string(number));
    }
    rest.remove_prefix(n);
    if (rest.empty()) {
      return fail("missing unit");
    }
    const Unit* unit = nullptr;
    for (const Unit& candidate : kUnits) {
      if (rest.starts_with(candidate.name) &&
          (unit == nullptr || candidate.name.size() > unit->name.size())) {
        unit = &candidate;
      }
    }
    if (unit == nullptr) {
      return fail("unknown unit");
    }
    rest.remove_prefix(unit->name.size());
    total += static_cast<long double>(value) * static_cast<long double>(unit->nanos);
  }
  if (total > static_cast<long double>(std::numeric_limits<std::int64_t>::max())) {
    return fail("duration too long");
  }
  return Duration(static_cast<std::int64_t>(std::llround(total)));
}

std::string FormatDuration(Duration d) {
  using std::chrono::duration_cast;
  if (d == Duration::zero()) {
    return "0s";
  }
  std::string out;
  // The magnitude as unsigned, so the most negative duration does not overflow.
  auto count = static_cast<std::uint64_t>(d.count());
  if (d.count() < 0) {
    out = "-";
    count = ~count + 1;
  }
  // Whole units from years down; below a second use one sub-second unit.
  constexpr std::array<Unit, 7> kBig = {{{"y", 31'536'000'000'000'000},
                                         {"w", 604'800'000'000'000},
                                         {"d", 86'400'000'000'000},
                                         {"h", 3'600'000'000'000},
                                         {"m", 60'000'000'000},
                                         {"s", 1'000'000'000},
                                         {"ms", 1'000'000}}};
  for (const Unit& unit : kBig) {
    auto nanos = static_cast<std::uint64_t>(unit.nanos);
    if (count >= nanos) {
      out += std::to_string(count / nanos);
      out += unit.name;
      count %= nanos;
    }
  }
  if (count >= 1'000) {
    out += std::to_string(count / 1'000) + "us";
    count %= 1'000;
  }
  if (count > 0) {
    out += std::to_string(count) + "ns";
  }
  return out;
}

double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace nines::config
