#include "exporter/scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace nines::scheduler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The fake clock: a fixed origin plus whatever each test adds.
constexpr TimePoint kT0 = TimePoint() + std::chrono::hours(1000);

std::vector<std::size_t> Indexes(const std::vector<DueRun>& runs) {
  std::vector<std::size_t> indexes;
  indexes.reserve(runs.size());
  for (const DueRun& run : runs) {
    indexes.push_back(run.index);
  }
  return indexes;
}

TEST(ScheduleOffset, IsDeterministicWithinTheIntervalAndSpreadByName) {
  Duration offset = Schedule::Offset("web", seconds(10));
  EXPECT_EQ(offset, Schedule::Offset("web", seconds(10)));
  EXPECT_GE(offset, Duration::zero());
  EXPECT_LT(offset, seconds(10));
  // 100 names over a 1 s interval land in many different 100 ms tenths.
  std::set<Duration::rep> tenths;
  for (int i = 0; i < 100; ++i) {
    tenths.insert(Schedule::Offset("probe-" + std::to_string(i), seconds(1)) / milliseconds(100));
  }
  EXPECT_GE(tenths.size(), 8U);
}

TEST(Schedule, NewProbeRunsWithinASecondThenOnItsPhase) {
  Schedule schedule(10);
  schedule.SetProbes({{"web", seconds(10)}}, kT0);
  TimePoint first = kT0 + Schedule::Offset("web", seconds(1));
  EXPECT_EQ(schedule.NextWake(kT0), first);
  if (first > kT0) {
    EXPECT_THAT(schedule.Poll(first - Duration(1), nullptr), IsEmpty());
  }
  std::vector<DueRun> runs = schedule.Poll(first + milliseconds(2), nullptr);
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0].index, 0U);
  EXPECT_EQ(runs[0].due, first);  // the delay is now - due = 2 ms
  EXPECT_EQ(schedule.in_flight(), 1U);
  schedule.Finished(0);
  EXPECT_EQ(schedule.in_flight(), 0U);
  // Then on the phase grid: origin + Offset(name, interval) + k * interval.
  TimePoint phase = kT0 + Schedule::Offset("web", seconds(10));
  TimePoint next = phase > first ? phase : phase + seconds(10);
  EXPECT_EQ(schedule.NextWake(first + milliseconds(3)), next);
  runs = schedule.Poll(next, nullptr);
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0].due, next);
  schedule.Finished(0);
  EXPECT_EQ(schedule.NextWake(next), next + seconds(10));
}

TEST(Schedule, NeverRunsAProbeTwiceAtOnceAndCountsTheSkip) {
  Schedule schedule(10);
  schedule.SetProbes({{"slow", seconds(1)}}, kT0);
  TimePoint first = kT0 + Schedule::Offset("slow", seconds(1));
  ASSERT_EQ(schedule.Poll(first, nullptr).size(), 1U);
  std::vector<std::size_t> skipped;
  // The run takes 2.5 intervals: two slots pass while it is in flight.
  EXPECT_THAT(schedule.Poll(first + seconds(1), &skipped), IsEmpty());
  EXPECT_THAT(schedule.Poll(first + seconds(2), &skipped), IsEmpty());
  EXPECT_THAT(skipped, ElementsAre(0U, 0U));
  schedule.Finished(0);
  EXPECT_THAT(schedule.Poll(first + milliseconds(2500), &skipped), IsEmpty());
  std::vector<DueRun> runs = schedule.Poll(first + seconds(3), &skipped);
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0].due, first + seconds(3));
  EXPECT_EQ(skipped.size(), 2U);
}

TEST(Schedule, CapsRunsInFlightAndStartsTheMostOverdueFirst) {
  Schedule schedule(1);
  schedule.SetProbes({{"a", seconds(1)}, {"b", seconds(1)}, {"c", seconds(1)}}, kT0);
  // Everything has come due by kT0 + 10 s.
  std::vector<std::size_t> skipped;
  std::vector<DueRun> runs = schedule.Poll(kT0 + seconds(1) - Duration(1), &skipped);
  ASSERT_EQ(runs.size(), 1U);
  std::size_t first = runs[0].index;
  // The others wait: nothing more starts while one is in flight.
  EXPECT_THAT(schedule.Poll(kT0 + seconds(1) - Duration(1), &skipped), IsEmpty());
  schedule.Finished(first);
  EXPECT_EQ(schedule.NextWake(kT0 + seconds(1) - Duration(1)), kT0 + seconds(1) - Duration(1));
  runs = schedule.Poll(kT0 + seconds(1) - Duration(1), &skipped);
  ASSERT_EQ(runs.size(), 1U);
  std::size_t second = runs[0].index;
  EXPECT_NE(second, first);
  // The remaining one was due before the second: due times come out in order.
  std::vector<std::pair<Duration, std::size_t>> by_offset;
  for (std::size_t i = 0; i < 3; ++i) {
    by_offset.emplace_back(Schedule::Offset(std::string(1, static_cast<char>('a' + i)), seconds(1)),
                           i);
  }
  std::sort(by_offset.begin(), by_offset.end());
  EXPECT_EQ(first, by_offset[0].second);
  EXPECT_EQ(second, by_offset[1].second);
  EXPECT_THAT(skipped, IsEmpty());
  // The third is still held back when its next slot comes: that slot is skipped.
  std::size_t third = by_offset[2].second;
  TimePoint third_next = kT0 + by_offset[2].first + seconds(1);
  EXPECT_THAT(schedule.Poll(third_next, &skipped), IsEmpty());
  EXPECT_THAT(skipped, testing::Contains(third));
  schedule.Finished(second);
  // The first probe's next slot came before the third's: it is the more overdue one.
  runs = schedule.Poll(third_next, &skipped);
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0].index, first);
  EXPECT_EQ(runs[0].due, kT0 + by_offset[0].first + seconds(1));
  schedule.Finished(first);
  runs = schedule.Poll(third_next, &skipped);
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0].index, third);
  EXPECT_EQ(runs[0].due, third_next);
}

TEST(Schedule, AfterAStallRunsOnceAndCountsTheMissedSlots) {
  Schedule schedule(10);
  schedule.SetProbes({{"web", seconds(1)}}, kT0);
  TimePoint first = kT0 + Schedule::Offset("web", seconds(1));
  ASSERT_EQ(schedule.Poll(first, nullptr).size(), 1U);
  schedule.Finished(0);
  std::vector<std::size_t> skipped;
  // The process was suspended for 5.5 s: slots first+1 .. first+5 have all come.
  std::vector<DueRun> runs = schedule.Poll(first + milliseconds(5500), &skipped);
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0].due, first + seconds(5));
  EXPECT_EQ(skipped.size(), 4U);
  EXPECT_EQ(schedule.NextWake(first + milliseconds(5500)), first + seconds(6));
}

TEST(Schedule, ReloadKeepsPhaseAndInFlightStateOfUnchangedProbes) {
  Schedule schedule(10);
  schedule.SetProbes({{"a", seconds(1)}, {"b", seconds(1)}}, kT0);
  TimePoint a_first = kT0 + Schedule::Offset("a", seconds(1));
  TimePoint b_first = kT0 + Schedule::Offset("b", seconds(1));
  TimePoint later = std::max(a_first, b_first);
  ASSERT_EQ(schedule.Poll(later, nullptr).size(), 2U);
  schedule.Finished(1);  // b finished, a still in flight

  // Reload: "b" dropped, "a" kept (now index 1), "c" added.
  schedule.SetProbes({{"c", seconds(1)}, {"a", seconds(1)}}, later);
  EXPECT_EQ(schedule.size(), 2U);
  EXPECT_EQ(schedule.in_flight(), 1U);  // a's run is still in flight, under its new index
  std::vector<std::size_t> skipped;
  // a's next slot comes while it still runs: skipped, not doubled.
  std::vector<DueRun> runs = schedule.Poll(a_first + seconds(1), &skipped);
  EXPECT_THAT(skipped, testing::Contains(1U));
  for (const DueRun& run : runs) {
    EXPECT_NE(run.index, 1U);
  }
  schedule.Finished(1);
  // a keeps its phase across the reload.
  runs = schedule.Poll(a_first + seconds(2), nullptr);
  ASSERT_THAT(Indexes(runs), testing::Contains(1U));
  for (const DueRun& run : runs) {
    if (run.index == 1) {
      EXPECT_EQ(run.due, a_first + seconds(2));
    }
  }
}

TEST(Schedule, ProbeAddedByReloadRunsSoonThenOnItsPhase) {
  Schedule schedule(10);
  schedule.SetProbes({{"a", seconds(60)}}, kT0);
  TimePoint reload = kT0 + seconds(100);
  schedule.SetProbes({{"a", seconds(60)}, {"new", seconds(60)}}, reload);
  TimePoint first = reload + Schedule::Offset("new", seconds(1));
  std::vector<DueRun> runs = schedule.Poll(first, nullptr);
  ASSERT_THAT(Indexes(runs), testing::Contains(1U));
  schedule.Finished(1);
  for (const DueRun& run : runs) {
    schedule.Finished(run.index);
  }
  // The next run is on the grid of the original origin, within one interval.
  std::vector<std::size_t> skipped;
  std::vector<TimePoint> dues;
  TimePoint next = schedule.NextWake(first);
  for (int i = 0; i < 4 && next != TimePoint::max(); ++i) {
    runs = schedule.Poll(next, &skipped);
    for (const DueRun& run : runs) {
      if (run.index == 1) {
        EXPECT_EQ((run.due - kT0) % seconds(60), Schedule::Offset("new", seconds(60)));
        dues.push_back(run.due);
      }
      schedule.Finished(run.index);
    }
    next = schedule.NextWake(next);
  }
  ASSERT_GE(dues.size(), 1U);
  EXPECT_LE(dues[0] - first, seconds(60));
  EXPECT_THAT(skipped, IsEmpty());
}

TEST(Schedule, ChangedIntervalMovesToTheNewGrid) {
  Schedule schedule(10);
  schedule.SetProbes({{"a", seconds(10)}}, kT0);
  schedule.SetProbes({{"a", seconds(4)}}, kT0 + seconds(1));
  // A changed probe counts as new: it runs within a second...
  TimePoint soon = schedule.NextWake(kT0 + seconds(1));
  EXPECT_EQ(soon, kT0 + seconds(1) + Schedule::Offset("a", seconds(1)));
  ASSERT_EQ(schedule.Poll(soon, nullptr).size(), 1U);
  schedule.Finished(0);
  // ...then on the 4 s grid.
  TimePoint next = schedule.NextWake(soon);
  EXPECT_GT(next, soon);
  EXPECT_EQ((next - kT0) % seconds(4), Schedule::Offset("a", seconds(4)));
}

TEST(Schedule, EmptyScheduleNeverWakes) {
  Schedule schedule(10);
  schedule.SetProbes({}, kT0);
  EXPECT_EQ(schedule.NextWake(kT0), TimePoint::max());
  EXPECT_THAT(schedule.Poll(kT0 + seconds(100), nullptr), IsEmpty());
  schedule.Finished(7);  // unknown: ignored
  EXPECT_EQ(schedule.in_flight(), 0U);
}

}  // namespace
}  // namespace nines::scheduler
