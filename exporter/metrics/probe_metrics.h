#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "exporter/config/config.h"
#include "probes/probe.h"

/// The one place probe results become metrics: blackbox_exporter's gauges (for `/probe`
/// and for the last run of each continuous probe) and the nines series of continuous
/// probes (counters, histograms, up state, uptime, availability windows).
namespace nines::metrics {

/// Adds blackbox_exporter's metrics for one run of `kind` to `sink`, each with `labels`
/// (none for `/probe`; probe, kind, target on `/metrics`). Exactly blackbox's names, types
/// and the same conditions for when each appears (see probe_metrics.cc).
void AppendBlackboxMetrics(const probes::ProbeResult& result, probes::ProbeKind kind,
                           const collectors::Labels& labels, collectors::MetricSink& sink);

/// The metrics of the continuous probes. Results arrive from the probe loop; Collect()
/// runs on scrapes. Thread safe.
class ProbeMetrics : public prometheus::Collectable {
 public:
  using WallClock = std::function<std::chrono::system_clock::time_point()>;

  /// `now` is injected so tests control uptime and the availability windows.
  explicit ProbeMetrics(WallClock now = [] { return std::chrono::system_clock::now(); });

  /// Sets the configured probes (at start and on every reload). A probe whose name, kind,
  /// target and buckets are unchanged keeps its state; others start fresh (every failure
  /// reason at 0); probes no longer configured lose their series.
  void SetProbes(const std::vector<config::Probe>& probes);

  /// Records the result of a run of `probe`. Unknown names are ignored (removed by a
  /// reload while the run was in flight).
  void Record(const std::string& probe, const probes::ProbeResult& result);
  /// Counts a run of `probe` skipped because the previous one was still running.
  void RecordSkipped(const std::string& probe);
  /// Observes how late the scheduler started a run (start time minus due time).
  void RecordSchedulingDelay(std::chrono::duration<double> delay);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct ProbeState;

  WallClock now_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ProbeState>, std::less<>> probes_;
  std::vector<double> delay_bucket_counts_;
  double delay_sum_ = 0;
  std::uint64_t delay_count_ = 0;
};

}  // namespace nines::metrics
