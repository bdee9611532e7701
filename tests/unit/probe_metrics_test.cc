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
    EXPECT_EQ(
        Blackbox(result, kind),
        R"(# HELP probe_dns_lookup_time_seconds Returns the time taken for probe dns lookup in seconds
# TYPE probe_dns_lookup_time_seconds gauge
probe_dns_lookup_time_seconds 0.001
# HELP probe_duration_seconds Returns how long the probe took to complete in seconds
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.25
# HELP probe_ip_addr_hash Specifies the hash of IP address. It's useful to detect if the IP address changes.
# TYPE probe_ip_addr_hash gauge
probe_ip_addr_hash 3.668918509e+09
# HELP probe_ip_protocol Specifies whether probe ip protocol is IP4 or IP6
# TYPE probe_ip_protocol gauge
probe_ip_protocol 4
# HELP probe_success Displays whether or not the probe was a success
# TYPE probe_success gauge
probe_success 1
)") << probes::ProbeKindName(kind);
  }

  result.ssl = false;
  std::string http = Blackbox(result, ProbeKind::kHttp);
  EXPECT_THAT(http, HasSubstr("\nprobe_http_ssl 0\n"));
  EXPECT_THAT(http, Not(HasSubstr("probe_ssl_")));
  EXPECT_THAT(http, Not(HasSubstr("probe_tls_version_info")));
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
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="dns"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="connect_refused"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="connect_timeout"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="tls_handshake"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="tls_cert_expired"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="tls_cert_invalid"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="timeout"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="http_status"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="body_mismatch"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="header_mismatch"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="expect_mismatch"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="body_too_large"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="too_many_redirects"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="tls_policy"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="icmp_unreachable"} 0
nines_probe_failures_total{probe="db",kind="tcp",target="127.0.0.1:5432",reason="other"} 0
# HELP nines_probe_runs_total Runs of the probe that finished, successful or not.
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
  metrics_.SetProbes({web_, db, dns});
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
