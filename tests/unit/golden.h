#pragma once

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "exporter/metrics/text_format.h"

namespace nines::testing {

/// Renders `families` (sorted by name, as /metrics serves them) with the serializer
/// /metrics uses.
inline std::string RenderFamilies(std::vector<prometheus::MetricFamily> families) {
  std::stable_sort(families.begin(), families.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  return metrics::RenderText(families);
}

/// Compares `got` with the file tests/golden/<file_name>. With UPDATE_GOLDEN=1 in the
/// environment it rewrites the file instead (and the test still passes), so a deliberate
/// change is one command: `UPDATE_GOLDEN=1 ctest -R <name>`.
inline void ExpectGoldenText(const std::string& got, const std::string& file_name) {
  const std::string path = std::string(NINES_GOLDEN_DIR) + "/" + file_name;
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << got;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path << " is missing; run with UPDATE_GOLDEN=1 to create it";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(got, want.str()) << "differs from " << path
                             << "; run with UPDATE_GOLDEN=1 to rewrite it if intended";
}

/// Compares `families` with tests/golden/<name>.prom (see ExpectGoldenText).
inline void ExpectGolden(const std::vector<prometheus::MetricFamily>& families,
                         const std::string& name) {
  ExpectGoldenText(RenderFamilies(families), name + ".prom");
}

}  // namespace nines::testing
