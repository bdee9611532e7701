#include "exporter/status/history.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "exporter/state/codec.h"

namespace nines::status {
namespace {

// The version of a "history/<name>" section's layout.
constexpr std::uint64_t kHistoryVersion = 1;

std::int64_t DayOf(TimePoint t) {
  return std::chrono::floor<std::chrono::days>(t.time_since_epoch()).count();
}

std::int64_t SlotOf(TimePoint t) {
  return std::chrono::floor<std::chrono::minutes>(t.time_since_epoch()).count() /
         kLatencySlotWidth.count();
}

TimePoint SlotStart(std::int64_t index) {
  return TimePoint(std::chrono::duration_cast<Clock::duration>(kLatencySlotWidth * index));
}

// The nearest-rank `q` quantile of `samples` (q in (0, 1]); reorders them.
double NearestRank(std::vector<float>& samples, double q) {
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
  const std::size_t index = std::max<std::size_t>(rank, 1) - 1;
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(index),
                   samples.end());
  return samples[index];
}

std::string CutDetail(std::string_view detail) {
  if (detail.size() <= kMaxDetailBytes) {
    return std::string(detail);
  }
  std::size_t end = kMaxDetailBytes;
  // Do not cut a UTF-8 sequence in two.
  while (end > 0 && (static_cast<unsigned char>(detail[end]) & 0xC0) == 0x80) {
    --end;
  }
  std::string cut(detail.substr(0, end));
  cut.append("...");
  return cut;
}

std::optional<probes::FailureReason> ReasonNamed(std::string_view name) {
  if (name.empty()) {
    return probes::FailureReason::kNone;
  }
  for (probes::FailureReason reason : probes::AllFailureReasons()) {
    if (probes::FailureReasonName(reason) == name) {
      return reason;
    }
  }
  return std::nullopt;
}

void EncodeRun(const RunRecord& run, state::Encoder& out) {
  out.I64(
      std::chrono::duration_cast<std::chrono::nanoseconds>(run.time.time_since_epoch()).count());
  out.U64(run.success ? 1 : 0);
  out.Str(probes::FailureReasonName(run.reason));
  out.Str(run.detail);
  out.F64(run.duration_seconds);
}

bool DecodeRun(state::Decoder& in, RunRecord* run) {
  std::int64_t nanos = 0;
  std::uint64_t success = 0;
  std::string reason;
  if (!in.I64(&nanos) || !in.U64(&success) || !in.Str(&reason) || !in.Str(&run->detail) ||
      !in.F64(&run->duration_seconds)) {
    return false;
  }
  std::optional<probes::FailureReason> parsed = ReasonNamed(reason);
  if (!parsed) {
    // A reason this version does not know (written by a newer one): keep the run.
    parsed = probes::FailureReason::kOther;
  }
  run->time =
      TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(nanos)));
  run->success = success != 0;
  run->reason = *parsed;
  return true;
}

// Reads a count that must not exceed `limit`.
bool Count(state::Decoder& in, std::uint64_t limit, std::string_view what, std::uint64_t* count) {
  if (!in.U64(count)) {
    return false;
  }
  if (*count > limit) {
    std::string message(what);
    message.append(": ").append(std::to_string(*count)).append(" entries, at most ");
    message.append(std::to_string(limit));
    in.Fail(std::move(message));
    return false;
  }
  return true;
}

}  // namespace

double DayRecord::Availability() const {
  if (runs == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return static_cast<double>(runs - failures) / static_cast<double>(runs);
}

void ProbeHistory::Record(TimePoint now, const probes::ProbeResult& result) {
  const std::int64_t day = DayOf(now);
  if (days_.empty() || days_.back().day < day) {
    Day fresh;
    fresh.day = day;
    days_.push_back(std::move(fresh));
    while (days_.size() > kHistoryDays || days_.front().day <= day - std::int64_t{kHistoryDays}) {
      days_.pop_front();
    }
  }
  // A clock stepped back counts in the newest day rather than rewriting the past.
  Day& today = days_.back();
  ++today.runs;
  if (!result.success) {
    ++today.failures;
    ++today.reasons[result.reason];
  }

  const std::int64_t slot = SlotOf(now);
  if (slot > open_slot_) {
    CloseOpenSlot();
    open_slot_ = slot;
  }
  ++open_runs_;
  if (open_samples_.size() < kMaxSlotSamples) {
    open_samples_.push_back(static_cast<float>(result.duration.count()));
  }

  RunRecord run{.time = now,
                .success = result.success,
                .reason = result.success ? probes::FailureReason::kNone : result.reason,
                .detail = CutDetail(result.detail),
                .duration_seconds = result.duration.count()};
  if (!result.success) {
    failures_.push_front(run);
    if (failures_.size() > kRecentFailures) {
      failures_.pop_back();
    }
  }
  results_.push_front(std::move(run));
  if (results_.size() > kRecentResults) {
    results_.pop_back();
  }
}

ProbeHistory::Slot ProbeHistory::Summarize(std::int64_t index, std::uint64_t runs,
                                           std::vector<float> samples) {
  Slot slot{.index = index, .runs = runs};
  if (!samples.empty()) {
    slot.p50 = NearestRank(samples, 0.5);
    slot.p99 = NearestRank(samples, 0.99);
  }
  return slot;
}

void ProbeHistory::CloseOpenSlot() {
  if (open_slot_ >= 0 && open_runs_ > 0) {
    slots_.push_back(Summarize(open_slot_, open_runs_, std::move(open_samples_)));
    while (slots_.size() > kLatencySlots) {
      slots_.pop_front();
    }
  }
  open_slot_ = -1;
  open_runs_ = 0;
  open_samples_.clear();
}

std::vector<DayRecord> ProbeHistory::Days(TimePoint now) const {
  const std::int64_t today = DayOf(now);
  const std::int64_t first_day = today - std::int64_t{kHistoryDays} + 1;
  std::vector<DayRecord> out;
  auto it =
      std::find_if(days_.begin(), days_.end(), [&](const Day& d) { return d.day >= first_day; });
  if (it == days_.end()) {
    return out;
  }
  for (std::int64_t day = it->day; day <= today; ++day) {
    DayRecord record;
    record.day = day;
    if (it != days_.end() && it->day == day) {
      record.runs = it->runs;
      record.failures = it->failures;
      std::uint32_t most = 0;
      for (probes::FailureReason reason : probes::AllFailureReasons()) {
        auto count = it->reasons.find(reason);
        if (count != it->reasons.end() && count->second > most) {
          most = count->second;
          record.worst_reason = probes::FailureReasonName(reason);
        }
      }
      ++it;
    }
    out.push_back(std::move(record));
  }
  return out;
}

std::vector<LatencyRecord> ProbeHistory::Latency(TimePoint now) const {
  const std::int64_t current = SlotOf(now);
  const std::int64_t first = current - std::int64_t{kLatencySlots} + 1;
  std::vector<LatencyRecord> out;
  auto add = [&](const Slot& slot) {
    if (slot.index >= first && slot.index <= current) {
      out.push_back({SlotStart(slot.index), slot.runs, slot.p50, slot.p99});
    }
  };
  for (const Slot& slot : slots_) {
    add(slot);
  }
  if (open_slot_ >= 0 && open_runs_ > 0) {
    add(Summarize(open_slot_, open_runs_, open_samples_));
  }
  return out;
}

double ProbeHistory::Availability(TimePoint now, int days) const {
  const std::int64_t first = DayOf(now) - days + 1;
  std::uint64_t runs = 0;
  std::uint64_t failures = 0;
  for (const Day& day : days_) {
    if (day.day >= first) {
      runs += day.runs;
      failures += day.failures;
    }
  }
  DayRecord total;
  total.runs = runs;
  total.failures = failures;
  return total.Availability();
}

std::vector<RunRecord> ProbeHistory::RecentResults() const {
  return {results_.begin(), results_.end()};
}

std::vector<RunRecord> ProbeHistory::RecentFailures() const {
  return {failures_.begin(), failures_.end()};
}

std::string ProbeHistory::Encode() const {
  state::Encoder out;
  out.U64(kHistoryVersion);
  out.U64(days_.size());
  for (const Day& day : days_) {
    out.I64(day.day);
    out.U64(day.runs);
    out.U64(day.failures);
    out.U64(day.reasons.size());
    for (const auto& [reason, count] : day.reasons) {
      out.Str(probes::FailureReasonName(reason));
      out.U64(count);
    }
  }
  out.U64(slots_.size());
  for (const Slot& slot : slots_) {
    out.I64(slot.index);
    out.U64(slot.runs);
    out.F64(slot.p50);
    out.F64(slot.p99);
  }
  out.I64(open_slot_);
  out.U64(open_runs_);
  out.U64(open_samples_.size());
  for (float sample : open_samples_) {
    out.F64(sample);
  }
  for (const auto* runs : {&results_, &failures_}) {
    out.U64(runs->size());
    for (const RunRecord& run : *runs) {
      EncodeRun(run, out);
    }
  }
  return out.Take();
}

bool ProbeHistory::Decode(std::string_view data, std::string* error) {
  state::Decoder in(data);
  ProbeHistory decoded;
  std::uint64_t version = 0;
  std::uint64_t count = 0;
  bool ok = in.U64(&version);
  if (ok && version != kHistoryVersion) {
    in.Fail("layout version " + std::to_string(version) + ", this nines reads " +
            std::to_string(kHistoryVersion));
    ok = false;
  }
  ok = ok && Count(in, kHistoryDays, "days", &count);
  for (std::uint64_t i = 0; ok && i < count; ++i) {
    Day day;
    std::uint64_t reasons = 0;
    ok = in.I64(&day.day) && in.U64(&day.runs) && in.U64(&day.failures) &&
         Count(in, probes::AllFailureReasons().size(), "failure reasons", &reasons);
    for (std::uint64_t r = 0; ok && r < reasons; ++r) {
      std::string name;
      std::uint64_t n = 0;
      ok = in.Str(&name) && in.U64(&n);
      std::optional<probes::FailureReason> reason = ReasonNamed(name);
      if (ok && reason && *reason != probes::FailureReason::kNone) {
        day.reasons[*reason] += static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX));
      }
    }
    if (ok && (day.failures > day.runs ||
               (!decoded.days_.empty() && day.day <= decoded.days_.back().day))) {
      in.Fail("day " + std::to_string(day.day) + " is out of order or has more failures than runs");
      ok = false;
    }
    if (ok) {
      decoded.days_.push_back(std::move(day));
    }
  }
  ok = ok && Count(in, kLatencySlots, "latency slots", &count);
  for (std::uint64_t i = 0; ok && i < count; ++i) {
    Slot slot;
    ok = in.I64(&slot.index) && in.U64(&slot.runs) && in.F64(&slot.p50) && in.F64(&slot.p99);
    if (ok) {
      decoded.slots_.push_back(slot);
    }
  }
  ok = ok && in.I64(&decoded.open_slot_) && in.U64(&decoded.open_runs_) &&
       Count(in, kMaxSlotSamples, "latency samples", &count);
  for (std::uint64_t i = 0; ok && i < count; ++i) {
    double sample = 0;
    ok = in.F64(&sample);
    decoded.open_samples_.push_back(static_cast<float>(sample));
  }
  for (auto [runs, limit] : {std::pair{&decoded.results_, kRecentResults},
                             std::pair{&decoded.failures_, kRecentFailures}}) {
    ok = ok && Count(in, limit, "recent runs", &count);
    for (std::uint64_t i = 0; ok && i < count; ++i) {
      RunRecord run;
      ok = DecodeRun(in, &run);
      if (ok) {
        runs->push_back(std::move(run));
      }
    }
  }
  if (ok && !in.AtEnd()) {
    in.Fail("unexpected bytes at byte " + std::to_string(in.offset()));
    ok = false;
  }
  if (!ok) {
    *error = in.error();
    return false;
  }
  *this = std::move(decoded);
  return true;
}

History::History(WallClock now) : now_(std::move(now)) {}

void History::SetProbes(const std::vector<config::Probe>& probes) {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> next;
  for (const config::Probe& probe : probes) {
    std::string identity(probes::ProbeKindName(probe.module.prober));
    identity.append(" ").append(probe.target);
    auto it = probes_.find(probe.name);
    if (it != probes_.end() && it->second && it->second->identity == identity) {
      next[probe.name] = std::move(it->second);
    } else {
      next[probe.name] = std::make_unique<Entry>(Entry{.identity = identity, .history = {}});
    }
  }
  probes_ = std::move(next);
}

void History::Record(const std::string& probe, const probes::ProbeResult& result) {
  const TimePoint now = now_();
  std::lock_guard lock(mutex_);
  if (auto it = probes_.find(probe); it != probes_.end()) {
    it->second->history.Record(now, result);
  }
}

bool History::Read(std::string_view probe,
                   const std::function<void(const ProbeHistory&)>& read) const {
  std::lock_guard lock(mutex_);
  auto it = probes_.find(probe);
  if (it == probes_.end()) {
    return false;
  }
  read(it->second->history);
  return true;
}

void History::Save(state::Sections& sections) const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, entry] : probes_) {
    state::Encoder out;
    out.Str(entry->identity);
    std::string key = "history/";
    key.append(name);
    std::string blob = out.Take();
    blob.append(entry->history.Encode());
    sections[key] = std::move(blob);
  }
}

std::size_t History::Restore(const state::Sections& sections) {
  std::lock_guard lock(mutex_);
  std::size_t restored = 0;
  for (const auto& [name, entry] : probes_) {
    std::string key = "history/";
    key.append(name);
    auto it = sections.find(key);
    if (it == sections.end()) {
      continue;
    }
    state::Decoder in(it->second);
    std::string identity;
    if (!in.Str(&identity)) {
      spdlog::warn("saved history of probe \"{}\" not restored: {}", name, in.error());
      continue;
    }
    if (identity != entry->identity) {
      spdlog::info("saved history of probe \"{}\" not restored: it probed \"{}\", now \"{}\"", name,
                   identity, entry->identity);
      continue;
    }
    std::string error;
    if (!entry->history.Decode(std::string_view(it->second).substr(in.offset()), &error)) {
      spdlog::warn("saved history of probe \"{}\" not restored: {}", name, error);
      continue;
    }
    ++restored;
  }
  return restored;
}

}  // namespace nines::status
