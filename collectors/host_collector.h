#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "collectors/text_families.h"

namespace nines::collectors {

/// Runs the enabled host collectors at scrape time and adds, per collector,
/// `nines_scrape_collector_success{collector}` and
/// `nines_scrape_collector_duration_seconds{collector}`. A failing collector contributes
/// nothing but `success 0` and never fails the scrape. Serves both as a
/// prometheus::Collectable (the model) and as a TextCollectable (the same families written
/// straight as text, which metrics::Gatherer uses for `/metrics`). Thread safe.
class HostCollector : public prometheus::Collectable, public TextCollectable {
 public:
  struct Entry {
    std::string name;
    std::unique_ptr<Collector> collector;
  };

  explicit HostCollector(std::vector<Entry> collectors);

  std::vector<prometheus::MetricFamily> Collect() const override;
  void CollectText(TextFamilies& out) const override;

 private:
  // How one collector's run went.
  struct Outcome {
    bool ok = false;
    double seconds = 0;
  };

  // Runs collector `index` into `sink`; logs a failure when it starts and a recovery.
  Outcome Run(std::size_t index, SampleSink& sink) const;
  // The per-collector success and duration gauges.
  void AddScrapeMetrics(const std::vector<Outcome>& outcomes, SampleSink& sink) const;

  std::vector<Entry> collectors_;
  // {{"collector", name}} for each collector, built once.
  std::vector<Labels> labels_;
  // Whether each collector's last run failed, so a failure is logged as a warning once
  // when it starts (and at debug level after), not on every scrape.
  std::unique_ptr<std::atomic<bool>[]> failing_;
};

/// Builds the collectors named in `enabled` from the table, in table order. Throws
/// std::invalid_argument when a factory rejects its options.
std::vector<HostCollector::Entry> BuildCollectors(const std::vector<std::string>& enabled,
                                                  const CollectorOptions& options);

}  // namespace nines::collectors
