#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace nines::metrics {

/// Collects metric families from every source of a `/metrics` page (the registry and the
/// scrape-time collectors) and renders them. Unlike prometheus-cpp's Exposer it merges
/// families that share a name and drops a family whose type conflicts, so the page stays
/// valid. Thread safe.
class Gatherer {
 public:
  /// Adds a source; it is kept alive by the gatherer.
  void Add(std::shared_ptr<prometheus::Collectable> source);

  /// Every family from every source, sorted by name.
  std::vector<prometheus::MetricFamily> Gather() const;

  /// Gather() in the Prometheus text exposition format 0.0.4.
  std::string Render() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<prometheus::Collectable>> sources_;
};

}  // namespace nines::metrics
