#include "exporter/metrics/probe_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "collectors/collector.h"
#include "exporter/metrics/text_format.h"

namespace nines::metrics {
namespace {

using namespace std::chrono_literals;
using collectors::Labels;
using collectors::MetricSink;
using probes::FailureReason;
using probes::ProbeKind;
using probes::ProbeResult;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Render(MetricSink& sink) { return RenderText(sink.Take()); }

std::string Blackbox(const ProbeResult& result, ProbeKind kind, const Labels& labels = {}) {
  MetricSink sink;
  AppendBlackboxMetrics(result, kind, labels, sink);
  return Render(sink);
}

// A successful HTTPS run with every fact a run can report.
ProbeResult HttpsResult() {
  ProbeResult result;
  result.success = true;
  result.reason = FailureReason::kNone;
  result.duration = 0.25s;
  result.phases = {{"resolve", 0.001s},
                   {"connect", 0.002s},
                   {"tls", 0.01s},
                   {"processing", 0.03s},
                   {"transfer", 0.005s}};
  result.ip_protocol = 4;
  result.ip_address = "127.0.0.1";
  result.status_code = 200;
  result.http_version = 1.1;
  result.redirects = 1;
  result.content_length = 1256;
  result.uncompressed_body_length = 1256;
  result.last_modified_seconds = 1700000000;
  result.ssl = true;
  result.tls_version = "TLS 1.3";
  result.earliest_cert_expiry_seconds = 1750000000;
  result.leaf_cert_expiry_seconds = 1760000000;
  result.last_chain_expiry_seconds = 1750000000;
  result.leaf = probes::CertificateInfo{
      .fingerprint_sha256 = "2ed189349f818f3414132ebea309e36f620d78a0507a2fa523305f275062d73c",
      .subject = "CN=example.com,O=Example",
      .issuer = "CN=Example CA",
      .subject_alternative = "example.com,www.example.com",
  };
  result.log = {"connected"};
  return result;
}

ProbeResult Success(ProbeResult::Seconds duration = 0.02s) {
  ProbeResult result;
  result.success = true;
  result.reason = FailureReason::kNone;
  result.duration = duration;
  return result;
}

ProbeResult Failure(FailureReason reason, ProbeResult::Seconds duration = 0.02s) {
  ProbeResult result;
  result.success = false;
  result.reason = reason;
  result.duration = duration;
  return result;
}

TEST(AppendBlackboxMetrics, HttpsRunWithEveryFact) {
  EXPECT_EQ(
      Blackbox(HttpsResult(), ProbeKind::kHttp),
      R"(# HELP probe_dns_lookup_time_seconds Returns the time taken for probe dns lookup in seconds
# TYPE probe_dns_lookup_time_seconds gauge
probe_dns_lookup_time_seconds 0.001
# HELP probe_duration_seconds Returns how long the probe took to complete in seconds
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.25
# HELP probe_failed_due_to_regex Indicates if probe failed due to regex
# TYPE probe_failed_due_to_regex gauge
probe_failed_due_to_regex 0
# HELP probe_http_content_length Length of http content response
# TYPE probe_http_content_length gauge
probe_http_content_length 1256
# HELP probe_http_duration_seconds Duration of http request by phase, summed over all redirects
# TYPE probe_http_duration_seconds gauge
probe_http_duration_seconds{phase="connect"} 0.002
probe_http_duration_seconds{phase="processing"} 0.03
probe_http_duration_seconds{phase="resolve"} 0.001
probe_http_duration_seconds{phase="tls"} 0.01
probe_http_duration_seconds{phase="transfer"} 0.005
# HELP probe_http_last_modified_timestamp_seconds Returns the Last-Modified HTTP response header in unixtime
# TYPE probe_http_last_modified_timestamp_seconds gauge
probe_http_last_modified_timestamp_seconds 1.7e+09
# HELP probe_http_redirects The number of redirects
# TYPE probe_http_redirects gauge
probe_http_redirects 1
# HELP probe_http_ssl Indicates if SSL was used for the final redirect
# TYPE probe_http_ssl gauge
probe_http_ssl 1
# HELP probe_http_status_code Response HTTP status code
# TYPE probe_http_status_code gauge
probe_http_status_code 200
# HELP probe_http_uncompressed_body_length Length of uncompressed response body
# TYPE probe_http_uncompressed_body_length gauge
probe_http_uncompressed_body_length 1256
# HELP probe_http_version Returns the version of HTTP of the probe response
# TYPE probe_http_version gauge
probe_http_version 1.1
# HELP probe_ip_addr_hash Specifies the hash of IP address. It's useful to detect if the IP address changes.
# TYPE probe_ip_addr_hash gauge
probe_ip_addr_hash 3.668918509e+09
# HELP probe_ip_protocol Specifies whether probe ip protocol is IP4 or IP6
# TYPE probe_ip_protocol gauge
probe_ip_protocol 4
# HELP probe_ssl_earliest_cert_expiry Returns earliest SSL cert expiry in unixtime
# TYPE probe_ssl_earliest_cert_expiry gauge
probe_ssl_earliest_cert_expiry 1.75e+09
# HELP probe_ssl_last_chain_expiry_timestamp_seconds Returns last SSL chain expiry in timestamp seconds
# TYPE probe_ssl_last_chain_expiry_timestamp_seconds gauge
probe_ssl_last_chain_expiry_timestamp_seconds 1.75e+09
# HELP probe_ssl_last_chain_info Contains SSL leaf certificate information
# TYPE probe_ssl_last_chain_info gauge
probe_ssl_last_chain_info{fingerprint_sha256="2ed189349f818f3414132ebea309e36f620d78a0507a2fa523305f275062d73c",issuer="CN=Example CA",subject="CN=example.com,O=Example",subjectalternative="example.com,www.example.com"} 1
# HELP probe_success Displays whether or not the probe was a success
# TYPE probe_success gauge
probe_success 1
# HELP probe_tls_version_info Contains the TLS version used
# TYPE probe_tls_version_info gauge
probe_tls_version_info{version="TLS 1.3"} 1
)");
}

TEST(AppendBlackboxMetrics, FailedTcpRun) {
  ProbeResult result = Failure(FailureReason::kConnectRefused, 0.0015s);
  result.phases = {{"resolve", 0.0005s}};
  result.ip_protocol = 6;
  result.ip_address = "::1";
  EXPECT_EQ(
      Blackbox(result, ProbeKind::kTcp),
      R"(# HELP probe_dns_lookup_time_seconds Returns the time taken for probe dns lookup in seconds
# TYPE probe_dns_lookup_time_seconds gauge
probe_dns_lookup_time_seconds 0.0005
# HELP probe_duration_seconds Returns how long the probe took to complete in seconds
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.0015
# HELP probe_failed_due_to_regex Indicates if probe failed due to regex
# TYPE probe_failed_due_to_regex gauge
probe_failed_due_to_regex 0
# HELP probe_ip_addr_hash Specifies the hash of IP address. It's useful to detect if the IP address changes.
# TYPE probe_ip_addr_hash gauge
probe_ip_addr_hash 1.751717746e+09
# HELP probe_ip_protocol Specifies whether probe ip protocol is IP4 or IP6
# TYPE probe_ip_protocol gauge
probe_ip_protocol 6
# HELP probe_success Displays whether or not the probe was a success
# TYPE probe_success gauge
probe_success 0
)");
}

TEST(AppendBlackboxMetrics, TcpOverTlsWithFailedExpect) {
  ProbeResult result = Failure(FailureReason::kExpectMismatch, 0.1s);
  result.ip_protocol = 4;
  result.ip_address = "93.184.216.34";
  result.failed_due_to_regex = true;
  result.tls_version = "TLS 1.2";
  result.earliest_cert_expiry_seconds = 1750000000;
  // insecure_skip_verify: nothing verified, so no last chain expiry.
  std::string text = Blackbox(result, ProbeKind::kTcp);
  EXPECT_THAT(text, HasSubstr("\nprobe_failed_due_to_regex 1\n"));
  EXPECT_THAT(text, HasSubstr("\nprobe_ip_addr_hash 3.947174862e+09\n"));
  EXPECT_THAT(text, HasSubstr("\nprobe_ssl_earliest_cert_expiry 1.75e+09\n"));
  EXPECT_THAT(text, HasSubstr("\nprobe_tls_version_info{version=\"TLS 1.2\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("probe_ssl_last_chain_expiry_timestamp_seconds")));
  EXPECT_THAT(text, Not(HasSubstr("probe_ssl_last_chain_info")));
  EXPECT_THAT(text, Not(HasSubstr("probe_http_")));
}

// The TCP prober reports certificate facts of a failed handshake too; blackbox has no TLS
// gauges then (its dial failed).
TEST(AppendBlackboxMetrics, TcpHandshakeFailureHasNoTlsGauges) {
  for (FailureReason reason : {FailureReason::kTlsCertExpired, FailureReason::kTlsCertInvalid,
                               FailureReason::kTlsHandshake}) {
    ProbeResult result = Failure(reason);
    result.tls_version = "TLS 1.3";
    result.earliest_cert_expiry_seconds = 1600000000;
    result.leaf_cert_expiry_seconds = 1600000000;
    std::string text = Blackbox(result, ProbeKind::kTcp);
    EXPECT_THAT(text, Not(HasSubstr("probe_ssl_"))) << probes::FailureReasonName(reason);
    EXPECT_THAT(text, Not(HasSubstr("probe_tls_version_info")))
        << probes::FailureReasonName(reason);
  }
}

// HTTP facts on a kind that does not produce them, and TLS facts of a run that did not end
// over TLS (an https -> http redirect), stay out, as in blackbox.
TEST(AppendBlackboxMetrics, FieldsOfOtherKindsAreAbsent) {
  ProbeResult result = HttpsResult();
  for (ProbeKind kind : {ProbeKind::kDns, ProbeKind::kIcmp}) {
    std::string text = Blackbox(result, kind);
    EXPECT_THAT(text, Not(HasSubstr("probe_http_"))) << probes::ProbeKindName(kind);
    EXPECT_THAT(text, Not(HasSubstr("probe_ssl_"))) << probes::ProbeKindName(kind);
    EXPECT_THAT(text, Not(HasSubstr("probe_tls_"))) << probes::ProbeKindName(kind);
    EXPECT_THAT(text, Not(HasSubstr("probe_failed_due_to_regex"))) << probes::ProbeKindName(kind);
    EXPECT_THAT(text, HasSubstr("\nprobe_success 1\n")) << probes::ProbeKindName(kind);
  }
  EXPECT_THAT(Blackbox(result, ProbeKind::kDns), Not(HasSubstr("probe_icmp_")));
  EXPECT_THAT(Blackbox(result, ProbeKind::kIcmp), Not(HasSubstr("probe_dns_answer_rrs")));

  result.ssl = false;
  std::string http = Blackbox(result, ProbeKind::kHttp);
  EXPECT_THAT(http, HasSubstr("\nprobe_http_ssl 0\n"));
  EXPECT_THAT(http, Not(HasSubstr("probe_ssl_")));
  EXPECT_THAT(http, Not(HasSubstr("probe_tls_version_info")));
  EXPECT_THAT(http, Not(HasSubstr("probe_icmp_")));
  EXPECT_THAT(http, Not(HasSubstr("probe_dns_answer_rrs")));
}

// A successful ICMP run, as blackbox 0.23 answers /probe?module=icmp&target=127.0.0.1.
TEST(AppendBlackboxMetrics, IcmpRun) {
  ProbeResult result = Success(0.00135s);
  result.phases = {{"resolve", 0.000009s}, {"setup", 0.001s}, {"rtt", 0.0001s}};
  result.ip_protocol = 4;
  result.ip_address = "127.0.0.1";
  result.icmp = probes::IcmpFacts{.packets_sent = 3,
                                  .packets_received = 2,
                                  .rtt_seconds = {0.0001, 0.0003},
                                  .reply_hop_limit = 64};
  EXPECT_EQ(
      Blackbox(result, ProbeKind::kIcmp),
      R"(# HELP probe_dns_lookup_time_seconds Returns the time taken for probe dns lookup in seconds
# TYPE probe_dns_lookup_time_seconds gauge
probe_dns_lookup_time_seconds 9e-06
# HELP probe_duration_seconds Returns how long the probe took to complete in seconds
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.00135
# HELP probe_icmp_duration_seconds Duration of icmp request by phase
# TYPE probe_icmp_duration_seconds gauge
probe_icmp_duration_seconds{phase="resolve"} 9e-06
probe_icmp_duration_seconds{phase="rtt"} 0.0001
probe_icmp_duration_seconds{phase="setup"} 0.001
# HELP probe_icmp_reply_hop_limit Replied packet hop limit (TTL for ipv4)
# TYPE probe_icmp_reply_hop_limit gauge
probe_icmp_reply_hop_limit 64
# HELP probe_ip_addr_hash Specifies the hash of IP address. It's useful to detect if the IP address changes.
# TYPE probe_ip_addr_hash gauge
probe_ip_addr_hash 3.668918509e+09
# HELP probe_ip_protocol Specifies whether probe ip protocol is IP4 or IP6
# TYPE probe_ip_protocol gauge
probe_ip_protocol 4
# HELP probe_success Displays whether or not the probe was a success
# TYPE probe_success gauge
probe_success 1
)");
}

// No reply: every phase is still there (0 for rtt), the hop limit is not.
TEST(AppendBlackboxMetrics, IcmpRunWithoutReply) {
  ProbeResult result = Failure(FailureReason::kTimeout, 1s);
  result.phases = {{"resolve", 0.001s}, {"setup", 0.0002s}};
  result.ip_protocol = 6;
  result.ip_address = "2001:db8::1";
  result.icmp = probes::IcmpFacts{
      .packets_sent = 1, .packets_received = 0, .rtt_seconds = {}, .reply_hop_limit = {}};
  std::string text = Blackbox(result, ProbeKind::kIcmp);
  EXPECT_THAT(text, HasSubstr("\nprobe_icmp_duration_seconds{phase=\"resolve\"} 0.001\n"
                              "probe_icmp_duration_seconds{phase=\"rtt\"} 0\n"
                              "probe_icmp_duration_seconds{phase=\"setup\"} 0.0002\n"));
  EXPECT_THAT(text, Not(HasSubstr("probe_icmp_reply_hop_limit")));
  EXPECT_THAT(text, HasSubstr("\nprobe_success 0\n"));
  // A target that did not resolve: no facts at all, the phases at 0.
  text = Blackbox(Failure(FailureReason::kDns), ProbeKind::kIcmp);
  EXPECT_THAT(text, HasSubstr("\nprobe_icmp_duration_seconds{phase=\"setup\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("\nprobe_ip_protocol 0\n"));
}

// A DNS run with an SOA answer, in blackbox 0.23's order: the probe_dns_* gauges around
// probe_dns_lookup_time_seconds.
TEST(AppendBlackboxMetrics, DnsRun) {
  ProbeResult result = Success(0.0003s);
  result.phases = {{"resolve", 0.000009s}, {"connect", 0.00004s}, {"request", 0.00009s}};
  result.ip_protocol = 4;
  result.ip_address = "127.0.0.1";
  result.dns = probes::DnsFacts{.rcode = "NOERROR",
                                .answer_rrs = 1,
                                .authority_rrs = 2,
                                .additional_rrs = 3,
                                .serial = 2024010101,
                                .query_succeeded = true};
  EXPECT_EQ(
      Blackbox(result, ProbeKind::kDns),
      R"(# HELP probe_dns_additional_rrs Returns number of entries in the additional resource record list
# TYPE probe_dns_additional_rrs gauge
probe_dns_additional_rrs 3
# HELP probe_dns_answer_rrs Returns number of entries in the answer resource record list
# TYPE probe_dns_answer_rrs gauge
probe_dns_answer_rrs 1
# HELP probe_dns_authority_rrs Returns number of entries in the authority resource record list
# TYPE probe_dns_authority_rrs gauge
probe_dns_authority_rrs 2
# HELP probe_dns_duration_seconds Duration of DNS request by phase
# TYPE probe_dns_duration_seconds gauge
probe_dns_duration_seconds{phase="connect"} 4e-05
probe_dns_duration_seconds{phase="request"} 9e-05
probe_dns_duration_seconds{phase="resolve"} 9e-06
# HELP probe_dns_lookup_time_seconds Returns the time taken for probe dns lookup in seconds
# TYPE probe_dns_lookup_time_seconds gauge
probe_dns_lookup_time_seconds 9e-06
# HELP probe_dns_query_succeeded Displays whether or not the query was executed successfully
# TYPE probe_dns_query_succeeded gauge
probe_dns_query_succeeded 1
# HELP probe_dns_serial Returns the serial number of the zone
# TYPE probe_dns_serial gauge
probe_dns_serial 2.024010101e+09
# HELP probe_duration_seconds Returns how long the probe took to complete in seconds
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.0003
# HELP probe_ip_addr_hash Specifies the hash of IP address. It's useful to detect if the IP address changes.
# TYPE probe_ip_addr_hash gauge
probe_ip_addr_hash 3.668918509e+09
# HELP probe_ip_protocol Specifies whether probe ip protocol is IP4 or IP6
# TYPE probe_ip_protocol gauge
probe_ip_protocol 4
# HELP probe_success Displays whether or not the probe was a success
# TYPE probe_success gauge
probe_success 1
)");
}

// Without an answer (or without facts at all) every DNS gauge but the serial is there, at 0.
TEST(AppendBlackboxMetrics, DnsRunWithoutAnswer) {
  std::string text = Blackbox(Failure(FailureReason::kTimeout), ProbeKind::kDns);
  for (const char* line :
       {"probe_dns_additional_rrs 0", "probe_dns_answer_rrs 0", "probe_dns_authority_rrs 0",
        "probe_dns_duration_seconds{phase=\"connect\"} 0",
        "probe_dns_duration_seconds{phase=\"request\"} 0",
        "probe_dns_duration_seconds{phase=\"resolve\"} 0", "probe_dns_query_succeeded 0",
        "probe_success 0"}) {
    std::string wanted = "\n";  // appended piecewise: GCC 12 -Wrestrict false positive
    wanted += line;
    wanted += '\n';
    EXPECT_THAT(text, HasSubstr(wanted));
  }
  EXPECT_THAT(text, Not(HasSubstr("probe_dns_serial")));
  // An answer with a rejected rcode still counts as a query that succeeded (blackbox 0.23),
  // and an SOA query without an SOA record reports serial 0.
  ProbeResult refused = Failure(FailureReason::kDnsRcode);
  refused.dns = probes::DnsFacts{.rcode = "REFUSED", .serial = 0, .query_succeeded = true};
  text = Blackbox(refused, ProbeKind::kDns);
  EXPECT_THAT(text, HasSubstr("\nprobe_dns_query_succeeded 1\n"));
  EXPECT_THAT(text, HasSubstr("\nprobe_dns_serial 0\n"));
}

// A run that got no response: every HTTP gauge is still there, at 0, and every phase too.
TEST(AppendBlackboxMetrics, HttpWithoutResponse) {
  std::string text = Blackbox(Failure(FailureReason::kDns), ProbeKind::kHttp);
  for (const char* line :
       {"probe_http_status_code 0", "probe_http_version 0", "probe_http_content_length 0",
        "probe_http_uncompressed_body_length 0", "probe_http_redirects 0", "probe_http_ssl 0",
        "probe_ip_protocol 0", "probe_ip_addr_hash 0", "probe_dns_lookup_time_seconds 0",
        "probe_http_duration_seconds{phase=\"connect\"} 0",
        "probe_http_duration_seconds{phase=\"processing\"} 0",
        "probe_http_duration_seconds{phase=\"resolve\"} 0",
        "probe_http_duration_seconds{phase=\"tls\"} 0",
        "probe_http_duration_seconds{phase=\"transfer\"} 0", "probe_success 0"}) {
    std::string wanted = "\n";  // appended piecewise: GCC 12 -Wrestrict false positive
    wanted += line;
    wanted += '\n';
    EXPECT_THAT(text, HasSubstr(wanted));
  }
  EXPECT_THAT(text, Not(HasSubstr("probe_http_last_modified_timestamp_seconds")));
}

TEST(AppendBlackboxMetrics, GivenLabelsComeFirst) {
  Labels labels = {{"probe", "web"}, {"kind", "http"}, {"target", "https://example.com/"}};
  std::string text = Blackbox(HttpsResult(), ProbeKind::kHttp, labels);
  EXPECT_THAT(text, HasSubstr("\nprobe_success{probe=\"web\",kind=\"http\",target=\"https://"
                              "example.com/\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nprobe_http_duration_seconds{probe=\"web\",kind=\"http\","
                              "target=\"https://example.com/\",phase=\"tls\"} 0.01\n"));
  EXPECT_THAT(text, HasSubstr("\nprobe_tls_version_info{probe=\"web\",kind=\"http\",target="
                              "\"https://example.com/\",version=\"TLS 1.3\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nprobe_ssl_last_chain_info{probe=\"web\",kind=\"http\",target="
                              "\"https://example.com/\",fingerprint_sha256=\"2ed1"));
}

TEST(AppendBlackboxMetrics, IpAddrHashIsFnv32aOfTheAddressBytes) {
  auto hash_line = [](const std::string& address) {
    ProbeResult result = Success();
    result.ip_address = address;
    std::string text = Blackbox(result, ProbeKind::kTcp);
    std::size_t at = text.find("\nprobe_ip_addr_hash ");
    return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  };
  EXPECT_EQ(hash_line("127.0.0.1"), "probe_ip_addr_hash 3.668918509e+09");
  EXPECT_EQ(hash_line("93.184.216.34"), "probe_ip_addr_hash 3.947174862e+09");
  EXPECT_EQ(hash_line("2001:db8::1"), "probe_ip_addr_hash 1.851458804e+09");
  EXPECT_EQ(hash_line("[2001:db8::1]"), "probe_ip_addr_hash 1.851458804e+09");
  EXPECT_EQ(hash_line("::1"), "probe_ip_addr_hash 1.751717746e+09");
  EXPECT_EQ(hash_line(""), "probe_ip_addr_hash 0");
  EXPECT_EQ(hash_line("not an address"), "probe_ip_addr_hash 0");
}

TEST(MetricSink, HistogramEndsWithInf) {
  MetricSink sink;
  std::vector<double> bounds = {0.1, 1};
  std::vector<std::uint64_t> counts = {2, 3};
  sink.Histogram("latency_seconds", "Latency.", bounds, counts, 4.5, 5, {{"server", "a"}});
  std::vector<prometheus::MetricFamily> families = sink.Take();
  ASSERT_EQ(families.size(), 1U);
  EXPECT_EQ(families[0].type, prometheus::MetricType::Histogram);
  const prometheus::ClientMetric::Histogram& histogram = families[0].metric.at(0).histogram;
  ASSERT_EQ(histogram.bucket.size(), 3U);
  EXPECT_TRUE(std::isinf(histogram.bucket[2].upper_bound));
  EXPECT_EQ(histogram.bucket[2].cumulative_count, 5U);
  EXPECT_EQ(RenderText(families), R"(# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{server="a",le="0.1"} 2
latency_seconds_bucket{server="a",le="1"} 3
latency_seconds_bucket{server="a",le="+Inf"} 5
latency_seconds_sum{server="a"} 4.5
latency_seconds_count{server="a"} 5
)");
}

TEST(MetricSink, HistogramRejectsMismatchedCounts) {
  MetricSink sink;
  std::vector<double> bounds = {0.1, 1};
  std::vector<std::uint64_t> counts = {2};
  EXPECT_THROW(sink.Histogram("h", "H.", bounds, counts, 0, 0), std::invalid_argument);
  EXPECT_TRUE(sink.Take().empty());
}

TEST(BucketHistogram, CountsAtInclusiveUpperBounds) {
  collectors::BucketHistogram histogram({0.1, 0.5, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(histogram.upper_bounds(), (std::vector<double>{0.1, 0.5}));
  for (double value : {0.05, 0.1, 0.3, 0.5, 2.0}) {
    histogram.Observe(value);
  }
  MetricSink sink;
  histogram.AppendTo("h_seconds", "H.", {}, sink);
  EXPECT_EQ(Render(sink), R"(# HELP h_seconds H.
# TYPE h_seconds histogram
h_seconds_bucket{le="0.1"} 2
h_seconds_bucket{le="0.5"} 4
h_seconds_bucket{le="+Inf"} 5
h_seconds_sum 2.95
h_seconds_count 5
)");
}

// One line per failure reason, in declaration order: `prefix`,reason="..."}`suffix`.
std::string FailureLines(const std::string& prefix, const std::string& suffix) {
  std::string lines;
  for (FailureReason reason : probes::AllFailureReasons()) {
    lines += prefix;
    lines += ",reason=\"";
    lines += probes::FailureReasonName(reason);
    lines += "\"}";
    lines += suffix;
    lines += '\n';
  }
  return lines;
}

// A probe's config as the loader resolves it.
config::Probe MakeProbe(std::string name, ProbeKind kind, std::string target,
                        std::vector<double> buckets = {0.1, 1}) {
  config::Probe probe;
  probe.name = std::move(name);
  probe.module.prober = kind;
  probe.target = std::move(target);
  probe.interval = 15s;
  probe.timeout = 5s;
  probe.buckets = std::move(buckets);
  return probe;
}

// A wall clock the test moves by hand.
class FakeClock {
 public:
  std::chrono::system_clock::time_point now{std::chrono::seconds(1'700'000'000)};
  ProbeMetrics::WallClock Function() {
    return [this] { return now; };
  }
};

class ProbeMetricsTest : public ::testing::Test {
 protected:
  std::string Text() const { return RenderText(metrics_.Collect()); }

  // The value of the one series `series` (name{labels}) on the page, or nullopt.
  std::optional<std::string> Value(const std::string& series) const {
    std::string text = "\n" + Text();
    std::string prefix = "\n" + series + " ";
    std::size_t at = text.find(prefix);
    if (at == std::string::npos) {
      return std::nullopt;
    }
    at += prefix.size();
    return text.substr(at, text.find('\n', at) - at);
  }

  static std::string Web(const std::string& name, const std::string& extra = "") {
    return name + "{probe=\"web\",kind=\"http\",target=\"http://127.0.0.1:8080/\"" +
           (extra.empty() ? "" : "," + extra) + "}";
  }

  FakeClock clock_;
  ProbeMetrics metrics_{clock_.Function()};
  config::Probe web_ = MakeProbe("web", ProbeKind::kHttp, "http://127.0.0.1:8080/");
};

TEST_F(ProbeMetricsTest, BeforeTheFirstRun) {
  metrics_.SetProbes({MakeProbe("db", ProbeKind::kTcp, "127.0.0.1:5432")});
  EXPECT_EQ(
      Text(),
      std::string(
          R"(# HELP nines_probe_availability_ratio Successful runs of the probe over all its runs in the trailing window; NaN while the window holds no run.
# TYPE nines_probe_availability_ratio gauge
nines_probe_availability_ratio{probe="db",kind="tcp",target="127.0.0.1:5432",window="5m"} NaN
nines_probe_availability_ratio{probe="db",kind="tcp",target="127.0.0.1:5432",window="1h"} NaN
nines_probe_availability_ratio{probe="db",kind="tcp",target="127.0.0.1:5432",window="1d"} NaN
nines_probe_availability_ratio{probe="db",kind="tcp",target="127.0.0.1:5432",window="7d"} NaN
nines_probe_availability_ratio{probe="db",kind="tcp",target="127.0.0.1:5432",window="30d"} NaN
# HELP nines_probe_duration_seconds How long runs of the probe took, in seconds.
# TYPE nines_probe_duration_seconds histogram
nines_probe_duration_seconds_bucket{probe="db",kind="tcp",target="127.0.0.1:5432",le="0.1"} 0
nines_probe_duration_seconds_bucket{probe="db",kind="tcp",target="127.0.0.1:5432",le="1"} 0
nines_probe_duration_seconds_bucket{probe="db",kind="tcp",target="127.0.0.1:5432",le="+Inf"} 0
nines_probe_duration_seconds_sum{probe="db",kind="tcp",target="127.0.0.1:5432"} 0
nines_probe_duration_seconds_count{probe="db",kind="tcp",target="127.0.0.1:5432"} 0
# HELP nines_probe_failures_total Runs of the probe that failed, by reason.
# TYPE nines_probe_failures_total counter
)") +
          FailureLines(
              "nines_probe_failures_total{probe=\"db\",kind=\"tcp\",target=\"127.0.0.1:5432\"",
              " 0") +
          R"(# HELP nines_probe_runs_total Runs of the probe that finished, successful or not.
# TYPE nines_probe_runs_total counter
nines_probe_runs_total{probe="db",kind="tcp",target="127.0.0.1:5432"} 0
# HELP nines_probe_scheduling_delay_seconds How late probe runs started after they were due, in seconds.
# TYPE nines_probe_scheduling_delay_seconds histogram
nines_probe_scheduling_delay_seconds_bucket{le="0.0001"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.00025"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.0005"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.001"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.0025"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.005"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.01"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.025"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.05"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.1"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.25"} 0
nines_probe_scheduling_delay_seconds_bucket{le="0.5"} 0
nines_probe_scheduling_delay_seconds_bucket{le="1"} 0
nines_probe_scheduling_delay_seconds_bucket{le="+Inf"} 0
nines_probe_scheduling_delay_seconds_sum 0
nines_probe_scheduling_delay_seconds_count 0
# HELP nines_probe_skipped_total Runs of the probe skipped because its previous run was still going.
# TYPE nines_probe_skipped_total counter
nines_probe_skipped_total{probe="db",kind="tcp",target="127.0.0.1:5432"} 0
)");
}

TEST_F(ProbeMetricsTest, AfterARunTheBlackboxGaugesCarryTheProbeLabels) {
  metrics_.SetProbes({web_});
  ProbeResult result = HttpsResult();
  metrics_.Record("web", result);
  std::string text = Text();
  EXPECT_EQ(Value(Web("probe_success")), "1");
  EXPECT_EQ(Value(Web("probe_http_status_code")), "200");
  EXPECT_EQ(Value(Web("probe_http_duration_seconds", "phase=\"connect\"")), "0.002");
  EXPECT_EQ(Value(Web("probe_tls_version_info", "version=\"TLS 1.3\"")), "1");
  EXPECT_EQ(Value(Web("nines_probe_ssl_leaf_cert_expiry_timestamp_seconds")), "1.76e+09");
  EXPECT_EQ(Value(Web("nines_probe_runs_total")), "1");
  EXPECT_EQ(Value(Web("nines_probe_up")), "1");
  // Families come sorted by name, the blackbox ones among them.
  EXPECT_LT(text.find("# TYPE nines_probe_up gauge"), text.find("# TYPE probe_dns_lookup"));
  EXPECT_LT(text.find("# TYPE probe_success gauge"), text.find("# TYPE probe_tls_version_info"));

  // A later run without a leaf certificate removes the leaf expiry.
  metrics_.Record("web", Failure(FailureReason::kConnectRefused));
  EXPECT_EQ(Value(Web("probe_success")), "0");
  EXPECT_EQ(Value(Web("nines_probe_ssl_leaf_cert_expiry_timestamp_seconds")), std::nullopt);
  EXPECT_EQ(Value(Web("probe_tls_version_info", "version=\"TLS 1.3\"")), std::nullopt);
}

TEST_F(ProbeMetricsTest, LeafExpiryOfAFailedHandshake) {
  config::Probe tls = MakeProbe("tls", ProbeKind::kTcp, "127.0.0.1:443");
  metrics_.SetProbes({tls});
  ProbeResult result = Failure(FailureReason::kTlsCertExpired);
  result.tls_version = "TLS 1.3";
  result.earliest_cert_expiry_seconds = 1600000000;
  result.leaf_cert_expiry_seconds = 1600000000;
  metrics_.Record("tls", result);
  const std::string labels = "{probe=\"tls\",kind=\"tcp\",target=\"127.0.0.1:443\"}";
  EXPECT_EQ(Value("nines_probe_ssl_leaf_cert_expiry_timestamp_seconds" + labels), "1.6e+09");
  EXPECT_EQ(Value("probe_ssl_earliest_cert_expiry" + labels), std::nullopt);
  EXPECT_EQ(Value("nines_probe_failures_total{probe=\"tls\",kind=\"tcp\",target=\"127.0.0.1:"
                  "443\",reason=\"tls_cert_expired\"}"),
            "1");
}

TEST_F(ProbeMetricsTest, UpDownStateMachine) {
  web_.down_after = 3;
  web_.up_after = 2;
  metrics_.SetProbes({web_});
  EXPECT_EQ(Value(Web("nines_probe_up")), std::nullopt);
  EXPECT_EQ(Value(Web("nines_probe_uptime_seconds")), std::nullopt);

  struct Step {
    bool success;
    const char* up;
  };
  // The first result sets the state; then 3 failures in a row take it down and 2 successes
  // in a row bring it back; shorter streaks change nothing.
  const std::vector<Step> steps = {
      {true, "1"},  {false, "1"}, {false, "1"}, {true, "1"},  {false, "1"}, {false, "1"},
      {false, "0"}, {true, "0"},  {false, "0"}, {true, "0"},  {true, "1"},  {true, "1"},
      {false, "1"}, {false, "1"}, {false, "0"}, {false, "0"}, {true, "0"},  {true, "1"},
  };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    metrics_.Record("web", steps[i].success ? Success() : Failure(FailureReason::kTimeout));
    EXPECT_EQ(Value(Web("nines_probe_up")), steps[i].up) << "after step " << i;
  }
}

TEST_F(ProbeMetricsTest, FirstFailureSetsDownDirectly) {
  web_.down_after = 3;
  web_.up_after = 2;
  metrics_.SetProbes({web_});
  metrics_.Record("web", Failure(FailureReason::kConnectRefused));
  EXPECT_EQ(Value(Web("nines_probe_up")), "0");
  EXPECT_EQ(Value(Web("nines_probe_uptime_seconds")), "0");
  metrics_.Record("web", Success());
  EXPECT_EQ(Value(Web("nines_probe_up")), "0");
  metrics_.Record("web", Success());
  EXPECT_EQ(Value(Web("nines_probe_up")), "1");
}

TEST_F(ProbeMetricsTest, UptimeFollowsTheInjectedClock) {
  web_.down_after = 2;
  metrics_.SetProbes({web_});
  metrics_.Record("web", Success());
  EXPECT_EQ(Value(Web("nines_probe_uptime_seconds")), "0");
  clock_.now += 90s;
  EXPECT_EQ(Value(Web("nines_probe_uptime_seconds")), "90");
  // One failure does not confirm down: uptime keeps counting from the first success.
  metrics_.Record("web", Failure(FailureReason::kTimeout));
  clock_.now += 10s;
  EXPECT_EQ(Value(Web("nines_probe_uptime_seconds")), "100");
  metrics_.Record("web", Failure(FailureReason::kTimeout));
  EXPECT_EQ(Value(Web("nines_probe_up")), "0");
  EXPECT_EQ(Value(Web("nines_probe_uptime_seconds")), "0");
  clock_.now += 30s;
  metrics_.Record("web", Success());
  clock_.now += 2500ms;
  EXPECT_EQ(Value(Web("nines_probe_uptime_seconds")), "2.5");
  // A wall clock stepping back never makes uptime negative.
  clock_.now -= 1h;
  EXPECT_EQ(Value(Web("nines_probe_uptime_seconds")), "0");
}

TEST_F(ProbeMetricsTest, AvailabilityRatioWindows) {
  metrics_.SetProbes({web_});
  // 3 of 4 runs succeed, two hours ago; then 1 of 2 in the last minutes.
  for (bool success : {true, true, false, true}) {
    metrics_.Record("web", success ? Success() : Failure(FailureReason::kHttpStatus));
    clock_.now += 15s;
  }
  clock_.now += 2h;
  metrics_.Record("web", Success());
  clock_.now += 15s;
  metrics_.Record("web", Failure(FailureReason::kHttpStatus));
  EXPECT_EQ(Value(Web("nines_probe_availability_ratio", "window=\"5m\"")), "0.5");
  EXPECT_EQ(Value(Web("nines_probe_availability_ratio", "window=\"1h\"")), "0.5");
  EXPECT_EQ(Value(Web("nines_probe_availability_ratio", "window=\"1d\"")), "0.6666666666666666");
  EXPECT_EQ(Value(Web("nines_probe_availability_ratio", "window=\"7d\"")), "0.6666666666666666");
  EXPECT_EQ(Value(Web("nines_probe_availability_ratio", "window=\"30d\"")), "0.6666666666666666");
  // Once the window has passed without a run, it says nothing.
  clock_.now += 2h;
  EXPECT_EQ(Value(Web("nines_probe_availability_ratio", "window=\"5m\"")), "NaN");
  EXPECT_EQ(Value(Web("nines_probe_availability_ratio", "window=\"1d\"")), "0.6666666666666666");
}

TEST_F(ProbeMetricsTest, FailuresAreCountedByReason) {
  metrics_.SetProbes({web_});
  metrics_.Record("web", Failure(FailureReason::kTlsCertExpired));
  metrics_.Record("web", Failure(FailureReason::kTlsCertExpired));
  metrics_.Record("web", Failure(FailureReason::kHttpStatus));
  // A failure without a reason counts as `other`.
  metrics_.Record("web", Failure(FailureReason::kNone));
  metrics_.Record("web", Success());
  EXPECT_EQ(Value(Web("nines_probe_runs_total")), "5");
  EXPECT_EQ(Value(Web("nines_probe_failures_total", "reason=\"tls_cert_expired\"")), "2");
  EXPECT_EQ(Value(Web("nines_probe_failures_total", "reason=\"http_status\"")), "1");
  EXPECT_EQ(Value(Web("nines_probe_failures_total", "reason=\"other\"")), "1");
  EXPECT_EQ(Value(Web("nines_probe_failures_total", "reason=\"dns\"")), "0");
  EXPECT_THAT(Text(), Not(HasSubstr("reason=\"\"")));
}

TEST_F(ProbeMetricsTest, SkippedRunsAndUnknownNames) {
  metrics_.SetProbes({web_});
  metrics_.RecordSkipped("web");
  metrics_.RecordSkipped("web");
  metrics_.RecordSkipped("gone");
  metrics_.Record("gone", Success());
  EXPECT_EQ(Value(Web("nines_probe_skipped_total")), "2");
  EXPECT_EQ(Value(Web("nines_probe_runs_total")), "0");
  EXPECT_THAT(Text(), Not(HasSubstr("gone")));
}

TEST_F(ProbeMetricsTest, DurationAndPhaseHistograms) {
  metrics_.SetProbes({web_});
  ProbeResult fast = Success(0.05s);
  fast.phases = {{"connect", 0.01s}, {"processing", 0.02s}};
  ProbeResult edge = Success(0.1s);
  edge.phases = {{"connect", 0.1s}};
  ProbeResult slow = Failure(FailureReason::kTimeout, 5s);
  slow.phases = {{"connect", 2s}, {"resolve", 0.5s}};
  for (const ProbeResult& result : {fast, edge, slow}) {
    metrics_.Record("web", result);
  }
  EXPECT_EQ(Value(Web("nines_probe_duration_seconds_bucket", "le=\"0.1\"")), "2");
  EXPECT_EQ(Value(Web("nines_probe_duration_seconds_bucket", "le=\"1\"")), "2");
  EXPECT_EQ(Value(Web("nines_probe_duration_seconds_bucket", "le=\"+Inf\"")), "3");
  EXPECT_EQ(Value(Web("nines_probe_duration_seconds_sum")), "5.15");
  EXPECT_EQ(Value(Web("nines_probe_duration_seconds_count")), "3");

  EXPECT_EQ(Value(Web("nines_probe_phase_duration_seconds_bucket", "phase=\"connect\",le=\"0.1\"")),
            "2");
  EXPECT_EQ(Value(Web("nines_probe_phase_duration_seconds_count", "phase=\"connect\"")), "3");
  EXPECT_EQ(Value(Web("nines_probe_phase_duration_seconds_count", "phase=\"processing\"")), "1");
  EXPECT_EQ(Value(Web("nines_probe_phase_duration_seconds_bucket", "phase=\"resolve\",le=\"1\"")),
            "1");
  // Only phases some run reported have a series.
  EXPECT_EQ(Value(Web("nines_probe_phase_duration_seconds_count", "phase=\"tls\"")), std::nullopt);
}

ProbeResult IcmpRun(int sent, std::vector<double> rtts) {
  ProbeResult result = rtts.empty() ? Failure(FailureReason::kTimeout, 1s) : Success(0.2s);
  result.phases = {{"resolve", 0.0001s}, {"setup", 0.0002s}};
  if (!rtts.empty()) {
    result.phases["rtt"] = ProbeResult::Seconds(rtts.front());
  }
  result.ip_protocol = 4;
  result.ip_address = "192.0.2.1";
  const auto received = static_cast<int>(rtts.size());
  result.icmp = probes::IcmpFacts{.packets_sent = sent,
                                  .packets_received = received,
                                  .rtt_seconds = std::move(rtts),
                                  .reply_hop_limit = 57};
  return result;
}

TEST_F(ProbeMetricsTest, IcmpSeriesBeforeTheFirstRun) {
  metrics_.SetProbes({MakeProbe("ping", ProbeKind::kIcmp, "192.0.2.1"), web_});
  const std::string ping = "{probe=\"ping\",kind=\"icmp\",target=\"192.0.2.1\"";
  EXPECT_EQ(Value("nines_probe_icmp_packets_sent_total" + ping + "}"), "0");
  EXPECT_EQ(Value("nines_probe_icmp_packets_received_total" + ping + "}"), "0");
  EXPECT_EQ(Value("nines_probe_icmp_rtt_seconds_bucket" + ping + ",le=\"0.1\"}"), "0");
  EXPECT_EQ(Value("nines_probe_icmp_rtt_seconds_count" + ping + "}"), "0");
  // Gauges of the last run wait for a run.
  EXPECT_EQ(Value("nines_probe_icmp_loss_ratio" + ping + "}"), std::nullopt);
  EXPECT_EQ(Value("nines_probe_icmp_jitter_seconds" + ping + "}"), std::nullopt);
  // Other kinds have none of them.
  EXPECT_THAT(Text(), Not(HasSubstr("nines_probe_icmp_packets_sent_total{probe=\"web\"")));
}

TEST_F(ProbeMetricsTest, IcmpCountersHistogramLossAndJitter) {
  metrics_.SetProbes({MakeProbe("ping", ProbeKind::kIcmp, "192.0.2.1", {0.01, 0.1})});
  const std::string ping = "{probe=\"ping\",kind=\"icmp\",target=\"192.0.2.1\"";
  auto value = [&](const std::string& name, const std::string& extra = "") {
    return Value(name + ping + extra + "}");
  };
  // 5 sent, 4 replies: |0.02-0.01| + |0.015-0.02| + |0.2-0.015| = 0.2, over 3 pairs.
  metrics_.Record("ping", IcmpRun(5, {0.01, 0.02, 0.015, 0.2}));
  EXPECT_EQ(value("nines_probe_icmp_packets_sent_total"), "5");
  EXPECT_EQ(value("nines_probe_icmp_packets_received_total"), "4");
  EXPECT_EQ(value("nines_probe_icmp_loss_ratio"), "0.2");
  ASSERT_TRUE(value("nines_probe_icmp_jitter_seconds").has_value());
  EXPECT_NEAR(std::stod(*value("nines_probe_icmp_jitter_seconds")), 0.2 / 3, 1e-12);
  EXPECT_EQ(value("nines_probe_icmp_rtt_seconds_bucket", ",le=\"0.01\""), "1");
  EXPECT_EQ(value("nines_probe_icmp_rtt_seconds_bucket", ",le=\"0.1\""), "3");
  EXPECT_EQ(value("nines_probe_icmp_rtt_seconds_bucket", ",le=\"+Inf\""), "4");
  EXPECT_EQ(value("nines_probe_icmp_rtt_seconds_count"), "4");
  EXPECT_EQ(value("probe_icmp_reply_hop_limit"), "57");
  EXPECT_EQ(value("probe_icmp_duration_seconds", ",phase=\"rtt\""), "0.01");

  // One reply: no jitter yet.
  metrics_.Record("ping", IcmpRun(1, {0.05}));
  EXPECT_EQ(value("nines_probe_icmp_packets_sent_total"), "6");
  EXPECT_EQ(value("nines_probe_icmp_packets_received_total"), "5");
  EXPECT_EQ(value("nines_probe_icmp_loss_ratio"), "0");
  EXPECT_EQ(value("nines_probe_icmp_jitter_seconds"), "NaN");
  EXPECT_EQ(value("nines_probe_icmp_rtt_seconds_count"), "5");

  // Nothing came back.
  metrics_.Record("ping", IcmpRun(3, {}));
  EXPECT_EQ(value("nines_probe_icmp_packets_sent_total"), "9");
  EXPECT_EQ(value("nines_probe_icmp_loss_ratio"), "1");
  EXPECT_EQ(value("nines_probe_icmp_jitter_seconds"), "NaN");
  EXPECT_EQ(value("probe_icmp_reply_hop_limit"), "57");  // the run's facts say so
  EXPECT_EQ(value("nines_probe_failures_total", ",reason=\"timeout\""), "1");

  // The target did not resolve: nothing sent, so no loss ratio to speak of.
  metrics_.Record("ping", Failure(FailureReason::kDns));
  EXPECT_EQ(value("nines_probe_icmp_packets_sent_total"), "9");
  EXPECT_EQ(value("nines_probe_icmp_loss_ratio"), "NaN");
  EXPECT_EQ(value("nines_probe_icmp_jitter_seconds"), "NaN");
  EXPECT_EQ(value("probe_icmp_reply_hop_limit"), std::nullopt);

  // A reload that keeps the probe keeps its counts; a new target starts over.
  config::Probe moved = MakeProbe("ping", ProbeKind::kIcmp, "192.0.2.1", {0.01, 0.1});
  moved.interval = 30s;
  metrics_.SetProbes({moved});
  EXPECT_EQ(value("nines_probe_icmp_packets_sent_total"), "9");
  moved.target = "192.0.2.2";
  metrics_.SetProbes({moved});
  EXPECT_EQ(Value("nines_probe_icmp_packets_sent_total{probe=\"ping\",kind=\"icmp\",target="
                  "\"192.0.2.2\"}"),
            "0");
}

TEST_F(ProbeMetricsTest, DefaultBucketsWhenNoneConfigured) {
  web_.buckets.clear();
  metrics_.SetProbes({web_});
  std::string text = Text();
  for (double bound : config::DefaultProbeBuckets()) {
    std::string le;
    AppendValue(bound, le);
    EXPECT_THAT(
        text, HasSubstr(Web("nines_probe_duration_seconds_bucket", "le=\"" + le + "\"") + " 0\n"));
  }
}

TEST_F(ProbeMetricsTest, SetProbesKeepsReplacesAndRemoves) {
  config::Probe keep = MakeProbe("keep", ProbeKind::kHttp, "http://a/");
  config::Probe retarget = MakeProbe("retarget", ProbeKind::kHttp, "http://b/");
  config::Probe rebucket = MakeProbe("rebucket", ProbeKind::kTcp, "c:1");
  config::Probe rekind = MakeProbe("rekind", ProbeKind::kTcp, "d:1");
  config::Probe remove = MakeProbe("remove", ProbeKind::kTcp, "e:1");
  metrics_.SetProbes({keep, retarget, rebucket, rekind, remove});
  for (const char* name : {"keep", "retarget", "rebucket", "rekind", "remove"}) {
    metrics_.Record(name, Failure(FailureReason::kTimeout));
    metrics_.RecordSkipped(name);
  }

  keep.interval = 1min;  // not part of the identity
  keep.down_after = 5;
  retarget.target = "http://b2/";
  rebucket.buckets = {0.2, 2};
  rekind.module.prober = ProbeKind::kHttp;
  rekind.target = "d:1";
  config::Probe added = MakeProbe("added", ProbeKind::kTcp, "f:1");
  metrics_.SetProbes({keep, retarget, rebucket, rekind, added});

  EXPECT_EQ(Value("nines_probe_runs_total{probe=\"keep\",kind=\"http\",target=\"http://a/\"}"),
            "1");
  EXPECT_EQ(Value("nines_probe_skipped_total{probe=\"keep\",kind=\"http\",target=\"http://a/\"}"),
            "1");
  EXPECT_EQ(Value("probe_success{probe=\"keep\",kind=\"http\",target=\"http://a/\"}"), "0");
  EXPECT_EQ(Value("nines_probe_runs_total{probe=\"retarget\",kind=\"http\",target=\"http://b2/\"}"),
            "0");
  EXPECT_EQ(Value("nines_probe_runs_total{probe=\"rebucket\",kind=\"tcp\",target=\"c:1\"}"), "0");
  EXPECT_EQ(Value("nines_probe_duration_seconds_bucket{probe=\"rebucket\",kind=\"tcp\",target="
                  "\"c:1\",le=\"0.2\"}"),
            "0");
  EXPECT_EQ(Value("nines_probe_runs_total{probe=\"rekind\",kind=\"http\",target=\"d:1\"}"), "0");
  EXPECT_EQ(Value("nines_probe_up{probe=\"rekind\",kind=\"http\",target=\"d:1\"}"), std::nullopt);
  EXPECT_EQ(Value("nines_probe_runs_total{probe=\"added\",kind=\"tcp\",target=\"f:1\"}"), "0");
  std::string text = Text();
  EXPECT_THAT(text, Not(HasSubstr("probe=\"remove\"")));
  EXPECT_THAT(text, Not(HasSubstr("target=\"http://b/\"")));
  EXPECT_THAT(text, Not(HasSubstr("kind=\"tcp\",target=\"d:1\"")));

  // The kept probe takes the new threshold: up after one success, down after five failures.
  metrics_.Record("keep", Success());
  const std::string up = "nines_probe_up{probe=\"keep\",kind=\"http\",target=\"http://a/\"}";
  EXPECT_EQ(Value(up), "1");
  for (int i = 0; i < 4; ++i) {
    metrics_.Record("keep", Failure(FailureReason::kTimeout));
  }
  EXPECT_EQ(Value(up), "1");
  metrics_.Record("keep", Failure(FailureReason::kTimeout));
  EXPECT_EQ(Value(up), "0");

  metrics_.SetProbes({});
  EXPECT_THAT(Text(), Not(HasSubstr("probe=")));
}

TEST_F(ProbeMetricsTest, SchedulingDelayHistogram) {
  for (auto delay : {-0.001, 0.00005, 0.0003, 0.002, 0.2, 3.0}) {
    metrics_.RecordSchedulingDelay(std::chrono::duration<double>(delay));
  }
  EXPECT_EQ(Value("nines_probe_scheduling_delay_seconds_bucket{le=\"0.0001\"}"), "2");
  EXPECT_EQ(Value("nines_probe_scheduling_delay_seconds_bucket{le=\"0.0005\"}"), "3");
  EXPECT_EQ(Value("nines_probe_scheduling_delay_seconds_bucket{le=\"0.0025\"}"), "4");
  EXPECT_EQ(Value("nines_probe_scheduling_delay_seconds_bucket{le=\"0.25\"}"), "5");
  EXPECT_EQ(Value("nines_probe_scheduling_delay_seconds_bucket{le=\"1\"}"), "5");
  EXPECT_EQ(Value("nines_probe_scheduling_delay_seconds_bucket{le=\"+Inf\"}"), "6");
  EXPECT_EQ(Value("nines_probe_scheduling_delay_seconds_count"), "6");
}

TEST_F(ProbeMetricsTest, ConcurrentRecordAndCollect) {
  metrics_.SetProbes({web_});
  std::thread writer([this] {
    for (int i = 0; i < 2000; ++i) {
      metrics_.Record("web", i % 3 == 0 ? Failure(FailureReason::kTimeout) : HttpsResult());
      metrics_.RecordSchedulingDelay(std::chrono::duration<double>(0.001));
    }
  });
  for (int i = 0; i < 50; ++i) {
    EXPECT_FALSE(metrics_.Collect().empty());
  }
  writer.join();
  EXPECT_EQ(Value(Web("nines_probe_runs_total")), "2000");
}

// The absolute path of `program` on PATH, or "".
std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path == nullptr ? "" : path;
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) {
      end = dirs.size();
    }
    std::filesystem::path candidate =
        std::filesystem::path(dirs.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
    start = end + 1;
  }
  return "";
}

TEST_F(ProbeMetricsTest, PromtoolAcceptsThePage) {
  std::string promtool = FindOnPath("promtool");
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool is not on PATH";
  }
  config::Probe db = MakeProbe("db", ProbeKind::kTcp, "127.0.0.1:5432");
  config::Probe dns = MakeProbe("resolver", ProbeKind::kDns, "127.0.0.1:53");
  config::Probe ping = MakeProbe("ping", ProbeKind::kIcmp, "192.0.2.1");
  config::Probe lost = MakeProbe("lost", ProbeKind::kIcmp, "192.0.2.2");
  metrics_.SetProbes({web_, db, dns, ping, lost});
  metrics_.Record("ping", IcmpRun(3, {0.001, 0.002, 0.0015}));
  metrics_.Record("lost", IcmpRun(3, {}));
  ProbeResult resolved = Success();
  resolved.dns = probes::DnsFacts{
      .rcode = "NOERROR", .answer_rrs = 1, .serial = std::nullopt, .query_succeeded = true};
  metrics_.Record("resolver", resolved);
  metrics_.Record("web", HttpsResult());
  metrics_.Record("db", Failure(FailureReason::kConnectRefused));
  metrics_.RecordSkipped("db");
  metrics_.RecordSchedulingDelay(std::chrono::duration<double>(0.002));

  std::filesystem::path file = std::filesystem::temp_directory_path() /
                               ("nines-probe-metrics-" + std::to_string(::getpid()) + ".prom");
  std::ofstream(file, std::ios::binary) << Text();
  std::string command = "'" + promtool + "' check metrics < '" + file.string() + "' 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
    output += buffer;
  }
  int status = ::pclose(pipe);
  std::filesystem::remove(file);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace nines::metrics
