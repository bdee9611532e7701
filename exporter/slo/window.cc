#include "exporter/slo/window.h"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>
#include <utility>

#include "exporter/config/duration.h"

namespace nines::slo {
namespace {

constexpr std::uint32_t kMaxBucketCount = 1'000'000;

// Durations in messages use the config's spelling ("1m30s", "250ms").
std::string FormatDuration(Duration d) {
  return config::FormatDuration(std::chrono::duration_cast<config::Duration>(d));
}

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

Duration CheckedWindow(Duration window, std::uint32_t bucket_count) {
  if (auto error = CheckWindow(window, bucket_count)) {
    throw std::invalid_argument(*error);
  }
  return window;
}

std::vector<WindowSpec> WithBucketCounts(std::vector<WindowSpec> windows) {
  for (WindowSpec& spec : windows) {
    if (spec.bucket_count == 0) {
      spec.bucket_count = DefaultBucketCount(spec.window);
    }
  }
  return windows;
}

}  // namespace

double RatioOf(WindowTotals totals) {
  if (totals.total <= 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return totals.good / totals.total;
}

std::uint32_t DefaultBucketCount(Duration window) {
  if (window <= Duration::zero()) {
    return 1;
  }
  const auto ticks = static_cast<std::uint64_t>(window.count());
  for (std::uint32_t n = kDefaultBucketCount; n > 1; --n) {
    if (ticks % n == 0) {
      return n;
    }
  }
  return 1;
}

std::optional<std::string> CheckWindow(Duration window, std::uint32_t bucket_count) {
  if (window <= Duration::zero()) {
    return "window must be positive, got " + FormatDuration(window);
  }
  if (bucket_count == 0) {
    return "bucket count must be at least 1";
  }
  if (bucket_count > kMaxBucketCount) {
    return "bucket count " + std::to_string(bucket_count) + " is above the limit of " +
           std::to_string(kMaxBucketCount);
  }
  if (window.count() % bucket_count != 0) {
    return "window " + FormatDuration(window) + " does not divide into " +
           std::to_string(bucket_count) + " buckets of a whole number of clock ticks";
  }
  return std::nullopt;
}

namespace internal {

Ring::Ring(Duration window, std::uint32_t bucket_count)
    : window_(window),
      bucket_count_(bucket_count),
      width_(static_cast<std::uint64_t>(window.count()) / bucket_count),
      // The bias is a multiple of the width, so biased bucket boundaries stay on the
      // epoch-aligned grid; being at most 2^63, it maps the earliest time to about 0.
      bias_((std::uint64_t{1} << 63) / width_ * width_),
      // -bias_ in two's complement; C++20 defines the unsigned-to-signed conversion.
      min_ticks_(static_cast<std::int64_t>(std::uint64_t{0} - bias_)),
      slots_(std::size_t{bucket_count} + 1) {}

std::uint64_t Ring::Biased(TimePoint t) const {
  // Times less than one bucket after the earliest representable one (292 years before the
  // epoch) would map below 0; they are read as the earliest time that does not.
  const std::int64_t ticks = std::max<std::int64_t>(t.time_since_epoch().count(), min_ticks_);
  return static_cast<std::uint64_t>(ticks) + bias_;  // exact, the sum fits in 64 bits
}

TimePoint Ring::Unbiased(std::uint64_t biased) const {
  return TimePoint(Duration(static_cast<std::int64_t>(biased - bias_)));
}

std::size_t Ring::SlotBack(std::uint64_t buckets_back) const {
  const std::size_t size = slots_.size();
  return (head_slot_ + size - static_cast<std::size_t>(buckets_back % size)) % size;
}

void Ring::Clear() {
  std::fill(slots_.begin(), slots_.end(), BucketCounts{});
  sum_ = {};
  has_data_ = false;
}

void Ring::StartAt(std::uint64_t biased) {
  has_data_ = true;
  head_ = biased / width_;
  head_start_ = biased - biased % width_;
  newest_ = biased;
  head_slot_ = 0;
}

void Ring::Advance(std::uint64_t buckets) {
  // A gap longer than the ring clears it in one pass, whatever the gap: O(N), not O(gap).
  if (buckets >= slots_.size()) {
    std::fill(slots_.begin(), slots_.end(), BucketCounts{});
    sum_ = {};
    head_slot_ = 0;
    return;
  }
  for (std::uint64_t i = 0; i < buckets; ++i) {
    head_slot_ = (head_slot_ + 1) % slots_.size();
    BucketCounts& slot = slots_[head_slot_];
    sum_.good -= slot.good;
    sum_.total -= slot.total;
    slot = {};
  }
}

void Ring::Add(TimePoint now, std::uint64_t good, std::uint64_t total) {
  good = std::min(good, total);
  const std::uint64_t t = Biased(now);
  std::size_t slot = 0;
  if (!has_data_) {
    StartAt(t);
    slot = head_slot_;
  } else if (t >= head_start_ && t - head_start_ < width_) {
    // The hot path: the newest bucket again, no division.
    newest_ = std::max(newest_, t);
    slot = head_slot_;
  } else if (const std::uint64_t index = t / width_; index > head_) {
    Advance(index - head_);
    head_ = index;
    head_start_ = t - t % width_;
    newest_ = t;
    slot = head_slot_;
  } else if (head_ - index <= bucket_count_) {
    // Out of order but still in the ring: counted where it belongs.
    slot = SlotBack(head_ - index);
  } else {
    // Older than anything the ring holds: the clock stepped back by more than the window,
    // so the history is from another timeline. Starting over heals at once; keeping it
    // would freeze the counter until the clock caught up, maybe for days.
    Clear();
    StartAt(t);
    slot = head_slot_;
  }
  BucketCounts& bucket = slots_[slot];
  bucket.good += good;
  bucket.total += total;
  sum_.good += good;
  sum_.total += total;
}

WindowTotals Ring::Totals(TimePoint now) const {
  if (!has_data_) {
    return {};
  }
  std::uint64_t t = Biased(now);
  std::uint64_t index = t / width_;
  if (t < newest_) {
    if (index < head_ && head_ - index > bucket_count_) {
      return {};  // see Add
    }
    t = newest_;  // a window is never read before the newest event
    index = head_;
  }
  const std::uint64_t gap = index - head_;
  if (gap > bucket_count_) {
    return {};
  }
  // The ring holds buckets head_-N .. head_. At `index` the partly inside bucket is
  // index-N = head_-N+gap; the `gap` buckets before it have left the window.
  BucketCounts whole = sum_;
  std::size_t slot = SlotBack(bucket_count_);  // the oldest ring bucket, head_ - N
  for (std::uint64_t i = 0; i < gap; ++i) {
    whole.good -= slots_[slot].good;
    whole.total -= slots_[slot].total;
    if (++slot == slots_.size()) {
      slot = 0;
    }
  }
  const BucketCounts& partial = slots_[slot];
  whole.good -= partial.good;
  whole.total -= partial.total;
  const double inside =
      1.0 - static_cast<double>(t % width_) / static_cast<double>(width_);  // (0, 1]
  return {static_cast<double>(whole.good) + inside * static_cast<double>(partial.good),
          static_cast<double>(whole.total) + inside * static_cast<double>(partial.total)};
}

RollingSnapshot Ring::Export() const {
  RollingSnapshot snapshot;
  snapshot.window = window_;
  snapshot.bucket_count = bucket_count_;
  snapshot.buckets.resize(slots_.size());
  if (!has_data_) {
    return snapshot;
  }
  snapshot.newest_bucket_start = Unbiased(head_start_);
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    snapshot.buckets[i] = slots_[SlotBack(bucket_count_ - i)];
  }
  return snapshot;
}

std::optional<std::string> Ring::Restore(const RollingSnapshot& snapshot) {
  if (snapshot.window != window_) {
    return "window " + FormatDuration(snapshot.window) + " does not match the counter's " +
           FormatDuration(window_);
  }
  if (snapshot.bucket_count != bucket_count_) {
    return "bucket count " + std::to_string(snapshot.bucket_count) +
           " does not match the counter's " + std::to_string(bucket_count_);
  }
  if (snapshot.buckets.size() != slots_.size()) {
    return "has " + std::to_string(snapshot.buckets.size()) + " buckets, want " +
           std::to_string(slots_.size()) + " (bucket count + 1)";
  }
  const std::int64_t start_ticks = snapshot.newest_bucket_start.time_since_epoch().count();
  if (start_ticks < min_ticks_) {
    return "newest bucket start " + std::to_string(start_ticks) +
           "ns after the epoch is out of range";
  }
  const std::uint64_t start = Biased(snapshot.newest_bucket_start);
  if (start % width_ != 0) {
    return "newest bucket start " + std::to_string(start_ticks) +
           "ns after the epoch is not a multiple of the bucket width " +
           FormatDuration(Duration(static_cast<Duration::rep>(width_)));
  }
  BucketCounts sum;
  for (std::size_t i = 0; i < snapshot.buckets.size(); ++i) {
    const BucketCounts& bucket = snapshot.buckets[i];
    if (bucket.good > bucket.total) {
      return "bucket " + std::to_string(i) + " has good " + std::to_string(bucket.good) +
             " > total " + std::to_string(bucket.total);
    }
    if (bucket.total > std::numeric_limits<std::uint64_t>::max() - sum.total) {
      return "bucket totals overflow 64 bits";
    }
    sum.good += bucket.good;
    sum.total += bucket.total;
  }
  if (sum.total == 0) {
    // All zero says nothing, not even a time: the same as a counter that saw no event.
    Clear();
    return std::nullopt;
  }
  std::copy(snapshot.buckets.begin(), snapshot.buckets.end(), slots_.begin());
  sum_ = sum;
  has_data_ = true;
  head_ = start / width_;
  head_start_ = start;
  newest_ = start;
  head_slot_ = slots_.size() - 1;
  return std::nullopt;
}

}  // namespace internal

RollingCounter::RollingCounter(Duration window, std::uint32_t bucket_count)
    : ring_(CheckedWindow(window, bucket_count), bucket_count) {}

RollingCounter::RollingCounter(Duration window)
    : RollingCounter(window, DefaultBucketCount(window)) {}

void RollingCounter::Add(TimePoint now, std::uint64_t good, std::uint64_t total) {
  std::lock_guard lock(mutex_);
  ring_.Add(now, good, total);
}

void RollingCounter::Add(std::span<const Event> events) {
  std::lock_guard lock(mutex_);
  for (const Event& event : events) {
    ring_.Add(event.time, event.good, event.total);
  }
}

WindowTotals RollingCounter::Totals(TimePoint now) const {
  std::lock_guard lock(mutex_);
  return ring_.Totals(now);
}

double RollingCounter::Ratio(TimePoint now) const { return RatioOf(Totals(now)); }

RollingSnapshot RollingCounter::Export() const {
  std::lock_guard lock(mutex_);
  return ring_.Export();
}

bool RollingCounter::Restore(const RollingSnapshot& snapshot, std::string* error) {
  std::lock_guard lock(mutex_);
  auto failure = ring_.Restore(snapshot);
  if (failure && error != nullptr) {
    *error = std::move(*failure);
  }
  return !failure;
}

WindowSet::WindowSet(std::vector<WindowSpec> windows)
    : specs_(WithBucketCounts(std::move(windows))) {
  if (auto error = Check(specs_)) {
    throw std::invalid_argument(*error);
  }
  rings_.reserve(specs_.size());
  for (const WindowSpec& spec : specs_) {
    rings_.emplace_back(spec.window, spec.bucket_count);
  }
}

std::optional<std::string> WindowSet::Check(const std::vector<WindowSpec>& windows) {
  if (windows.empty()) {
    return "no windows";
  }
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const WindowSpec& spec = windows[i];
    if (spec.name.empty()) {
      return "window " + std::to_string(i) + ": empty name";
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (windows[j].name == spec.name) {
        return "window " + Quoted(spec.name) + " given twice";
      }
    }
    const std::uint32_t buckets =
        spec.bucket_count == 0 ? DefaultBucketCount(spec.window) : spec.bucket_count;
    if (auto error = CheckWindow(spec.window, buckets)) {
      return "window " + Quoted(spec.name) + ": " + *error;
    }
  }
  return std::nullopt;
}

std::vector<WindowSpec> WindowSet::ProbeWindows() {
  using std::chrono::hours;
  using std::chrono::minutes;
  return {{"5m", minutes(5)},
          {"1h", hours(1)},
          {"1d", hours(24)},
          {"7d", hours(24 * 7)},
          {"30d", hours(24 * 30)}};
}

std::vector<WindowSpec> WindowSet::SloWindows(const std::string& period_name, Duration period) {
  using std::chrono::hours;
  using std::chrono::minutes;
  std::vector<WindowSpec> windows = {
      {"5m", minutes(5)}, {"30m", minutes(30)}, {"1h", hours(1)},      {"2h", hours(2)},
      {"6h", hours(6)},   {"1d", hours(24)},    {"3d", hours(24 * 3)},
  };
  const bool repeated = std::any_of(windows.begin(), windows.end(),
                                    [&](const WindowSpec& w) { return w.window == period; });
  if (!repeated) {
    windows.push_back({period_name, period});
  }
  return windows;
}

void WindowSet::Add(TimePoint now, std::uint64_t good, std::uint64_t total) {
  std::lock_guard lock(mutex_);
  for (internal::Ring& ring : rings_) {
    ring.Add(now, good, total);
  }
}

void WindowSet::Add(std::span<const Event> events) {
  std::lock_guard lock(mutex_);
  for (internal::Ring& ring : rings_) {
    for (const Event& event : events) {
      ring.Add(event.time, event.good, event.total);
    }
  }
}

std::vector<NamedRatio> WindowSet::Ratios(TimePoint now) const {
  std::vector<NamedRatio> ratios;
  ratios.reserve(specs_.size());
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < rings_.size(); ++i) {
    ratios.push_back({specs_[i].name, RatioOf(rings_[i].Totals(now))});
  }
  return ratios;
}

std::vector<WindowTotals> WindowSet::Totals(TimePoint now) const {
  std::vector<WindowTotals> totals;
  totals.reserve(specs_.size());
  std::lock_guard lock(mutex_);
  for (const internal::Ring& ring : rings_) {
    totals.push_back(ring.Totals(now));
  }
  return totals;
}

std::vector<NamedSnapshot> WindowSet::Export() const {
  std::vector<NamedSnapshot> snapshots;
  snapshots.reserve(specs_.size());
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < rings_.size(); ++i) {
    snapshots.push_back({specs_[i].name, rings_[i].Export()});
  }
  return snapshots;
}

bool WindowSet::Restore(const std::vector<NamedSnapshot>& snapshots, std::string* error) {
  std::string failures;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < rings_.size(); ++i) {
    const std::string& name = specs_[i].name;
    const RollingSnapshot* found = nullptr;
    bool twice = false;
    for (const NamedSnapshot& named : snapshots) {
      if (named.name != name) {
        continue;
      }
      twice = found != nullptr;
      found = &named.snapshot;
      if (twice) {
        break;
      }
    }
    rings_[i].Clear();
    std::optional<std::string> failure;
    if (twice) {
      failure = "given twice";
    } else if (found != nullptr) {
      failure = rings_[i].Restore(*found);
    }
    if (failure) {
      if (!failures.empty()) {
        failures += "; ";
      }
      failures += "window " + Quoted(name) + ": " + *failure;
    }
  }
  if (failures.empty()) {
    return true;
  }
  if (error != nullptr) {
    *error = std::move(failures);
  }
  return false;
}

}  // namespace nines::slo
