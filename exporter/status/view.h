#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "exporter/status/history.h"

/// What the status page, `/api/v1/status`, the badges and `/logs` show: plain data taken
/// from the running daemon at one instant (BuildStatusView in the daemon), rendered by
/// exporter/web/status_page.h. Numbers are NaN where there is nothing to show (a window
/// without runs, a server without traffic); strings come from the config and from targets
/// and must be escaped by whoever renders them.
namespace nines::status {

/// A probe's state, as `nines_probe_up` decides it with down_after and up_after.
enum class ProbeState {
  kUnknown,  ///< no result yet
  kUp,       ///< up (nines_probe_up 1), and the last run succeeded
  kFailing,  ///< still up, but the last run failed (not down_after times in a row yet)
  kDown,     ///< confirmed down (nines_probe_up 0)
};

/// An uptime percentage over a named window ("1h", "24h", "7d", "30d", "90d").
struct UptimeWindow {
  std::string name;
  double ratio = 0;  ///< successful runs over runs; NaN without runs
};

struct ProbeView {
  std::string name;
  std::string kind;  ///< "http", "tcp", ...
  std::string target;
  ProbeState state = ProbeState::kUnknown;
  std::vector<UptimeWindow> uptime;    ///< 1h, 24h, 7d, 30d, 90d in that order
  std::vector<DayRecord> days;         ///< ProbeHistory::Days: oldest first
  std::vector<LatencyRecord> latency;  ///< ProbeHistory::Latency: the last 24 h
  std::optional<RunRecord> last_failure;
  std::optional<RunRecord> last_run;
  /// The leaf certificate's notAfter, Unix seconds, from the last run that saw one.
  std::optional<double> cert_expiry_seconds;
};

struct SloView {
  std::string name;
  std::string period;           ///< "30d"
  double objective = 0;         ///< ratio, 0.999
  double sli = 0;               ///< the period's ratio; NaN without events
  double budget_remaining = 0;  ///< 1 untouched, 0 spent, negative overspent
  double burn_rate_1h = 0;      ///< NaN without events in the last hour
};

struct NginxView {
  std::string name;
  double requests_per_second = 0;  ///< over the last 5 minutes; NaN before 5 minutes of data
  double error_ratio = 0;  ///< 5xx over requests in the last 5 minutes; NaN without requests
};

struct StatusView {
  std::string version;
  double now_seconds = 0;      ///< Unix time the view was taken
  double started_seconds = 0;  ///< Unix time nines started
  bool last_reload_successful = true;
  double last_reload_seconds = 0;  ///< Unix time of the last successful (re)load
  std::vector<ProbeView> probes;   ///< in config order
  std::vector<SloView> slos;
  std::vector<NginxView> nginx;
};

}  // namespace nines::status
