#include "exporter/scheduler/runner.h"

#include <spdlog/spdlog.h>

#include <future>

namespace nines::scheduler {

ProbeRunner::ProbeRunner(metrics::ProbeMetrics& metrics, std::size_t max_in_flight)
    : metrics_(metrics), schedule_(max_in_flight) {}

ProbeRunner::~ProbeRunner() { Stop(); }

void ProbeRunner::Start() {
  thread_ = std::thread([this] { loop_.Run(); });
}

void ProbeRunner::Stop() {
  if (thread_.joinable()) {
    loop_.Stop();
    thread_.join();
  }
}

std::string ProbeRunner::Apply(const std::shared_ptr<const config::Config>& config) {
  if (!thread_.joinable()) {
    ApplyOnLoop(config);  // before Start(): this thread is the only one
    return "";
  }
  std::promise<void> applied;
  loop_.Post([&] {
    ApplyOnLoop(config);
    applied.set_value();
  });
  applied.get_future().wait();
  return "";
}

void ProbeRunner::ApplyOnLoop(const std::shared_ptr<const config::Config>& config) {
  std::map<std::string, const config::Probe*, std::less<>> next;
  for (const config::Probe& probe : config->probes) {
    next.emplace(probe.name, &probe);
  }
  // Runs of probes that are gone, or now probe something else, would report for a probe
  // that no longer exists: cancel them.
  for (auto it = running_.begin(); it != running_.end();) {
    const config::Probe& old = *probes_[it->second.index];
    auto found = next.find(it->first);
    bool same = found != next.end() && found->second->target == old.target &&
                found->second->module.prober == old.module.prober;
    if (same) {
      ++it;
      continue;
    }
    engine_.Cancel(it->second.engine_id);
    schedule_.Finished(it->second.index);
    it = running_.erase(it);
  }

  metrics_.SetProbes(config->probes);
  std::vector<ScheduledProbe> scheduled;
  probes_.clear();
  for (const config::Probe& probe : config->probes) {
    scheduled.push_back(ScheduledProbe{probe.name, probe.interval});
    probes_.push_back(&probe);
  }
  schedule_.SetProbes(scheduled, Clock::now());
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    if (auto it = running_.find(probes_[i]->name); it != running_.end()) {
      it->second.index = i;
    }
  }
  config_ = config;
  OnWake();
}

void ProbeRunner::OnWake() {
  std::vector<std::size_t> skipped;
  std::vector<DueRun> due = schedule_.Poll(Clock::now(), &skipped);
  for (std::size_t index : skipped) {
    metrics_.RecordSkipped(probes_[index]->name);
    spdlog::debug("probe {}: run skipped, the previous one is still running", probes_[index]->name);
  }
  for (const DueRun& run : due) {
    StartRun(run);
  }
  ArmTimer();
}

void ProbeRunner::StartRun(const DueRun& run) {
  const config::Probe& probe = *probes_[run.index];
  metrics_.RecordSchedulingDelay(Clock::now() - run.due);
  probes::ProbeRequest request;
  request.target = probe.target;
  // Shares ownership of the whole config, so a reload cannot free the module mid-run.
  request.module = std::shared_ptr<const config::Module>(config_, &probe.module);
  request.timeout = probe.timeout;
  std::string name = probe.name;
  running_[name] = Running{run.index, 0};
  std::uint64_t id = engine_.Start(std::move(request), [this, name](probes::ProbeResult result) {
    auto it = running_.find(name);
    if (it == running_.end()) {
      return;  // cancelled by a reload
    }
    schedule_.Finished(it->second.index);
    running_.erase(it);
    if (!result.success) {
      spdlog::debug("probe {} failed: reason={} detail=\"{}\"", name,
                    probes::FailureReasonName(result.reason), result.detail);
    }
    metrics_.Record(name, result);
    if (observer_) {
      observer_(name, result);
    }
    // A run finishing frees a slot for a probe held back by the in-flight cap.
    ArmTimer();
  });
  if (auto it = running_.find(name); it != running_.end()) {
    it->second.engine_id = id;
  }
}

void ProbeRunner::ArmTimer() {
  TimePoint next = schedule_.NextWake(Clock::now());
  if (next == timer_at_) {
    return;
  }
  if (timer_ != 0) {
    loop_.CancelTimer(timer_);
    timer_ = 0;
  }
  timer_at_ = next;
  if (next == TimePoint::max()) {
    return;
  }
  timer_ = loop_.AddTimer(next, [this] {
    timer_ = 0;
    timer_at_ = TimePoint::max();
    OnWake();
  });
}

probes::ProbeResult ProbeRunner::RunOnce(probes::ProbeRequest request) {
  auto promise = std::make_shared<std::promise<probes::ProbeResult>>();
  std::future<probes::ProbeResult> future = promise->get_future();
  auto grace = request.timeout + std::chrono::seconds(5);
  loop_.Post([this, promise, request = std::move(request)]() mutable {
    engine_.Start(std::move(request),
                  [promise](probes::ProbeResult result) { promise->set_value(std::move(result)); });
  });
  // The run ends by its own deadline; the grace only matters when the loop is stopping.
  if (future.wait_for(grace) != std::future_status::ready) {
    probes::ProbeResult stopped;
    stopped.reason = probes::FailureReason::kOther;
    stopped.detail = "the probe loop is shutting down";
    return stopped;
  }
  return future.get();
}

}  // namespace nines::scheduler
