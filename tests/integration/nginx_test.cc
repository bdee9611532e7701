// nginx stub_status through the real daemon, next to the real nginx-prometheus-exporter:
// the same families (names, types, HELP) with nines' `server` label, the same values, and
// nginx_up 0 without failing the scrape when nginx is gone.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace nines::testing {
namespace {

std::string Config(const std::string& stub_status) {
  return "nginx:\n  - name: web\n    stub_status: " + stub_status + "\n";
}

std::map<std::string, Family> NginxFamilies(std::string_view page) {
  std::map<std::string, Family> families;
  for (auto& [name, family] : ParseExposition(page)) {
    if (name.starts_with("nginx_")) {
      families.emplace(name, std::move(family));
    }
  }
  return families;
}

TEST(NginxStubStatusTest, SameFamiliesAndValuesAsNginxPrometheusExporter) {
  auto nginx = Nginx::Start(
      "location = /stub_status { stub_status; }\nlocation = / { return 200 \"ok\\n\"; }");
  ASSERT_NE(nginx, nullptr);
  std::string url = nginx->Url("/stub_status");
  auto exporter = StartNginxExporter(url);
  ASSERT_NE(exporter, nullptr);
  auto daemon = Daemon::Start(Config(url));
  ASSERT_NE(daemon, nullptr);

  HttpResponse ours = Fetch("GET", daemon->Url("/metrics"));
  HttpResponse theirs = Fetch("GET", exporter->Url("/metrics"));
  ASSERT_EQ(ours.status, 200);
  ASSERT_EQ(theirs.status, 200);
  EXPECT_TRUE(PromtoolAccepts(ours.body));
  auto our_families = NginxFamilies(ours.body);
  auto their_families = NginxFamilies(theirs.body);
  ASSERT_EQ(their_families.size(), 8U);
  for (const auto& [name, theirs_family] : their_families) {
    auto it = our_families.find(name);
    ASSERT_NE(it, our_families.end()) << name;
    EXPECT_EQ(it->second.type, theirs_family.type) << name;
    EXPECT_EQ(it->second.help, theirs_family.help) << name;
    ASSERT_EQ(it->second.samples.size(), 1U) << name;
    const Sample& sample = it->second.samples.begin()->second;
    EXPECT_EQ(sample.labels.at("server"), "web");
    double their_value = theirs_family.samples.begin()->second.value;
    if (name == "nginx_up") {
      EXPECT_EQ(sample.value, 1);
      EXPECT_EQ(their_value, 1);
    } else {
      // Each scrape is a request to nginx, and the two exporters' connections come and go:
      // the numbers move by a few between the two reads.
      EXPECT_NEAR(sample.value, their_value, 3) << name;
    }
  }
  EXPECT_EQ(our_families.size(), their_families.size());
}

TEST(NginxStubStatusTest, NginxDownIsUpZeroAndTheScrapeStillSucceeds) {
  int port = FreePort();
  auto daemon = Daemon::Start(Config("http://127.0.0.1:" + std::to_string(port) + "/stub_status"));
  ASSERT_NE(daemon, nullptr);
  for (int i = 0; i < 3; ++i) {
    HttpResponse response = Fetch("GET", daemon->Url("/metrics"));
    ASSERT_EQ(response.status, 200);
    EXPECT_TRUE(PromtoolAccepts(response.body));
    auto families = NginxFamilies(response.body);
    ASSERT_EQ(families.size(), 1U) << response.body;
    EXPECT_EQ(families["nginx_up"].samples.begin()->second.value, 0);
  }
  // One warning for the episode, not one per scrape.
  std::string log = daemon->Child().Output(Stream::kStderr);
  std::size_t warnings = 0;
  for (std::size_t at = log.find("cannot scrape stub_status"); at != std::string::npos;
       at = log.find("cannot scrape stub_status", at + 1)) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 1U) << log;
}

}  // namespace
}  // namespace nines::testing
