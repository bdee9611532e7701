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
#include "collectors/proc_file.h"
#include "collectors/text.h"

namespace nines::collectors {
namespace internal {
namespace {

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
  std::string_view rest = text;
  for (std::size_t count = 0; count < loads.size(); ++count) {
    const std::string_view field = NextField(rest);
    if (field.empty()) {
      throw std::runtime_error("expected at least 3 fields, got " + std::to_string(count) +
                               " (got " + Quote(text) + ")");
    }
    loads[count] = ParseLoad(field, kNames[count]);
  }
  return LoadAverage{loads[0], loads[1], loads[2]};
}

}  // namespace internal

namespace {

class LoadavgCollector final : public Collector {
 public:
  explicit LoadavgCollector(std::string path) : file_(std::move(path)) {}

  void Update(SampleSink& sink) const override {
    const std::string text = file_.Read();
    internal::LoadAverage load;
    try {
      load = internal::ParseLoadavg(text);
    } catch (const std::runtime_error& e) {
      // node_exporter fails the collector on any parse error too.
      throw std::runtime_error(file_.path() + ": " + e.what());
    }
    // HELP texts verbatim from node_exporter 1.5.
    sink.Gauge("node_load1", "1m load average.", load.load1);
    sink.Gauge("node_load5", "5m load average.", load.load5);
    sink.Gauge("node_load15", "15m load average.", load.load15);
  }

 private:
  const ProcFile file_;
};

}  // namespace

std::unique_ptr<Collector> NewLoadavgCollector(const CollectorOptions& options) {
  return std::make_unique<LoadavgCollector>(options.paths.Proc("loadavg"));
}

}  // namespace nines::collectors
