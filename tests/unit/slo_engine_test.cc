#include "exporter/slo/slo_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "exporter/config/loader.h"
#include "exporter/metrics/text_format.h"

namespace nines::slo {
namespace {

using namespace std::chrono_literals;
using Request = collectors::AccessLogMetrics::Request;

config::Slo ProbeSlo(std::string name, std::string probe, double objective = 99.9,
                     Duration period = std::chrono::hours(24 * 30)) {
  config::Slo slo;
  slo.name = std::move(name);
  slo.objective_percent = objective;
  slo.period = period;
  slo.sli.probe = std::move(probe);
  return slo;
}

config::Slo LogSlo(std::string name, std::string server, double objective = 99) {
  config::Slo slo;
  slo.name = std::move(name);
  slo.objective_percent = objective;
  slo.sli.access_log = std::move(server);
  return slo;
}

// A clock the test moves by hand, starting at a whole day.
struct FakeClock {
  TimePoint now = TimePoint(std::chrono::hours(24 * 20000));
};

// The samples of every family, as "name{labels}" -> value.
std::map<std::string, double> Samples(const SloEngine& engine) {
  std::map<std::string, double> samples;
  for (const prometheus::MetricFamily& family : engine.Collect()) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::string key = family.name + "{";
      for (std::size_t i = 0; i < metric.label.size(); ++i) {
        key += (i > 0 ? "," : "") + metric.label[i].name + "=" + metric.label[i].value;
      }
      key += "}";
      double value = family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                                    : metric.gauge.value;
      samples[key] = value;
    }
  }
  return samples;
}

TEST(ObjectiveTest, RatiosPrintAsWritten) {
  EXPECT_EQ(ObjectiveRatio(99.9), 0.999);
  EXPECT_EQ(ErrorBudget(99.9), 0.001);
  EXPECT_EQ(ObjectiveRatio(99.95), 0.9995);
  EXPECT_EQ(ErrorBudget(99.95), 0.0005);
  EXPECT_EQ(ErrorBudget(99), 0.01);
}

TEST(PeriodNameTest, WholeDaysInDays) {
  EXPECT_EQ(PeriodName(std::chrono::hours(24 * 30)), "30d");
  EXPECT_EQ(PeriodName(std::chrono::hours(24 * 28)), "28d");
  EXPECT_EQ(PeriodName(std::chrono::hours(24)), "1d");
  EXPECT_EQ(PeriodName(std::chrono::hours(36)), "1d12h");
  EXPECT_EQ(PeriodName(std::chrono::hours(1)), "1h");
}

TEST(JudgeTest, ProbeAvailabilityAndLatency) {
  config::Sli availability;
  availability.probe = "web";
  EXPECT_EQ(JudgeProbe(availability, true, 10s), Verdict::kGood);
  EXPECT_EQ(JudgeProbe(availability, false, 0s), Verdict::kBad);
  config::Sli latency = availability;
  latency.latency_threshold = 300ms;
  EXPECT_EQ(JudgeProbe(latency, true, 0.3s), Verdict::kGood);  // le: inclusive
  EXPECT_EQ(JudgeProbe(latency, true, 0.30001s), Verdict::kBad);
  EXPECT_EQ(JudgeProbe(latency, false, 0.01s), Verdict::kBad);
}

TEST(JudgeTest, RequestAvailabilityWithBadAndIgnoredStatuses) {
  config::Sli sli;
  sli.access_log = "web";
  EXPECT_EQ(JudgeRequest(sli, {200, 0.1}), Verdict::kGood);
  EXPECT_EQ(JudgeRequest(sli, {404, 0.1}), Verdict::kGood);
  EXPECT_EQ(JudgeRequest(sli, {0, std::nullopt}), Verdict::kGood);
  EXPECT_EQ(JudgeRequest(sli, {499, 0.1}), Verdict::kGood);
  EXPECT_EQ(JudgeRequest(sli, {500, 0.1}), Verdict::kBad);
  EXPECT_EQ(JudgeRequest(sli, {503, 0.1}), Verdict::kBad);
  sli.bad_status_codes = {429};
  sli.ignore_status_codes = {499, 503};
  EXPECT_EQ(JudgeRequest(sli, {429, 0.1}), Verdict::kBad);
  EXPECT_EQ(JudgeRequest(sli, {499, 0.1}), Verdict::kIgnored);
  EXPECT_EQ(JudgeRequest(sli, {503, 0.1}), Verdict::kIgnored);
}

TEST(JudgeTest, RequestLatency) {
  config::Sli sli;
  sli.access_log = "web";
  sli.latency_threshold = 250ms;
  sli.ignore_status_codes = {101};
  EXPECT_EQ(JudgeRequest(sli, {200, 0.25}), Verdict::kGood);
  EXPECT_EQ(JudgeRequest(sli, {500, 0.001}), Verdict::kGood);  // latency only
  EXPECT_EQ(JudgeRequest(sli, {200, 0.251}), Verdict::kBad);
  EXPECT_EQ(JudgeRequest(sli, {200, std::nullopt}), Verdict::kIgnored);
  EXPECT_EQ(JudgeRequest(sli, {101, 30.0}), Verdict::kIgnored);
}

TEST(SloEngineTest, CountsAndRatiosOfAProbeSlo) {
  FakeClock clock;
  SloEngine engine([&] { return clock.now; });
  engine.SetSlos({ProbeSlo("web-availability", "web")});
  for (int i = 0; i < 1000; ++i) {
    engine.RecordProbe("web", i % 100 != 0, 0.01s);  // 10 failures
    clock.now += 1s;
  }
  engine.RecordProbe("other", false, 0s);  // not measured by any SLO
  auto samples = Samples(engine);
  EXPECT_EQ(samples["nines_slo_events_total{slo=web-availability}"], 1000);
  EXPECT_EQ(samples["nines_slo_errors_total{slo=web-availability}"], 10);
  EXPECT_EQ(samples["nines_slo_objective_ratio{slo=web-availability}"], 0.999);
  EXPECT_DOUBLE_EQ(samples["nines_slo_sli_ratio{slo=web-availability,window=1h}"], 0.99);
  EXPECT_DOUBLE_EQ(samples["nines_slo_sli_ratio{slo=web-availability,window=30d}"], 0.99);
  // 1% errors against a 0.1% budget: burning 10 times too fast, budget overspent 9 times.
  EXPECT_NEAR(samples["nines_slo_burn_rate{slo=web-availability,window=30d}"], 10, 1e-9);
  EXPECT_NEAR(samples["nines_slo_error_budget_remaining_ratio{slo=web-availability}"], -9, 1e-9);
  // The last 5 minutes (300 runs) held 3 failures: the runs at 700, 800 and 900 s.
  EXPECT_NEAR(samples["nines_slo_sli_ratio{slo=web-availability,window=5m}"], 297.0 / 300, 0.01);
  EXPECT_EQ(samples.count("nines_slo_sli_ratio{slo=web-availability,window=4w2d}"), 0u);
}

TEST(SloEngineTest, EmptyWindowsAreNaNAndTheBudgetIsWhole) {
  FakeClock clock;
  SloEngine engine([&] { return clock.now; });
  engine.SetSlos({ProbeSlo("a", "web", 99.9, std::chrono::hours(24 * 7))});
  auto samples = Samples(engine);
  EXPECT_TRUE(std::isnan(samples["nines_slo_sli_ratio{slo=a,window=5m}"]));
  EXPECT_TRUE(std::isnan(samples["nines_slo_burn_rate{slo=a,window=7d}"]));
  EXPECT_EQ(samples["nines_slo_error_budget_remaining_ratio{slo=a}"], 1);
  EXPECT_EQ(samples["nines_slo_events_total{slo=a}"], 0);
}

TEST(SloEngineTest, WindowsForgetOldEvents) {
  FakeClock clock;
  SloEngine engine([&] { return clock.now; });
  engine.SetSlos({ProbeSlo("a", "web", 99, std::chrono::hours(24))});
  engine.RecordProbe("web", false, 0s);
  clock.now += 10min;
  engine.RecordProbe("web", true, 0s);
  auto samples = Samples(engine);
  EXPECT_EQ(samples["nines_slo_sli_ratio{slo=a,window=5m}"], 1);
  EXPECT_EQ(samples["nines_slo_sli_ratio{slo=a,window=1h}"], 0.5);
  EXPECT_EQ(samples["nines_slo_burn_rate{slo=a,window=1h}"], 50);
  // The period is one of the fixed windows: it is not repeated, and the budget reads it.
  EXPECT_EQ(samples["nines_slo_error_budget_remaining_ratio{slo=a}"], -49);
  clock.now += 25h;
  samples = Samples(engine);
  EXPECT_TRUE(std::isnan(samples["nines_slo_sli_ratio{slo=a,window=1d}"]));
  EXPECT_EQ(samples["nines_slo_sli_ratio{slo=a,window=3d}"], 0.5);
  EXPECT_EQ(samples["nines_slo_error_budget_remaining_ratio{slo=a}"], 1);
}

TEST(SloEngineTest, AccessLogSlosJudgeEachRequest) {
  FakeClock clock;
  SloEngine engine([&] { return clock.now; });
  config::Slo errors = LogSlo("errors", "web");
  errors.sli.ignore_status_codes = {499};
  config::Slo latency = LogSlo("latency", "web");
  latency.sli.latency_threshold = 100ms;
  engine.SetSlos({errors, latency});
  std::vector<Request> requests = {
      {200, 0.05}, {200, 0.2}, {502, 0.001}, {499, 5.0}, {404, std::nullopt}};
  engine.RecordRequests("web", requests);
  engine.RecordRequests("api", requests);  // no SLO
  auto samples = Samples(engine);
  EXPECT_EQ(samples["nines_slo_events_total{slo=errors}"], 4);
  EXPECT_EQ(samples["nines_slo_errors_total{slo=errors}"], 1);
  EXPECT_EQ(samples["nines_slo_events_total{slo=latency}"], 4);
  EXPECT_EQ(samples["nines_slo_errors_total{slo=latency}"], 2);
}

TEST(SloEngineTest, ReloadKeepsAnSloThatMeasuresTheSameThing) {
  FakeClock clock;
  SloEngine engine([&] { return clock.now; });
  engine.SetSlos({ProbeSlo("kept", "web"), ProbeSlo("retargeted", "web")});
  engine.RecordProbe("web", false, 0s);
  engine.RecordProbe("web", true, 0s);
  engine.SetSlos(
      {ProbeSlo("kept", "web", 99.5, std::chrono::hours(24 * 28)), ProbeSlo("retargeted", "api")});
  auto samples = Samples(engine);
  EXPECT_EQ(samples["nines_slo_events_total{slo=kept}"], 2);
  EXPECT_EQ(samples["nines_slo_objective_ratio{slo=kept}"], 0.995);
  EXPECT_EQ(samples["nines_slo_sli_ratio{slo=kept,window=1h}"], 0.5);
  // The new period's window did not exist before: it starts empty.
  EXPECT_TRUE(std::isnan(samples["nines_slo_sli_ratio{slo=kept,window=28d}"]));
  EXPECT_EQ(samples["nines_slo_events_total{slo=retargeted}"], 0);
}

TEST(SloEngineTest, SavedWindowsRestoreIntoTheSameSliOnly) {
  FakeClock clock;
  SloEngine engine([&] { return clock.now; });
  engine.SetSlos({ProbeSlo("a", "web"), ProbeSlo("b", "web")});
  for (int i = 0; i < 10; ++i) {
    engine.RecordProbe("web", i != 0, 0s);
  }
  state::Sections sections;
  engine.Save(sections);
  ASSERT_EQ(sections.size(), 2u);

  clock.now += 1min;
  SloEngine restarted([&] { return clock.now; });
  config::Slo b = ProbeSlo("b", "web");
  b.sli.latency_threshold = 1s;  // now measures latency: the saved windows do not apply
  restarted.SetSlos({ProbeSlo("a", "web"), b, ProbeSlo("c", "web")});
  EXPECT_EQ(restarted.Restore(sections), 1u);
  auto samples = Samples(restarted);
  EXPECT_EQ(samples["nines_slo_sli_ratio{slo=a,window=1h}"], 0.9);
  EXPECT_EQ(samples["nines_slo_events_total{slo=a}"], 0);  // counters start from 0
  EXPECT_TRUE(std::isnan(samples["nines_slo_sli_ratio{slo=b,window=1h}"]));
  EXPECT_TRUE(std::isnan(samples["nines_slo_sli_ratio{slo=c,window=1h}"]));
}

TEST(SloEngineTest, UndecodableSavedStateIsIgnored) {
  FakeClock clock;
  SloEngine engine([&] { return clock.now; });
  engine.SetSlos({ProbeSlo("a", "web")});
  engine.RecordProbe("web", true, 0s);
  state::Sections sections;
  engine.Save(sections);
  std::string& blob = sections["slo/a"];
  blob.resize(blob.size() / 2);
  SloEngine restarted([&] { return clock.now; });
  restarted.SetSlos({ProbeSlo("a", "web")});
  EXPECT_EQ(restarted.Restore(sections), 0u);
  sections["slo/a"] = std::string("\x07garbage", 8);
  EXPECT_EQ(restarted.Restore(sections), 0u);
  EXPECT_TRUE(std::isnan(Samples(restarted)["nines_slo_sli_ratio{slo=a,window=5m}"]));
}

TEST(SloEngineTest, PageIsValidExposition) {
  FakeClock clock;
  SloEngine engine([&] { return clock.now; });
  engine.SetSlos({ProbeSlo("web \"quoted\"\\", "web")});
  engine.RecordProbe("web", true, 0s);
  std::string page = metrics::RenderText(engine.Collect());
  EXPECT_THAT(page,
              ::testing::HasSubstr("nines_slo_events_total{slo=\"web \\\"quoted\\\"\\\\\"} 1\n"));
  EXPECT_THAT(page, ::testing::HasSubstr("# TYPE nines_slo_sli_ratio gauge\n"));
}

TEST(SloConfigTest, LatencyThresholdsBecomeBucketBounds) {
  auto result = config::LoadConfigText(R"(
modules:
  http_2xx: {prober: http}
probes:
  - {name: web, module: http_2xx, target: "http://127.0.0.1:1/", buckets: [0.1, 0.5]}
nginx:
  - name: site
    access_log: {path: /tmp/nonexistent.log, buckets: [0.1, 1]}
slos:
  - {name: a, objective: 99, sli: {probe: web, latency_threshold: 300ms}}
  - {name: b, objective: 99, sli: {probe: web, latency_threshold: 100ms}}
  - {name: c, objective: 99, sli: {access_log: site, latency_threshold: 250ms}}
  - {name: d, objective: 99, sli: {access_log: site, bad_status_codes: [429], ignore_status_codes: [499]}}
)",
                                       "test.yml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  EXPECT_THAT(result.config->probes[0].buckets, ::testing::ElementsAre(0.1, 0.3, 0.5));
  EXPECT_THAT(result.config->nginx[0].access_log->buckets, ::testing::ElementsAre(0.1, 0.25, 1));
  EXPECT_THAT(result.config->slos[3].sli.bad_status_codes, ::testing::ElementsAre(429));
  EXPECT_THAT(result.config->slos[3].sli.ignore_status_codes, ::testing::ElementsAre(499));
}

TEST(SloConfigTest, StatusListsAndLatencyNeedAnAccessLogThatHasIt) {
  auto result = config::LoadConfigText(R"(
modules:
  http_2xx: {prober: http}
probes:
  - {name: web, module: http_2xx, target: "http://127.0.0.1:1/"}
nginx:
  - name: site
    access_log: {path: /tmp/x.log, format: '$remote_addr "$request" $status'}
slos:
  - {name: a, objective: 99, sli: {probe: web, bad_status_codes: [429]}}
  - {name: b, objective: 99, sli: {access_log: site, latency_threshold: 1s}}
  - {name: c, objective: 99, sli: {access_log: site, bad_status_codes: [429], ignore_status_codes: [429]}}
)",
                                       "test.yml");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.errors,
              ::testing::ElementsAre(
                  ::testing::HasSubstr("slos[0].sli.bad_status_codes: applies only to an "
                                       "access_log SLI"),
                  ::testing::HasSubstr("slos[1].sli.latency_threshold: the access log format of "
                                       "nginx server \"site\" has no $request_time"),
                  ::testing::HasSubstr("slos[2].sli.ignore_status_codes: status 429 is also in "
                                       "bad_status_codes")));
}

}  // namespace
}  // namespace nines::slo
