#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nines::probes {

/// The kinds of probe nines knows. This enum is the one list of kinds: config parses
/// `prober:` into it and every switch over it names each case, so adding a kind fails
/// the build until every place handles it.
enum class ProbeKind { kHttp, kTcp, kDns, kIcmp };

/// The `prober:` spelling of a kind, as in blackbox_exporter's modules ("http", "tcp", ...).
std::string_view ProbeKindName(ProbeKind kind);

/// Parses a `prober:` value; std::nullopt for an unknown name.
std::optional<ProbeKind> ParseProbeKind(std::string_view name);

/// Every kind, in declaration order, for help texts and error messages.
std::span<const ProbeKind> AllProbeKinds();

/// Why a probe run failed. The set is fixed and documented (README, "Failure reasons"):
/// `nines_probe_failures_total{reason}` pre-creates one series per value, so the label
/// stays bounded whatever the targets do.
enum class FailureReason {
  kNone,  // the run succeeded
  kDns,
  kConnectRefused,
  kConnectTimeout,
  kTlsHandshake,
  kTlsCertExpired,
  kTlsCertInvalid,
  kTimeout,
  kHttpStatus,
  kBodyMismatch,
  kHeaderMismatch,
  kExpectMismatch,
  kBodyTooLarge,
  kTooManyRedirects,
  kTlsPolicy,
  kIcmpUnreachable,
  kDnsRcode,
  kDnsValidation,
  kOther,
};

/// The `reason` label value of a failure ("dns", "connect_refused", ...); "" for kNone.
std::string_view FailureReasonName(FailureReason reason);

/// Every failure reason except kNone, in declaration order.
std::span<const FailureReason> AllFailureReasons();

/// Facts about one certificate, as blackbox_exporter's `probe_ssl_last_chain_info` labels
/// them.
struct CertificateInfo {
  std::string fingerprint_sha256;  // lowercase hex of the DER encoding's SHA-256
  std::string subject;             // RFC 2253 form, e.g. "CN=example.com,O=Example"
  std::string issuer;
  std::string subject_alternative;  // DNS and IP SANs joined by ","
};

/// What a DNS run found, as blackbox_exporter's probe_dns_* gauges report it.
struct DnsFacts {
  std::string rcode;  // "NOERROR", "NXDOMAIN", ... of the response; "" without one
  int answer_rrs = 0;
  int authority_rrs = 0;
  int additional_rrs = 0;
  /// For an SOA query that got an answer: the serial of the answer section's last SOA
  /// record, 0 when it has none (blackbox's probe_dns_serial, which it reports only then).
  std::optional<std::uint32_t> serial;
  /// Whether an answer arrived, whatever its rcode (blackbox 0.23's
  /// probe_dns_query_succeeded).
  bool query_succeeded = false;
};

/// What an ICMP run measured over its echo requests.
struct IcmpFacts {
  int packets_sent = 0;
  int packets_received = 0;
  /// The round-trip time of each reply, in the order the requests were sent.
  std::vector<double> rtt_seconds;
  /// The IP TTL / hop limit of the last reply, when the socket reported it.
  std::optional<int> reply_hop_limit;
};

/// The outcome of one probe run: plain data, no metrics. One place (the probe metrics)
/// turns it into series, so the same probe code serves the scheduler and `/probe`.
struct ProbeResult {
  using Seconds = std::chrono::duration<double>;

  bool success = false;
  FailureReason reason = FailureReason::kOther;
  /// Human-readable detail of a failure, for logs and `/probe?debug=true`.
  std::string detail;
  Seconds duration{0};
  /// Per-phase durations by phase name (HTTP: resolve, connect, tls, processing, transfer;
  /// TCP: resolve, connect, tls). Absent phases did not happen.
  std::map<std::string, Seconds, std::less<>> phases;

  // Connection facts (blackbox's probe_ip_protocol, probe_ip_addr_hash).
  std::optional<int> ip_protocol;  // 4 or 6: the family of the address connected to
  std::string ip_address;          // the address connected to, "" when none
  /// Whether a `fail_if_*_regexp` / `expect` rule decided the failure (blackbox's
  /// probe_failed_due_to_regex, which blackbox reports for every HTTP and TCP run).
  std::optional<bool> failed_due_to_regex;

  // HTTP facts; absent when the kind or the run did not produce them.
  std::optional<int> status_code;
  std::optional<double> http_version;  // 1.0, 1.1, 2, 3
  int redirects = 0;
  std::optional<std::int64_t> content_length;  // -1 when the response did not say
  std::optional<std::int64_t> uncompressed_body_length;
  std::optional<double> last_modified_seconds;  // Unix time of Last-Modified
  bool ssl = false;  // the last response (HTTP) or the dialogue's end (TCP) came over TLS

  // TLS facts, reported even when verification failed.
  std::optional<std::string> tls_version;              // "TLS 1.3", as blackbox labels it
  std::optional<double> earliest_cert_expiry_seconds;  // Unix time, over the peer's chain
  std::optional<double> leaf_cert_expiry_seconds;      // Unix time
  /// The earliest expiry of the verified chain (blackbox's
  /// probe_ssl_last_chain_expiry_timestamp_seconds); absent when nothing was verified.
  std::optional<double> last_chain_expiry_seconds;
  std::optional<CertificateInfo> leaf;

  /// DNS and ICMP facts; absent for the other kinds.
  std::optional<DnsFacts> dns;
  std::optional<IcmpFacts> icmp;

  /// What the run did, step by step, for `/probe?debug=true`. Never holds secrets.
  std::vector<std::string> log;
};

}  // namespace nines::probes
