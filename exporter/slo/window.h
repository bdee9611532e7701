#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

/// Rolling good/total event counters over time windows ("the last 5m", "the last 30d"), the
/// source of `nines_probe_availability_ratio{window}` and `nines_slo_sli_ratio{slo,window}`.
///
/// Nothing here reads a clock: every call takes `now`, so tests drive time by hand and a
/// restored state means the same thing after a restart. Times are wall-clock
/// (`system_clock`) because saved state must outlive the process.
///
/// How a window is kept. A window of length W is cut into N buckets of width w = W / N,
/// aligned to the Unix epoch (bucket k covers [k*w, (k+1)*w)). A ring of N + 1 buckets holds
/// the bucket `now` falls in plus the N before it, each with a `good` and a `total` count,
/// and the sums over the ring are kept up to date, so adding an event and reading a window
/// are O(1) in the common case.
///
/// The window ending at T is (T - W, T]. It covers the bucket holding T and the N - 1 before
/// it whole, plus a part of the oldest ring bucket, which it counts **weighted linearly** by
/// the fraction of that bucket still inside the window, f = 1 - (T - start(T's bucket)) / w,
/// f in (0, 1]. This assumes the events of that one bucket are spread evenly across it.
///
/// Error bound. Let c be the events of that oldest, partly inside bucket and T0 the events of
/// the N whole buckets. Then for `good` and for `total` separately,
///   |reported - exact| <= max(f, 1 - f) * c <= c,
/// so each count is off by at most one bucket's events (about 1/N of the window's events for
/// steady traffic, and nothing when that bucket's events are spread evenly), and the ratio
/// is off by at most
///   c / (T0 + c).
/// An event thus leaves the window gradually over one bucket width: an event at time t
/// counts whole until t + W - (t - start(t's bucket)), then its weight falls linearly to 0 at
/// the end of its bucket plus W. An event exactly on a bucket boundary belongs to the bucket
/// it starts, counts whole until t + W inclusive and is gone at t + W + w.
///
/// Memory. A counter is a fixed object (160 bytes on x86-64 Linux: a 40-byte mutex and the
/// 120-byte ring header) plus (N + 1) * 16 bytes of buckets in one heap allocation: with the
/// default N = 240, 3,856 + 160 = 4,016 bytes per window, whatever the event rate. A
/// WindowSet shares one mutex: about 4.0 KB per window, so ~20 KB for a probe's five
/// windows and ~32 KB for an SLO's eight. The edge resolution w = W / 240 is 1.25s for 5m,
/// 7.5s for 30m, 15s for 1h, 30s for 2h, 90s for 6h, 6m for 1d, 18m for 3d, 42m for 7d and
/// 3h for 30d.
///
/// Time going backwards (a wall-clock step, or a restored state written under a clock that
/// was ahead). Let `newest` be the latest time any event was added at. For a time t:
///   - t in the same ring as `newest` (t's bucket is at most N buckets before newest's): an
///     event at t is counted in its own bucket, like an out-of-order log line, and a window
///     read at t is read at `newest` instead: time never runs backwards inside a counter.
///   - t older than that (the clock stepped back by more than the window): the counter's
///     history belongs to another timeline. An event at t discards it and starts the counter
///     over at t; a read at t reports an empty window (NaN ratio).
/// Counts never go negative in either case.
namespace nines::slo {

/// The clock whose time points every call takes. Never read here.
using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

/// The default number of buckets per window: the edge resolution is 1/240 of the window.
inline constexpr std::uint32_t kDefaultBucketCount = 240;

/// One bucket's counts. `good <= total` always holds in a counter.
struct BucketCounts {
  std::uint64_t good = 0;
  std::uint64_t total = 0;

  friend bool operator==(const BucketCounts&, const BucketCounts&) = default;
};

/// Event counts over one window at one time. Doubles, because the partly inside oldest
/// bucket is weighted (see the namespace comment); both are whole numbers when that weight
/// is 1 or the bucket is empty, and exact up to 2^53 events.
struct WindowTotals {
  double good = 0;
  double total = 0;
};

/// `good / total`, or NaN when `total` is 0: a window that saw no event says nothing about
/// availability, and neither 1 (claiming unmeasured availability) nor 0 (claiming an outage)
/// would be true. NaN is a valid Prometheus sample value; dashboards show it as no data.
double RatioOf(WindowTotals totals);

/// Some events that happened at one time, for the batch `Add`s.
struct Event {
  TimePoint time;
  std::uint64_t good = 0;
  std::uint64_t total = 0;
};

/// A counter's whole state, for the state store. Plain data, no I/O.
struct RollingSnapshot {
  /// The counter's window and its number of buckets N.
  Duration window{};
  std::uint32_t bucket_count = 0;
  /// Start of the newest bucket (a multiple of window / bucket_count since the epoch).
  /// The epoch when the counter has seen no event.
  TimePoint newest_bucket_start{};
  /// The N + 1 ring buckets, oldest first; the last one starts at `newest_bucket_start`.
  std::vector<BucketCounts> buckets;

  friend bool operator==(const RollingSnapshot&, const RollingSnapshot&) = default;
};

/// The bucket count used when none is given: the largest N <= kDefaultBucketCount that
/// divides `window` exactly (in system_clock ticks, nanoseconds here), so no window is ever
/// rounded. That is 240 for every whole number of minutes, hours or days (and any whole
/// number of seconds divisible by 3), at least 200 for any whole number of milliseconds, and
/// fewer only for odd nanosecond counts (down to 1 for a prime number of nanoseconds).
/// `window` must be positive; returns 1 otherwise.
std::uint32_t DefaultBucketCount(Duration window);

/// Why `window` cut into `bucket_count` buckets is not a valid counter, or std::nullopt when
/// it is: the window must be positive, the bucket count at least 1 and at most 1,000,000,
/// and the window a whole multiple of the bucket count, so buckets have an exact width (a
/// window is rejected, never rounded). E.g. "window 1s does not divide into 7 buckets of a
/// whole number of clock ticks".
std::optional<std::string> CheckWindow(Duration window, std::uint32_t bucket_count);

namespace internal {

/// The unsynchronized ring behind RollingCounter and WindowSet; see the namespace comment
/// for what it computes. Not thread safe; callers hold a lock.
class Ring {
 public:
  /// Requires CheckWindow(window, bucket_count) to pass.
  Ring(Duration window, std::uint32_t bucket_count);

  /// RollingCounter's methods of the same names, without the lock.
  void Add(TimePoint now, std::uint64_t good, std::uint64_t total);
  WindowTotals Totals(TimePoint now) const;
  RollingSnapshot Export() const;
  /// Replaces the state with `snapshot`, or leaves it unchanged and returns the reason.
  std::optional<std::string> Restore(const RollingSnapshot& snapshot);
  /// Forgets every event.
  void Clear();

  Duration window() const { return window_; }
  std::uint32_t bucket_count() const { return bucket_count_; }

 private:
  // Time points are handled as "biased ticks": ticks since the epoch plus bias_, a multiple
  // of the width near 2^63, so every time maps to an unsigned value, bucket indexes are
  // plain unsigned divisions and no arithmetic can overflow.
  std::uint64_t Biased(TimePoint t) const;
  TimePoint Unbiased(std::uint64_t biased) const;
  std::size_t SlotBack(std::uint64_t buckets_back) const;
  void StartAt(std::uint64_t biased);
  void Advance(std::uint64_t buckets);

  Duration window_;
  std::uint32_t bucket_count_;
  std::uint64_t width_;              // ticks per bucket
  std::uint64_t bias_;               // a multiple of width_
  std::int64_t min_ticks_;           // earlier times are clamped to this one (-bias_)
  bool has_data_ = false;            // false: the ring is all zero and the fields below are unused
  std::uint64_t head_ = 0;           // bucket index of the newest bucket
  std::uint64_t head_start_ = 0;     // biased start of the newest bucket
  std::uint64_t newest_ = 0;         // biased time of the newest event
  std::size_t head_slot_ = 0;        // where the newest bucket sits in slots_
  BucketCounts sum_;                 // over every slot
  std::vector<BucketCounts> slots_;  // N + 1
};

}  // namespace internal

/// Counts good and total events over the last `window`, in bounded memory; see the namespace
/// comment for the bucket scheme, error bound and clock rules.
///
/// Thread safe: every method takes an internal mutex, so a scrape may read `Ratio` while the
/// probe or log thread calls `Add`. Not copyable or movable (hold it by value in a stable
/// place or by unique_ptr).
class RollingCounter {
 public:
  /// A counter of `window` cut into `bucket_count` buckets. Throws std::invalid_argument
  /// with CheckWindow's message when that combination is invalid; validate config with
  /// CheckWindow first.
  explicit RollingCounter(Duration window, std::uint32_t bucket_count);
  /// A counter with DefaultBucketCount(window) buckets. Throws std::invalid_argument when
  /// `window` is not positive.
  explicit RollingCounter(Duration window);

  RollingCounter(const RollingCounter&) = delete;
  RollingCounter& operator=(const RollingCounter&) = delete;

  /// Adds `total` events at `now`, `good` of them good. `good` above `total` is clamped to
  /// `total` (the counter keeps good <= total). Counts wrap past 2^64 per window, which
  /// takes half a million years at a million events per second. O(1), plus clearing at most
  /// N + 1 stale buckets when `now` has moved past the newest bucket.
  void Add(TimePoint now, std::uint64_t good, std::uint64_t total);
  /// Adds each event under one lock acquisition, for log batches; same rules as Add.
  void Add(std::span<const Event> events);

  /// Good and total events in the window ending at `now` (weighted at the old edge). O(1)
  /// when `now` is in the newest bucket, O(N) at most otherwise. Does not change the state.
  WindowTotals Totals(TimePoint now) const;
  /// RatioOf(Totals(now)): NaN when the window holds no events.
  double Ratio(TimePoint now) const;

  /// The state, for the state store.
  RollingSnapshot Export() const;
  /// Replaces the state with `snapshot` and returns true; or, when the snapshot does not fit
  /// this counter (another window or bucket count, a wrong number of buckets, a bucket start
  /// off the bucket grid or out of range, good > total in a bucket, counts whose sum
  /// overflows), leaves the counter unchanged, sets `*error` (if not null) to why and returns
  /// false. A snapshot from "the future" is accepted: the clock rules then apply, with
  /// `newest` taken as the start of the snapshot's newest bucket. A snapshot whose buckets
  /// are all zero restores an empty counter, whatever its time.
  bool Restore(const RollingSnapshot& snapshot, std::string* error);

  Duration window() const { return ring_.window(); }
  std::uint32_t bucket_count() const { return ring_.bucket_count(); }

 private:
  mutable std::mutex mutex_;
  internal::Ring ring_;
};

/// One window of a WindowSet: its name (the `window` label value, e.g. "5m"), its length,
/// and its bucket count (0: DefaultBucketCount).
struct WindowSpec {
  std::string name;
  Duration window{};
  std::uint32_t bucket_count = 0;
};

/// A window's ratio, as WindowSet::Ratios returns them.
struct NamedRatio {
  std::string name;
  double ratio = 0;
};

/// A window's state, as WindowSet::Export returns them.
struct NamedSnapshot {
  std::string name;
  RollingSnapshot snapshot;
};

/// A fixed list of named windows fed by the same events, e.g. a probe's
/// {5m, 1h, 1d, 7d, 30d} or an SLO's {5m, 30m, 1h, 2h, 6h, 1d, 3d, 30d}. Each window follows
/// RollingCounter's rules on its own (so a clock step back by 10 minutes restarts the 5m
/// window but not the 30d one).
///
/// Thread safe: one mutex covers every window, so `Add` takes one lock whatever the number
/// of windows, and `Ratios` sees every window at the same instant. Not copyable or movable.
class WindowSet {
 public:
  /// The windows in this order. Throws std::invalid_argument when one is invalid (see
  /// Check).
  explicit WindowSet(std::vector<WindowSpec> windows);

  WindowSet(const WindowSet&) = delete;
  WindowSet& operator=(const WindowSet&) = delete;

  /// Why `windows` is not a valid set, or std::nullopt: at least one window, names
  /// non-empty and unique, and CheckWindow passing for each (with the default bucket count
  /// where 0 is given). E.g. "window \"5m\" given twice", "window \"1h\": window 1h does
  /// not divide into 7 buckets of a whole number of clock ticks".
  static std::optional<std::string> Check(const std::vector<WindowSpec>& windows);

  /// The probe availability windows: 5m, 1h, 1d, 7d, 30d.
  static std::vector<WindowSpec> ProbeWindows();
  /// The SLO windows: 5m, 30m, 1h, 2h, 6h, 1d, 3d, then the SLO period named `period_name`
  /// (e.g. "30d"), unless the period equals one of the others, which is then not repeated.
  static std::vector<WindowSpec> SloWindows(const std::string& period_name, Duration period);

  /// RollingCounter::Add on every window, under one lock.
  void Add(TimePoint now, std::uint64_t good, std::uint64_t total);
  /// The batch form, under one lock.
  void Add(std::span<const Event> events);

  /// Every window's ratio at `now` (NaN for an empty window), in the configured order.
  std::vector<NamedRatio> Ratios(TimePoint now) const;
  /// Every window's totals at `now`, in the configured order.
  std::vector<WindowTotals> Totals(TimePoint now) const;

  /// Every window's state, in the configured order.
  std::vector<NamedSnapshot> Export() const;
  /// Restores each configured window from the snapshot of the same name. Windows without a
  /// snapshot start empty and snapshots of unknown names are ignored (the config changed
  /// since the state was saved). A snapshot that does not fit its window (see
  /// RollingCounter::Restore), or a name given twice, leaves that window empty; then the
  /// other windows are still restored, `*error` (if not null) lists every such window with
  /// its reason, separated by "; ", and the result is false.
  bool Restore(const std::vector<NamedSnapshot>& snapshots, std::string* error);

  /// The windows as configured (bucket counts filled in). Never changes, so safe to read
  /// from any thread.
  const std::vector<WindowSpec>& windows() const { return specs_; }

 private:
  std::vector<WindowSpec> specs_;
  mutable std::mutex mutex_;
  std::vector<internal::Ring> rings_;
};

}  // namespace nines::slo
