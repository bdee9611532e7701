#include "probes/http.h"
#include "probes/prober.h"
#include "probes/tcp.h"

namespace nines::probes {

std::optional<std::string> UnsupportedKind(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kHttp:
    case ProbeKind::kTcp:
      return std::nullopt;
    case ProbeKind::kDns:
    case ProbeKind::kIcmp:
      return "the " + std::string(ProbeKindName(kind)) +
             " prober is not available in this version of nines";
  }
  return "unknown prober";
}

std::unique_ptr<ProbeRun> MakeProbeRun(ProbeKind kind, EventLoop& loop, ProbeRequest request,
                                       std::string* why) {
  if (std::optional<std::string> unsupported = UnsupportedKind(kind)) {
    *why = *unsupported;
    return nullptr;
  }
  switch (kind) {
    case ProbeKind::kHttp:
      return std::make_unique<HttpProbe>(loop, std::move(request));
    case ProbeKind::kTcp:
      return std::make_unique<TcpProbe>(loop, std::move(request));
    case ProbeKind::kDns:
    case ProbeKind::kIcmp:
      break;  // refused above
  }
  *why = "unknown prober";
  return nullptr;
}

}  // namespace nines::probes
