#include "exporter/metrics/text_format.h"

namespace nines::metrics {

std::string RenderText(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  std::size_t samples = 0;
  for (const auto& family : families) {
    samples += family.metric.size();
  }
  out.reserve(samples * 64 + families.size() * 96);
  for (const auto& family : families) {
    if (!family.metric.empty()) {
      collectors::AppendFamilyHeader(family.name, family.help, family.type, out);
      collectors::AppendSamples(family, out);
    }
  }
  return out;
}

}  // namespace nines::metrics
