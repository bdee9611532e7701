#pragma once

#include "probes/prober.h"

namespace nines::probes {

/// The TCP prober: blackbox_exporter's `tcp:` module. libcurl resolves and connects
/// (connect-only), then the `query_response` dialogue, TLS and STARTTLS run on the socket
/// from the event loop.
class TcpProbe final : public ProbeRun {
 public:
  TcpProbe(EventLoop& loop, ProbeRequest request);
  ~TcpProbe() override;

 protected:
  void Begin() override;
  void Abort() override;
  ProbeResult TimedOut() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace nines::probes
