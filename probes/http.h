#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>

#include "probes/prober.h"

namespace nines::probes {

/// The HTTP prober: blackbox_exporter's `http:` module on libcurl easy handles driven by
/// the event loop's multi handle, one handle per hop. Redirects are followed here, hop by
/// hop, so phases are summed over every hop and the redirect limit and timeout cover the
/// whole chain.
///
/// Every run uses fresh connections, fresh name lookups and its own cookie jar. When the
/// request pins an address, the target's host name connects only to it (on every hop to
/// that host); redirects to other hosts are resolved normally, and get no credentials
/// (basic_auth, authorization). `tls_config.server_name` (else a Host header) is the TLS
/// name for the target's host and port only, as in blackbox. A response outside
/// `valid_http_versions` fails with reason `http_status`. Loop thread only.
class HttpProbe final : public ProbeRun {
 public:
  /// A run of `request` (an `http:` module) on `loop`; nothing starts before Start().
  HttpProbe(EventLoop& loop, ProbeRequest request);
  /// Stops a transfer still running; safe in any state of the run.
  ~HttpProbe() override;

 protected:
  void Begin() override;
  void Abort() override;
  ProbeResult TimedOut() override;

 private:
  struct Hop;
  struct State;

  // Starts a transfer of `url` (the target or a redirect's location); `fallback` retries it
  // with the address family that is not preferred.
  void StartHop(const std::string& url, bool fallback);
  // The hop's URL, names and addresses; null after failing the run (a URL it cannot use).
  std::unique_ptr<Hop> PlanHop(const std::string& url, bool fallback);
  // Sets the connection's options: fresh connection, timeout, addresses, TLS.
  void ConfigureConnection(Hop& hop);
  // Sets the request's options: method, body, headers, credentials.
  void ConfigureRequest(Hop& hop);
  // The transfer of the current hop ended with `code`.
  void OnHopDone(CURLcode code);
  void HandleHopDone(CURLcode code);
  // Starts the hop to the Location of `hop`'s `status` response.
  void FollowRedirect(Hop& hop, long status);
  // Copies the hop's response facts (status, version, lengths, address, TLS) into result().
  void RecordResponse(const Hop& hop);
  // Adds the hop's phase durations to result().phases.
  void AddPhases(const Hop& hop, bool completed);
  // Runs blackbox's checks on the final response and finishes the run.
  void FinishFinalHop(Hop& hop, bool body_too_large);
  // Fails the run for a transfer error of `hop`.
  void FailTransfer(Hop& hop, CURLcode code);
  // Removes the running transfer, if any, and frees the hop.
  void ReleaseHop();

  std::unique_ptr<State> state_;
};

}  // namespace nines::probes
