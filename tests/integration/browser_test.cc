// The status page in a real browser: nines probing a real nginx, with 90 days of history
// restored from a state file, loaded in Debian's headless Chromium by
// tests/browser/status_page.mjs (light and dark screenshots, DOM checks, graphics
// contrast, 360 px layout, axe-core). The screenshots stay in NINES_SCREENSHOT_DIR.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "exporter/config/loader.h"
#include "exporter/state/state_file.h"
#include "exporter/state/store.h"
#include "exporter/status/history.h"
#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace nines::testing {
namespace {

using namespace std::chrono_literals;
using probes::FailureReason;
using probes::ProbeResult;

ProbeResult Run(bool success, double seconds, FailureReason reason = FailureReason::kNone,
                std::string detail = "") {
  ProbeResult result;
  result.success = success;
  result.reason = success ? FailureReason::kNone : reason;
  result.detail = std::move(detail);
  result.duration = ProbeResult::Seconds(seconds);
  return result;
}

// What the probes did before this nines started: `web` for 89 days (one bad day, one with
// a single failure, one without runs) and the last 24 hours every 5 minutes with a daily
// latency swing; `api` failing now and then for 5 days; `db` nothing.
state::Sections SeedHistory(const config::Config& config, status::TimePoint now) {
  status::TimePoint clock = now;
  status::History history([&clock] { return clock; });
  history.SetProbes(config.probes);
  const auto today = std::chrono::floor<std::chrono::days>(now);
  for (int day = 89; day >= 1; --day) {
    if (day == 60) {
      continue;  // nines was not running
    }
    const status::TimePoint start = today - std::chrono::days(day);
    for (int run = 0; run < 288; ++run) {
      clock = start + run * 5min;
      if (clock >= now - 24h) {
        break;
      }
      bool fails = (day == 40 && run >= 100 && run < 130) || (day == 12 && run == 200);
      history.Record("web", fails ? Run(false, 1.0, FailureReason::kTimeout,
                                        "no response within the 1s timeout")
                                  : Run(true, 0.004));
      if (day <= 5) {
        bool api_fails = run % 48 == 0;
        history.Record("api", api_fails ? Run(false, 0.002, FailureReason::kHttpStatus,
                                              "unexpected status 503")
                                        : Run(true, 0.003));
      }
    }
  }
  // The last 24 hours, three runs per 5 minutes: p50 swings between 3 and 9 ms over the
  // day, p99 is three times that.
  for (auto at = now - 24h; at < now - 1min; at += 5min) {
    const double hours = std::chrono::duration<double, std::ratio<3600>>(now - at).count();
    const double base = 0.006 + 0.003 * std::sin(hours / 24 * 2 * M_PI);
    for (int i = 0; i < 3; ++i) {
      clock = at + i * 1min;
      history.Record("web", Run(true, i == 2 ? base * 3 : base));
    }
  }
  state::Sections sections;
  history.Save(sections);
  return sections;
}

TEST(BrowserTest, StatusPageInChromium) {
  TempDir dir("nines-browser");
  const std::filesystem::path log = dir.path() / "access.log";
  auto nginx = Nginx::Start("access_log " + log.string() +
                            " combined;\n"
                            "location = / { return 200 \"ok\\n\"; }\n"
                            "location = /broken { return 503; }\n");
  ASSERT_NE(nginx, nullptr);
  const std::string config_text =
      "defaults: {interval: 1s, timeout: 900ms}\n"
      "probes:\n"
      "  - name: web\n"
      "    prober: http\n"
      "    target: " +
      nginx->Url("/") +
      "\n"
      "  - name: api\n"
      "    prober: http\n"
      "    target: " +
      nginx->Url("/broken") +
      "\n"
      "    down_after: 2\n"
      "  - name: db\n"
      "    prober: tcp\n"
      "    target: 127.0.0.1:" +
      std::to_string(FreePort()) +
      "\n"
      "nginx:\n"
      "  - name: frontend\n"
      "    access_log:\n"
      "      path: " +
      log.string() +
      "\n"
      "      format: '$remote_addr - $remote_user [$time_local] \"$request\" $status "
      "$body_bytes_sent \"$http_referer\" \"$http_user_agent\"'\n"
      "slos:\n"
      "  - name: web-availability\n"
      "    objective: 99.9\n"
      "    sli: {probe: web}\n"
      "  - name: frontend-errors\n"
      "    objective: 99\n"
      "    sli: {access_log: frontend}\n";
  config::LoadResult loaded = config::LoadConfigText(config_text, "browser_test");
  ASSERT_TRUE(loaded.ok()) << ::testing::PrintToString(loaded.errors);

  const std::filesystem::path storage = dir.path() / "state";
  std::filesystem::create_directories(storage);
  std::optional<std::string> written =
      state::WriteStateFile(storage / state::kStateFileName,
                            SeedHistory(*loaded.config, std::chrono::system_clock::now()));
  ASSERT_FALSE(written.has_value()) << *written;

  auto daemon = Daemon::Start(config_text, {"--storage.path=" + storage.string()});
  ASSERT_NE(daemon, nullptr);

  // Until every probe is in its settled state (api after down_after failures) and nginx
  // traffic has been counted.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    const std::string page = Fetch("GET", daemon->Url("/metrics")).body;
    const std::map<std::string, Family> families = ParseExposition(page);
    auto up = [&](const std::string& probe) {
      const Sample* sample = FindSample(families, "nines_probe_up", {{"probe", probe}});
      return sample == nullptr ? -1 : sample->value;
    };
    if (up("web") == 1 && up("api") == 0 && up("db") == 0 &&
        SumOfFamily(page, "nines_http_requests_total") > 0) {
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << page << daemon->Describe();
    std::this_thread::sleep_for(250ms);
  }

  const std::string expect =
      R"({"probes":[)"
      R"({"name":"web","state":"Up","days":90,"sparkline":true,"lastFailure":"timeout"},)"
      R"({"name":"api","state":"Confirmed down","days":6,"sparkline":true,"lastFailure":"http_status"},)"
      R"({"name":"db","state":"Confirmed down","days":1,"sparkline":true,"lastFailure":"connect_refused"}],)"
      R"("slos":["web-availability","frontend-errors"],"servers":["frontend"]})";
  const std::string script = std::string(NINES_BROWSER_DIR) + "/status_page.mjs";
  Process browser({.argv = {NODE, script, "--url", daemon->Url("/"), "--out", NINES_SCREENSHOT_DIR,
                            "--expect", expect, "--chromium", CHROMIUM}});
  std::optional<ExitStatus> exit = browser.WaitForExit(240s);
  std::string output = browser.Output(Stream::kStdout);
  std::cout << output;
  EXPECT_EQ(exit, ExitStatus::Exited(0)) << browser.Describe();
  EXPECT_NE(output.find("all checks passed"), std::string::npos);
  EXPECT_TRUE(
      std::filesystem::exists(std::filesystem::path(NINES_SCREENSHOT_DIR) / "status-dark.png"));
}

}  // namespace
}  // namespace nines::testing
