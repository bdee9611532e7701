#pragma once

#include "probes/prober.h"

namespace nines::probes {

/// The HTTP prober: blackbox_exporter's `http:` module on one libcurl easy handle driven by
/// the event loop's multi handle. Redirects are followed here, hop by hop, so phases are
/// summed over every hop and the redirect limit and timeout cover the whole chain.
class HttpProbe final : public ProbeRun {
 public:
  HttpProbe(EventLoop& loop, ProbeRequest request);
  ~HttpProbe() override;

 protected:
  void Begin() override;
  void Abort() override;
  ProbeResult TimedOut() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace nines::probes
