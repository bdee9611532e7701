// SLOs end to end: a real Prometheus scrapes nines with the rules `nines rules` generated,
// and the recorded slo: series agree with nines' own nines_slo_sli_ratio; and the windows
// and access-log positions kept under --storage.path survive a kill -9.
#include <gtest/gtest.h>
#include <re2/re2.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

#ifndef PROMETHEUS
#error "PROMETHEUS must be the absolute path of the prometheus binary"
#endif
#ifndef NINES_BINARY
#error "NINES_BINARY must be the absolute path of the nines binary"
#endif

namespace nines::testing {
namespace {

using namespace std::chrono_literals;

// How far the recorded error ratios may be from nines' own windows. Both count the same
// requests, but Prometheus sees them through 1s scrapes: rate() over a window misses the
// requests counted before the first sample in it, so with a steady 1-in-10 error mix the
// ratios differ by at most a few requests out of hundreds.
constexpr double kTolerance = 0.02;

// The value of the first sample of an instant query, or nullopt.
std::optional<double> Query(const Peer& prometheus, const std::string& query) {
  std::string escaped;
  for (char c : query) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':') {
      escaped += c;
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
      escaped += hex;
    }
  }
  std::string body = Fetch("GET", prometheus.Url("/api/v1/query?query=" + escaped)).body;
  std::string value;
  if (!RE2::PartialMatch(body, R"re("value":\[[0-9.]+,"([^"]+)"\])re", &value)) {
    return std::nullopt;
  }
  return std::stod(value);
}

double SampleValue(std::string_view page, const std::string& family,
                   const std::map<std::string, std::string>& labels) {
  const std::map<std::string, Family> families = ParseExposition(page);
  const Sample* sample = FindSample(families, family, labels);
  return sample == nullptr ? NAN : sample->value;
}

// The `nginx:` section of a server "web" whose access log is `log`, in nginx's combined
// format (what the Nginx peer writes with `access_log PATH combined;`).
std::string NginxSection(const std::filesystem::path& log) {
  std::string section = "nginx:\n  - name: web\n    access_log: {path: ";
  section.append(log.string())
      .append(", format: '$remote_addr - $remote_user [$time_local] \"$request\" $status ")
      .append("$body_bytes_sent \"$http_referer\" \"$http_user_agent\"'}\n");
  return section;
}

std::string Scrape(Daemon& daemon) {
  HttpResponse response = Fetch("GET", daemon.Url("/metrics"));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(PromtoolAccepts(response.body));
  return response.body;
}

// Polls `condition` every 100ms for at most `timeout`.
bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  for (auto deadline = std::chrono::steady_clock::now() + timeout;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(100ms)) {
    if (condition()) {
      return true;
    }
  }
  return condition();
}

TEST(SloTest, PrometheusRecordingRulesAgreeWithNinesWindows) {
  TempDir dir("nines-slo");
  std::filesystem::path log = dir.path() / "access.log";
  auto nginx = Nginx::Start("access_log " + log.string() +
                            " combined;\n"
                            "location = / { return 200 \"ok\\n\"; }\n"
                            "location = /broken { return 500; }\n");
  ASSERT_NE(nginx, nullptr);
  const std::string config = NginxSection(log) +
                             "slos:\n"
                             "  - name: web-errors\n"
                             "    objective: 99\n"
                             "    period: 30d\n"
                             "    sli: {access_log: web}\n";
  auto daemon = Daemon::Start(config);
  ASSERT_NE(daemon, nullptr);

  // The rules, as a user generates them.
  Process rules(
      {.argv = {NINES_BINARY, "rules", "--config.file=" + daemon->ConfigPath().string()}});
  auto status = rules.WaitForExit(10s);
  ASSERT_EQ(status, ExitStatus::Exited(0)) << rules.Describe();
  std::filesystem::path rules_file = dir.WriteFile("slo-rules.yml", rules.Output(Stream::kStdout));

  std::filesystem::path prometheus_config =
      dir.WriteFile("prometheus.yml",
                    "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "rule_files: ['" +
                        rules_file.string() +
                        "']\n"
                        "scrape_configs:\n"
                        "  - job_name: nines\n"
                        "    static_configs: [{targets: ['127.0.0.1:" +
                        std::to_string(daemon->port()) + "']}]\n");
  auto prometheus = Peer::Start(
      "prometheus",
      [&](int port) {
        return std::vector<std::string>{PROMETHEUS, "--config.file=" + prometheus_config.string(),
                                        "--storage.tsdb.path=" + (dir.path() / "data").string(),
                                        "--web.listen-address=127.0.0.1:" + std::to_string(port)};
      },
      "/-/ready");
  ASSERT_NE(prometheus, nullptr);
  // Traffic starts once Prometheus has a first sample of the counters.
  ASSERT_TRUE(Eventually(
      [&] { return Query(*prometheus, "nines_slo_events_total{slo=\"web-errors\"}").has_value(); },
      20s));

  // Four seconds of a steady mix: one request in ten fails.
  for (int i = 0; i < 400; ++i) {
    ASSERT_NE(Fetch("GET", nginx->Url(i % 10 == 9 ? "/broken" : "/")).status, 0);
    std::this_thread::sleep_for(10ms);
  }
  std::string page;
  ASSERT_TRUE(Eventually(
      [&] {
        page = Scrape(*daemon);
        return SampleValue(page, "nines_slo_events_total", {{"slo", "web-errors"}}) == 400;
      },
      10s))
      << page;
  EXPECT_DOUBLE_EQ(SampleValue(page, "nines_slo_errors_total", {{"slo", "web-errors"}}), 40);
  const double nines_5m =
      SampleValue(page, "nines_slo_sli_ratio", {{"slo", "web-errors"}, {"window", "5m"}});
  const double nines_30d =
      SampleValue(page, "nines_slo_sli_ratio", {{"slo", "web-errors"}, {"window", "30d"}});
  EXPECT_DOUBLE_EQ(nines_5m, 0.9);
  EXPECT_DOUBLE_EQ(nines_30d, 0.9);

  // Prometheus has scraped the final counts and evaluated the rules after that.
  std::this_thread::sleep_for(3s);
  const std::string selector = "{sloth_slo=\"web-errors\"}";
  for (const std::string window : {"5m", "30m", "1h", "30d"}) {
    std::optional<double> recorded =
        Query(*prometheus, std::string("slo:sli_error:ratio_rate").append(window).append(selector));
    ASSERT_TRUE(recorded) << window;
    EXPECT_NEAR(*recorded, 1 - nines_5m, kTolerance) << window;
  }
  std::optional<double> objective = Query(*prometheus, "slo:objective:ratio" + selector);
  ASSERT_TRUE(objective);
  EXPECT_DOUBLE_EQ(*objective,
                   SampleValue(page, "nines_slo_objective_ratio", {{"slo", "web-errors"}}));
  // 10% errors against a 1% budget burn it 10 times too fast: over the page alert's slow
  // condition (6x), under its fast one (14.4x); over both ticket conditions.
  std::optional<double> burn = Query(*prometheus, "slo:current_burn_rate:ratio" + selector);
  ASSERT_TRUE(burn);
  EXPECT_NEAR(*burn,
              SampleValue(page, "nines_slo_burn_rate", {{"slo", "web-errors"}, {"window", "5m"}}),
              kTolerance / 0.01);
  EXPECT_TRUE(Eventually(
      [&] {
        return Query(*prometheus, "ALERTS{sloth_slo=\"web-errors\",severity=\"page\"}")
                   .has_value() &&
               Query(*prometheus, "ALERTS{sloth_slo=\"web-errors\",severity=\"ticket\"}")
                   .has_value();
      },
      10s))
      << Fetch("GET", prometheus->Url("/api/v1/alerts")).body;
}

TEST(SloTest, WindowsAndLogPositionsSurviveKillNine) {
  TempDir dir("nines-storage");
  std::filesystem::path log = dir.path() / "access.log";
  auto nginx = Nginx::Start("access_log " + log.string() +
                            " combined;\n"
                            "location = / { return 200 \"ok\\n\"; }\n"
                            "location = /health { access_log off; return 200 \"ok\\n\"; }\n");
  ASSERT_NE(nginx, nullptr);
  const std::string storage = (dir.path() / "state").string();
  const std::string config =
      "modules:\n"
      "  http_2xx: {prober: http, timeout: 1s}\n"
      "probes:\n"
      "  - {name: web, module: http_2xx, target: '" +
      nginx->Url("/health") + "', interval: 200ms, timeout: 200ms}\n" + NginxSection(log) +
      "slos:\n"
      "  - {name: web-up, objective: 99.9, sli: {probe: web}}\n";
  const std::vector<std::string> flags = {"--storage.path=" + storage,
                                          "--storage.save-interval=1s"};
  auto daemon = Daemon::Start(config, flags);
  ASSERT_NE(daemon, nullptr);
  auto value = [&](const std::string& family, const std::map<std::string, std::string>& labels) {
    return SampleValue(Scrape(*daemon), family, labels);
  };
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Fetch("GET", nginx->Url("/")).status, 200);
  }
  ASSERT_TRUE(Eventually(
      [&] {
        return value("nines_log_lines_total", {{"server", "web"}}) == 5;
      },
      10s));
  ASSERT_TRUE(Eventually(
      [&] {
        return value("nines_slo_events_total", {{"slo", "web-up"}}) >= 5;
      },
      10s));
  // Two save intervals: the state on disk has every line read and several probe runs.
  std::this_thread::sleep_for(2500ms);
  const double runs_before = value("nines_probe_runs_total", {{"probe", "web"}});
  ASSERT_TRUE(daemon->Child().Signal(SIGKILL));
  ASSERT_TRUE(daemon->Child().WaitForExit(5s));
  struct stat info {};
  ASSERT_EQ(::stat((storage + "/nines.state").c_str(), &info), 0);

  for (int i = 0; i < 3; ++i) {  // while nines is down
    ASSERT_EQ(Fetch("GET", nginx->Url("/")).status, 200);
  }
  // The probe target goes away: every run after the restart fails.
  nginx.reset();
  daemon.reset();
  auto restarted = Daemon::Start(config, flags);
  ASSERT_NE(restarted, nullptr);
  daemon = std::move(restarted);
  // The three lines written while nines was down, and not one of the five before.
  ASSERT_TRUE(Eventually(
      [&] {
        return value("nines_log_lines_total", {{"server", "web"}}) == 3;
      },
      10s));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(value("nines_log_lines_total", {{"server", "web"}}), 3);
  // Windows continue: successes from before the kill plus failures since. Without them the
  // ratio would be 0; counters start from 0.
  ASSERT_TRUE(Eventually(
      [&] {
        return value("nines_probe_runs_total", {{"probe", "web"}}) >= 3;
      },
      10s));
  const std::string page = Scrape(*daemon);
  const double availability =
      SampleValue(page, "nines_probe_availability_ratio", {{"probe", "web"}, {"window", "5m"}});
  const double runs_after = SampleValue(page, "nines_probe_runs_total", {{"probe", "web"}});
  EXPECT_GT(availability, 0);
  EXPECT_LT(availability, 1);
  // At most one save interval of runs (5 at 200ms) is lost.
  EXPECT_GE(availability * (runs_before + runs_after), runs_before - 6) << page;
  const double sli =
      SampleValue(page, "nines_slo_sli_ratio", {{"slo", "web-up"}, {"window", "5m"}});
  EXPECT_GT(sli, 0);
  EXPECT_LT(sli, 1);
  EXPECT_LE(SampleValue(page, "nines_slo_events_total", {{"slo", "web-up"}}), runs_after);
}

}  // namespace
}  // namespace nines::testing
