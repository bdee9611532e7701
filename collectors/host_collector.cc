#include "collectors/host_collector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "collectors/registry.h"
#include "collectors/text_sink.h"

namespace nines::collectors {

HostCollector::HostCollector(std::vector<Entry> collectors)
    : collectors_(std::move(collectors)),
      failing_(std::make_unique<std::atomic<bool>[]>(collectors_.size())) {
  labels_.reserve(collectors_.size());
  for (const Entry& entry : collectors_) {
    labels_.push_back({{"collector", entry.name}});
  }
}

std::vector<prometheus::MetricFamily> HostCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  std::vector<Outcome> outcomes;
  outcomes.reserve(collectors_.size());
  for (std::size_t i = 0; i < collectors_.size(); ++i) {
    MetricSink sink;
    outcomes.push_back(Run(i, sink));
    if (outcomes.back().ok) {
      auto produced = sink.Take();
      std::move(produced.begin(), produced.end(), std::back_inserter(families));
    }
  }
  MetricSink scrape;
  AddScrapeMetrics(outcomes, scrape);
  auto scrape_families = scrape.Take();
  std::move(scrape_families.begin(), scrape_families.end(), std::back_inserter(families));
  return families;
}

void HostCollector::CollectText(TextFamilies& out) const {
  std::vector<Outcome> outcomes;
  outcomes.reserve(collectors_.size());
  for (std::size_t i = 0; i < collectors_.size(); ++i) {
    TextSink sink(out);
    outcomes.push_back(Run(i, sink));
    if (!outcomes.back().ok) {
      sink.Discard();
    }
  }
  TextSink scrape(out);
  AddScrapeMetrics(outcomes, scrape);
}

HostCollector::Outcome HostCollector::Run(std::size_t index, SampleSink& sink) const {
  const Entry& entry = collectors_[index];
  auto start = std::chrono::steady_clock::now();
  bool ok = true;
  try {
    entry.collector->Update(sink);
  } catch (const std::exception& e) {
    ok = false;
    if (!failing_[index].exchange(true)) {
      spdlog::warn("collector {} failed: {}", entry.name, e.what());
    } else {
      spdlog::debug("collector {} failed: {}", entry.name, e.what());
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ok && failing_[index].exchange(false)) {
    spdlog::info("collector {} recovered", entry.name);
  }
  return {ok, seconds};
}

void HostCollector::AddScrapeMetrics(const std::vector<Outcome>& outcomes, SampleSink& sink) const {
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    sink.Gauge("nines_scrape_collector_duration_seconds", "nines: Duration of a collector scrape.",
               outcomes[i].seconds, labels_[i]);
    sink.Gauge("nines_scrape_collector_success", "nines: Whether a collector succeeded.",
               outcomes[i].ok ? 1 : 0, labels_[i]);
  }
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
