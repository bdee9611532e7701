#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/collector.h"
#include "collectors/histogram.h"
#include "exporter/config/config.h"
#include "exporter/slo/window.h"
#include "exporter/state/state_file.h"
#include "probes/probe.h"

/// The one place probe results become metrics: blackbox_exporter's gauges (for `/probe`
/// and for the last run of each continuous probe) and the nines series of continuous
/// probes (counters, histograms, up state, uptime, availability windows).
namespace nines::metrics {

/// Adds blackbox_exporter 0.23's metrics for one run of `kind` to `sink`, all gauges, with
/// blackbox's names and help texts, in blackbox's output order (by name; label values in
/// order within a name). Each sample carries `labels` (none for `/probe`; probe, kind,
/// target on `/metrics`) followed by its own labels (phase, version, ...).
///
/// What appears, as blackbox decides it:
/// - every kind: probe_success, probe_duration_seconds, and, from blackbox's address
///   resolution, probe_dns_lookup_time_seconds (the `resolve` phase), probe_ip_protocol
///   (4 or 6) and probe_ip_addr_hash, which are 0 when the run resolved nothing. The hash
///   is FNV-1a (32 bit) over the address bytes as Go resolves them from DNS: 4 bytes for
///   IPv4, 16 for IPv6.
/// - http: probe_http_status_code, probe_http_version, probe_http_content_length,
///   probe_http_uncompressed_body_length (each 0 without a response),
///   probe_http_redirects, probe_http_ssl, probe_failed_due_to_regex (0 unless a regex
///   rule failed the run) and probe_http_duration_seconds for all five phases (resolve,
///   connect, tls, processing, transfer; 0 for a phase that did not happen);
///   probe_http_last_modified_timestamp_seconds only when the response had a valid
///   Last-Modified header.
/// - tcp: probe_failed_due_to_regex.
/// - http and tcp, when the run ended on an established TLS session (http: `result.ssl`,
///   the final response came over TLS; tcp: `result.ssl`, or a reported TLS version and no
///   TLS handshake failure, so the TLS or STARTTLS handshake completed):
///   probe_ssl_earliest_cert_expiry, probe_tls_version_info{version},
///   probe_ssl_last_chain_expiry_timestamp_seconds and
///   probe_ssl_last_chain_info{fingerprint_sha256,issuer,subject,subjectalternative}, each
///   when the run reported its fact. Where blackbox reports Go's zero time (-62135596800)
///   for the last chain expiry of an unverified chain (insecure_skip_verify), nines leaves
///   the series out, so expiry alerts do not fire on it.
/// - dns: probe_dns_additional_rrs, probe_dns_answer_rrs, probe_dns_authority_rrs (from
///   `result.dns`, 0 without it), probe_dns_duration_seconds for the phases connect, request
///   and resolve (0 for a phase the run did not report), probe_dns_query_succeeded
///   (`result.dns->query_succeeded`, 0 without facts), and probe_dns_serial only when
///   `result.dns->serial` is set (blackbox reports it, 0 without an SOA record, for every
///   SOA query: the DNS prober sets the serial to 0 then).
/// - icmp: probe_icmp_duration_seconds for the phases resolve, rtt and setup (0 for a
///   phase that did not happen, as in blackbox), and probe_icmp_reply_hop_limit only when
///   `result.icmp->reply_hop_limit` is known.
void AppendBlackboxMetrics(const probes::ProbeResult& result, probes::ProbeKind kind,
                           const collectors::Labels& labels, collectors::MetricSink& sink);

/// The metrics of the continuous probes, each series labelled probe (the configured name),
/// kind (`http`, `tcp`, ...) and target. Results arrive from the probe loop; Collect() runs
/// on scrapes. Thread safe: every method takes one internal mutex.
///
/// Per configured probe, from SetProbes on:
/// - nines_probe_runs_total, nines_probe_skipped_total, and
///   nines_probe_failures_total{reason} for every reason but success, all starting at 0;
/// - nines_probe_duration_seconds, a histogram over the probe's `buckets` (or
///   config::DefaultProbeBuckets() when none are configured);
/// - nines_probe_availability_ratio{window} for 5m, 1h, 1d, 7d and 30d: successful runs
///   over runs in the window, NaN while the window holds no run.
///
/// Once the probe has a result:
/// - blackbox's gauges of the last run (AppendBlackboxMetrics), so blackbox dashboards and
///   `probe_success`-based SLOs work on `/metrics`;
/// - nines_probe_phase_duration_seconds{phase}, one histogram (same buckets) per phase any
///   run has reported;
/// - nines_probe_up, the confirmed state. The first result sets it directly (1 on success,
///   0 on failure): there is no earlier state to protect from flapping, and a series that
///   stayed absent for down_after runs would hide a target that is down from the start.
///   After that it drops to 0 only after `down_after` failures in a row and rises to 1
///   only after `up_after` successes in a row. Absent before the first result, which
///   Prometheus users read as "not measured yet".
/// - nines_probe_uptime_seconds: seconds since nines_probe_up last became 1; 0 while it is 0.
/// - nines_probe_ssl_leaf_cert_expiry_timestamp_seconds when the last run reported the
///   expiry of the peer's leaf certificate (even when verification failed).
///
/// ICMP probes also have, from SetProbes on:
/// - nines_probe_icmp_packets_sent_total and nines_probe_icmp_packets_received_total
///   (counters): echo requests sent and replies received over all runs (a request counts
///   once however many replies it got; requests refused by the local stack are not sent);
/// - nines_probe_icmp_rtt_seconds: a histogram over the probe's buckets with one
///   observation per reply (smokeping's "smoke", for heatmaps and quantiles);
/// and once the probe has a result, two gauges of the last run:
/// - nines_probe_icmp_loss_ratio: (sent - received) / sent; NaN when the run sent nothing
///   (its target did not resolve, say);
/// - nines_probe_icmp_jitter_seconds: the mean absolute difference between the RTTs of
///   consecutive replies, in the order the requests were sent, lost requests skipped:
///   sum(|rtt[i] - rtt[i-1]|) / (replies - 1). That is the mean of RFC 3550's per-packet
///   delay variation |D(i-1,i)| without its 1/16 smoothing (RFC 5481's IPDV, as an
///   absolute mean); NaN with fewer than two replies. The spread of the RTT histogram
///   shows the longer-term variation.
///
/// And once for all probes: nines_probe_scheduling_delay_seconds, a histogram of how late
/// runs started, with buckets from 100µs to 1s.
class ProbeMetrics : public prometheus::Collectable {
 public:
  /// The wall clock: when results happen (availability windows) and uptime.
  using WallClock = std::function<std::chrono::system_clock::time_point()>;

  /// `now` is injected so tests control uptime and the availability windows.
  explicit ProbeMetrics(WallClock now = [] { return std::chrono::system_clock::now(); });
  ~ProbeMetrics() override;
  ProbeMetrics(const ProbeMetrics&) = delete;
  ProbeMetrics& operator=(const ProbeMetrics&) = delete;

  /// Sets the configured probes (at start and on every reload). A probe whose name, kind,
  /// target and buckets are unchanged keeps its state (counters, histograms, up state,
  /// windows, last result) and takes the new down_after and up_after; others start fresh
  /// (every failure reason at 0); probes no longer configured lose their series.
  void SetProbes(const std::vector<config::Probe>& probes);

  /// Records the result of a run of `probe`, at the wall-clock time of the call. Unknown
  /// names are ignored (removed by a reload while the run was in flight).
  void Record(const std::string& probe, const probes::ProbeResult& result);
  /// Counts a run of `probe` skipped because the previous one was still running. Unknown
  /// names are ignored.
  void RecordSkipped(const std::string& probe);
  /// Observes how late the scheduler started a run (start time minus due time); a negative
  /// delay counts as 0.
  void RecordSchedulingDelay(std::chrono::duration<double> delay);

  /// What the status page shows of a probe besides its history.
  struct Status {
    std::optional<bool> up;                     ///< nines_probe_up; absent before the first result
    std::vector<slo::NamedRatio> availability;  ///< 5m, 1h, 1d, 7d, 30d (NaN when empty)
    /// The leaf certificate's notAfter as the last run reported it, Unix seconds.
    std::optional<double> leaf_cert_expiry_seconds;
  };
  /// The status of `probe`, or nullopt for a probe that is not configured.
  std::optional<Status> StatusOf(std::string_view probe) const;

  /// Adds a section "probe/<name>" per probe with its kind, target and availability
  /// windows, for the state store.
  void Save(state::Sections& sections) const;
  /// Restores the availability windows of every configured probe that has a section of the
  /// same kind and target (a probe retargeted since the save starts empty); logs a section
  /// that cannot be decoded. Returns how many probes were restored.
  std::size_t Restore(const state::Sections& sections);

  /// Every family above, sorted by name; series within a family in probe name order.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct ProbeState;
  static std::string StateIdentity(const ProbeState& probe);
  /// The nines_probe_icmp_* series of an ICMP probe.
  static void AppendIcmpSeries(const ProbeState& state, collectors::MetricSink& sink);

  WallClock now_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ProbeState>, std::less<>> probes_;
  collectors::BucketHistogram scheduling_delay_;
};

}  // namespace nines::metrics
