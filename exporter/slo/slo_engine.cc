#include "exporter/slo/slo_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "collectors/collector.h"
#include "exporter/config/duration.h"
#include "exporter/state/store.h"

namespace nines::slo {
namespace {

constexpr std::string_view kEventsHelp = "Events measured by the SLO's SLI since nines started.";
constexpr std::string_view kErrorsHelp =
    "Bad events (errors) measured by the SLO's SLI since nines started.";
constexpr std::string_view kObjectiveHelp = "The SLO's objective, as a ratio (0.999 for 99.9%).";
constexpr std::string_view kSliHelp =
    "Good events over events in the window (the SLI); NaN while the window has no event.";
constexpr std::string_view kBurnRateHelp =
    "Error ratio in the window over the error budget (1 - objective): 1 spends the budget "
    "exactly over the SLO period; NaN while the window has no event.";
constexpr std::string_view kBudgetHelp =
    "Share of the error budget of the SLO period left: 1 - the period's burn rate; negative "
    "once overspent.";

// The state store's section of an SLO.
std::string StateKey(std::string_view name) {
  std::string key = "slo/";
  key.append(name);
  return key;
}

bool Contains(const std::vector<int>& codes, int code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

double ThresholdSeconds(const config::Sli& sli) {
  return std::chrono::duration<double>(*sli.latency_threshold).count();
}

}  // namespace

double ObjectiveRatio(double objective_percent) {
  return std::round(objective_percent * 1e10) / 1e12;
}

double ErrorBudget(double objective_percent) {
  return std::round((100 - objective_percent) * 1e10) / 1e12;
}

std::string PeriodName(Duration period) {
  constexpr Duration kDay = std::chrono::hours(24);
  if (period > Duration::zero() && period % kDay == Duration::zero()) {
    return std::to_string(period / kDay) + "d";
  }
  return config::FormatDuration(period);
}

Verdict JudgeProbe(const config::Sli& sli, bool success, std::chrono::duration<double> duration) {
  if (!success) {
    return Verdict::kBad;
  }
  if (sli.latency_threshold && duration.count() > ThresholdSeconds(sli)) {
    return Verdict::kBad;
  }
  return Verdict::kGood;
}

Verdict JudgeRequest(const config::Sli& sli, const collectors::AccessLogMetrics::Request& request) {
  if (Contains(sli.ignore_status_codes, request.status)) {
    return Verdict::kIgnored;
  }
  if (sli.latency_threshold) {
    if (!request.request_time) {
      return Verdict::kIgnored;
    }
    return *request.request_time <= ThresholdSeconds(sli) ? Verdict::kGood : Verdict::kBad;
  }
  if (request.status >= 500 || Contains(sli.bad_status_codes, request.status)) {
    return Verdict::kBad;
  }
  return Verdict::kGood;
}

std::string DescribeSli(const config::Sli& sli) {
  std::string text;
  if (!sli.probe.empty()) {
    text.append("probe ").append(sli.probe);
  } else {
    text.append("access_log ").append(sli.access_log);
  }
  if (sli.latency_threshold) {
    text.append(" latency<=").append(config::FormatDuration(*sli.latency_threshold));
  } else {
    text.append(" availability");
  }
  auto append_codes = [&text](std::string_view name, std::vector<int> codes) {
    if (codes.empty()) {
      return;
    }
    std::sort(codes.begin(), codes.end());
    text.append(" ").append(name).append("=");
    for (std::size_t i = 0; i < codes.size(); ++i) {
      if (i > 0) {
        text.append(",");
      }
      text.append(std::to_string(codes[i]));
    }
  };
  if (!sli.latency_threshold) {
    append_codes("bad", sli.bad_status_codes);
  }
  append_codes("ignore", sli.ignore_status_codes);
  return text;
}

struct SloEngine::SloState {
  SloState(config::Slo slo_config, std::string sli_text)
      : slo(std::move(slo_config)),
        sli(std::move(sli_text)),
        windows(WindowSet::SloWindows(PeriodName(slo.period), slo.period)) {}

  // Counts a batch of verdicts at `now`. Called with the engine's lock held.
  void Count(TimePoint now, std::uint64_t good, std::uint64_t bad) {
    if (good + bad == 0) {
      return;
    }
    events += good + bad;
    errors += bad;
    windows.Add(now, good, good + bad);
  }

  config::Slo slo;
  std::string sli;  // DescribeSli(slo.sli)
  std::uint64_t events = 0;
  std::uint64_t errors = 0;
  WindowSet windows;
};

SloEngine::SloEngine(WallClock now) : now_(std::move(now)) {}

SloEngine::~SloEngine() = default;

void SloEngine::SetSlos(const std::vector<config::Slo>& slos) {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<SloState>> next;
  next.reserve(slos.size());
  for (const config::Slo& slo : slos) {
    std::string sli = DescribeSli(slo.sli);
    auto kept = std::find_if(slos_.begin(), slos_.end(), [&](const auto& state) {
      return state->slo.name == slo.name && state->sli == sli;
    });
    auto state = std::make_shared<SloState>(slo, sli);
    if (kept != slos_.end()) {
      // Same SLI: keep the counters and every window the new period still has.
      state->events = (*kept)->events;
      state->errors = (*kept)->errors;
      std::string error;
      if (!state->windows.Restore((*kept)->windows.Export(), &error)) {
        spdlog::warn("slo \"{}\": windows not kept across the reload: {}", slo.name, error);
      }
    }
    next.push_back(std::move(state));
  }
  slos_ = std::move(next);
  by_probe_.clear();
  by_server_.clear();
  for (const auto& state : slos_) {
    const config::Sli& sli = state->slo.sli;
    if (!sli.probe.empty()) {
      by_probe_[sli.probe].push_back(state);
    } else {
      by_server_[sli.access_log].push_back(state);
    }
  }
}

void SloEngine::RecordProbe(std::string_view probe, bool success,
                            std::chrono::duration<double> duration) {
  const TimePoint now = now_();
  std::lock_guard lock(mutex_);
  auto it = by_probe_.find(probe);
  if (it == by_probe_.end()) {
    return;
  }
  for (const auto& state : it->second) {
    switch (JudgeProbe(state->slo.sli, success, duration)) {
      case Verdict::kGood:
        state->Count(now, 1, 0);
        break;
      case Verdict::kBad:
        state->Count(now, 0, 1);
        break;
      case Verdict::kIgnored:
        break;
    }
  }
}

void SloEngine::RecordRequests(std::string_view server,
                               std::span<const collectors::AccessLogMetrics::Request> requests) {
  const TimePoint now = now_();
  std::lock_guard lock(mutex_);
  auto it = by_server_.find(server);
  if (it == by_server_.end()) {
    return;
  }
  for (const auto& state : it->second) {
    std::uint64_t good = 0;
    std::uint64_t bad = 0;
    for (const auto& request : requests) {
      switch (JudgeRequest(state->slo.sli, request)) {
        case Verdict::kGood:
          ++good;
          break;
        case Verdict::kBad:
          ++bad;
          break;
        case Verdict::kIgnored:
          break;
      }
    }
    state->Count(now, good, bad);
  }
}

void SloEngine::Save(state::Sections& sections) const {
  std::lock_guard lock(mutex_);
  for (const auto& slo_state : slos_) {
    state::SaveWindows(sections, StateKey(slo_state->slo.name), slo_state->sli, slo_state->windows);
  }
}

std::size_t SloEngine::Restore(const state::Sections& sections) {
  std::lock_guard lock(mutex_);
  std::size_t restored = 0;
  for (const auto& slo_state : slos_) {
    std::string what = "slo \"";
    what.append(slo_state->slo.name).append("\"");
    if (state::RestoreWindows(sections, StateKey(slo_state->slo.name), slo_state->sli,
                              slo_state->windows, what)) {
      ++restored;
    }
  }
  return restored;
}

std::vector<status::SloView> SloEngine::Views() const {
  const TimePoint now = now_();
  std::lock_guard lock(mutex_);
  std::vector<status::SloView> views;
  for (const auto& state : slos_) {
    const std::vector<WindowSpec>& specs = state->windows.windows();
    const std::vector<WindowTotals> totals = state->windows.Totals(now);
    const double budget = ErrorBudget(state->slo.objective_percent);
    auto totals_of = [&](Duration length) {
      for (std::size_t i = 0; i < specs.size(); ++i) {
        if (specs[i].window == length) {
          return totals[i];
        }
      }
      return WindowTotals{};
    };
    const WindowTotals period = totals_of(state->slo.period);
    const WindowTotals hour = totals_of(std::chrono::hours(1));
    status::SloView view;
    view.name = state->slo.name;
    view.period = PeriodName(state->slo.period);
    view.objective = ObjectiveRatio(state->slo.objective_percent);
    view.sli = RatioOf(period);
    view.budget_remaining = period.total > 0 ? 1 - (1 - view.sli) / budget : 1.0;
    view.burn_rate_1h = (1 - RatioOf(hour)) / budget;
    views.push_back(std::move(view));
  }
  return views;
}

std::vector<prometheus::MetricFamily> SloEngine::Collect() const {
  const TimePoint now = now_();
  collectors::MetricSink sink;
  std::lock_guard lock(mutex_);
  for (const auto& state : slos_) {
    collectors::Labels labels = {{"slo", state->slo.name}};
    const double objective = ObjectiveRatio(state->slo.objective_percent);
    const double budget = ErrorBudget(state->slo.objective_percent);
    const std::vector<WindowSpec>& specs = state->windows.windows();
    const std::vector<WindowTotals> totals = state->windows.Totals(now);
    auto burn_rate = [budget](const WindowTotals& window) {
      if (window.total <= 0) {
        return std::numeric_limits<double>::quiet_NaN();
      }
      return (window.total - window.good) / window.total / budget;
    };
    for (std::size_t i = 0; i < specs.size(); ++i) {
      collectors::Labels window_labels = labels;
      window_labels.emplace_back("window", specs[i].name);
      sink.Gauge("nines_slo_burn_rate", kBurnRateHelp, burn_rate(totals[i]), window_labels);
    }
    const auto period_window = std::find_if(specs.begin(), specs.end(), [&](const WindowSpec& w) {
      return w.window == state->slo.period;
    });
    const WindowTotals& period = totals[static_cast<std::size_t>(period_window - specs.begin())];
    sink.Gauge("nines_slo_error_budget_remaining_ratio", kBudgetHelp,
               period.total > 0 ? 1 - burn_rate(period) : 1.0, labels);
    sink.Counter("nines_slo_errors_total", kErrorsHelp, static_cast<double>(state->errors), labels);
    sink.Counter("nines_slo_events_total", kEventsHelp, static_cast<double>(state->events), labels);
    sink.Gauge("nines_slo_objective_ratio", kObjectiveHelp, objective, labels);
    for (std::size_t i = 0; i < specs.size(); ++i) {
      collectors::Labels window_labels = labels;
      window_labels.emplace_back("window", specs[i].name);
      sink.Gauge("nines_slo_sli_ratio", kSliHelp, RatioOf(totals[i]), window_labels);
    }
  }
  return sink.Take();
}

}  // namespace nines::slo
