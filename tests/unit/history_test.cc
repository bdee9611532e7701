#include "exporter/status/history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "exporter/status/traffic.h"

namespace nines::status {
namespace {

using namespace std::chrono_literals;
using probes::FailureReason;
using probes::ProbeResult;

// 2026-11-25T00:00:00Z
TimePoint Midnight() {
  return TimePoint(std::chrono::sys_days(std::chrono::year(2026) / std::chrono::November / 25)
                       .time_since_epoch());
}

ProbeResult Success(std::chrono::duration<double> duration = 10ms) {
  ProbeResult result;
  result.success = true;
  result.reason = FailureReason::kNone;
  result.duration = duration;
  return result;
}

ProbeResult Failure(FailureReason reason, std::string detail = "refused") {
  ProbeResult result;
  result.success = false;
  result.reason = reason;
  result.detail = std::move(detail);
  result.duration = 1s;
  return result;
}

TEST(ProbeHistoryTest, DaysCountRunsAndTheWorstReason) {
  ProbeHistory history;
  history.Record(Midnight() - 1h, Success());  // yesterday
  history.Record(Midnight() + 1h, Success());
  history.Record(Midnight() + 2h, Failure(FailureReason::kTimeout));
  history.Record(Midnight() + 3h, Failure(FailureReason::kConnectRefused));
  history.Record(Midnight() + 4h, Failure(FailureReason::kConnectRefused));
  std::vector<DayRecord> days = history.Days(Midnight() + 5h);
  ASSERT_EQ(days.size(), 2u);
  EXPECT_EQ(days[0].runs, 1u);
  EXPECT_EQ(days[0].Availability(), 1);
  EXPECT_EQ(days[0].worst_reason, "");
  EXPECT_EQ(days[1].runs, 4u);
  EXPECT_EQ(days[1].failures, 3u);
  EXPECT_EQ(days[1].Availability(), 0.25);
  EXPECT_EQ(days[1].worst_reason, "connect_refused");
  EXPECT_EQ(history.Availability(Midnight() + 5h, 1), 0.25);
  EXPECT_EQ(history.Availability(Midnight() + 5h, 90), 0.4);
}

TEST(ProbeHistoryTest, DaysWithoutRunsAreGapsAndOnlyNinetyDaysStay) {
  ProbeHistory history;
  history.Record(Midnight() - 100 * 24h, Success());
  history.Record(Midnight() - 3 * 24h, Success());
  history.Record(Midnight(), Failure(FailureReason::kDns));
  std::vector<DayRecord> days = history.Days(Midnight() + 1h);
  ASSERT_EQ(days.size(), 4u);  // the day 100 days ago is gone; 3 days ago .. today
  EXPECT_EQ(days[0].runs, 1u);
  EXPECT_EQ(days[1].runs, 0u);
  EXPECT_TRUE(std::isnan(days[1].Availability()));
  EXPECT_EQ(days[3].worst_reason, "dns");
  EXPECT_TRUE(history.Days(Midnight() + 200 * 24h).empty());
  EXPECT_TRUE(std::isnan(history.Availability(Midnight() + 200 * 24h, 30)));
}

TEST(ProbeHistoryTest, LatencySlotsHoldNearestRankPercentiles) {
  ProbeHistory history;
  // 100 runs of 1..100 ms in the first slot: p50 = 50 ms, p99 = 99 ms.
  for (int i = 100; i >= 1; --i) {
    history.Record(Midnight() + std::chrono::seconds(i), Success(std::chrono::milliseconds(i)));
  }
  history.Record(Midnight() + 7min, Success(200ms));  // the second slot, still open
  std::vector<LatencyRecord> latency = history.Latency(Midnight() + 8min);
  ASSERT_EQ(latency.size(), 2u);
  EXPECT_EQ(latency[0].start, Midnight());
  EXPECT_EQ(latency[0].runs, 100u);
  EXPECT_NEAR(latency[0].p50_seconds, 0.050, 1e-6);
  EXPECT_NEAR(latency[0].p99_seconds, 0.099, 1e-6);
  EXPECT_EQ(latency[1].start, Midnight() + 5min);
  EXPECT_NEAR(latency[1].p99_seconds, 0.2, 1e-6);
  // A day later both have left the 24 hours.
  EXPECT_TRUE(history.Latency(Midnight() + 25h).empty());
}

TEST(ProbeHistoryTest, FailuresSurviveARunOfSuccesses) {
  ProbeHistory history;
  history.Record(Midnight(), Failure(FailureReason::kTlsCertExpired, "certificate expired"));
  for (int i = 1; i <= 200; ++i) {
    history.Record(Midnight() + std::chrono::seconds(i), Success());
  }
  EXPECT_EQ(history.RecentResults().size(), kRecentResults);
  EXPECT_TRUE(history.RecentResults().front().success);
  ASSERT_EQ(history.RecentFailures().size(), 1u);
  EXPECT_EQ(history.RecentFailures()[0].reason, FailureReason::kTlsCertExpired);
  EXPECT_EQ(history.RecentFailures()[0].detail, "certificate expired");
  EXPECT_EQ(history.RecentFailures()[0].time, Midnight());
}

TEST(ProbeHistoryTest, LongDetailsAreCutOnACharacterBoundary) {
  ProbeHistory history;
  std::string detail(kMaxDetailBytes - 1, 'x');
  detail += "\xc3\xa9 and more";  // é straddles the limit
  history.Record(Midnight(), Failure(FailureReason::kOther, detail));
  EXPECT_EQ(history.RecentFailures()[0].detail, std::string(kMaxDetailBytes - 1, 'x') + "...");
}

TEST(ProbeHistoryTest, EncodeDecodeRoundTrip) {
  ProbeHistory history;
  history.Record(Midnight() - 2 * 24h, Failure(FailureReason::kDns, "no such host"));
  for (int i = 0; i < 30; ++i) {
    history.Record(Midnight() + std::chrono::minutes(i), Success(std::chrono::milliseconds(i + 1)));
  }
  ProbeHistory restored;
  std::string error;
  ASSERT_TRUE(restored.Decode(history.Encode(), &error)) << error;
  const TimePoint now = Midnight() + 31min;
  EXPECT_EQ(restored.Encode(), history.Encode());
  ASSERT_EQ(restored.Days(now).size(), 3u);
  EXPECT_EQ(restored.Days(now)[0].worst_reason, "dns");
  EXPECT_EQ(restored.Latency(now).size(), history.Latency(now).size());
  EXPECT_EQ(restored.RecentFailures()[0].detail, "no such host");
}

TEST(ProbeHistoryTest, BadDataIsRejectedAndChangesNothing) {
  ProbeHistory history;
  history.Record(Midnight(), Success());
  const std::string good = history.Encode();
  for (std::size_t size = 0; size < good.size(); ++size) {
    ProbeHistory target;
    target.Record(Midnight(), Failure(FailureReason::kDns));
    std::string error;
    EXPECT_FALSE(target.Decode(std::string_view(good).substr(0, size), &error)) << size;
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(target.RecentFailures().size(), 1u);
  }
  ProbeHistory target;
  std::string error;
  EXPECT_FALSE(target.Decode(good + "x", &error));
  EXPECT_THAT(error, ::testing::HasSubstr("unexpected bytes"));
  EXPECT_FALSE(target.Decode(std::string("\x02", 1), &error));
  EXPECT_THAT(error, ::testing::HasSubstr("layout version 2"));
}

config::Probe Probe(std::string name, std::string target) {
  config::Probe probe;
  probe.name = std::move(name);
  probe.target = std::move(target);
  return probe;
}

TEST(HistoryTest, ReloadKeepsUnchangedProbesAndRestoreChecksTheTarget) {
  TimePoint now = Midnight();
  History history([&] { return now; });
  history.SetProbes({Probe("a", "http://a/"), Probe("b", "http://b/")});
  history.Record("a", Failure(FailureReason::kTimeout));
  history.Record("b", Success());
  history.Record("gone", Success());
  history.SetProbes({Probe("a", "http://a/"), Probe("b", "http://other/")});
  std::size_t failures = 0;
  ASSERT_TRUE(
      history.Read("a", [&](const ProbeHistory& h) { failures = h.RecentFailures().size(); }));
  EXPECT_EQ(failures, 1u);
  std::size_t results = 1;
  ASSERT_TRUE(
      history.Read("b", [&](const ProbeHistory& h) { results = h.RecentResults().size(); }));
  EXPECT_EQ(results, 0u);
  EXPECT_FALSE(history.Read("gone", [](const ProbeHistory&) {}));

  state::Sections sections;
  history.Save(sections);
  History restarted([&] { return now; });
  restarted.SetProbes({Probe("a", "http://a/"), Probe("b", "http://b/")});
  EXPECT_EQ(restarted.Restore(sections), 1u);  // b now probes another target than saved
  ASSERT_TRUE(
      restarted.Read("a", [&](const ProbeHistory& h) { failures = h.RecentFailures().size(); }));
  EXPECT_EQ(failures, 1u);
}

TEST(TrafficTest, RatesOverTheLastFiveMinutes) {
  TimePoint now = Midnight();
  Traffic traffic([&] { return now; });
  traffic.SetServers({"web"});
  EXPECT_FALSE(traffic.Read("api"));
  EXPECT_TRUE(std::isnan(traffic.Read("web")->requests_per_second));
  now += 10s;
  const std::vector<collectors::AccessLogMetrics::Request> requests = {
      {200, 0.1}, {404, 0.1}, {500, 0.1}, {503, std::nullopt}};
  traffic.Record("web", requests);
  traffic.Record("api", requests);  // not set: ignored
  // 4 requests in the 10 s measured so far.
  EXPECT_DOUBLE_EQ(traffic.Read("web")->requests_per_second, 0.4);
  EXPECT_DOUBLE_EQ(traffic.Read("web")->error_ratio, 0.5);
  now += 2min;
  EXPECT_DOUBLE_EQ(traffic.Read("web")->requests_per_second, 4.0 / 130);
  now += 10min;  // the requests have left the window; the rate is over 5 minutes now
  EXPECT_DOUBLE_EQ(traffic.Read("web")->requests_per_second, 0);
  EXPECT_TRUE(std::isnan(traffic.Read("web")->error_ratio));
  traffic.Record("web", requests);
  traffic.SetServers({"web", "api"});  // a reload keeps web's window
  EXPECT_DOUBLE_EQ(traffic.Read("web")->requests_per_second, 4.0 / 300);
}

}  // namespace
}  // namespace nines::status
