#pragma once

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace nines::testing {

/// Renders `families` (sorted by name, as /metrics serves them) in the text format.
inline std::string RenderFamilies(std::vector<prometheus::MetricFamily> families) {
  std::stable_sort(families.begin(), families.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

/// Compares `families` with tests/golden/<name>.prom. With UPDATE_GOLDEN=1 in the
/// environment it rewrites the file instead (and the test still passes), so a deliberate
/// change is one command: `UPDATE_GOLDEN=1 ctest -R <name>`.
inline void ExpectGolden(const std::vector<prometheus::MetricFamily>& families,
                         const std::string& name) {
  const std::string path = std::string(NINES_GOLDEN_DIR) + "/" + name + ".prom";
  const std::string got = RenderFamilies(families);
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

}  // namespace nines::testing
