#include "probes/dns.h"
#include "probes/http.h"
#include "probes/icmp.h"
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
    case ProbeKind::kIcmp:
      return std::make_unique<IcmpProbe>(loop, std::move(request));
    case ProbeKind::kDns:
      return std::make_unique<DnsProbe>(loop, std::move(request));
  }
  *why = "unknown prober";
  return nullptr;
}

}  // namespace nines::probes
