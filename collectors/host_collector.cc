#include "collectors/host_collector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "collectors/registry.h"

namespace nines::collectors {

HostCollector::HostCollector(std::vector<Entry> collectors)
    : collectors_(std::move(collectors)),
      failing_(std::make_unique<std::atomic<bool>[]>(collectors_.size())) {}

std::vector<prometheus::MetricFamily> HostCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  MetricSink scrape;
  for (std::size_t i = 0; i < collectors_.size(); ++i) {
    const Entry& entry = collectors_[i];
    MetricSink sink;
    auto start = std::chrono::steady_clock::now();
    bool ok = true;
    try {
      entry.collector->Update(sink);
    } catch (const std::exception& e) {
      ok = false;
      if (!failing_[i].exchange(true)) {
        spdlog::warn("collector {} failed: {}", entry.name, e.what());
      } else {
        spdlog::debug("collector {} failed: {}", entry.name, e.what());
      }
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (ok) {
      if (failing_[i].exchange(false)) {
        spdlog::info("collector {} recovered", entry.name);
      }
      auto produced = sink.Take();
      std::move(produced.begin(), produced.end(), std::back_inserter(families));
    }
    scrape.Gauge("nines_scrape_collector_duration_seconds",
                 "nines: Duration of a collector scrape.", seconds, {{"collector", entry.name}});
    scrape.Gauge("nines_scrape_collector_success", "nines: Whether a collector succeeded.",
                 ok ? 1 : 0, {{"collector", entry.name}});
  }
  auto scrape_families = scrape.Take();
  std::move(scrape_families.begin(), scrape_families.end(), std::back_inserter(families));
  return families;
}

std::vector<HostCollector::Entry> BuildCollectors(const std::vector<std::string>& enabled,
                                                  const CollectorOptions& options) {
  std::vector<HostCollector::Entry> entries;
  for (const CollectorSpec& spec : AllCollectors()) {
    if (std::find(enabled.begin(), enabled.end(), spec.name) != enabled.end()) {
      entries.push_back({std::string(spec.name), spec.factory(options)});
    }
  }
  return entries;
}

}  // namespace nines::collectors
