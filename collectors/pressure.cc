#include "collectors/pressure.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "collectors/proc_file.h"
#include "collectors/text.h"
#include "spdlog/spdlog.h"

namespace nines::collectors {
namespace internal {
namespace {

// The `total=` value of a "some"/"full" line; `rest` is what follows its first word.
std::uint64_t ParseTotal(std::string_view line, std::string_view rest, const std::string& what) {
  constexpr std::string_view kTotal = "total=";
  std::optional<std::uint64_t> total;
  for (std::string_view field = NextField(rest); !field.empty(); field = NextField(rest)) {
    if (!field.starts_with(kTotal)) {
      continue;
    }
    if (total) {
      throw std::runtime_error(what + ": repeated \"total=\" field");
    }
    field.remove_prefix(kTotal.size());
    total = ParseUint64(field, what + ": total");
  }
  if (!total) {
    throw std::runtime_error(what + ": no \"total=\" field (got " + Quote(line) + ")");
  }
  return *total;
}

}  // namespace

PressureTotals ParsePressure(std::string_view text) {
  PressureTotals totals;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::string_view line = NextLine(text);
    ++line_number;

    std::string_view rest = line;
    const std::string_view kind = NextField(rest);
    std::optional<std::uint64_t>* slot = nullptr;
    if (kind == "some") {
      slot = &totals.some_us;
    } else if (kind == "full") {
      slot = &totals.full_us;
    } else {
      if (!kind.empty()) {
        spdlog::debug("pressure: skipping line {}: unknown kind {}", line_number, Quote(kind));
      }
      continue;
    }
    const std::string what = "line " + std::to_string(line_number) + ": " + std::string(kind);
    if (slot->has_value()) {
      throw std::runtime_error(what + ": repeated");
    }
    *slot = ParseTotal(line, rest, what);
  }
  return totals;
}

}  // namespace internal

namespace {

// The text of a PSI file, or nullopt when the kernel has no PSI: the file does not exist
// (before 4.20, or CONFIG_PSI off, or psi=0 on the command line), or reading it fails with
// EOPNOTSUPP (PSI disabled at run time), which node_exporter treats the same way.
std::optional<std::string> ReadPsiFile(const ProcFile& file) {
  try {
    return file.ReadOptional();
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::operation_not_supported) {
      return std::nullopt;
    }
    throw;
  }
}

class PressureCollector final : public Collector {
 public:
  explicit PressureCollector(const Paths& paths)
      : cpu_file_(paths.Proc("pressure/cpu")),
        io_file_(paths.Proc("pressure/io")),
        memory_file_(paths.Proc("pressure/memory")) {}

  // HELP texts verbatim from node_exporter 1.5 (they have no final period).
  void Update(SampleSink& sink) const override {
    if (const auto cpu = Read(cpu_file_, false)) {
      sink.Counter("node_pressure_cpu_waiting_seconds_total",
                   "Total time in seconds that processes have waited for CPU time",
                   Seconds(*cpu->some_us));
    }
    if (const auto io = Read(io_file_, true)) {
      sink.Counter("node_pressure_io_waiting_seconds_total",
                   "Total time in seconds that processes have waited due to IO congestion",
                   Seconds(*io->some_us));
      sink.Counter("node_pressure_io_stalled_seconds_total",
                   "Total time in seconds no process could make progress due to IO congestion",
                   Seconds(*io->full_us));
    }
    if (const auto memory = Read(memory_file_, true)) {
      sink.Counter("node_pressure_memory_waiting_seconds_total",
                   "Total time in seconds that processes have waited for memory",
                   Seconds(*memory->some_us));
      sink.Counter("node_pressure_memory_stalled_seconds_total",
                   "Total time in seconds no process could make progress due to memory congestion",
                   Seconds(*memory->full_us));
    }
  }

 private:
  // Divided twice, as node_exporter does, so the doubles are bit-identical to its values.
  static double Seconds(std::uint64_t microseconds) {
    return static_cast<double>(microseconds) / 1000.0 / 1000.0;
  }

  // The totals of one resource, or nullopt when the kernel has no PSI. node_exporter stops
  // at the first unavailable file and reports the collector as failed ("no data"); nines
  // skips only that file and succeeds, since a kernel without PSI is not a failure.
  static std::optional<internal::PressureTotals> Read(const ProcFile& file, bool needs_full) {
    const std::string& path = file.path();
    const std::optional<std::string> text = ReadPsiFile(file);
    if (!text) {
      spdlog::debug(
          "pressure: {} is unavailable: pressure information needs Linux 4.20 or later with "
          "CONFIG_PSI, and no psi=0 on the kernel command line",
          path);
      return std::nullopt;
    }
    internal::PressureTotals totals;
    try {
      totals = internal::ParsePressure(*text);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
    // node_exporter 1.5 dereferences a missing line and crashes; failing the collector
    // keeps the exporter up.
    if (!totals.some_us) {
      throw std::runtime_error(path + ": no \"some\" line");
    }
    if (needs_full && !totals.full_us) {
      throw std::runtime_error(path + ": no \"full\" line");
    }
    return totals;
  }

  const ProcFile cpu_file_;
  const ProcFile io_file_;
  const ProcFile memory_file_;
};

}  // namespace

std::unique_ptr<Collector> NewPressureCollector(const CollectorOptions& options) {
  return std::make_unique<PressureCollector>(options.paths);
}

}  // namespace nines::collectors
