#include "collectors/pressure.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "spdlog/spdlog.h"

namespace nines::collectors {
namespace internal {
namespace {

// Bad values go into error messages verbatim, so they are escaped (a garbage file must not
// put control bytes into a log) and cut short (a garbage file may be one long line).
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

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// The next whitespace-separated field of `line` from `pos`, or "" at the end.
std::string_view NextField(std::string_view line, std::size_t& pos) {
  while (pos < line.size() && IsSpace(line[pos])) {
    ++pos;
  }
  const std::size_t start = pos;
  while (pos < line.size() && !IsSpace(line[pos])) {
    ++pos;
  }
  return line.substr(start, pos - start);
}

std::uint64_t ParseUint64(std::string_view token, const std::string& what) {
  std::uint64_t value = 0;
  const char* const end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  if (ec == std::errc::result_out_of_range) {
    throw std::runtime_error(what + ": out of range (got " + Quote(token) + ")");
  }
  if (ec == std::errc() && ptr == end) {
    return value;
  }
  if (token.size() > 1 && token.front() == '-') {
    throw std::runtime_error(what + ": negative (got " + Quote(token) + ")");
  }
  throw std::runtime_error(what + ": not a number (got " + Quote(token) + ")");
}

// The `total=` value of a "some"/"full" line whose first word is before `pos`.
std::uint64_t ParseTotal(std::string_view line, std::size_t pos, const std::string& what) {
  constexpr std::string_view kTotal = "total=";
  std::optional<std::uint64_t> total;
  for (std::string_view field = NextField(line, pos); !field.empty();
       field = NextField(line, pos)) {
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
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;

    std::size_t pos = 0;
    const std::string_view kind = NextField(line, pos);
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
    *slot = ParseTotal(line, pos, what);
  }
  return totals;
}

}  // namespace internal

namespace {

// The text of a PSI file, or nullopt when the kernel has no PSI: the file does not exist
// (before 4.20, or CONFIG_PSI off, or psi=0 on the command line), or reading it fails with
// EOPNOTSUPP (PSI disabled at run time), which node_exporter treats the same way.
// ReadFile's exception carries no errno, hence this reader.
std::optional<std::string> ReadPsiFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  std::array<char, 4096> buffer{};
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      if (error == EOPNOTSUPP) {
        return std::nullopt;
      }
      throw std::runtime_error("cannot read " + path + ": " + std::strerror(error));
    }
    if (n == 0) {
      break;
    }
    text.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

class PressureCollector final : public Collector {
 public:
  explicit PressureCollector(const Paths& paths)
      : cpu_path_(paths.Proc("pressure/cpu")),
        io_path_(paths.Proc("pressure/io")),
        memory_path_(paths.Proc("pressure/memory")) {}

  // HELP texts verbatim from node_exporter 1.5 (they have no final period).
  void Update(MetricSink& sink) const override {
    if (const auto cpu = Read(cpu_path_, false)) {
      sink.Counter("node_pressure_cpu_waiting_seconds_total",
                   "Total time in seconds that processes have waited for CPU time",
                   Seconds(*cpu->some_us));
    }
    if (const auto io = Read(io_path_, true)) {
      sink.Counter("node_pressure_io_waiting_seconds_total",
                   "Total time in seconds that processes have waited due to IO congestion",
                   Seconds(*io->some_us));
      sink.Counter("node_pressure_io_stalled_seconds_total",
                   "Total time in seconds no process could make progress due to IO congestion",
                   Seconds(*io->full_us));
    }
    if (const auto memory = Read(memory_path_, true)) {
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
  static std::optional<internal::PressureTotals> Read(const std::string& path, bool needs_full) {
    const std::optional<std::string> text = ReadPsiFile(path);
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

  const std::string cpu_path_;
  const std::string io_path_;
  const std::string memory_path_;
};

}  // namespace

std::unique_ptr<Collector> NewPressureCollector(const CollectorOptions& options) {
  return std::make_unique<PressureCollector>(options.paths);
}

}  // namespace nines::collectors
