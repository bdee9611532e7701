#include "exporter/scheduler/scheduler.h"

#include <algorithm>
#include <map>

namespace nines::scheduler {

Schedule::Schedule(std::size_t max_in_flight) : max_in_flight_(max_in_flight) {}

Duration Schedule::Offset(const std::string& name, Duration interval) {
  if (interval <= Duration::zero()) {
    return Duration::zero();
  }
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a, 64 bits
  for (char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return Duration(static_cast<Duration::rep>(hash % static_cast<std::uint64_t>(interval.count())));
}

TimePoint Schedule::FirstSlotAfter(const Entry& entry, TimePoint after) const {
  TimePoint base = origin_ + Offset(entry.probe.name, entry.probe.interval);
  if (after < base) {
    return base;
  }
  auto slots_passed = (after - base) / entry.probe.interval;
  return base + (slots_passed + 1) * entry.probe.interval;
}

void Schedule::SetProbes(const std::vector<ScheduledProbe>& probes, TimePoint now) {
  if (!has_origin_) {
    has_origin_ = true;
    origin_ = now;
  }
  std::map<std::string, Entry, std::less<>> old;
  for (Entry& entry : probes_) {
    std::string name = entry.probe.name;
    old.emplace(std::move(name), std::move(entry));
  }
  probes_.clear();
  slots_.clear();
  waiting_.clear();
  in_flight_ = 0;
  for (const ScheduledProbe& probe : probes) {
    auto it = old.find(probe.name);
    Entry entry;
    if (it != old.end() && it->second.probe.interval == probe.interval) {
      entry = std::move(it->second);
    } else {
      entry.probe = probe;
      // A new probe runs soon, spread over the first second (or its interval, if shorter),
      // then joins its phase.
      entry.next_slot = now + Offset(probe.name, std::min(probe.interval, kFirstRunSpread));
    }
    std::size_t index = probes_.size();
    slots_.emplace(entry.next_slot, index);
    if (entry.waiting) {
      waiting_.emplace(entry.waiting_since, index);
    }
    if (entry.running) {
      ++in_flight_;
    }
    probes_.push_back(std::move(entry));
  }
}

std::vector<DueRun> Schedule::Poll(TimePoint now, std::vector<std::size_t>* skipped) {
  auto skip = [skipped](std::size_t index, std::int64_t count) {
    for (std::int64_t i = 0; skipped != nullptr && i < count; ++i) {
      skipped->push_back(index);
    }
  };
  while (!slots_.empty() && slots_.begin()->first <= now) {
    auto [slot, index] = *slots_.begin();
    slots_.erase(slots_.begin());
    Entry& entry = probes_[index];
    // Every slot in [slot, now] has come; `latest` is the last of them. Slots after `slot`
    // are on the probe's phase grid (`slot` itself may be a new probe's first run).
    std::int64_t come = 1;
    TimePoint latest = slot;
    if (TimePoint grid = FirstSlotAfter(entry, slot); grid <= now) {
      std::int64_t more = 1 + (now - grid) / entry.probe.interval;
      come += more;
      latest = grid + (more - 1) * entry.probe.interval;
    }
    if (entry.running || entry.waiting) {
      skip(index, come);
      if (entry.waiting) {
        waiting_.erase({entry.waiting_since, index});
        entry.waiting_since = latest;
        waiting_.emplace(latest, index);
      }
    } else {
      skip(index, come - 1);
      entry.waiting = true;
      entry.waiting_since = latest;
      waiting_.emplace(latest, index);
    }
    entry.next_slot = FirstSlotAfter(entry, latest);
    slots_.emplace(entry.next_slot, index);
  }
  std::vector<DueRun> due;
  while (!waiting_.empty() && in_flight_ < max_in_flight_) {
    auto [since, index] = *waiting_.begin();
    waiting_.erase(waiting_.begin());
    Entry& entry = probes_[index];
    entry.waiting = false;
    entry.running = true;
    ++in_flight_;
    due.push_back(DueRun{index, since});
  }
  return due;
}

void Schedule::Finished(std::size_t index) {
  if (index < probes_.size() && probes_[index].running) {
    probes_[index].running = false;
    --in_flight_;
  }
}

TimePoint Schedule::NextWake(TimePoint now) const {
  if (!waiting_.empty() && in_flight_ < max_in_flight_) {
    return now;
  }
  return slots_.empty() ? TimePoint::max() : slots_.begin()->first;
}

}  // namespace nines::scheduler
