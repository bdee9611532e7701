#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "exporter/config/config.h"
#include "exporter/metrics/probe_metrics.h"
#include "exporter/scheduler/scheduler.h"
#include "probes/event_loop.h"
#include "probes/prober.h"

namespace nines::scheduler {

/// Runs the continuous probes on their schedule and the `/probe` requests, all on one
/// event loop thread, and hands every result of a continuous probe to ProbeMetrics.
///
/// Thread safety: Apply() and RunOnce() may be called from any thread except the loop's;
/// they post to the loop and wait.
class ProbeRunner {
 public:
  /// `max_in_flight` caps the continuous runs in flight (`/probe` requests are not counted:
  /// the web server's worker threads bound them).
  ProbeRunner(metrics::ProbeMetrics& metrics, std::size_t max_in_flight);
  /// Stops the loop: runs in flight are cancelled, their results dropped.
  ~ProbeRunner();
  ProbeRunner(const ProbeRunner&) = delete;
  ProbeRunner& operator=(const ProbeRunner&) = delete;

  /// Called on the loop thread with each continuous run's result, after ProbeMetrics has
  /// it (the SLO engine listens here).
  using ResultObserver = std::function<void(const std::string& probe, const probes::ProbeResult&)>;
  /// Sets the result observer; call before Start().
  void OnResult(ResultObserver observer) { observer_ = std::move(observer); }

  /// Starts the loop thread.
  void Start();
  /// Stops and joins the loop thread. Idempotent.
  void Stop();

  /// Makes `config`'s probes the running set (at start and on reload). Probes removed or
  /// changed in any way have their runs in flight cancelled; unchanged ones keep their
  /// phase and state. Returns "" (it cannot fail once the config validated).
  std::string Apply(const std::shared_ptr<const config::Config>& config);

  /// Runs one probe now, outside the schedule, and waits for its result (for `/probe`).
  probes::ProbeResult RunOnce(probes::ProbeRequest request);

 private:
  struct Running {
    std::size_t index = 0;  // into probes_ when the run started
    std::uint64_t engine_id = 0;
  };

  void ApplyOnLoop(const std::shared_ptr<const config::Config>& config);
  void OnWake();
  void StartRun(const DueRun& run);
  void ArmTimer();

  metrics::ProbeMetrics& metrics_;
  ResultObserver observer_;
  probes::EventLoop loop_;
  probes::ProbeEngine engine_{loop_};
  Schedule schedule_;
  std::thread thread_;

  // Loop thread only.
  std::shared_ptr<const config::Config> config_;
  std::vector<const config::Probe*> probes_;  // into *config_, schedule order
  std::map<std::string, Running, std::less<>> running_;
  probes::EventLoop::TimerId timer_ = 0;
  TimePoint timer_at_ = TimePoint::max();
};

}  // namespace nines::scheduler
