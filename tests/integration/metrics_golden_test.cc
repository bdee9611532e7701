// End to end on fixtures: the real binary reads the fixture trees through --path.procfs,
// --path.sysfs and --path.udev.data, and its whole /metrics page must equal
// tests/golden/e2e_metrics.prom once the lines that cannot be fixed (this process, the
// clock, this kernel's uname, statfs of real disks) are masked. UPDATE_GOLDEN=1 rewrites
// the golden file.
#include <gtest/gtest.h>

#include "tests/integration/nines_daemon.h"
#include "tests/unit/golden.h"

#ifndef NINES_FIXTURES_DIR
#error "NINES_FIXTURES_DIR must be the absolute path of tests/fixtures"
#endif
#ifndef NINES_GOLDEN_DIR
#error "NINES_GOLDEN_DIR must be the absolute path of tests/golden"
#endif

namespace nines::testing {
namespace {

// Families whose values depend on this process, the clock or the real disks: their
// values are replaced by "<masked>". Families whose labels vary too are masked whole.
bool MaskValue(std::string_view name) {
  for (std::string_view prefix :
       {"process_", "nines_scrape_collector_duration_seconds",
        "nines_config_last_reload_success_timestamp_seconds", "node_time_seconds",
        "node_time_zone_offset_seconds", "node_filesystem_size_bytes", "node_filesystem_free_bytes",
        "node_filesystem_avail_bytes", "node_filesystem_files", "node_filesystem_files_free"}) {
    if (name.starts_with(prefix)) {
      return true;
    }
  }
  return false;
}

bool MaskLabels(std::string_view name) {
  return name == "nines_build_info" || name == "node_uname_info";
}

std::string Mask(std::string_view page) {
  std::string out;
  for (const std::string& line : Lines(page)) {
    if (line.starts_with('#')) {
      out += line + "\n";
      continue;
    }
    std::size_t name_end = line.find_first_of("{ ");
    std::string name = line.substr(0, name_end);
    if (MaskLabels(name)) {
      out += name + "{<masked>} <masked>\n";
    } else if (MaskValue(name)) {
      out += line.substr(0, line.rfind(' ')) + " <masked>\n";
    } else {
      out += line + "\n";
    }
  }
  return out;
}

TEST(MetricsGoldenTest, WholePageOnFixtures) {
  const std::string fixtures = NINES_FIXTURES_DIR;
  std::unique_ptr<Daemon> nines = Daemon::Start(
      "{}\n", {"--path.procfs=" + fixtures + "/proc", "--path.sysfs=" + fixtures + "/sys",
               "--path.rootfs=/", "--path.udev.data=" + fixtures + "/udev/data"});
  ASSERT_NE(nines, nullptr);
  HttpResponse response = Fetch("GET", nines->Url("/metrics"));
  ASSERT_EQ(response.status, 200) << nines->Describe();
  EXPECT_TRUE(PromtoolAccepts(response.body));
  for (const auto& [name, family] : ParseExposition(response.body)) {
    if (name == "nines_scrape_collector_success") {
      for (const auto& [key, sample] : family.samples) {
        EXPECT_EQ(sample.value, 1) << key << " failed on the fixtures\n" << nines->Describe();
      }
    }
  }
  ExpectGoldenText(Mask(response.body), "e2e_metrics.txt");
}

}  // namespace
}  // namespace nines::testing
