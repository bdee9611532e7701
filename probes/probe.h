#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

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
  kIcmpUnreachable,
  kOther,
};

/// The `reason` label value of a failure ("dns", "connect_refused", ...); "" for kNone.
std::string_view FailureReasonName(FailureReason reason);

/// Every failure reason except kNone, in declaration order.
std::span<const FailureReason> AllFailureReasons();

/// The outcome of one probe run: plain data, no metrics. One place (the probe metrics)
/// turns it into series, so the same probe code serves the scheduler and `/probe`.
struct ProbeResult {
  using Seconds = std::chrono::duration<double>;

  bool success = false;
  FailureReason reason = FailureReason::kOther;
  /// Human-readable detail of a failure, for logs and `/probe?debug=true`.
  std::string detail;
  Seconds duration{0};
  /// Per-phase durations by phase name (HTTP: resolve, connect, tls, processing, transfer).
  std::map<std::string, Seconds, std::less<>> phases;

  // HTTP facts; absent when the kind or the run did not produce them.
  std::optional<int> status_code;
  std::optional<double> http_version;
  int redirects = 0;
  std::optional<std::int64_t> content_length;
  std::optional<std::int64_t> uncompressed_body_length;

  // TLS facts, reported even when verification failed.
  std::optional<std::string> tls_version;
  std::optional<double> earliest_cert_expiry_seconds;  // Unix time
  std::optional<double> leaf_cert_expiry_seconds;      // Unix time
};

}  // namespace nines::probes
