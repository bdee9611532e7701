#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "collectors/collector.h"

namespace nines::collectors {

/// Runs the enabled host collectors at scrape time and adds, per collector,
/// `nines_scrape_collector_success{collector}` and
/// `nines_scrape_collector_duration_seconds{collector}`. A failing collector contributes
/// nothing but `success 0` and never fails the scrape. Thread safe.
class HostCollector : public prometheus::Collectable {
 public:
  struct Entry {
    std::string name;
    std::unique_ptr<Collector> collector;
  };

  explicit HostCollector(std::vector<Entry> collectors);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::vector<Entry> collectors_;
  // Whether each collector's last run failed, so a failure is logged as a warning once
  // when it starts (and at debug level after), not on every scrape.
  std::unique_ptr<std::atomic<bool>[]> failing_;
};

/// Builds the collectors named in `enabled` from the table, in table order. Throws
/// std::invalid_argument when a factory rejects its options.
std::vector<HostCollector::Entry> BuildCollectors(const std::vector<std::string>& enabled,
                                                  const CollectorOptions& options);

}  // namespace nines::collectors
