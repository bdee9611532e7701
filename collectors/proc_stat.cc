#include "collectors/proc_stat.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>

#include "spdlog/spdlog.h"

namespace nines::collectors::internal {
namespace {

// Bad values go into error messages and logs verbatim, so they are escaped (a garbage file
// must not put control bytes into a terminal) and cut short (a garbage file may be one long
// line).
constexpr std::size_t kMaxQuotedBytes = 64;

std::string Quote(std::string_view value) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string quoted = "\"";
  for (std::size_t i = 0; i < value.size() && i < kMaxQuotedBytes; ++i) {
    const auto byte = static_cast<unsigned char>(value[i]);
    if (byte == '"' || byte == '\\') {
      quoted += '\\';
      quoted += value[i];
    } else if (byte < 0x20 || byte >= 0x7f) {
      quoted += "\\x";
      quoted += kHex[byte >> 4];
      quoted += kHex[byte & 0xf];
    } else {
      quoted += value[i];
    }
  }
  if (value.size() > kMaxQuotedBytes) {
    quoted += "...";
  }
  quoted += '"';
  return quoted;
}

// The kernel prints every value read here as an unsigned decimal, so nothing else (sign,
// fraction, hex) is accepted.
bool ParseDecimal(std::string_view token, std::uint64_t& value) {
  const char* const end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  return ec == std::errc() && ptr == end;
}

// Only called once ParseDecimal failed, so the message is built off the hot path. `what`
// names the value, e.g. "line 2: cpu0 idle".
[[noreturn]] void ThrowBadNumber(std::string_view token, std::string_view what) {
  std::uint64_t value = 0;
  const char* const end = token.data() + token.size();
  const char* problem = "not a number";
  if (std::from_chars(token.data(), end, value).ec == std::errc::result_out_of_range) {
    problem = "out of range";
  } else if (token.size() > 1 && token.front() == '-') {
    // from_chars rejects a sign for unsigned types; "-5" deserves a clearer word.
    const auto [ptr, ec] = std::from_chars(token.data() + 1, end, value);
    if (ec != std::errc::invalid_argument && ptr == end) {
      problem = "negative";
    }
  }
  throw std::runtime_error(std::string(what) + ": " + problem + " (got " + Quote(token) + ")");
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Removes the next blank-separated field from the front of `rest` and returns it; "" when
// there is none.
std::string_view NextField(std::string_view& rest) {
  std::size_t start = 0;
  while (start < rest.size() && IsBlank(rest[start])) {
    ++start;
  }
  std::size_t end = start;
  while (end < rest.size() && !IsBlank(rest[end])) {
    ++end;
  }
  const std::string_view field = rest.substr(start, end - start);
  rest.remove_prefix(end);
  return field;
}

std::string LinePrefix(std::size_t line_number) {
  return "line " + std::to_string(line_number) + ": ";
}

// A line holding one value; intr's total is followed by per-IRQ counts.
struct ValueLine {
  std::string_view key;
  std::optional<std::uint64_t> ProcStat::*value;
  bool more_values_follow;
};

constexpr std::array<ValueLine, 6> kValueLines = {{
    {"btime", &ProcStat::boot_time, false},
    {"ctxt", &ProcStat::context_switches, false},
    {"processes", &ProcStat::forks, false},
    {"intr", &ProcStat::interrupts, true},
    {"procs_running", &ProcStat::procs_running, false},
    {"procs_blocked", &ProcStat::procs_blocked, false},
}};

// `key` is "cpuN", `first` its first value and `rest` what follows it.
CpuTicks ParseCpuLine(std::string_view key, std::string_view first, std::string_view rest,
                      std::size_t line_number) {
  CpuTicks ticks;
  const std::string_view number = key.substr(3);
  if (!ParseDecimal(number, ticks.cpu)) {
    ThrowBadNumber(number, LinePrefix(line_number) + "cpu number");
  }
  std::size_t columns = 0;
  for (std::string_view value = first; !value.empty() && columns < kCpuTickColumns.size();
       value = NextField(rest)) {
    const auto& [name, member] = kCpuTickColumns[columns];
    if (!ParseDecimal(value, ticks.*member)) {
      ThrowBadNumber(value, LinePrefix(line_number) + std::string(key) + " " + std::string(name));
    }
    ++columns;
  }
  // procfs fills missing columns with 0 whatever their number; a line cut before softirq
  // is not a kernel's, so 0 there would be a wrong number.
  if (columns < kMinCpuTickColumns) {
    throw std::runtime_error(LinePrefix(line_number) + std::string(key) + ": " +
                             std::to_string(columns) + " values, want at least " +
                             std::to_string(kMinCpuTickColumns));
  }
  return ticks;
}

std::size_t CountCpuLines(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t at = text.find("\ncpu"); at != std::string_view::npos;
       at = text.find("\ncpu", at + 1)) {
    ++count;
  }
  return count;
}

}  // namespace

ProcStat ParseProcStat(std::string_view text) {
  ProcStat stat;
  stat.cpus.reserve(CountCpuLines(text));
  bool cpus_sorted = true;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view rest = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;

    const std::string_view key = NextField(rest);
    // "cpu" alone is the aggregate line, which node_exporter does not export.
    const bool is_cpu = key.size() > 3 && key.starts_with("cpu");
    const ValueLine* value_line = nullptr;
    if (!is_cpu) {
      const auto found = std::find_if(kValueLines.begin(), kValueLines.end(),
                                      [key](const ValueLine& line) { return line.key == key; });
      if (found == kValueLines.end()) {
        continue;
      }
      value_line = &*found;
    }
    const std::string_view first = NextField(rest);
    if (first.empty()) {
      // procfs skips every line with fewer than two fields; the line then counts as absent.
      spdlog::debug("stat: line {}: skipping {}: no value", line_number, Quote(key));
      continue;
    }

    if (is_cpu) {
      CpuTicks ticks = ParseCpuLine(key, first, rest, line_number);
      if (!stat.cpus.empty() && ticks.cpu <= stat.cpus.back().cpu) {
        cpus_sorted = false;
      }
      stat.cpus.push_back(ticks);
      continue;
    }

    std::optional<std::uint64_t>& slot = stat.*(value_line->value);
    const auto what = [line_number, key] { return LinePrefix(line_number) + std::string(key); };
    if (slot.has_value()) {
      // procfs keeps the last one; which of two is right cannot be known.
      throw std::runtime_error(what() + ": repeated line");
    }
    std::uint64_t value = 0;
    if (!ParseDecimal(first, value)) {
      ThrowBadNumber(first, what());
    }
    slot = value;
    if (!value_line->more_values_follow) {
      if (const std::string_view extra = NextField(rest); !extra.empty()) {
        throw std::runtime_error(what() + ": unexpected data after the value (got " + Quote(extra) +
                                 ")");
      }
    }
  }

  // The kernel prints CPUs in ascending order, so sorting is only needed on odd input.
  if (!cpus_sorted) {
    std::sort(stat.cpus.begin(), stat.cpus.end(),
              [](const CpuTicks& a, const CpuTicks& b) { return a.cpu < b.cpu; });
    const auto repeated =
        std::adjacent_find(stat.cpus.begin(), stat.cpus.end(),
                           [](const CpuTicks& a, const CpuTicks& b) { return a.cpu == b.cpu; });
    if (repeated != stat.cpus.end()) {
      throw std::runtime_error("cpu" + std::to_string(repeated->cpu) + ": repeated line");
    }
  }
  return stat;
}

ProcStat ReadProcStat(const Paths& paths) {
  const std::string path = paths.Proc("stat");
  const std::string text = ReadFile(path);
  try {
    return ParseProcStat(text);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

}  // namespace nines::collectors::internal
