#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/access_log.h"
#include "exporter/config/config.h"
#include "exporter/slo/window.h"
#include "exporter/state/state_file.h"
#include "exporter/status/view.h"

/// The SLO engine: turns probe results and access-log requests into good and bad events
/// of each configured SLO (`slos:`), keeps them in rolling windows, and exports the error
/// budget metrics.
namespace nines::slo {

/// The objective as a ratio (99.9 -> 0.999), rounded to 12 decimal places so it prints as
/// written (99.9 / 100 alone gives 0.9990000000000001).
double ObjectiveRatio(double objective_percent);
/// The error budget, 1 - ObjectiveRatio, rounded the same way (0.001 for 99.9).
double ErrorBudget(double objective_percent);

/// The name of an SLO period as a window label and in rule names: whole days as days
/// ("30d", "28d", "7d"), anything else in Prometheus form ("36h", "1h30m").
std::string PeriodName(Duration period);

/// Whether one event is good, bad, or not an event of an SLO.
enum class Verdict { kGood, kBad, kIgnored };

/// The verdict of `sli` on a probe run: availability, good when the run succeeded; latency,
/// good when it succeeded within `latency_threshold`.
Verdict JudgeProbe(const config::Sli& sli, bool success, std::chrono::duration<double> duration);

/// The verdict of `sli` on one access-log request. A status in `ignore_status_codes` is not
/// an event (for both kinds). Availability: bad when the status is in `bad_status_codes` or
/// 500 and above, else good (nginx's 000, no response sent, is below 500: the client went
/// away). Latency: good when `request_time` is at most `latency_threshold`; a line without
/// a request time is not an event.
Verdict JudgeRequest(const config::Sli& sli, const collectors::AccessLogMetrics::Request& request);

/// The SLOs' metrics, each labelled `slo`:
/// - nines_slo_events_total, nines_slo_errors_total (counters since the process started,
///   the input of the generated recording rules);
/// - nines_slo_objective_ratio (the objective as a ratio, 0.999 for 99.9);
/// - nines_slo_sli_ratio{window}: good events over events in each window (5m, 30m, 1h, 2h,
///   6h, 1d, 3d and the period), NaN while a window has no event;
/// - nines_slo_burn_rate{window}: the window's error ratio over the error budget
///   (1 - objective); 1 spends the budget exactly over the period; NaN for an empty window;
/// - nines_slo_error_budget_remaining_ratio: 1 minus the budget spent over the period,
///   1 - burn rate of the period; 1 while the period has no event; negative once the budget
///   is overspent.
///
/// Events are stamped with the wall clock when they are recorded (a probe result when it
/// arrives, a log line when it is read). The windows can be saved and restored (Save,
/// Restore) so they continue across restarts; the counters start from 0 each time, as
/// Prometheus expects of counters.
///
/// Thread safe: probe results, log batches and scrapes may come from different threads.
class SloEngine : public prometheus::Collectable {
 public:
  using WallClock = std::function<TimePoint()>;

  explicit SloEngine(WallClock now = [] { return Clock::now(); });
  ~SloEngine() override;
  SloEngine(const SloEngine&) = delete;
  SloEngine& operator=(const SloEngine&) = delete;

  /// Sets the SLOs (at start and on every reload). An SLO whose name and SLI are unchanged
  /// keeps its counters and windows (and takes a new objective; a new period keeps the
  /// windows both periods have); others start empty; SLOs no longer configured are dropped.
  void SetSlos(const std::vector<config::Slo>& slos);

  /// Records a run of continuous probe `probe`.
  void RecordProbe(std::string_view probe, bool success, std::chrono::duration<double> duration);
  /// Records requests read from the access log of nginx server `server`, all at one time.
  void RecordRequests(std::string_view server,
                      std::span<const collectors::AccessLogMetrics::Request> requests);

  /// Adds a section "slo/<name>" per SLO with its SLI (to tell whether it still measures
  /// the same thing) and its windows.
  void Save(state::Sections& sections) const;
  /// Restores the windows of every configured SLO that has a section measuring the same
  /// SLI; logs (warning) a section that cannot be decoded or restored, and returns how
  /// many SLOs were restored.
  std::size_t Restore(const state::Sections& sections);

  /// Every SLO as the status page shows it, in config order.
  std::vector<status::SloView> Views() const;

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct SloState;

  WallClock now_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<SloState>> slos_;  // in config order
  // Which SLOs measure each probe and each nginx server.
  std::map<std::string, std::vector<std::shared_ptr<SloState>>, std::less<>> by_probe_;
  std::map<std::string, std::vector<std::shared_ptr<SloState>>, std::less<>> by_server_;
};

/// The text that identifies what an SLI measures ("probe web availability",
/// "access_log web latency<=0.3 ignore=499"), saved with the windows.
std::string DescribeSli(const config::Sli& sli);

}  // namespace nines::slo
