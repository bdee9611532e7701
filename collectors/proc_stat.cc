#include "collectors/proc_stat.h"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "collectors/text.h"
#include "spdlog/spdlog.h"

namespace nines::collectors::internal {
namespace {

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
  ticks.cpu =
      ParseUint64(key.substr(3), [line_number] { return LinePrefix(line_number) + "cpu number"; });
  std::size_t columns = 0;
  for (std::string_view value = first; !value.empty() && columns < kCpuTickColumns.size();
       value = NextField(rest)) {
    const std::string_view name = kCpuTickColumns[columns].first;
    ticks.*kCpuTickColumns[columns].second = ParseUint64(value, [&] {
      return LinePrefix(line_number) + std::string(key) + " " + std::string(name);
    });
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
    std::string_view rest = NextLine(text);
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
    slot = ParseUint64(first, what);
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

ProcStat ReadProcStat(const ProcFile& file) {
  const std::string text = file.Read();
  try {
    return ParseProcStat(text);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(file.path() + ": " + e.what());
  }
}

}  // namespace nines::collectors::internal
