#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collectors/text_families.h"

namespace nines::metrics {

/// Collects metric families from every source of a `/metrics` page (the registry, the
/// probe metrics, the scrape-time collectors) and renders them. Unlike prometheus-cpp's
/// Exposer it merges families that share a name and drops a family whose type conflicts,
/// so the page stays valid. Thread safe.
class Gatherer {
 public:
  /// Adds a source; it is kept alive by the gatherer. A source that is also a
  /// collectors::TextCollectable (the host collectors) writes its families straight as
  /// text for Render(); Gather() takes the model from every source.
  void Add(std::shared_ptr<prometheus::Collectable> source);

  /// Every family from every source, sorted by name.
  std::vector<prometheus::MetricFamily> Gather() const;

  /// The page in the Prometheus text exposition format 0.0.4: byte for byte
  /// RenderText(Gather()), built without prometheus-cpp's model where a source allows.
  std::string Render() const;

 private:
  struct Source {
    std::shared_ptr<prometheus::Collectable> collectable;
    // The same object when it writes text itself, else null.
    const collectors::TextCollectable* text;
  };

  mutable std::mutex mutex_;
  std::vector<Source> sources_;
  // The size of the last page, to reserve the next one's buffer at once.
  mutable std::atomic<std::size_t> last_page_bytes_{0};
};

}  // namespace nines::metrics
