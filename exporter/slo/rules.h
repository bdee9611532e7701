#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/config.h"
#include "exporter/config/duration.h"

/// Prometheus recording and alerting rules for the SLOs nines measures (`nines rules`).
///
/// The rules are named and labelled like sloth's (https://github.com/slok/sloth) so its
/// Grafana dashboards work on them unchanged: per SLO a group of SLI recordings
/// `slo:sli_error:ratio_rate<window>` (labels sloth_id, sloth_service, sloth_slo,
/// sloth_window), a group of meta recordings (slo:objective:ratio, slo:error_budget:ratio,
/// slo:time_period:days, slo:current_burn_rate:ratio, slo:period_burn_rate:ratio,
/// slo:period_error_budget_remaining:ratio, sloth_slo_info) and a group with a page and a
/// ticket alert: the multi-window, multi-burn-rate alerts of the Google SRE workbook, in
/// sloth's expression shape.
///
/// Where nines differs from sloth, on purpose:
/// - Every SLI window, the SLO period included, is `sum(rate(errors[W])) /
///   sum(rate(events[W]))` over nines' counters `nines_slo_errors_total{slo}` and
///   `nines_slo_events_total{slo}`. Sloth records the period ratio as the average of the 5m
///   ratios over the period, because its SLI is an arbitrary user query that it cannot
///   afford to evaluate over 30d every interval. That average weighs a quiet 5 minutes like
///   a busy one and misses the periods when the 5m rule did not run; nines owns its
///   counters, so it records the exact ratio of the period, as Pyrra does.
/// - sloth_service is the SLI's source (the probe or the nginx server), sloth_slo the SLO
///   name and sloth_id `<service>-<slo>`.
/// - The burn-rate factors are scaled to the SLO period (see BurnRateConditions), and a
///   condition whose long window is longer than the period is left out, with a comment in
///   the output saying so.
namespace nines::slo {

/// What `GenerateRules` writes.
enum class RulesFormat {
  kPrometheus,      ///< a Prometheus rule file: `groups:`
  kPrometheusRule,  ///< a Prometheus Operator `PrometheusRule` object wrapping the groups
};

/// Parses `prometheus` or `prometheusrule`; nullopt for anything else.
std::optional<RulesFormat> ParseRulesFormat(std::string_view text);

/// Knobs of `GenerateRules` that do not come from the SLOs.
struct RulesOptions {
  /// metadata.name of the PrometheusRule (kPrometheusRule only).
  std::string name = "nines-slos";
  /// Where the SLOs came from, named in the header comment; "" names nothing.
  std::string source;
  /// The nines version, in the header comment and in sloth_slo_info's sloth_version.
  std::string version;
};

enum class Severity { kPage, kTicket };

/// "page" or "ticket".
std::string_view SeverityName(Severity severity);

/// One multi-window burn-rate condition: the error ratio is above `factor` times the error
/// budget over both `long_window` and `short_window`.
struct BurnRateCondition {
  Severity severity = Severity::kPage;
  /// Percent of the period's error budget the condition spends in its long window.
  int budget_percent = 0;
  config::Duration long_window{};
  config::Duration short_window{};
  /// budget_percent / 100 * period / long_window: 14.4, 6, 3 and 1 for a 30d period.
  double factor = 0;
};

/// The workbook's four conditions, windows fixed and factors scaled to `period`, sloth's
/// way: page 2% of the budget in 1h (5m short window) or 5% in 6h (30m); ticket 10% in 1d
/// (2h) or 10% in 3d (6h). In that order; a condition whose long window is longer than
/// `period` is left out, as it would look back past the period. `period` must be positive.
std::vector<BurnRateCondition> BurnRateConditions(config::Duration period);

/// The conditions BurnRateConditions leaves out for `period`, same order.
std::vector<BurnRateCondition> DroppedBurnRateConditions(config::Duration period);

/// A window in Prometheus's duration form with units no larger than a day, as rule names
/// and range selectors use it: `5m`, `1h30m`, `7d`, `30d`. Sub-millisecond parts are
/// dropped (Prometheus durations stop at ms).
std::string FormatWindow(config::Duration window);

/// `text` as a PromQL double-quoted string literal, quotes included, with `\`, `"` and
/// control characters escaped.
std::string PromQlString(std::string_view text);

/// The alert name for an SLO: its name in CamelCase (split at every character that is not
/// an ASCII letter or digit) followed by `ErrorBudgetBurn`, e.g. `web-availability` ->
/// `WebAvailabilityErrorBudgetBurn`; prefixed with `Slo` if it would not start with a
/// letter.
std::string AlertName(std::string_view slo_name);

/// sloth_service for an SLO: the probe or nginx server its SLI reads.
std::string SlothService(const config::Slo& slo);

/// The rule file (or PrometheusRule object) for `slos`, in their order: deterministic for
/// the same input. With no SLOs the groups list is empty (`groups: []`). Names may hold
/// any characters (they are escaped for YAML, PromQL and Go templates) but should be valid
/// UTF-8, as Prometheus label values must be. Pure; never throws except on allocation.
std::string GenerateRules(const std::vector<config::Slo>& slos, RulesFormat format,
                          const RulesOptions& options);

}  // namespace nines::slo
