// The continuous probes and /probe against real programs on loopback: nginx as the target,
// blackbox_exporter as the reference for /probe answers, and Prometheus scraping /probe the
// way a Prometheus Operator `Probe` object makes it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

#ifndef PROMETHEUS
#error "PROMETHEUS must be the absolute path of the prometheus binary"
#endif

namespace nines::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kLocations =
    "location = / { return 200 \"ok\\n\"; }\n"
    "location = /missing { return 404; }\n"
    "location = /moved { return 302 /; }\n";

// Both exporters get the same two modules; blackbox's config is a nines `modules:` section.
constexpr std::string_view kModules =
    "modules:\n"
    "  http_2xx:\n"
    "    prober: http\n"
    "    timeout: 5s\n"
    "    http:\n"
    "      preferred_ip_protocol: ip4\n"
    "  tcp_connect:\n"
    "    prober: tcp\n"
    "    timeout: 5s\n"
    "    tcp:\n"
    "      preferred_ip_protocol: ip4\n";

std::string NinesConfig(const Nginx& nginx, int silent_port, bool with_missing) {
  std::string config = std::string(kModules) +
                       "probes:\n"
                       "  - name: hang\n"
                       "    module: http_2xx\n"
                       "    target: http://127.0.0.1:" +
                       std::to_string(silent_port) +
                       "/\n"
                       "    interval: 500ms\n"
                       "    timeout: 400ms\n"
                       "  - name: web\n"
                       "    module: http_2xx\n"
                       "    target: " +
                       nginx.Url("/moved") +
                       "\n"
                       "    interval: 500ms\n"
                       "    timeout: 400ms\n"
                       "  - name: port\n"
                       "    module: tcp_connect\n"
                       "    target: 127.0.0.1:" +
                       std::to_string(nginx.port()) +
                       "\n"
                       "    interval: 500ms\n"
                       "    timeout: 400ms\n";
  if (with_missing) {
    config +=
        "  - name: missing\n"
        "    module: http_2xx\n"
        "    target: " +
        nginx.Url("/missing") +
        "\n"
        "    interval: 500ms\n"
        "    timeout: 400ms\n"
        "    down_after: 2\n";
  }
  return config;
}

class ProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_nginx = Nginx::Start(kLocations).release();
    ASSERT_NE(shared_nginx, nullptr);
    silent = new SilentListener();
    ASSERT_NE(silent->port(), 0);
    shared_daemon = Daemon::Start(Config(true)).release();
    ASSERT_NE(shared_daemon, nullptr);
  }
  static void TearDownTestSuite() {
    delete shared_daemon;
    delete shared_nginx;
    delete silent;
  }

  static std::string Config(bool with_missing) {
    return NinesConfig(*shared_nginx, silent->port(), with_missing);
  }

  // Scrapes /metrics until `done` holds for the parsed page, for at most 10 s; checks
  // every page fetched with promtool.
  static std::map<std::string, Family> ScrapeUntil(
      const std::function<bool(const std::map<std::string, Family>&)>& done) {
    std::map<std::string, Family> page;
    for (int i = 0; i < 100; ++i) {
      HttpResponse response = Fetch("GET", shared_daemon->Url("/metrics"));
      EXPECT_EQ(response.status, 200) << shared_daemon->Describe();
      EXPECT_TRUE(PromtoolAccepts(response.body));
      page = ParseExposition(response.body);
      if (done(page)) {
        break;
      }
      std::this_thread::sleep_for(100ms);
    }
    return page;
  }

  // One nginx and one daemon for the suite: CivetWeb takes up to 2 s to stop.
  static Nginx* shared_nginx;
  static Daemon* shared_daemon;
  static SilentListener* silent;
};

Nginx* ProbeTest::shared_nginx = nullptr;
Daemon* ProbeTest::shared_daemon = nullptr;
SilentListener* ProbeTest::silent = nullptr;

TEST_F(ProbeTest, ContinuousProbesExportBlackboxGaugesAndNinesSeries) {
  auto page = ScrapeUntil([](const auto& p) {
    const Sample* runs = FindSample(p, "nines_probe_runs_total", {{"probe", "missing"}});
    const Sample* up = FindSample(p, "nines_probe_up", {{"probe", "missing"}});
    const Sample* hung =
        FindSample(p, "nines_probe_failures_total", {{"probe", "hang"}, {"reason", "timeout"}});
    return runs != nullptr && runs->value >= 3 && up != nullptr && up->value == 0 &&
           hung != nullptr && hung->value >= 2;
  });
  std::map<std::string, std::string> web = {
      {"probe", "web"}, {"kind", "http"}, {"target", shared_nginx->Url("/moved")}};
  std::map<std::string, std::string> port = {
      {"probe", "port"},
      {"kind", "tcp"},
      {"target", "127.0.0.1:" + std::to_string(shared_nginx->port())}};
  std::map<std::string, std::string> missing = {{"probe", "missing"}, {"kind", "http"}};

  for (const auto& labels : {web, port}) {
    const Sample* success = FindSample(page, "probe_success", labels);
    ASSERT_NE(success, nullptr) << labels.at("probe");
    EXPECT_EQ(success->value, 1) << labels.at("probe");
    const Sample* up = FindSample(page, "nines_probe_up", labels);
    ASSERT_NE(up, nullptr);
    EXPECT_EQ(up->value, 1);
    auto ratio_labels = labels;
    ratio_labels["window"] = "5m";
    const Sample* ratio = FindSample(page, "nines_probe_availability_ratio", ratio_labels);
    ASSERT_NE(ratio, nullptr);
    EXPECT_EQ(ratio->value, 1);
    const Sample* uptime = FindSample(page, "nines_probe_uptime_seconds", labels);
    ASSERT_NE(uptime, nullptr);
    EXPECT_GT(uptime->value, 0);
  }
  // The redirect was followed and timed in every phase.
  const Sample* redirects = FindSample(page, "probe_http_redirects", web);
  ASSERT_NE(redirects, nullptr);
  EXPECT_EQ(redirects->value, 1);
  for (std::string phase : {"resolve", "connect", "processing", "transfer"}) {
    auto labels = web;
    labels["phase"] = phase;
    EXPECT_NE(FindSample(page, "probe_http_duration_seconds", labels), nullptr) << phase;
  }
  const Sample* status = FindSample(page, "probe_http_status_code", missing);
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->value, 404);

  // Every failure reason exists from the start, at 0 unless it happened.
  auto failures = page.find("nines_probe_failures_total");
  ASSERT_NE(failures, page.end());
  std::set<std::string> reasons;
  for (const auto& [key, sample] : failures->second.samples) {
    if (sample.labels.at("probe") == "web") {
      reasons.insert(sample.labels.at("reason"));
      EXPECT_EQ(sample.value, 0) << key;
    }
  }
  EXPECT_TRUE(reasons.contains("http_status") && reasons.contains("timeout") &&
              reasons.contains("connect_refused") && reasons.contains("other"));
  auto missing_status = missing;
  missing_status["reason"] = "http_status";
  const Sample* http_status = FindSample(page, "nines_probe_failures_total", missing_status);
  ASSERT_NE(http_status, nullptr);
  EXPECT_GE(http_status->value, 3);
  EXPECT_EQ(page["nines_probe_duration_seconds"].type, "histogram");

  // A target that accepts and never answers times out, and stalls nobody: the other probes,
  // on the same interval, ran as often as it did.
  const Sample* hung =
      FindSample(page, "nines_probe_failures_total", {{"probe", "hang"}, {"reason", "timeout"}});
  ASSERT_NE(hung, nullptr);
  EXPECT_GE(hung->value, 2);
  const Sample* hang_duration = FindSample(page, "probe_duration_seconds", {{"probe", "hang"}});
  ASSERT_NE(hang_duration, nullptr);
  EXPECT_GE(hang_duration->value, 0.39);
  EXPECT_LT(hang_duration->value, 0.6);
  for (std::string probe : {"web", "port"}) {
    const Sample* runs = FindSample(page, "nines_probe_runs_total", {{"probe", probe}});
    ASSERT_NE(runs, nullptr);
    EXPECT_GE(runs->value, hung->value - 1) << probe;
  }
  EXPECT_EQ(page["nines_probe_phase_duration_seconds"].type, "histogram");
}

TEST_F(ProbeTest, ReloadDropsTheSeriesOfARemovedProbe) {
  ScrapeUntil([](const auto& p) {
    return FindSample(p, "nines_probe_runs_total", {{"probe", "missing"}}) != nullptr;
  });
  shared_daemon->WriteConfig(Config(false));
  ASSERT_EQ(Fetch("POST", shared_daemon->Url("/-/reload")).status, 200)
      << shared_daemon->Describe();
  auto page = ScrapeUntil([](const auto&) { return true; });
  for (const auto& [name, family] : page) {
    for (const auto& [key, sample] : family.samples) {
      auto probe = sample.labels.find("probe");
      EXPECT_TRUE(probe == sample.labels.end() || probe->second != "missing") << name << key;
    }
  }
  EXPECT_NE(FindSample(page, "nines_probe_runs_total", {{"probe", "web"}}), nullptr);
  shared_daemon->WriteConfig(Config(true));
  ASSERT_EQ(Fetch("POST", shared_daemon->Url("/-/reload")).status, 200)
      << shared_daemon->Describe();
}

// The families of a /probe answer: name -> (type, label names of every sample).
std::map<std::string, std::pair<std::string, std::set<std::string>>> Shape(std::string_view body) {
  std::map<std::string, std::pair<std::string, std::set<std::string>>> shape;
  for (const auto& [name, family] : ParseExposition(body)) {
    auto& entry = shape[name];
    entry.first = family.type;
    for (const auto& [key, sample] : family.samples) {
      for (const auto& [label, value] : sample.labels) {
        entry.second.insert(label);
      }
    }
  }
  return shape;
}

std::string Describe(
    const std::map<std::string, std::pair<std::string, std::set<std::string>>>& s) {
  std::string text;
  for (const auto& [name, entry] : s) {
    text += name + " " + entry.first + " {";
    for (const std::string& label : entry.second) {
      text += label + ",";
    }
    text += "}\n";
  }
  return text;
}

TEST_F(ProbeTest, ProbeEndpointAnswersWithBlackboxsMetricNames) {
  auto blackbox = BlackboxExporter::Start(kModules);
  ASSERT_NE(blackbox, nullptr);
  std::string tcp_target = "127.0.0.1:" + std::to_string(shared_nginx->port());
  struct Case {
    std::string module;
    std::string target;
    double success;
  };
  for (const Case& c : {Case{"http_2xx", shared_nginx->Url("/moved"), 1},
                        Case{"http_2xx", shared_nginx->Url("/missing"), 0},
                        Case{"http_2xx", "http://127.0.0.1:" + std::to_string(FreePort()) + "/", 0},
                        Case{"tcp_connect", tcp_target, 1}}) {
    std::string query = "/probe?module=" + c.module + "&target=" + c.target;
    HttpResponse ours = Fetch("GET", shared_daemon->Url(query));
    HttpResponse theirs = Fetch("GET", blackbox->Url(query));
    ASSERT_EQ(ours.status, 200) << query << "\n" << ours.body;
    ASSERT_EQ(theirs.status, 200) << query << "\n" << theirs.body;
    EXPECT_TRUE(PromtoolAccepts(ours.body)) << ours.body;
    EXPECT_EQ(Describe(Shape(ours.body)), Describe(Shape(theirs.body)))
        << query << "\nnines:\n"
        << ours.body << "\nblackbox:\n"
        << theirs.body;
    auto page = ParseExposition(ours.body);
    ASSERT_EQ(page["probe_success"].samples.size(), 1U);
    EXPECT_EQ(page["probe_success"].samples.begin()->second.value, c.success) << query;
  }
}

TEST_F(ProbeTest, ProbeEndpointRefusesDeniedTargetsAndBadRequests) {
  EXPECT_EQ(
      Fetch("GET", shared_daemon->Url("/probe?target=http://169.254.169.254/latest/meta-data/"))
          .status,
      403);
  EXPECT_EQ(Fetch("GET", shared_daemon->Url("/probe?module=http_2xx")).status, 400);
  EXPECT_EQ(Fetch("GET", shared_daemon->Url("/probe?target=127.0.0.1:1&module=nope")).status, 400);
}

TEST_F(ProbeTest, PrometheusScrapesProbeLikeAnOperatorProbeObject) {
  TempDir dir("nines-prometheus");
  // What the Prometheus Operator generates for a Probe with a static target list.
  std::string config =
      "global: {scrape_interval: 1s, scrape_timeout: 900ms}\n"
      "scrape_configs:\n"
      "  - job_name: probe/default/web\n"
      "    metrics_path: /probe\n"
      "    params: {module: [http_2xx]}\n"
      "    static_configs: [{targets: ['" +
      shared_nginx->Url("/") +
      "']}]\n"
      "    relabel_configs:\n"
      "      - {source_labels: [__address__], target_label: __param_target}\n"
      "      - {source_labels: [__param_target], target_label: instance}\n"
      "      - {target_label: __address__, replacement: '127.0.0.1:" +
      std::to_string(shared_daemon->port()) + "'}\n";
  std::filesystem::path file = dir.WriteFile("prometheus.yml", config);
  auto prometheus = Peer::Start(
      "prometheus",
      [&](int port) {
        return std::vector<std::string>{PROMETHEUS, "--config.file=" + file.string(),
                                        "--storage.tsdb.path=" + (dir.path() / "data").string(),
                                        "--web.listen-address=127.0.0.1:" + std::to_string(port)};
      },
      "/-/ready");
  ASSERT_NE(prometheus, nullptr);
  std::string body;
  for (int i = 0; i < 100; ++i) {
    body = Fetch("GET", prometheus->Url("/api/v1/query?query=probe_success")).body;
    if (body.find("\"value\":[") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(body.find("\"instance\":\"" + shared_nginx->Url("/") + "\""), std::string::npos)
      << body;
  EXPECT_NE(body.find("\"1\"]"), std::string::npos) << body;
  std::string up = Fetch("GET", prometheus->Url("/api/v1/query?query=up")).body;
  EXPECT_NE(up.find("\"1\"]"), std::string::npos) << up;
}

}  // namespace
}  // namespace nines::testing
