#include "probes/prober.h"

#include <exception>

namespace nines::probes {

ProbeRun::ProbeRun(EventLoop& loop, ProbeRequest request)
    : loop_(loop), request_(std::move(request)) {}

void ProbeRun::Start(ProbeCallback done) {
  done_ = std::move(done);
  started_ = SteadyClock::now();
  deadline_ = started_ + request_.timeout;
  deadline_timer_ = loop_.AddTimer(deadline_, [this] { OnDeadline(); });
  try {
    Begin();
  } catch (const std::exception& e) {
    if (!finished_) {
      Abort();
    }
    Fail(FailureReason::kOther, e.what());
  }
}

void ProbeRun::Cancel() {
  if (finished_) {
    return;
  }
  finished_ = true;
  loop_.CancelTimer(deadline_timer_);
  Abort();
}

ProbeResult ProbeRun::TimedOut() {
  ProbeResult timed_out = std::move(partial_);
  timed_out.success = false;
  timed_out.reason = FailureReason::kTimeout;
  timed_out.detail = "no answer within the timeout";
  return timed_out;
}

void ProbeRun::OnDeadline() {
  deadline_timer_ = 0;
  if (finished_) {
    return;
  }
  ProbeResult timed_out;
  try {
    timed_out = TimedOut();
  } catch (const std::exception& e) {
    timed_out.reason = FailureReason::kTimeout;
    timed_out.detail = e.what();
  }
  Abort();
  Finish(std::move(timed_out));
}

void ProbeRun::Finish(ProbeResult result) {
  if (finished_) {
    return;
  }
  finished_ = true;
  if (deadline_timer_ != 0) {
    loop_.CancelTimer(deadline_timer_);
    deadline_timer_ = 0;
  }
  result.duration = SteadyClock::now() - started_;
  if (result.success) {
    result.reason = FailureReason::kNone;
  } else if (result.reason == FailureReason::kNone) {
    result.reason = FailureReason::kOther;
  }
  if (result.log.empty()) {
    result.log = std::move(partial_.log);  // a result built apart from result()
  }
  if (done_) {
    ProbeCallback done = std::move(done_);
    done(std::move(result));
  }
}

void ProbeRun::Fail(FailureReason reason, std::string detail) {
  ProbeResult failed = std::move(partial_);
  failed.success = false;
  failed.reason = reason;
  failed.detail = std::move(detail);
  if (request_.debug) {
    failed.log.push_back("probe failed: " + failed.detail);
  }
  Finish(std::move(failed));
}

void ProbeRun::Log(std::string line) {
  if (request_.debug) {
    partial_.log.push_back(std::move(line));
  }
}

ProbeEngine::~ProbeEngine() {
  for (auto& [id, run] : runs_) {
    run->Cancel();
  }
}

std::uint64_t ProbeEngine::Start(ProbeRequest request, ProbeCallback done) {
  std::uint64_t id = next_id_++;
  std::string why;
  ProbeKind kind = request.module->prober;
  std::unique_ptr<ProbeRun> run = MakeProbeRun(kind, loop_, std::move(request), &why);
  if (run == nullptr) {
    ProbeResult result;
    result.reason = FailureReason::kOther;
    result.detail = why;
    done(std::move(result));
    return id;
  }
  ProbeRun* raw = runs_.emplace(id, std::move(run)).first->second.get();
  raw->Start([this, id, done = std::move(done)](ProbeResult result) {
    // The run is inside one of its own methods: delete it once that returns.
    loop_.Post([this, id] { runs_.erase(id); });
    done(std::move(result));
  });
  return id;
}

void ProbeEngine::Cancel(std::uint64_t id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) {
    return;
  }
  it->second->Cancel();
  runs_.erase(it);
}

}  // namespace nines::probes
