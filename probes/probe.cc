#include "probes/probe.h"

#include <array>

namespace nines::probes {
namespace {

constexpr std::array kKinds = {ProbeKind::kHttp, ProbeKind::kTcp, ProbeKind::kDns,
                               ProbeKind::kIcmp};

constexpr std::array kReasons = {
    FailureReason::kDns,
    FailureReason::kConnectRefused,
    FailureReason::kConnectTimeout,
    FailureReason::kTlsHandshake,
    FailureReason::kTlsCertExpired,
    FailureReason::kTlsCertInvalid,
    FailureReason::kTimeout,
    FailureReason::kHttpStatus,
    FailureReason::kBodyMismatch,
    FailureReason::kHeaderMismatch,
    FailureReason::kExpectMismatch,
    FailureReason::kBodyTooLarge,
    FailureReason::kTooManyRedirects,
    FailureReason::kTlsPolicy,
    FailureReason::kIcmpUnreachable,
    FailureReason::kDnsRcode,
    FailureReason::kDnsValidation,
    FailureReason::kOther,
};

}  // namespace

std::string_view ProbeKindName(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kHttp:
      return "http";
    case ProbeKind::kTcp:
      return "tcp";
    case ProbeKind::kDns:
      return "dns";
    case ProbeKind::kIcmp:
      return "icmp";
  }
  return "unknown";  // not a declared enumerator
}

std::optional<ProbeKind> ParseProbeKind(std::string_view name) {
  for (ProbeKind kind : kKinds) {
    if (ProbeKindName(kind) == name) {
      return kind;
    }
  }
  return std::nullopt;
}

std::span<const ProbeKind> AllProbeKinds() { return kKinds; }

std::string_view FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kNone:
      return "";
    case FailureReason::kDns:
      return "dns";
    case FailureReason::kConnectRefused:
      return "connect_refused";
    case FailureReason::kConnectTimeout:
      return "connect_timeout";
    case FailureReason::kTlsHandshake:
      return "tls_handshake";
    case FailureReason::kTlsCertExpired:
      return "tls_cert_expired";
    case FailureReason::kTlsCertInvalid:
      return "tls_cert_invalid";
    case FailureReason::kTimeout:
      return "timeout";
    case FailureReason::kHttpStatus:
      return "http_status";
    case FailureReason::kBodyMismatch:
      return "body_mismatch";
    case FailureReason::kHeaderMismatch:
      return "header_mismatch";
    case FailureReason::kExpectMismatch:
      return "expect_mismatch";
    case FailureReason::kBodyTooLarge:
      return "body_too_large";
    case FailureReason::kTooManyRedirects:
      return "too_many_redirects";
    case FailureReason::kTlsPolicy:
      return "tls_policy";
    case FailureReason::kIcmpUnreachable:
      return "icmp_unreachable";
    case FailureReason::kDnsRcode:
      return "dns_rcode";
    case FailureReason::kDnsValidation:
      return "dns_validation";
    case FailureReason::kOther:
      return "other";
  }
  return "unknown";  // not a declared enumerator
}

std::span<const FailureReason> AllFailureReasons() { return kReasons; }

}  // namespace nines::probes
