#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

/// When each continuous probe runs. Pure logic: every call takes `now`, nothing here reads a
/// clock, starts a probe or sleeps, so tests drive it with a fake clock.
namespace nines::scheduler {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

/// New probes first run within this much time (or their interval, if shorter).
inline constexpr Duration kFirstRunSpread = std::chrono::seconds(1);

/// A probe as the schedule sees it.
struct ScheduledProbe {
  std::string name;
  Duration interval{};
};

/// A run the caller should start now.
struct DueRun {
  std::size_t index = 0;  // into the probes given to SetProbes
  TimePoint due{};        // when it was due; now - due is the scheduling delay
};

/// The schedule of every continuous probe.
///
/// Probe i runs at origin + offset_i + k * interval_i, where `origin` is the time of the
/// first SetProbes and offset_i = hash(name) mod interval_i (FNV-1a), so probes with the
/// same interval spread over it, the same name always gets the same phase and adding a
/// probe does not move the others. A probe that is new (at start or by a reload) first
/// runs once soon, at now + hash(name) mod min(interval, 1 s), so the first results do not
/// wait for the phase (probes started together still spread over that second), and then
/// on its phase.
///
/// A probe never runs twice at once: a slot that comes while its previous run is still in
/// flight is skipped and counted. At most `max_in_flight` runs are in flight; a due probe
/// over that cap waits (most overdue first) and starts as soon as a run finishes; if it is
/// still waiting when its next slot comes, that slot is skipped and counted too. After a
/// stall (a suspended process, say) every missed slot but the latest is counted as skipped,
/// and the probe runs once.
///
/// Not thread safe: the probe loop owns it.
class Schedule {
 public:
  explicit Schedule(std::size_t max_in_flight);

  /// Sets the probes. A probe whose name and interval are unchanged keeps its phase, its
  /// next slot and its in-flight state (indexes refer to the new list from now on); new or
  /// changed probes run soon, then on their phase from the origin; removed probes are forgotten (a
  /// run in flight for one must not be reported with Finished). Names must be unique.
  void SetProbes(const std::vector<ScheduledProbe>& probes, TimePoint now);

  /// The runs to start at `now`, oldest due first, each marked in flight. `skipped` (if not
  /// null) receives the index of the probe once per slot skipped since the last call.
  std::vector<DueRun> Poll(TimePoint now, std::vector<std::size_t>* skipped);

  /// Marks the run of probe `index` finished, freeing its in-flight slot.
  void Finished(std::size_t index);

  /// When Poll next has something to do: the earliest slot to come, or `now` when a waiting
  /// probe can start; TimePoint::max() when nothing is scheduled.
  TimePoint NextWake(TimePoint now) const;

  std::size_t in_flight() const { return in_flight_; }
  std::size_t size() const { return probes_.size(); }

  /// The phase of a probe with `name` and `interval` (exposed for tests and docs).
  static Duration Offset(const std::string& name, Duration interval);

 private:
  struct Entry {
    ScheduledProbe probe;
    TimePoint next_slot{};  // the next slot that has not come yet
    bool running = false;
    bool waiting = false;  // due, held back by the in-flight cap
    TimePoint waiting_since{};
  };

  TimePoint FirstSlotAfter(const Entry& entry, TimePoint after) const;

  std::size_t max_in_flight_;
  std::size_t in_flight_ = 0;
  bool has_origin_ = false;
  TimePoint origin_{};
  std::vector<Entry> probes_;
  std::set<std::pair<TimePoint, std::size_t>> slots_;    // (next_slot, index)
  std::set<std::pair<TimePoint, std::size_t>> waiting_;  // (due, index)
};

}  // namespace nines::scheduler
