#include "exporter/slo/window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace nines::slo {
namespace {

using namespace std::chrono_literals;
using std::chrono::hours;

// 2024-01-01T00:00:00Z: on the bucket grid of every default window except 7d (42m buckets).
constexpr TimePoint kT0{std::chrono::seconds(1'704'067'200)};
constexpr Duration kDay = hours(24);

// The start of the epoch-aligned bucket of width `width` holding `t` (t after the epoch).
TimePoint BucketStart(TimePoint t, Duration width) {
  return TimePoint(t.time_since_epoch() / width * width);
}

void ExpectTotals(const WindowTotals& got, double good, double total, const std::string& what) {
  EXPECT_DOUBLE_EQ(got.good, good) << what;
  EXPECT_DOUBLE_EQ(got.total, total) << what;
}

// Every event with its exact time: the reference the counters are compared with.
struct ExactEvent {
  TimePoint time;
  std::uint64_t good;
  std::uint64_t total;
};

TEST(RatioOf, NaNWhenEmpty) {
  EXPECT_TRUE(std::isnan(RatioOf({0, 0})));
  EXPECT_DOUBLE_EQ(RatioOf({1, 4}), 0.25);
  EXPECT_DOUBLE_EQ(RatioOf({0, 2}), 0.0);
}

TEST(DefaultBucketCount, DividesTheWindow) {
  struct Case {
    Duration window;
    std::uint32_t want;
  };
  const Case cases[] = {
      {5min, 240},      {30min, 240},     {1h, 240},
      {2h, 240},        {6h, 240},        {kDay, 240},
      {3 * kDay, 240},  {7 * kDay, 240},  {28 * kDay, 240},
      {30 * kDay, 240}, {1s, 200},        {10s, 200},
      {1ms, 200},       {Duration{7}, 7}, {Duration{1'000'000'007}, 1},  // prime
      {Duration{0}, 1}, {-5s, 1},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DefaultBucketCount(c.window), c.want) << c.window.count();
    if (c.window > Duration::zero()) {
      EXPECT_EQ(CheckWindow(c.window, c.want), std::nullopt) << c.window.count();
    }
  }
}

TEST(CheckWindow, RejectsWithReason) {
  EXPECT_EQ(CheckWindow(0s, 1), "window must be positive, got 0s");
  EXPECT_EQ(CheckWindow(-5min, 1), "window must be positive, got -5m");
  EXPECT_EQ(CheckWindow(5min, 0), "bucket count must be at least 1");
  EXPECT_EQ(CheckWindow(5min, 2'000'000), "bucket count 2000000 is above the limit of 1000000");
  EXPECT_EQ(CheckWindow(1s, 7),
            "window 1s does not divide into 7 buckets of a whole number of clock ticks");
  EXPECT_EQ(CheckWindow(Duration{5}, 10),
            "window 5ns does not divide into 10 buckets of a whole number of clock ticks");
  EXPECT_EQ(CheckWindow(5min, 240), std::nullopt);
  EXPECT_EQ(CheckWindow(Duration{1}, 1), std::nullopt);
}

TEST(RollingCounter, ConstructorRejectsInvalidWindows) {
  EXPECT_THROW(RollingCounter(0s), std::invalid_argument);
  EXPECT_THROW(RollingCounter(1s, 7), std::invalid_argument);
  EXPECT_THROW(RollingCounter(1h, 0), std::invalid_argument);
  try {
    RollingCounter counter(1s, 7);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "window 1s does not divide into 7 buckets of a whole number of clock ticks");
  }
  RollingCounter counter(30 * kDay);
  EXPECT_EQ(counter.window(), 30 * kDay);
  EXPECT_EQ(counter.bucket_count(), 240u);
  EXPECT_EQ(counter.Export().buckets.size(), 241u);
}

TEST(RollingCounter, EmptyWindowIsNaN) {
  RollingCounter counter(5min);
  EXPECT_TRUE(std::isnan(counter.Ratio(kT0)));
  ExpectTotals(counter.Totals(kT0), 0, 0, "fresh");
  counter.Add(kT0, 1, 1);
  EXPECT_DOUBLE_EQ(counter.Ratio(kT0), 1.0);
  // Once the event has left the window, nothing is known again.
  EXPECT_TRUE(std::isnan(counter.Ratio(kT0 + 10min)));
  ExpectTotals(counter.Totals(kT0 + 10min), 0, 0, "after the window");
  // An Add of zero events keeps it empty.
  counter.Add(kT0 + 10min, 0, 0);
  EXPECT_TRUE(std::isnan(counter.Ratio(kT0 + 10min)));
}

TEST(RollingCounter, FirstEvent) {
  RollingCounter counter(1h);
  counter.Add(kT0 + 3s, 1, 1);
  ExpectTotals(counter.Totals(kT0 + 3s), 1, 1, "at the event");
  counter.Add(kT0 + 4s, 0, 1);
  EXPECT_DOUBLE_EQ(counter.Ratio(kT0 + 4s), 0.5);
  const RollingSnapshot snapshot = counter.Export();
  EXPECT_EQ(snapshot.newest_bucket_start, kT0);  // 15s buckets, kT0 on the grid
  EXPECT_EQ(snapshot.buckets.back(), (BucketCounts{1, 2}));
}

TEST(RollingCounter, EventOnABoundaryLeavesOverTheBucketAfterTheWindow) {
  RollingCounter counter(5min);  // 240 buckets of 1.25s
  const Duration w = 1250ms;
  const TimePoint t = kT0;  // on a bucket boundary
  counter.Add(t, 1, 1);
  ExpectTotals(counter.Totals(t + 5min - 1ns), 1, 1, "just before t + W");
  // Documented: a boundary event counts whole until t + W inclusive...
  ExpectTotals(counter.Totals(t + 5min), 1, 1, "at t + W");
  // ...then its weight falls linearly over one bucket width.
  ExpectTotals(counter.Totals(t + 5min + w / 2), 0.5, 0.5, "at t + W + w/2");
  ExpectTotals(counter.Totals(t + 5min + w / 5), 0.8, 0.8, "at t + W + w/5");
  EXPECT_GT(counter.Totals(t + 5min + w - 1ns).total, 0.0);
  ExpectTotals(counter.Totals(t + 5min + w), 0, 0, "at t + W + w");
}

TEST(RollingCounter, EventMidBucketIsHalfCountedWhenItLeaves) {
  RollingCounter counter(5min);
  const Duration w = 1250ms;
  const TimePoint t = kT0 + w / 2;  // the middle of a bucket
  counter.Add(t, 1, 1);
  counter.Add(kT0 + 2min, 0, 1);  // a failure well inside the window
  ExpectTotals(counter.Totals(t + 5min - w / 2 - 1ns), 1, 2, "before its bucket reaches the edge");
  // Exactly when the event leaves the exact window, the estimate is half of it.
  ExpectTotals(counter.Totals(t + 5min), 0.5, 1.5, "at t + W");
  EXPECT_DOUBLE_EQ(counter.Ratio(t + 5min), 1.0 / 3.0);
  ExpectTotals(counter.Totals(t + 5min + w / 2), 0, 1, "a half bucket later");
  EXPECT_DOUBLE_EQ(counter.Ratio(t + 5min + w / 2), 0.0);
}

TEST(RollingCounter, BoundaryEventsBelongToTheBucketTheyStart) {
  RollingCounter counter(1h);  // 15s buckets
  counter.Add(kT0 + 15s, 1, 1);
  EXPECT_EQ(counter.Export().newest_bucket_start, kT0 + 15s);
  counter.Add(kT0 + 15s - 1ns, 0, 1);  // one tick earlier: the bucket before
  const RollingSnapshot snapshot = counter.Export();
  EXPECT_EQ(snapshot.newest_bucket_start, kT0 + 15s);
  EXPECT_EQ(snapshot.buckets[239], (BucketCounts{0, 1}));
  EXPECT_EQ(snapshot.buckets[240], (BucketCounts{1, 1}));
  // The earlier one leaves one bucket before the later one.
  ExpectTotals(counter.Totals(kT0 + 1h + 15s), 1, 1, "first gone");
  ExpectTotals(counter.Totals(kT0 + 1h + 30s), 0, 0, "both gone");
}

TEST(RollingCounter, SteadyTrafficIsWithinHalfAnEvent) {
  // One good event per bucket at the bucket's middle: wherever the window edge falls, the
  // linear weight is off by at most half an event.
  RollingCounter counter(1h);
  const Duration w = 15s;
  TimePoint now = kT0;
  for (int i = 0; i < 2 * 240; ++i) {
    now = kT0 + i * w + w / 2;
    counter.Add(now, 1, 1);
  }
  for (Duration offset : {Duration(0), Duration(3s), Duration(7s), Duration(14s)}) {
    const WindowTotals totals = counter.Totals(now + offset);
    EXPECT_NEAR(totals.total, 240.0, 0.5) << offset.count();
    EXPECT_DOUBLE_EQ(RatioOf(totals), 1.0);
  }
}

TEST(RollingCounter, LongGapClearsEverything) {
  RollingCounter counter(30 * kDay);
  counter.Add(kT0, 0, 1);
  counter.Add(kT0 + 1h, 0, 1);
  EXPECT_DOUBLE_EQ(counter.Ratio(kT0 + 29 * kDay), 0.0);
  // 40 days without an event: the window is empty before the next event arrives...
  EXPECT_TRUE(std::isnan(counter.Ratio(kT0 + 40 * kDay)));
  // ...and holds only that event after.
  counter.Add(kT0 + 40 * kDay, 1, 1);
  ExpectTotals(counter.Totals(kT0 + 40 * kDay), 1, 1, "after the gap");
  const RollingSnapshot snapshot = counter.Export();
  std::uint64_t total = 0;
  for (const BucketCounts& bucket : snapshot.buckets) {
    total += bucket.total;
  }
  EXPECT_EQ(total, 1u);
}

TEST(RollingCounter, GapOfAQuadrillionBucketsIsConstantTime) {
  // 1-tick buckets: 40 days is 3.5e15 buckets. Clearing them one by one would not finish.
  RollingCounter counter(Duration{240}, 240);
  counter.Add(kT0, 0, 1);
  EXPECT_TRUE(std::isnan(counter.Ratio(kT0 + 40 * kDay)));
  counter.Add(kT0 + 40 * kDay, 1, 1);
  ExpectTotals(counter.Totals(kT0 + 40 * kDay), 1, 1, "after the gap");
  ExpectTotals(counter.Totals(kT0 + 40 * kDay + Duration{239}), 1, 1, "last tick inside");
  ExpectTotals(counter.Totals(kT0 + 40 * kDay + Duration{240}), 1, 1, "bucket whole at t + W");
  ExpectTotals(counter.Totals(kT0 + 40 * kDay + Duration{241}), 0, 0, "gone");
}

TEST(RollingCounter, GapShorterThanTheWindowKeepsWhatIsInside) {
  RollingCounter counter(1h);
  counter.Add(kT0, 0, 1);
  counter.Add(kT0 + 30min, 1, 1);
  counter.Add(kT0 + 61min, 1, 1);  // the first event has left, the second has not
  ExpectTotals(counter.Totals(kT0 + 61min), 2, 2, "after a half-window gap");
  counter.Add(kT0 + 91min, 1, 1);
  ExpectTotals(counter.Totals(kT0 + 91min), 2, 2, "the second gone too");
}

TEST(RollingCounter, ClockBackwardsWithinTheWindowCountsInPlace) {
  RollingCounter counter(1h);
  const TimePoint t = kT0 + 30min;
  counter.Add(t, 1, 1);
  counter.Add(t - 10s, 0, 1);  // a wall-clock step back, or an out-of-order log line
  ExpectTotals(counter.Totals(t), 1, 2, "at the newest time");
  // Reads before the newest event are read at the newest event.
  ExpectTotals(counter.Totals(t - 10s), 1, 2, "10s back");
  ExpectTotals(counter.Totals(t - 50min), 1, 2, "50min back");
  EXPECT_EQ(counter.Export().newest_bucket_start, t);
  // The stepped-back event leaves the window on its own time, a bucket before the other.
  ExpectTotals(counter.Totals(t + 1h), 1, 1, "the early one gone");
  // Exactly N buckets back is still in the ring (the partly inside bucket).
  counter.Add(t - 1h, 1, 1);
  ExpectTotals(counter.Totals(t), 2, 3, "an event N buckets back");
}

TEST(RollingCounter, ClockBackwardsBeyondTheWindowStartsOver) {
  RollingCounter counter(5min);
  const TimePoint t = kT0 + 1h;
  counter.Add(t, 1, 1);
  counter.Add(t - 5min, 1, 1);  // 240 buckets back: still in the ring
  ExpectTotals(counter.Totals(t), 2, 2, "in the ring");
  // A read more than the ring before the newest event sees another timeline: empty.
  EXPECT_TRUE(std::isnan(counter.Ratio(t - 5min - 1ns)));
  EXPECT_TRUE(std::isnan(counter.Ratio(t - 1h)));
  // An event there discards the history and starts over.
  counter.Add(t - 1h, 0, 1);
  ExpectTotals(counter.Totals(t - 1h), 0, 1, "started over");
  EXPECT_EQ(counter.Export().newest_bucket_start, t - 1h);
  // The old future is gone: reading at t sees an empty window (the new event left).
  ExpectTotals(counter.Totals(t), 0, 0, "at the old time");
}

TEST(RollingCounter, ExtremeTimesNeverCrash) {
  RollingCounter counter(5min);
  const TimePoint min = TimePoint::min();
  const TimePoint max = TimePoint::max();
  for (TimePoint t : {min, max, min, kT0, max, TimePoint{}, max}) {
    counter.Add(t, 1, 2);
    for (TimePoint read : {min, max, kT0, t}) {
      const WindowTotals totals = counter.Totals(read);
      EXPECT_GE(totals.good, 0.0);
      EXPECT_LE(totals.good, totals.total);
      EXPECT_TRUE(std::isfinite(totals.total));
    }
  }
  ExpectTotals(counter.Totals(max), 1, 2, "at the end of time");
  RollingCounter copy(5min);
  std::string error;
  ASSERT_TRUE(copy.Restore(counter.Export(), &error)) << error;
  EXPECT_EQ(copy.Export(), counter.Export());
  ExpectTotals(copy.Totals(max), 1, 2, "restored at the end of time");
}

TEST(RollingCounter, GoodAboveTotalIsClamped) {
  RollingCounter counter(5min);
  counter.Add(kT0, 5, 3);
  ExpectTotals(counter.Totals(kT0), 3, 3, "clamped");
}

TEST(RollingCounter, ManyEventsAtOnce) {
  RollingCounter counter(5min);
  counter.Add(kT0, 999'000, 1'000'000);
  EXPECT_DOUBLE_EQ(counter.Ratio(kT0), 0.999);

  // The batch Add equals one Add per event.
  std::vector<Event> events;
  events.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    events.push_back({kT0 + i * 37ms, static_cast<std::uint64_t>(i % 7 != 0), 1});
  }
  RollingCounter batched(5min);
  RollingCounter single(5min);
  batched.Add(events);
  for (const Event& e : events) {
    single.Add(e.time, e.good, e.total);
  }
  EXPECT_EQ(batched.Export(), single.Export());
  const TimePoint end = events.back().time;
  ExpectTotals(batched.Totals(end), 857, 1000, "batch");
}

TEST(RollingCounter, RestoreRoundTrip) {
  RollingCounter counter(1h);
  std::mt19937_64 random(7);
  TimePoint now = kT0;
  for (int i = 0; i < 5000; ++i) {
    now += Duration(static_cast<Duration::rep>(random() % 3'000'000'000));
    counter.Add(now, random() % 3, 2);
  }
  const RollingSnapshot snapshot = counter.Export();
  EXPECT_EQ(snapshot.window, 1h);
  EXPECT_EQ(snapshot.bucket_count, 240u);
  EXPECT_EQ(snapshot.buckets.size(), 241u);
  EXPECT_EQ(snapshot.newest_bucket_start, BucketStart(now, 15s));

  RollingCounter restored(1h);
  std::string error;
  ASSERT_TRUE(restored.Restore(snapshot, &error)) << error;
  EXPECT_EQ(restored.Export(), snapshot);
  for (Duration later : {Duration(0), Duration(1s), Duration(20min), Duration(1h), Duration(2h)}) {
    const WindowTotals a = counter.Totals(now + later);
    const WindowTotals b = restored.Totals(now + later);
    EXPECT_DOUBLE_EQ(a.good, b.good) << later.count();
    EXPECT_DOUBLE_EQ(a.total, b.total) << later.count();
  }
  // And both go on the same way.
  counter.Add(now + 10min, 1, 1);
  restored.Add(now + 10min, 1, 1);
  EXPECT_EQ(restored.Export(), counter.Export());

  // An empty counter round-trips to an empty counter.
  RollingCounter empty(1h);
  ASSERT_TRUE(restored.Restore(empty.Export(), &error)) << error;
  EXPECT_EQ(restored.Export(), empty.Export());
  EXPECT_TRUE(std::isnan(restored.Ratio(now)));
}

TEST(RollingCounter, RestoreRejectsInvalidSnapshots) {
  RollingCounter source(5min);
  source.Add(kT0, 1, 2);
  const RollingSnapshot valid = source.Export();

  struct Case {
    const char* name;
    void (*mutate)(RollingSnapshot*);
    std::string want;
  };
  const Case cases[] = {
      {"window", [](RollingSnapshot* s) { s->window = 1h; },
       "window 1h does not match the counter's 5m"},
      {"bucket count", [](RollingSnapshot* s) { s->bucket_count = 120; },
       "bucket count 120 does not match the counter's 240"},
      {"too few buckets", [](RollingSnapshot* s) { s->buckets.pop_back(); },
       "has 240 buckets, want 241 (bucket count + 1)"},
      {"too many buckets", [](RollingSnapshot* s) { s->buckets.push_back({}); },
       "has 242 buckets, want 241 (bucket count + 1)"},
      {"no buckets", [](RollingSnapshot* s) { s->buckets.clear(); },
       "has 0 buckets, want 241 (bucket count + 1)"},
      {"off the grid", [](RollingSnapshot* s) { s->newest_bucket_start += 1ms; },
       "newest bucket start 1704067200001000000ns after the epoch is not a multiple of the bucket "
       "width 1s250ms"},
      {"out of range", [](RollingSnapshot* s) { s->newest_bucket_start = TimePoint::min(); },
       "newest bucket start -9223372036854775808ns after the epoch is out of range"},
      {"good above total",
       [](RollingSnapshot* s) {
         s->buckets[3] = {5, 4};
       },
       "bucket 3 has good 5 > total 4"},
      {"overflow",
       [](RollingSnapshot* s) {
         s->buckets[0] = {0, std::numeric_limits<std::uint64_t>::max() / 2 + 1};
         s->buckets[1] = {0, std::numeric_limits<std::uint64_t>::max() / 2 + 1};
       },
       "bucket totals overflow 64 bits"},
  };
  for (const Case& c : cases) {
    RollingSnapshot bad = valid;
    c.mutate(&bad);
    RollingCounter counter(5min);
    counter.Add(kT0 + 1min, 1, 1);
    const RollingSnapshot before = counter.Export();
    std::string error;
    EXPECT_FALSE(counter.Restore(bad, &error)) << c.name;
    EXPECT_EQ(error, c.want) << c.name;
    EXPECT_EQ(counter.Export(), before) << c.name << ": changed by a failed restore";
    EXPECT_FALSE(counter.Restore(bad, nullptr)) << c.name;
  }
}

TEST(RollingCounter, RestoreFromTheFuture) {
  RollingCounter source(1h);
  source.Add(kT0 + 365 * kDay, 1, 1);
  RollingCounter counter(1h);
  std::string error;
  ASSERT_TRUE(counter.Restore(source.Export(), &error)) << error;
  // A year ahead is another timeline: empty now, and the first event starts over.
  EXPECT_TRUE(std::isnan(counter.Ratio(kT0)));
  counter.Add(kT0, 0, 1);
  ExpectTotals(counter.Totals(kT0), 0, 1, "started over");

  // A minute ahead is the same timeline: read at the newest bucket until time catches up.
  RollingCounter near_source(1h);
  near_source.Add(kT0 + 1min, 1, 1);
  RollingCounter near(1h);
  ASSERT_TRUE(near.Restore(near_source.Export(), &error)) << error;
  ExpectTotals(near.Totals(kT0), 1, 1, "restored a minute ahead");
  near.Add(kT0, 0, 1);
  ExpectTotals(near.Totals(kT0), 1, 2, "both counted");
}

TEST(RollingCounter, ReadsWhileAdding) {
  RollingCounter counter(5min);
  std::atomic<bool> done = false;
  std::thread writer([&] {
    for (int i = 0; i < 200'000; ++i) {
      counter.Add(kT0 + i * 10us, i % 2 == 0 ? 1 : 0, 1);
    }
    done = true;
  });
  int reads = 0;
  while (!done || reads == 0) {
    const WindowTotals totals = counter.Totals(kT0);
    EXPECT_LE(totals.good, totals.total);
    ++reads;
  }
  writer.join();
  ExpectTotals(counter.Totals(kT0 + 199'999 * 10us), 100'000, 200'000, "all");
}

// Random events against the exact answer: the estimate must stay within the documented
// bound, max(f, 1 - f) times the partly inside bucket's events, for good and total, and
// c / (T0 + c) for the ratio.
TEST(RollingCounter, MatchesBruteForceWithinTheDocumentedBound) {
  struct Config {
    Duration window;
    std::uint32_t buckets;
  };
  const Config configs[] = {
      {5min, 240}, {1h, 240}, {30 * kDay, 240}, {1h, 60}, {1s, 40}, {Duration{100}, 10}, {10s, 1},
  };
  std::mt19937_64 random(20240101);
  for (const Config& config : configs) {
    SCOPED_TRACE(testing::Message() << "window " << config.window.count() << " ticks, "
                                    << config.buckets << " buckets");
    const Duration width = config.window / config.buckets;
    const auto w = static_cast<std::uint64_t>(width.count());
    auto ticks_below = [&](Duration limit) {
      const auto n = static_cast<std::uint64_t>(limit.count());
      return Duration(static_cast<Duration::rep>(n == 0 ? 0 : random() % n));
    };
    RollingCounter counter(config.window, config.buckets);
    std::vector<ExactEvent> events;
    TimePoint newest = kT0 + ticks_below(width * 1000);
    int checks = 0;
    int weighted = 0;  // reads where the partly inside bucket held events
    for (int step = 0; step < 4000; ++step) {
      // The next event time: same instant, a bucket boundary, a short or long gap, or a
      // little back in time (never more than the window minus a bucket, so it stays in the
      // ring and the exact answer is well defined).
      TimePoint t = newest;
      const std::uint64_t kind = random() % 128;
      if (kind < 20) {
        // the same instant
      } else if (kind < 40) {
        t = BucketStart(newest, width) + width;
      } else if (kind < 100) {
        t = newest + ticks_below(width);
      } else if (kind < 116) {
        t = newest - ticks_below(config.window - width);
      } else if (kind < 125) {
        t = newest + ticks_below(width * 5);
      } else if (kind < 127) {
        t = newest + ticks_below(config.window);
      } else {
        t = newest + ticks_below(config.window * 3);
      }
      const std::uint64_t total = random() % 4 == 0 ? random() % 1000 : random() % 4;
      const std::uint64_t good = total == 0 ? 0 : random() % (total + 1);
      counter.Add(t, good, total);
      events.push_back({t, good, total});
      newest = std::max(newest, t);

      // Read at a time at or after the newest event.
      TimePoint read = newest;
      switch (random() % 4) {
        case 0:
          break;
        case 1:
          read = newest + ticks_below(width);
          break;
        case 2:
          read = BucketStart(newest, width) +
                 width *
                     static_cast<Duration::rep>(1 + random() % (2 * std::uint64_t{config.buckets}));
          break;
        default:
          read = newest + ticks_below(config.window * 2);
          break;
      }
      const std::int64_t read_bucket = read.time_since_epoch() / width;
      const std::int64_t partial_bucket = read_bucket - config.buckets;
      double exact_good = 0, exact_total = 0;
      double partial_good = 0, partial_total = 0, whole_total = 0;
      for (const ExactEvent& e : events) {
        if (e.time > read - config.window && e.time <= read) {
          exact_good += static_cast<double>(e.good);
          exact_total += static_cast<double>(e.total);
        }
        const std::int64_t bucket = e.time.time_since_epoch() / width;
        if (bucket == partial_bucket) {
          partial_good += static_cast<double>(e.good);
          partial_total += static_cast<double>(e.total);
        } else if (bucket > partial_bucket && bucket <= read_bucket) {
          whole_total += static_cast<double>(e.total);
        }
      }
      const double f = 1.0 - static_cast<double>(static_cast<std::uint64_t>(
                                 (read.time_since_epoch() % width).count())) /
                                 static_cast<double>(w);
      const double edge = std::max(f, 1.0 - f);
      const WindowTotals got = counter.Totals(read);
      const double slack = 1e-9 * (1 + exact_total);
      ASSERT_LE(std::abs(got.good - exact_good), edge * partial_good + slack) << "step " << step;
      ASSERT_LE(std::abs(got.total - exact_total), edge * partial_total + slack) << "step " << step;
      if (got.total == 0) {
        ASSERT_EQ(exact_total, 0) << "step " << step;
      } else if (exact_total > 0) {
        const double bound = partial_total / (whole_total + partial_total);
        ASSERT_LE(std::abs(RatioOf(got) - exact_good / exact_total), bound + 1e-9)
            << "step " << step;
      }
      if (partial_total > 0) {
        ++weighted;
      }
      // A read before the newest event is a read at the newest event.
      const WindowTotals at_newest = counter.Totals(newest);
      const WindowTotals before = counter.Totals(newest - ticks_below(config.window - width));
      ASSERT_EQ(before.good, at_newest.good) << "step " << step;
      ASSERT_EQ(before.total, at_newest.total) << "step " << step;
      ++checks;
    }
    EXPECT_EQ(checks, 4000);
    EXPECT_GT(weighted, 200);  // the bound was really exercised
  }
}

// Any sequence of times, however wild, keeps 0 <= good <= total and finite values.
TEST(RollingCounter, WildClockNeverGoesNegative) {
  std::mt19937_64 random(99);
  RollingCounter counter(1h, 60);
  TimePoint t = kT0;
  for (int i = 0; i < 20000; ++i) {
    const auto jump = static_cast<std::int64_t>(random() % 7'200'000'000'000) - 3'600'000'000'000;
    t += Duration(jump / 1000 * static_cast<std::int64_t>(random() % 2000));
    counter.Add(t, random() % 3, 2);
    const WindowTotals totals = counter.Totals(
        t + Duration(static_cast<std::int64_t>(random() % 1'000'000'000'000) - 500'000'000'000));
    ASSERT_GE(totals.good, 0.0);
    ASSERT_LE(totals.good, totals.total);
    ASSERT_TRUE(std::isfinite(totals.total));
  }
}

TEST(WindowSet, ProbeWindows) {
  WindowSet set(WindowSet::ProbeWindows());
  std::vector<std::string> names;
  names.reserve(set.windows().size());
  for (const WindowSpec& spec : set.windows()) {
    names.push_back(spec.name);
    EXPECT_EQ(spec.bucket_count, 240u) << spec.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"5m", "1h", "1d", "7d", "30d"}));

  // A probe every minute for 8 days, failing for one hour starting on day 2.
  const TimePoint start = kT0;
  const TimePoint outage = start + 2 * kDay;
  TimePoint now = start;
  for (; now <= start + 8 * kDay; now += 1min) {
    const bool ok = now < outage || now >= outage + 1h;
    set.Add(now, ok ? 1 : 0, 1);
  }
  now -= 1min;
  const std::vector<NamedRatio> ratios = set.Ratios(now);
  ASSERT_EQ(ratios.size(), 5u);
  EXPECT_EQ(ratios[0].name, "5m");
  EXPECT_DOUBLE_EQ(ratios[0].ratio, 1.0);
  EXPECT_DOUBLE_EQ(ratios[1].ratio, 1.0);
  EXPECT_DOUBLE_EQ(ratios[2].ratio, 1.0);
  EXPECT_EQ(ratios[3].name, "7d");
  // 60 failures among 7 * 1440 runs; one 42m bucket at the edge bounds the error.
  EXPECT_NEAR(ratios[3].ratio, 1.0 - 60.0 / (7 * 1440), 42.0 / (7 * 1440));
  EXPECT_EQ(ratios[4].name, "30d");
  EXPECT_DOUBLE_EQ(ratios[4].ratio, 1.0 - 60.0 / (8 * 1440 + 1));

  // In the middle of the outage.
  WindowSet during(WindowSet::ProbeWindows());
  for (TimePoint t = start; t <= outage + 30min; t += 1min) {
    during.Add(t, t < outage ? 1 : 0, 1);
  }
  const std::vector<NamedRatio> mid = during.Ratios(outage + 30min);
  EXPECT_DOUBLE_EQ(mid[0].ratio, 0.0);
  EXPECT_NEAR(mid[1].ratio, 29.0 / 60.0, 1.0 / 60.0);
  EXPECT_NEAR(mid[2].ratio, 1.0 - 31.0 / 1440.0, 1.0 / 1440.0);

  // The totals come in the same order.
  const std::vector<WindowTotals> totals = during.Totals(outage + 30min);
  ASSERT_EQ(totals.size(), 5u);
  EXPECT_NEAR(totals[0].total, 5.0, 1.0);
  EXPECT_DOUBLE_EQ(totals[4].total, 2 * 1440 + 31);
}

TEST(WindowSet, SloWindowsAtAccessLogRates) {
  const std::vector<WindowSpec> specs = WindowSet::SloWindows("30d", 30 * kDay);
  std::vector<std::string> names;
  names.reserve(specs.size());
  for (const WindowSpec& spec : specs) {
    names.push_back(spec.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"}));
  EXPECT_EQ(WindowSet::SloWindows("1d", kDay).size(), 7u);  // not repeated
  EXPECT_EQ(WindowSet::SloWindows("28d", 28 * kDay).back().name, "28d");

  // 200 requests a second for 3 hours, in one batch per second; the last 10 minutes fail
  // 10% of the time.
  WindowSet set(specs);
  const TimePoint start = kT0;
  const TimePoint end = start + 3h;
  std::vector<Event> batch;
  for (TimePoint now = start; now < end; now += 1s) {
    batch.clear();
    const bool bad = now >= end - 10min;
    for (int i = 0; i < 200; ++i) {
      batch.push_back({now + i * 5ms, bad && i % 10 == 0 ? 0u : 1u, 1});
    }
    set.Add(batch);
  }
  const TimePoint read = end - 5ms;
  const std::vector<NamedRatio> ratios = set.Ratios(read);
  ASSERT_EQ(ratios.size(), 8u);
  const double errors = 10 * 60 * 20;  // 10 minutes, 20 failures a second
  const double want[] = {
      0.9,                            // 5m
      1 - errors / (30 * 60 * 200),   // 30m
      1 - errors / (60 * 60 * 200),   // 1h
      1 - errors / (120 * 60 * 200),  // 2h
      1 - errors / (180 * 60 * 200),  // 6h: only 3h of data
      1 - errors / (180 * 60 * 200),  // 1d
      1 - errors / (180 * 60 * 200),  // 3d
      1 - errors / (180 * 60 * 200),  // 30d
  };
  for (std::size_t i = 0; i < ratios.size(); ++i) {
    EXPECT_NEAR(ratios[i].ratio, want[i], 1e-4) << ratios[i].name;
  }
  const std::vector<WindowTotals> totals = set.Totals(read);
  EXPECT_DOUBLE_EQ(totals.back().total, 3 * 3600 * 200);
}

TEST(WindowSet, RejectsInvalidSets) {
  struct Case {
    std::vector<WindowSpec> windows;
    std::string want;
  };
  const Case cases[] = {
      {{}, "no windows"},
      {{{"5m", 5min}, {"", 1h}}, "window 1: empty name"},
      {{{"5m", 5min}, {"5m", 1h}}, "window \"5m\" given twice"},
      {{{"1h", 1h, 7}},
       "window \"1h\": window 1h does not divide into 7 buckets of a whole "
       "number of clock ticks"},
      {{{"zero", 0s}}, "window \"zero\": window must be positive, got 0s"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(WindowSet::Check(c.windows), c.want);
    try {
      WindowSet set(c.windows);
      ADD_FAILURE() << "no exception for " << c.want;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(e.what(), c.want);
    }
  }
  EXPECT_EQ(WindowSet::Check(WindowSet::ProbeWindows()), std::nullopt);
  WindowSet custom({{"odd", 1h, 60}});
  EXPECT_EQ(custom.windows()[0].bucket_count, 60u);
}

TEST(WindowSet, ExportRestore) {
  WindowSet set(WindowSet::ProbeWindows());
  for (int i = 0; i < 1000; ++i) {
    set.Add(kT0 + i * 15s, i % 10 == 0 ? 0 : 1, 1);
  }
  const TimePoint now = kT0 + 999 * 15s;
  const std::vector<NamedSnapshot> saved = set.Export();
  ASSERT_EQ(saved.size(), 5u);
  EXPECT_EQ(saved[0].name, "5m");

  WindowSet restored(WindowSet::ProbeWindows());
  std::string error;
  ASSERT_TRUE(restored.Restore(saved, &error)) << error;
  EXPECT_EQ(restored.Export().size(), saved.size());
  for (std::size_t i = 0; i < saved.size(); ++i) {
    EXPECT_EQ(restored.Export()[i].snapshot, saved[i].snapshot) << saved[i].name;
  }
  const std::vector<NamedRatio> a = set.Ratios(now);
  const std::vector<NamedRatio> b = restored.Ratios(now);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_DOUBLE_EQ(a[i].ratio, b[i].ratio) << a[i].name;
  }

  // The config changed: 7d became 14d under the same name, 1d was removed, 2h added, and
  // an unknown "90d" snapshot is ignored. Restorable windows are restored; the rest start
  // empty and are reported.
  std::vector<NamedSnapshot> changed = saved;
  changed.push_back({"90d", saved[4].snapshot});
  WindowSet other({{"5m", 5min}, {"7d", 14 * kDay}, {"2h", 2h}, {"30d", 30 * kDay}});
  EXPECT_FALSE(other.Restore(changed, &error));
  EXPECT_EQ(error, "window \"7d\": window 1w does not match the counter's 2w");
  const std::vector<NamedRatio> partial = other.Ratios(now);
  EXPECT_DOUBLE_EQ(partial[0].ratio, a[0].ratio);
  EXPECT_TRUE(std::isnan(partial[1].ratio));
  EXPECT_TRUE(std::isnan(partial[2].ratio));
  EXPECT_DOUBLE_EQ(partial[3].ratio, a[4].ratio);

  // A window given twice is not guessed at.
  std::vector<NamedSnapshot> twice = saved;
  twice.push_back(saved[0]);
  EXPECT_FALSE(restored.Restore(twice, &error));
  EXPECT_EQ(error, "window \"5m\": given twice");
  EXPECT_TRUE(std::isnan(restored.Ratios(now)[0].ratio));
  EXPECT_DOUBLE_EQ(restored.Ratios(now)[1].ratio, a[1].ratio);

  // Several failures are all listed.
  std::vector<NamedSnapshot> broken = saved;
  broken[0].snapshot.buckets[0] = {2, 1};
  broken[1].snapshot.bucket_count = 1;
  EXPECT_FALSE(restored.Restore(broken, nullptr));
  EXPECT_FALSE(restored.Restore(broken, &error));
  EXPECT_EQ(error,
            "window \"5m\": bucket 0 has good 2 > total 1; "
            "window \"1h\": bucket count 1 does not match the counter's 240");
}

}  // namespace
}  // namespace nines::slo
