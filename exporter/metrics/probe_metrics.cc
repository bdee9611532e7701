#include "exporter/metrics/probe_metrics.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <utility>

#include "exporter/slo/window.h"
#include "exporter/state/store.h"

namespace nines::metrics {
namespace {

using collectors::Labels;
using collectors::MetricSink;
using probes::FailureReason;
using probes::ProbeKind;
using probes::ProbeResult;

// blackbox's phases of probe_http_duration_seconds, in its output order (label values
// sorted), every one always present.
constexpr std::array<std::string_view, 5> kHttpPhases = {"connect", "processing", "resolve", "tls",
                                                         "transfer"};

// blackbox's phases of probe_dns_duration_seconds and probe_icmp_duration_seconds, in its
// output order.
constexpr std::array<std::string_view, 3> kDnsPhases = {"connect", "request", "resolve"};
constexpr std::array<std::string_view, 3> kIcmpPhases = {"resolve", "rtt", "setup"};

// How late a run may start is a matter of the event loop, not of the target: fine buckets.
const std::vector<double>& SchedulingDelayBuckets() {
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                               0.025,  0.05,    0.1,    0.25,  0.5,    1};
  return kBuckets;
}

Labels With(const Labels& labels, std::string_view name, std::string_view value) {
  Labels out = labels;
  out.emplace_back(name, value);
  return out;
}

double Seconds(ProbeResult::Seconds duration) { return duration.count(); }

double PhaseSeconds(const ProbeResult& result, std::string_view phase) {
  auto it = result.phases.find(phase);
  return it == result.phases.end() ? 0 : Seconds(it->second);
}

// FNV-1a, 32 bit, as Go's hash/fnv New32a.
double Fnv32a(const unsigned char* bytes, std::size_t size) {
  std::uint32_t hash = 2166136261U;
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 16777619U;
  }
  return hash;
}

// blackbox hashes the net.IP its resolver returned: 4 bytes for an IPv4 address from DNS,
// 16 for IPv6.
double IpAddrHash(const std::string& address) {
  if (address.empty()) {
    return 0;
  }
  std::string text = address;
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (std::size_t zone = text.find('%'); zone != std::string::npos) {
    text.resize(zone);
  }
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) {
    return Fnv32a(bytes.data(), 4);
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) {
    return Fnv32a(bytes.data(), bytes.size());
  }
  return 0;
}

// The kinds that talk to the target over a TCP connection: blackbox gives them regex rules
// (fail_if_*_matches_regexp, query_response expect) and TLS.
bool OverTcp(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kHttp:
    case ProbeKind::kTcp:
      return true;
    case ProbeKind::kDns:
    case ProbeKind::kIcmp:
      return false;
  }
  return false;
}

bool TlsHandshakeFailed(FailureReason reason) {
  return reason == FailureReason::kTlsHandshake || reason == FailureReason::kTlsCertExpired ||
         reason == FailureReason::kTlsCertInvalid;
}

// Whether the run ended on an established TLS session: blackbox reports the TLS gauges only
// then. HTTP says so directly (the final response came over TLS). The TCP prober reports the
// facts of every handshake, failed ones too, so there a negotiated version without a
// handshake failure means the handshake completed.
bool OverTls(const ProbeResult& result, ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kHttp:
      return result.ssl;
    case ProbeKind::kTcp:
      return result.ssl || (result.tls_version.has_value() && !TlsHandshakeFailed(result.reason));
    case ProbeKind::kDns:
    case ProbeKind::kIcmp:
      return false;
  }
  return false;
}

void AppendHttpMetrics(const ProbeResult& result, const Labels& labels, MetricSink& sink) {
  sink.Gauge("probe_http_content_length", "Length of http content response",
             static_cast<double>(result.content_length.value_or(0)), labels);
  for (std::string_view phase : kHttpPhases) {
    sink.Gauge("probe_http_duration_seconds",
               "Duration of http request by phase, summed over all redirects",
               PhaseSeconds(result, phase), With(labels, "phase", phase));
  }
  if (result.last_modified_seconds) {
    sink.Gauge("probe_http_last_modified_timestamp_seconds",
               "Returns the Last-Modified HTTP response header in unixtime",
               *result.last_modified_seconds, labels);
  }
  sink.Gauge("probe_http_redirects", "The number of redirects", result.redirects, labels);
  sink.Gauge("probe_http_ssl", "Indicates if SSL was used for the final redirect",
             result.ssl ? 1 : 0, labels);
  sink.Gauge("probe_http_status_code", "Response HTTP status code", result.status_code.value_or(0),
             labels);
  sink.Gauge("probe_http_uncompressed_body_length", "Length of uncompressed response body",
             static_cast<double>(result.uncompressed_body_length.value_or(0)), labels);
  sink.Gauge("probe_http_version", "Returns the version of HTTP of the probe response",
             result.http_version.value_or(0), labels);
}

void AppendSslMetrics(const ProbeResult& result, const Labels& labels, MetricSink& sink) {
  if (result.earliest_cert_expiry_seconds) {
    sink.Gauge("probe_ssl_earliest_cert_expiry", "Returns earliest SSL cert expiry in unixtime",
               *result.earliest_cert_expiry_seconds, labels);
  }
  if (result.last_chain_expiry_seconds) {
    sink.Gauge("probe_ssl_last_chain_expiry_timestamp_seconds",
               "Returns last SSL chain expiry in timestamp seconds",
               *result.last_chain_expiry_seconds, labels);
  }
  if (result.leaf) {
    Labels info = labels;
    info.emplace_back("fingerprint_sha256", result.leaf->fingerprint_sha256);
    info.emplace_back("issuer", result.leaf->issuer);
    info.emplace_back("subject", result.leaf->subject);
    info.emplace_back("subjectalternative", result.leaf->subject_alternative);
    sink.Gauge("probe_ssl_last_chain_info", "Contains SSL leaf certificate information", 1, info);
  }
}

// The probe_dns_* gauges that sort before probe_dns_lookup_time_seconds. blackbox registers
// them before it resolves the server, so they are there (at 0) whatever happened.
void AppendDnsCounts(const ProbeResult& result, const Labels& labels, MetricSink& sink) {
  const probes::DnsFacts facts = result.dns.value_or(probes::DnsFacts{});
  sink.Gauge("probe_dns_additional_rrs",
             "Returns number of entries in the additional resource record list",
             facts.additional_rrs, labels);
  sink.Gauge("probe_dns_answer_rrs", "Returns number of entries in the answer resource record list",
             facts.answer_rrs, labels);
  sink.Gauge("probe_dns_authority_rrs",
             "Returns number of entries in the authority resource record list", facts.authority_rrs,
             labels);
  for (std::string_view phase : kDnsPhases) {
    sink.Gauge("probe_dns_duration_seconds", "Duration of DNS request by phase",
               PhaseSeconds(result, phase), With(labels, "phase", phase));
  }
}

// The probe_dns_* gauges that sort after probe_dns_lookup_time_seconds.
void AppendDnsOutcome(const ProbeResult& result, const Labels& labels, MetricSink& sink) {
  const bool succeeded = result.dns && result.dns->query_succeeded;
  sink.Gauge("probe_dns_query_succeeded",
             "Displays whether or not the query was executed successfully", succeeded ? 1 : 0,
             labels);
  if (result.dns && result.dns->serial) {
    sink.Gauge("probe_dns_serial", "Returns the serial number of the zone",
               static_cast<double>(*result.dns->serial), labels);
  }
}

void AppendIcmpMetrics(const ProbeResult& result, const Labels& labels, MetricSink& sink) {
  for (std::string_view phase : kIcmpPhases) {
    sink.Gauge("probe_icmp_duration_seconds", "Duration of icmp request by phase",
               PhaseSeconds(result, phase), With(labels, "phase", phase));
  }
  if (result.icmp && result.icmp->reply_hop_limit) {
    sink.Gauge("probe_icmp_reply_hop_limit", "Replied packet hop limit (TTL for ipv4)",
               *result.icmp->reply_hop_limit, labels);
  }
}

std::size_t FailureIndex(FailureReason reason) {
  std::span<const FailureReason> reasons = probes::AllFailureReasons();
  auto it = std::find(reasons.begin(), reasons.end(), reason);
  if (it == reasons.end()) {
    // A failed result without a reason (kNone) is counted as `other`, as Finish() does.
    it = std::find(reasons.begin(), reasons.end(), FailureReason::kOther);
  }
  return static_cast<std::size_t>(std::distance(reasons.begin(), it));
}

const std::vector<double>& EffectiveBuckets(const config::Probe& probe) {
  return probe.buckets.empty() ? config::DefaultProbeBuckets() : probe.buckets;
}

}  // namespace

void AppendBlackboxMetrics(const ProbeResult& result, ProbeKind kind, const Labels& labels,
                           MetricSink& sink) {
  // Samples go out in blackbox's order: sorted by name, as client_golang gathers them.
  const bool tls = OverTls(result, kind);
  if (kind == ProbeKind::kDns) {
    AppendDnsCounts(result, labels, sink);
  }
  sink.Gauge("probe_dns_lookup_time_seconds",
             "Returns the time taken for probe dns lookup in seconds",
             PhaseSeconds(result, "resolve"), labels);
  if (kind == ProbeKind::kDns) {
    AppendDnsOutcome(result, labels, sink);
  }
  sink.Gauge("probe_duration_seconds", "Returns how long the probe took to complete in seconds",
             Seconds(result.duration), labels);
  if (OverTcp(kind)) {
    sink.Gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex",
               result.failed_due_to_regex.value_or(false) ? 1 : 0, labels);
  }
  if (kind == ProbeKind::kHttp) {
    AppendHttpMetrics(result, labels, sink);
  }
  if (kind == ProbeKind::kIcmp) {
    AppendIcmpMetrics(result, labels, sink);
  }
  sink.Gauge("probe_ip_addr_hash",
             "Specifies the hash of IP address. It's useful to detect if the IP address "
             "changes.",
             IpAddrHash(result.ip_address), labels);
  sink.Gauge("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6",
             result.ip_protocol.value_or(0), labels);
  if (tls) {
    AppendSslMetrics(result, labels, sink);
  }
  sink.Gauge("probe_success", "Displays whether or not the probe was a success",
             result.success ? 1 : 0, labels);
  if (tls && result.tls_version) {
    sink.Gauge("probe_tls_version_info", "Contains the TLS version used", 1,
               With(labels, "version", *result.tls_version));
  }
}

struct ProbeMetrics::ProbeState {
  ProbeState(const config::Probe& probe, const std::vector<double>& bucket_bounds)
      : kind(probe.module.prober),
        target(probe.target),
        buckets(bucket_bounds),
        labels{{"probe", probe.name},
               {"kind", std::string(probes::ProbeKindName(probe.module.prober))},
               {"target", probe.target}},
        failures(probes::AllFailureReasons().size(), 0),
        duration(bucket_bounds),
        windows(slo::WindowSet::ProbeWindows()) {
    if (kind == ProbeKind::kIcmp) {
      icmp_rtt.emplace(bucket_bounds);
    }
  }

  // What identifies the state: a change in any of these starts it over.
  ProbeKind kind;
  std::string target;
  std::vector<double> buckets;

  // The thresholds of the up state; a reload may change them without a fresh state.
  int down_after = 1;
  int up_after = 1;

  Labels labels;
  std::uint64_t runs = 0;
  std::uint64_t skipped = 0;
  std::vector<std::uint64_t> failures;  // indexed like probes::AllFailureReasons()
  collectors::BucketHistogram duration;
  std::map<std::string, collectors::BucketHistogram, std::less<>> phases;
  std::optional<ProbeResult> last;

  // ICMP probes only: echo requests and replies over all runs, and every reply's RTT.
  std::uint64_t icmp_sent = 0;
  std::uint64_t icmp_received = 0;
  std::optional<collectors::BucketHistogram> icmp_rtt;

  std::optional<bool> up;  // absent until the first result
  int successes_in_a_row = 0;
  int failures_in_a_row = 0;
  std::chrono::system_clock::time_point up_since{};

  slo::WindowSet windows;
};

namespace {

// The state store's section of a probe, and what its windows measured.
std::string StateKey(std::string_view name) {
  std::string key = "probe/";
  key.append(name);
  return key;
}

}  // namespace

std::string ProbeMetrics::StateIdentity(const ProbeState& probe) {
  std::string identity(probes::ProbeKindName(probe.kind));
  identity.append(" ").append(probe.target);
  return identity;
}

ProbeMetrics::ProbeMetrics(WallClock now)
    : now_(std::move(now)), scheduling_delay_(SchedulingDelayBuckets()) {}

ProbeMetrics::~ProbeMetrics() = default;

void ProbeMetrics::SetProbes(const std::vector<config::Probe>& probes) {
  std::map<std::string, std::unique_ptr<ProbeState>, std::less<>> next;
  std::lock_guard lock(mutex_);
  for (const config::Probe& probe : probes) {
    const std::vector<double>& buckets = EffectiveBuckets(probe);
    std::unique_ptr<ProbeState> state;
    // A name given twice (config validation rejects it) finds its state already moved.
    if (auto it = probes_.find(probe.name); it != probes_.end() && it->second) {
      const ProbeState& old = *it->second;
      if (old.kind == probe.module.prober && old.target == probe.target && old.buckets == buckets) {
        state = std::move(it->second);
      }
    }
    if (!state) {
      state = std::make_unique<ProbeState>(probe, buckets);
    }
    state->down_after = std::max(1, probe.down_after);
    state->up_after = std::max(1, probe.up_after);
    next[probe.name] = std::move(state);
  }
  probes_ = std::move(next);
}

void ProbeMetrics::Record(const std::string& probe, const ProbeResult& result) {
  const std::chrono::system_clock::time_point now = now_();
  std::lock_guard lock(mutex_);
  auto it = probes_.find(probe);
  if (it == probes_.end()) {
    return;
  }
  ProbeState& state = *it->second;

  ++state.runs;
  if (!result.success) {
    ++state.failures[FailureIndex(result.reason)];
  }
  state.duration.Observe(Seconds(result.duration));
  for (const auto& [phase, seconds] : result.phases) {
    auto phase_it = state.phases.find(phase);
    if (phase_it == state.phases.end()) {
      phase_it = state.phases.emplace(phase, collectors::BucketHistogram(state.buckets)).first;
    }
    phase_it->second.Observe(Seconds(seconds));
  }
  if (state.icmp_rtt && result.icmp) {
    state.icmp_sent += static_cast<std::uint64_t>(std::max(0, result.icmp->packets_sent));
    state.icmp_received += static_cast<std::uint64_t>(std::max(0, result.icmp->packets_received));
    for (double rtt : result.icmp->rtt_seconds) {
      state.icmp_rtt->Observe(rtt);
    }
  }

  if (result.success) {
    ++state.successes_in_a_row;
    state.failures_in_a_row = 0;
  } else {
    ++state.failures_in_a_row;
    state.successes_in_a_row = 0;
  }
  const bool was_up = state.up.value_or(false);
  if (!state.up) {
    state.up = result.success;
  } else if (result.success && state.successes_in_a_row >= state.up_after) {
    state.up = true;
  } else if (!result.success && state.failures_in_a_row >= state.down_after) {
    state.up = false;
  }
  if (*state.up && !was_up) {
    state.up_since = now;
  }

  state.windows.Add(now, result.success ? 1 : 0, 1);

  // The debug log is for `/probe?debug=true` only; a scrape never shows it.
  state.last = result;
  state.last->log.clear();
  state.last->log.shrink_to_fit();
}

void ProbeMetrics::RecordSkipped(const std::string& probe) {
  std::lock_guard lock(mutex_);
  if (auto it = probes_.find(probe); it != probes_.end()) {
    ++it->second->skipped;
  }
}

void ProbeMetrics::RecordSchedulingDelay(std::chrono::duration<double> delay) {
  std::lock_guard lock(mutex_);
  scheduling_delay_.Observe(std::max(0.0, delay.count()));
}

std::optional<ProbeMetrics::Status> ProbeMetrics::StatusOf(std::string_view probe) const {
  const std::chrono::system_clock::time_point now = now_();
  std::lock_guard lock(mutex_);
  auto it = probes_.find(probe);
  if (it == probes_.end()) {
    return std::nullopt;
  }
  const ProbeState& state = *it->second;
  Status status;
  status.up = state.up;
  status.availability = state.windows.Ratios(now);
  if (state.last) {
    status.leaf_cert_expiry_seconds = state.last->leaf_cert_expiry_seconds;
  }
  return status;
}

void ProbeMetrics::Save(state::Sections& sections) const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, probe] : probes_) {
    state::SaveWindows(sections, StateKey(name), StateIdentity(*probe), probe->windows);
  }
}

std::size_t ProbeMetrics::Restore(const state::Sections& sections) {
  std::lock_guard lock(mutex_);
  std::size_t restored = 0;
  for (const auto& [name, probe] : probes_) {
    std::string what = "probe \"";
    what.append(name).append("\"");
    if (state::RestoreWindows(sections, StateKey(name), StateIdentity(*probe), probe->windows,
                              what)) {
      ++restored;
    }
  }
  return restored;
}

namespace {

double IcmpLossRatio(const probes::IcmpFacts& facts) {
  if (facts.packets_sent <= 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const int lost = std::max(0, facts.packets_sent - facts.packets_received);
  return static_cast<double>(lost) / facts.packets_sent;
}

double IcmpJitter(const probes::IcmpFacts& facts) {
  const std::vector<double>& rtt = facts.rtt_seconds;
  if (rtt.size() < 2) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double total = 0;
  for (std::size_t i = 1; i < rtt.size(); ++i) {
    total += std::abs(rtt[i] - rtt[i - 1]);
  }
  return total / static_cast<double>(rtt.size() - 1);
}

}  // namespace

void ProbeMetrics::AppendIcmpSeries(const ProbeState& state, MetricSink& sink) {
  const Labels& labels = state.labels;
  const std::optional<probes::IcmpFacts> facts =
      state.last ? state.last->icmp.value_or(probes::IcmpFacts{})
                 : std::optional<probes::IcmpFacts>();
  if (facts) {
    sink.Gauge("nines_probe_icmp_jitter_seconds",
               "Mean absolute difference between the round-trip times of consecutive replies "
               "of the last run, in request order; NaN with fewer than two replies.",
               IcmpJitter(*facts), labels);
    sink.Gauge("nines_probe_icmp_loss_ratio",
               "Echo requests of the last run that got no reply, over those sent; NaN when it "
               "sent none.",
               IcmpLossRatio(*facts), labels);
  }
  sink.Counter("nines_probe_icmp_packets_received_total",
               "Echo replies the probe received (one per request at most).",
               static_cast<double>(state.icmp_received), labels);
  sink.Counter("nines_probe_icmp_packets_sent_total", "Echo requests the probe sent.",
               static_cast<double>(state.icmp_sent), labels);
  state.icmp_rtt->AppendTo("nines_probe_icmp_rtt_seconds",
                           "Round-trip times of the probe's echo replies, in seconds.", labels,
                           sink);
}

std::vector<prometheus::MetricFamily> ProbeMetrics::Collect() const {
  const std::chrono::system_clock::time_point now = now_();
  MetricSink sink;
  std::lock_guard lock(mutex_);
  for (const auto& [name, state_ptr] : probes_) {
    const ProbeState& state = *state_ptr;
    const Labels& labels = state.labels;
    if (state.last) {
      AppendBlackboxMetrics(*state.last, state.kind, labels, sink);
    }
    sink.Counter("nines_probe_runs_total", "Runs of the probe that finished, successful or not.",
                 static_cast<double>(state.runs), labels);
    std::span<const FailureReason> reasons = probes::AllFailureReasons();
    for (std::size_t i = 0; i < reasons.size(); ++i) {
      sink.Counter("nines_probe_failures_total", "Runs of the probe that failed, by reason.",
                   static_cast<double>(state.failures[i]),
                   With(labels, "reason", probes::FailureReasonName(reasons[i])));
    }
    sink.Counter("nines_probe_skipped_total",
                 "Runs of the probe skipped because its previous run was still going.",
                 static_cast<double>(state.skipped), labels);
    state.duration.AppendTo("nines_probe_duration_seconds",
                            "How long runs of the probe took, in seconds.", labels, sink);
    for (const auto& [phase, histogram] : state.phases) {
      histogram.AppendTo("nines_probe_phase_duration_seconds",
                         "How long each phase of the probe's runs took, in seconds (HTTP "
                         "phases summed over redirects).",
                         With(labels, "phase", phase), sink);
    }
    if (state.up) {
      sink.Gauge("nines_probe_up",
                 "Whether the probe's target is up (1) or down (0): the first result sets it, "
                 "then down_after failures or up_after successes in a row change it.",
                 *state.up ? 1 : 0, labels);
      const double uptime =
          *state.up ? std::max(0.0, std::chrono::duration<double>(now - state.up_since).count())
                    : 0;
      sink.Gauge("nines_probe_uptime_seconds",
                 "Seconds since nines_probe_up last became 1; 0 while it is 0.", uptime, labels);
    }
    for (const slo::NamedRatio& ratio : state.windows.Ratios(now)) {
      sink.Gauge("nines_probe_availability_ratio",
                 "Successful runs of the probe over all its runs in the trailing window; NaN "
                 "while the window holds no run.",
                 ratio.ratio, With(labels, "window", ratio.name));
    }
    if (state.icmp_rtt) {
      AppendIcmpSeries(state, sink);
    }
    if (state.last && state.last->leaf_cert_expiry_seconds) {
      sink.Gauge("nines_probe_ssl_leaf_cert_expiry_timestamp_seconds",
                 "When the leaf certificate the target presented in the last run expires, in "
                 "Unix seconds.",
                 *state.last->leaf_cert_expiry_seconds, labels);
    }
  }
  scheduling_delay_.AppendTo("nines_probe_scheduling_delay_seconds",
                             "How late probe runs started after they were due, in seconds.", {},
                             sink);

  std::vector<prometheus::MetricFamily> families = sink.Take();
  std::stable_sort(families.begin(), families.end(),
                   [](const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) {
                     return a.name < b.name;
                   });
  return families;
}

}  // namespace nines::metrics
