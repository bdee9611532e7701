#include "probes/http.h"
#include "probes/prober.h"
#include "probes/tcp.h"

namespace nines::probes {

std::unique_ptr<ProbeRun> MakeProbeRun(ProbeKind kind, EventLoop& loop, ProbeRequest request,
                                       std::string* why) {
  switch (kind) {
    case ProbeKind::kHttp:
      return std::make_unique<HttpProbe>(loop, std::move(request));
    case ProbeKind::kTcp:
      return std::make_unique<TcpProbe>(loop, std::move(request));
    case ProbeKind::kDns:
    case ProbeKind::kIcmp:
      *why = "prober " + std::string(ProbeKindName(kind)) + " is not supported by this version";
      return nullptr;
  }
  *why = "unknown prober";
  return nullptr;
}

}  // namespace nines::probes
