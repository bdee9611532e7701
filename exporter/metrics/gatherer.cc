#include "exporter/metrics/gatherer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace nines::metrics {

void Gatherer::Add(std::shared_ptr<prometheus::Collectable> source) {
  const auto* text = dynamic_cast<const collectors::TextCollectable*>(source.get());
  std::lock_guard lock(mutex_);
  sources_.push_back(Source{std::move(source), text});
}

std::vector<prometheus::MetricFamily> Gatherer::Gather() const {
  std::vector<Source> sources;
  {
    std::lock_guard lock(mutex_);
    sources = sources_;
  }
  std::vector<prometheus::MetricFamily> all;
  for (const Source& source : sources) {
    auto families = source.collectable->Collect();
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

std::string Gatherer::Render() const {
  std::vector<Source> sources;
  {
    std::lock_guard lock(mutex_);
    sources = sources_;
  }
  collectors::TextFamilies families;
  // Headers and samples take a little more room than the page (some headers are merged
  // away); growing the buffer from empty would copy it several times.
  const std::size_t last = last_page_bytes_.load(std::memory_order_relaxed);
  families.Reserve(last + last / 4 + 4096);
  for (const Source& source : sources) {
    if (source.text != nullptr) {
      source.text->CollectText(families);
      continue;
    }
    for (const prometheus::MetricFamily& family : source.collectable->Collect()) {
      families.AddFamily(family);
    }
  }
  std::string page = families.Render();
  last_page_bytes_.store(page.size(), std::memory_order_relaxed);
  return page;
}

}  // namespace nines::metrics
