#include "collectors/loadavg.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "collectors/collector.h"
#include "collectors/factories.h"

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

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'; }

// The kernel prints each load as "%lu.%02lu"; from_chars (correctly rounded, like Go's
// ParseFloat) in fixed format rejects exponents and hex floats, and the checks below reject
// what it still accepts that the kernel never prints.
double ParseLoad(std::string_view token, std::string_view what) {
  double value = 0;
  const char* const end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value, std::chars_format::fixed);
  if (ec == std::errc::result_out_of_range) {
    throw std::runtime_error(std::string(what) + ": out of range (got " + Quote(token) + ")");
  }
  if (ec != std::errc() || ptr != end) {
    throw std::runtime_error(std::string(what) + ": not a number (got " + Quote(token) + ")");
  }
  if (!std::isfinite(value)) {
    throw std::runtime_error(std::string(what) + ": not a finite number (got " + Quote(token) +
                             ")");
  }
  if (value < 0 || token.front() == '-') {
    throw std::runtime_error(std::string(what) + ": negative (got " + Quote(token) + ")");
  }
  return value;
}

}  // namespace

LoadAverage ParseLoadavg(std::string_view text) {
  constexpr std::array<std::string_view, 3> kNames = {"field 1 (load1)", "field 2 (load5)",
                                                      "field 3 (load15)"};
  std::array<double, 3> loads{};
  std::size_t i = 0;
  std::size_t count = 0;
  while (count < loads.size()) {
    while (i < text.size() && IsSpace(text[i])) {
      ++i;
    }
    if (i == text.size()) {
      break;
    }
    const std::size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) {
      ++i;
    }
    loads[count] = ParseLoad(text.substr(start, i - start), kNames[count]);
    ++count;
  }
  if (count < loads.size()) {
    throw std::runtime_error("expected at least 3 fields, got " + std::to_string(count) + " (got " +
                             Quote(text) + ")");
  }
  return LoadAverage{loads[0], loads[1], loads[2]};
}

}  // namespace internal

namespace {

class LoadavgCollector final : public Collector {
 public:
  explicit LoadavgCollector(std::string path) : path_(std::move(path)) {}

  void Update(MetricSink& sink) const override {
    const std::string text = ReadFile(path_);
    internal::LoadAverage load;
    try {
      load = internal::ParseLoadavg(text);
    } catch (const std::runtime_error& e) {
      // node_exporter fails the collector on any parse error too.
      throw std::runtime_error(path_ + ": " + e.what());
    }
    // HELP texts verbatim from node_exporter 1.5.
    sink.Gauge("node_load1", "1m load average.", load.load1);
    sink.Gauge("node_load5", "5m load average.", load.load5);
    sink.Gauge("node_load15", "15m load average.", load.load15);
  }

 private:
  const std::string path_;
};

}  // namespace

std::unique_ptr<Collector> NewLoadavgCollector(const CollectorOptions& options) {
  return std::make_unique<LoadavgCollector>(options.paths.Proc("loadavg"));
}

}  // namespace nines::collectors
