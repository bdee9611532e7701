#include "exporter/metrics/gatherer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "exporter/metrics/text_format.h"

namespace nines::metrics {

void Gatherer::Add(std::shared_ptr<prometheus::Collectable> source) {
  std::lock_guard lock(mutex_);
  sources_.push_back(std::move(source));
}

std::vector<prometheus::MetricFamily> Gatherer::Gather() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> sources;
  {
    std::lock_guard lock(mutex_);
    sources = sources_;
  }
  std::vector<prometheus::MetricFamily> all;
  for (const auto& source : sources) {
    auto families = source->Collect();
    std::move(families.begin(), families.end(), std::back_inserter(all));
  }
  // Sort by name (stable: sources keep their order), then merge runs of one name.
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<prometheus::MetricFamily> merged;
  merged.reserve(all.size());
  for (auto& family : all) {
    if (merged.empty() || merged.back().name != family.name) {
      merged.push_back(std::move(family));
      continue;
    }
    prometheus::MetricFamily& existing = merged.back();
    if (existing.type != family.type) {
      spdlog::error(
          "metric family {} is produced twice with different types; dropping the "
          "second",
          family.name);
      continue;
    }
    std::move(family.metric.begin(), family.metric.end(), std::back_inserter(existing.metric));
  }
  return merged;
}

std::string Gatherer::Render() const { return RenderText(Gather()); }

}  // namespace nines::metrics
