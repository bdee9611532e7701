#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>

namespace nines::metrics {

/// nines' own metrics about itself: `nines_build_info{version,revision}` and the config
/// reload gauges. Registered once in the daemon's registry; thread safe.
class SelfMetrics {
 public:
  explicit SelfMetrics(prometheus::Registry& registry);

  /// A config was loaded and applied: successful = 1, timestamp = `when`.
  void ReloadSucceeded(std::chrono::system_clock::time_point when);
  /// A reload was rejected: successful = 0; the timestamp keeps the last success.
  void ReloadFailed();

  /// nines_config_last_reload_successful as a bool, for the status page.
  bool LastReloadSuccessful() const { return reload_successful_.Value() == 1; }
  /// nines_config_last_reload_success_timestamp_seconds.
  double LastReloadSuccessSeconds() const { return reload_success_timestamp_.Value(); }

 private:
  prometheus::Gauge& reload_successful_;
  prometheus::Gauge& reload_success_timestamp_;
};

}  // namespace nines::metrics
