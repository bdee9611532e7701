#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/config.h"
#include "exporter/state/state_file.h"
#include "probes/probe.h"

/// The history behind the status page: per probe, the availability of each of the last 90
/// days, the p50 and p99 latency of each 5 minutes of the last 24 hours, and the last
/// results and failures with their detail (`/logs`). Bounded in memory whatever the probe
/// rate, and kept across restarts through the state store.
///
/// Days are UTC days (a day is [00:00, 24:00) UTC); 5-minute slots are aligned to the Unix
/// epoch. Every call takes the time, so tests drive it by hand.
///
/// Memory per probe, at most: 90 days x (24 bytes + 4 bytes per failure reason that
/// occurred that day, 68 at most) = 8.3 KB; 288 latency slots x 32 bytes = 9.2 KB; the
/// durations of the open 5-minute slot, 4 bytes each, at most 3,000 (a run every 100 ms,
/// the shortest interval) = 12 KB; 50 recent results and 20 recent failures of at most
/// ~360 bytes each (detail cut at 256 bytes) = 25 KB. So under 55 KB per probe at worst,
/// and about 15 KB for a probe every 15 s with short failure details.
namespace nines::status {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

inline constexpr std::size_t kHistoryDays = 90;
inline constexpr std::chrono::minutes kLatencySlotWidth{5};
inline constexpr std::size_t kLatencySlots = 288;  // 24 hours of 5 minutes
inline constexpr std::size_t kRecentResults = 50;
inline constexpr std::size_t kRecentFailures = 20;
inline constexpr std::size_t kMaxDetailBytes = 256;
/// Durations kept for the open latency slot; later runs of that slot are not sampled.
inline constexpr std::size_t kMaxSlotSamples = 3000;

/// One run, as `/logs` lists it.
struct RunRecord {
  TimePoint time{};
  bool success = false;
  probes::FailureReason reason = probes::FailureReason::kNone;
  std::string detail;  // cut at kMaxDetailBytes
  double duration_seconds = 0;
};

/// One UTC day of a probe.
struct DayRecord {
  std::int64_t day = 0;  // days since 1970-01-01
  std::uint64_t runs = 0;
  std::uint64_t failures = 0;
  /// The failure reason that occurred most that day ("" without failures); ties go to the
  /// reason listed first in probes::AllFailureReasons().
  std::string worst_reason;

  /// Successful runs over runs; NaN for a day without runs.
  double Availability() const;
};

/// The latency of one 5-minute slot: nearest-rank percentiles of the run durations
/// (successful runs and failures alike: a timeout is the latency a user saw).
struct LatencyRecord {
  TimePoint start{};
  std::uint64_t runs = 0;
  double p50_seconds = 0;
  double p99_seconds = 0;
};

/// The history of one probe. Not thread safe (History locks around it).
class ProbeHistory {
 public:
  void Record(TimePoint now, const probes::ProbeResult& result);

  /// The last kHistoryDays UTC days up to the day of `now`, oldest first, each with its
  /// counts (zero for a day without runs), starting at the first day with a run.
  std::vector<DayRecord> Days(TimePoint now) const;
  /// The 5-minute slots of the last 24 hours that have runs, oldest first; the slot `now`
  /// falls in is included with the runs so far.
  std::vector<LatencyRecord> Latency(TimePoint now) const;
  /// Successful runs over runs in the last `days` days up to the day of `now`, counting
  /// whole UTC days (today so far included); NaN without runs.
  double Availability(TimePoint now, int days) const;
  /// The last results, newest first.
  std::vector<RunRecord> RecentResults() const;
  /// The last failures, newest first; a run of successes does not push them out.
  std::vector<RunRecord> RecentFailures() const;

  /// The state, for the state store; Decode reads what Encode wrote, or returns false and
  /// sets `*error` leaving the history unchanged.
  std::string Encode() const;
  bool Decode(std::string_view data, std::string* error);

 private:
  struct Day {
    std::int64_t day = 0;
    std::uint64_t runs = 0;
    std::uint64_t failures = 0;
    std::map<probes::FailureReason, std::uint32_t> reasons;
  };
  struct Slot {
    std::int64_t index = 0;  // start / kLatencySlotWidth since the epoch
    std::uint64_t runs = 0;
    double p50 = 0;
    double p99 = 0;
  };

  void CloseOpenSlot();
  static Slot Summarize(std::int64_t index, std::uint64_t runs, std::vector<float> samples);

  std::deque<Day> days_;         // oldest first, at most kHistoryDays
  std::deque<Slot> slots_;       // closed slots, oldest first, at most kLatencySlots
  std::int64_t open_slot_ = -1;  // index of the slot being filled; -1 = none
  std::uint64_t open_runs_ = 0;
  std::vector<float> open_samples_;
  std::deque<RunRecord> results_;   // newest first
  std::deque<RunRecord> failures_;  // newest first
};

/// The histories of every configured probe. Thread safe.
class History {
 public:
  using WallClock = std::function<TimePoint()>;

  explicit History(WallClock now = [] { return Clock::now(); });

  /// Keeps the history of a probe whose name, kind and target are unchanged; others start
  /// empty; removed probes are forgotten.
  void SetProbes(const std::vector<config::Probe>& probes);
  /// Records a result of `probe` at the current time; unknown names are ignored.
  void Record(const std::string& probe, const probes::ProbeResult& result);
  /// Calls `read` with the history of `probe` under the lock; false for an unknown probe.
  bool Read(std::string_view probe, const std::function<void(const ProbeHistory&)>& read) const;

  /// Adds a section "history/<name>" per probe.
  void Save(state::Sections& sections) const;
  /// Restores every probe with a section of the same kind and target; logs the others.
  /// Returns how many were restored.
  std::size_t Restore(const state::Sections& sections);

  TimePoint Now() const { return now_(); }

 private:
  struct Entry {
    std::string identity;  // "<kind> <target>"
    ProbeHistory history;
  };

  WallClock now_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> probes_;
};

}  // namespace nines::status
