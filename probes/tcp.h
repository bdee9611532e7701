#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "probes/prober.h"

namespace nines::probes {

/// The TCP prober: blackbox_exporter's `tcp:` module. libcurl resolves and connects
/// (connect-only), then the `query_response` dialogue, TLS and STARTTLS run on the socket
/// from the event loop.
///
/// The target is `host:port` (`[v6addr]:port` for IPv6); anything else fails with `other`.
/// Each `query_response` step runs, in order: `expect` (an RE2 searched in each received
/// line, without its "\n" or "\r\n", until one matches), `expect_bytes` (exactly these
/// bytes next), `send` (with `${1}`, `$name`... replaced by the submatches of the step's
/// `expect`, as Go's Regexp.Expand, and a "\n" appended), `starttls` (TLS from here on).
///
/// Results: phases `resolve` and `connect` (libcurl's timings) and `tls` (time in TLS
/// handshakes); the address connected to; the TLS facts of the peer's certificates, also
/// when verification failed. Failure reasons: `dns`, `connect_refused`, `connect_timeout`
/// (deadline before the connection), `timeout` (after it), `tls_handshake` /
/// `tls_cert_expired` / `tls_cert_invalid`, `expect_mismatch` (no matching line, wrong or
/// missing bytes), `other` (bad target or tls_config, send failures). As in blackbox,
/// `failed_due_to_regex` is set on every TCP run (blackbox registers
/// probe_failed_due_to_regex before dialing): true only when the peer closed the
/// connection before an `expect` matched.
///
/// Loop thread only, like every ProbeRun.
class TcpProbe final : public ProbeRun {
 public:
  /// Parses nothing yet: a malformed target fails the run when it starts.
  TcpProbe(EventLoop& loop, ProbeRequest request);
  /// Releases the transfer, the watch, the TLS session and the socket, in any state.
  ~TcpProbe() override;

 protected:
  void Begin() override;
  void Abort() override;
  ProbeResult TimedOut() override;

 private:
  struct State;
  /// What a pass over the `query_response` steps ended with.
  enum class StepsStatus { kWaiting, kStartTls, kDone, kFailed };

  /// Starts (or, after a failed lookup, restarts) the connect-only transfer for one address
  /// family (AF_INET or AF_INET6).
  void StartConnect(int family);
  /// The transfer ended: adopts the socket and goes on, retries the other family after a
  /// failed lookup, or fails with the reason libcurl's code stands for.
  void OnConnectDone(CURLcode code);
  /// Takes the connected socket over from libcurl; -1 when there is none.
  int AdoptSocket();
  /// Starts a client TLS session on the connection (module `tls: true` or `starttls`).
  bool BeginTls();
  /// Runs the handshake as far as the data at hand allows; false when the run ended.
  bool ContinueHandshake(bool* done);
  /// Moves the data TLS decrypted so far into the input buffer (no-op without a session).
  void ReadPlaintext();
  /// Reads what the socket has (one chunk) into the input buffers.
  void ReadSocket();
  /// Writes pending output; false when the run ended (the peer is gone).
  bool Flush();
  /// Queues application data, through TLS when a session is up.
  void Send(const std::string& data);
  /// Everything that can progress after a socket event; finishes the run when done.
  void Drive(std::uint32_t events);
  /// Advances the `query_response` steps as far as the received data allows.
  StepsStatus RunSteps();
  /// Watches the socket for `events` (EPOLLIN and/or EPOLLOUT), unless already watched so.
  void UpdateWatch(std::uint32_t events);
  /// Ends the run as a failure after releasing the connection.
  void FailNow(FailureReason reason, std::string detail);
  /// Frees the transfer, watch, TLS session and sockets; safe to call more than once.
  void Release();
  /// What the run is waiting for, for timeout messages.
  std::string Waiting() const;

  std::unique_ptr<State> state_;
};

}  // namespace nines::probes
