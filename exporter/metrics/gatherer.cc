#include "exporter/metrics/gatherer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

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
  std::vector<prometheus::MetricFamily> families;
  std::map<std::string, std::size_t, std::less<>> index;
  for (const auto& source : sources) {
    for (auto& family : source->Collect()) {
      auto [it, inserted] = index.try_emplace(family.name, families.size());
      if (inserted) {
        families.push_back(std::move(family));
        continue;
      }
      prometheus::MetricFamily& existing = families[it->second];
      if (existing.type != family.type) {
        spdlog::error(
            "metric family {} is produced twice with different types; dropping the "
            "second",
            family.name);
        continue;
      }
      std::move(family.metric.begin(), family.metric.end(), std::back_inserter(existing.metric));
    }
  }
  std::sort(families.begin(), families.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return families;
}

std::string Gatherer::Render() const { return RenderText(Gather()); }

}  // namespace nines::metrics
