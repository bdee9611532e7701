#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "exporter/config/config.h"
#include "probes/event_loop.h"
#include "probes/probe.h"

namespace nines::probes {

/// What to probe: a target, the module options, and how long the run may take.
struct ProbeRequest {
  /// A URL for HTTP, `host:port` for TCP (blackbox's target syntax).
  std::string target;
  /// The module; shares ownership of the config it lives in, so a reload during the run
  /// cannot free it.
  std::shared_ptr<const config::Module> module;
  /// The whole run, connection and redirects included, ends within this.
  SteadyClock::duration timeout = std::chrono::seconds(5);
  /// When set, the target's host name connects only to this address (the `/probe` policy
  /// check resolved and approved it; pinning it means no second lookup can differ).
  std::string pinned_address;
  /// Decides, for every connection the run is about to open, whether the numeric `address`
  /// `host` resolved to may be used: std::nullopt allows it, a reason refuses it (the run
  /// then fails with reason `other`). `/probe` sets it from its target policy, so a
  /// redirect cannot lead to a denied address. Unset: everything is allowed.
  using AddressCheck = std::function<std::optional<std::string>(const std::string& host,
                                                                const std::string& address)>;
  AddressCheck check_address;
  /// Keep a step-by-step log in ProbeResult::log (for `/probe?debug=true`).
  bool debug = false;
};

/// Called once with the result of a run, on the loop thread.
using ProbeCallback = std::function<void(ProbeResult)>;

/// One run of one probe, driven by the event loop. The base class is the template for every
/// kind: it owns the deadline timer, measures the total duration, catches exceptions from
/// the kind's hooks (reported as reason `other`) and guarantees the callback runs exactly
/// once. Kinds implement Begin() and Abort() and call Finish() when done.
///
/// Loop thread only. Not copyable.
class ProbeRun {
 public:
  ProbeRun(EventLoop& loop, ProbeRequest request);
  virtual ~ProbeRun() = default;
  ProbeRun(const ProbeRun&) = delete;
  ProbeRun& operator=(const ProbeRun&) = delete;

  /// Starts the run; `done` gets the result. The run must stay alive until then (the engine
  /// owns it).
  void Start(ProbeCallback done);
  /// Ends the run without calling `done` (shutdown, or a probe removed by reload).
  void Cancel();
  /// Whether `done` has been called or the run cancelled.
  bool finished() const { return finished_; }

 protected:
  /// Starts the kind's work (sockets, transfers, timers on loop()). Must eventually call
  /// Finish(), unless Abort() comes first.
  virtual void Begin() = 0;
  /// Releases everything Begin() started, without finishing: the deadline passed or the run
  /// was cancelled. Called at most once, never after Finish().
  virtual void Abort() = 0;
  /// The result of a deadline that passed while the kind was still working: reason
  /// `timeout` by default; a kind knowing its phase (connecting, say) refines it.
  virtual ProbeResult TimedOut();

  /// Ends the run with `result` (its duration is set here). Later calls are ignored.
  void Finish(ProbeResult result);
  /// Finish() with a failure.
  void Fail(FailureReason reason, std::string detail);
  /// Appends a line to the debug log when the request asked for one.
  void Log(std::string line);

  EventLoop& loop() const { return loop_; }
  const ProbeRequest& request() const { return request_; }
  const config::Module& module() const { return *request_.module; }
  SteadyClock::time_point started() const { return started_; }
  SteadyClock::time_point deadline() const { return deadline_; }
  /// The result being built; kinds fill it as facts come in and Finish() with a copy or
  /// with std::move(result()).
  ProbeResult& result() { return partial_; }

 private:
  void OnDeadline();

  EventLoop& loop_;
  ProbeRequest request_;
  ProbeCallback done_;
  SteadyClock::time_point started_{};
  SteadyClock::time_point deadline_{};
  EventLoop::TimerId deadline_timer_ = 0;
  bool finished_ = false;
  ProbeResult partial_;
};

/// Creates the run of `kind` for `request`: the one switch over ProbeKind that picks a prober
/// (registry.cc). Returns null and sets `*why` only for a value outside the enum.
std::unique_ptr<ProbeRun> MakeProbeRun(ProbeKind kind, EventLoop& loop, ProbeRequest request,
                                       std::string* why);

/// Runs probes on an event loop and owns them while they run. Loop thread only.
class ProbeEngine {
 public:
  explicit ProbeEngine(EventLoop& loop) : loop_(loop) {}
  /// Cancels every run still in flight; their callbacks are not called.
  ~ProbeEngine();
  ProbeEngine(const ProbeEngine&) = delete;
  ProbeEngine& operator=(const ProbeEngine&) = delete;

  /// Starts a run of `request.module->prober`. `done` runs exactly once on the loop thread,
  /// possibly before Start returns (a kind that is not supported, an immediate failure).
  /// Returns an id for Cancel().
  std::uint64_t Start(ProbeRequest request, ProbeCallback done);
  /// Cancels a run in flight; its callback is not called. Unknown ids are ignored.
  void Cancel(std::uint64_t id);
  /// Runs in flight.
  std::size_t in_flight() const { return runs_.size(); }

 private:
  EventLoop& loop_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::unique_ptr<ProbeRun>> runs_;
};

}  // namespace nines::probes
