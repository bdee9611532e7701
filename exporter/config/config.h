#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collectors/log_format.h"
#include "exporter/config/duration.h"
#include "probes/probe.h"

namespace re2 {
class RE2;
}

/// The typed configuration: plain structs whose member initializers are the one place
/// defaults live. The loader (loader.h) fills and validates them; the daemon holds the
/// result as `std::shared_ptr<const Config>` and swaps it whole on reload.
namespace nines::config {

/// A regular expression from the config, compiled once at load (RE2: linear time).
struct Regexp {
  std::string pattern;
  std::shared_ptr<const re2::RE2> compiled;
};

/// Which address family a target's name resolves to first (blackbox's
/// `preferred_ip_protocol`).
enum class IpProtocol { kIp4, kIp6 };

/// blackbox_exporter's `tls_config`.
struct TlsConfig {
  bool insecure_skip_verify = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
  std::string min_version;  // "", TLS10, TLS11, TLS12 or TLS13
};

struct BasicAuth {
  std::string username;
  std::string password;
  std::string password_file;
};

/// An `Authorization` header: `type` (default Bearer) and credentials inline or from a file.
struct Authorization {
  std::string type = "Bearer";
  std::string credentials;
  std::string credentials_file;
};

/// One `fail_if_header_matches` / `fail_if_header_not_matches` rule.
struct HeaderMatch {
  std::string header;
  Regexp regexp;
  bool allow_missing = false;
};

/// blackbox_exporter's `http:` module options.
struct HttpModule {
  std::vector<int> valid_status_codes;  // empty = any 2xx
  std::vector<std::string> valid_http_versions;
  std::string method = "GET";
  std::map<std::string, std::string> headers;
  std::string body;
  std::int64_t body_size_limit = 0;  // bytes; 0 = no limit
  std::string compression;           // "", gzip, br, deflate, identity
  bool follow_redirects = true;
  bool fail_if_ssl = false;
  bool fail_if_not_ssl = false;
  std::vector<Regexp> fail_if_body_matches_regexp;
  std::vector<Regexp> fail_if_body_not_matches_regexp;
  std::vector<HeaderMatch> fail_if_header_matches;
  std::vector<HeaderMatch> fail_if_header_not_matches;
  TlsConfig tls_config;
  std::optional<BasicAuth> basic_auth;
  std::optional<Authorization> authorization;
  std::string proxy_url;
  IpProtocol preferred_ip_protocol = IpProtocol::kIp6;
  bool ip_protocol_fallback = true;
  bool enable_http2 = true;
};

/// One step of a TCP `query_response` dialogue.
struct QueryResponse {
  std::optional<Regexp> expect;
  std::string expect_bytes;
  std::string send;
  bool starttls = false;
};

/// blackbox_exporter's `tcp:` module options.
struct TcpModule {
  std::vector<QueryResponse> query_response;
  bool tls = false;
  TlsConfig tls_config;
  IpProtocol preferred_ip_protocol = IpProtocol::kIp6;
  bool ip_protocol_fallback = true;
  std::string source_ip_address;
};

/// Checks on one section of a DNS answer (blackbox's `validate_*_rrs`).
struct DnsRrValidator {
  std::vector<Regexp> fail_if_matches_regexp;
  std::vector<Regexp> fail_if_all_match_regexp;
  std::vector<Regexp> fail_if_not_matches_regexp;
  std::vector<Regexp> fail_if_none_matches_regexp;
};

/// blackbox_exporter's `dns:` module options.
struct DnsModule {
  std::string query_name;
  std::string query_type = "ANY";
  std::string query_class = "IN";
  std::string transport_protocol = "udp";
  bool recursion_desired = true;
  std::vector<std::string> valid_rcodes = {"NOERROR"};
  DnsRrValidator validate_answer_rrs;
  DnsRrValidator validate_authority_rrs;
  DnsRrValidator validate_additional_rrs;
  IpProtocol preferred_ip_protocol = IpProtocol::kIp6;
  bool ip_protocol_fallback = true;
  std::string source_ip_address;
  /// nines only: the DNS server (`ip`, `ipv4:port`, `[ipv6]:port`) that resolves the
  /// target's host name; "" = the system resolver (probes/dns.h).
  std::string resolver;
};

/// blackbox_exporter's `icmp:` module options.
struct IcmpModule {
  IpProtocol preferred_ip_protocol = IpProtocol::kIp6;
  bool ip_protocol_fallback = true;
  std::string source_ip_address;
  int payload_size = 0;
  bool dont_fragment = false;
  int ttl = 0;  // 0 = the system default
  /// Echo requests per run (nines only; blackbox sends one) and the time from one to the
  /// next. With more than one, packets * packet_interval must be below the timeout, so the
  /// last request has at least an interval to be answered.
  int packets = 1;
  Duration packet_interval = std::chrono::milliseconds(100);
};

/// A blackbox-style module: which prober, its timeout and its options. Only the options
/// of `prober` are used; the others keep their defaults.
struct Module {
  probes::ProbeKind prober = probes::ProbeKind::kHttp;
  std::optional<Duration> timeout;  // unset: the probe's or the scrape's timeout
  HttpModule http;
  TcpModule tcp;
  DnsModule dns;
  IcmpModule icmp;
};

/// `defaults:` for every continuous probe.
struct Defaults {
  Duration interval = std::chrono::seconds(15);
  Duration timeout = std::chrono::seconds(5);
};

/// One continuous probe (`probes:` entry).
struct Probe {
  std::string name;         // unique; the `probe` label
  std::string module_name;  // the module it names, or "" when given inline
  Module module;            // resolved: a copy of the named module or the inline one
  std::string target;
  Duration interval{};          // resolved against `defaults:`
  Duration timeout{};           // resolved: probe's, else module's if it names one, else defaults'
  std::vector<double> buckets;  // seconds, strictly increasing
  int down_after = 1;           // consecutive failures before nines_probe_up drops to 0
  int up_after = 1;             // consecutive successes before it rises to 1
};

/// Where an nginx access log comes from (a file or a syslog UDP listener) and how its
/// lines are written.
struct AccessLog {
  std::string path;
  std::string syslog;                                        // host:port on a loopback address
  std::string format;                                        // nginx log_format text
  collectors::Escape escape = collectors::Escape::kDefault;  // log_format's escape=
  /// Bounds of the request and upstream duration histograms, in seconds.
  std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  /// Statuses counted by their exact code; any other by its class (`4xx`), so the
  /// `status` label stays bounded.
  std::vector<int> status_codes = {200, 201, 204, 206, 301, 302, 304, 400, 401, 403,
                                   404, 405, 408, 409, 429, 499, 500, 502, 503, 504};
  /// `format` compiled at load; never null in a loaded config.
  std::shared_ptr<const collectors::LogFormat> compiled;
};

/// One nginx server (`nginx:` entry).
struct Nginx {
  std::string name;         // unique; the `server` label
  std::string stub_status;  // http(s) URL or unix:/path; "" = not scraped
  std::optional<AccessLog> access_log;
};

/// What an SLO measures.
struct Sli {
  std::string probe;                          // a probe name, or ""
  std::string access_log;                     // an nginx name, or ""
  std::optional<Duration> latency_threshold;  // set: a latency SLI
  /// Access-log SLIs only: statuses that count as bad although below 500 (e.g. 429), and
  /// statuses that are not events at all (e.g. 499, a client that gave up).
  std::vector<int> bad_status_codes;
  std::vector<int> ignore_status_codes;
};

/// One service level objective (`slos:` entry).
struct Slo {
  std::string name;
  double objective_percent = 0;
  Duration period = std::chrono::hours(24 * 30);
  Sli sli;
};

/// The blackbox-style `/probe` endpoint.
struct ProbeEndpoint {
  bool enabled = true;
  std::vector<std::string> allow;  // CIDRs or host patterns; empty = all but the denied
  std::vector<std::string> deny = {"169.254.0.0/16", "fe80::/10"};
};

/// A whole, validated configuration. Immutable once loaded.
struct Config {
  /// Where it came from: a file path, or "" for the built-in default.
  std::string source;
  Defaults defaults;
  std::map<std::string, Module> modules;
  std::vector<Probe> probes;
  std::vector<Nginx> nginx;
  std::vector<Slo> slos;
  ProbeEndpoint probe_endpoint;
};

/// The access-log format used when an `access_log:` names none: nginx's `combined`
/// followed by `$request_time $upstream_response_time`.
inline constexpr std::string_view kDefaultAccessLogFormat = collectors::kDefaultAccessLogFormat;

/// The default histogram buckets of a probe's duration, in seconds.
inline const std::vector<double>& DefaultProbeBuckets() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,    2.5,   5,    10};
  return kBuckets;
}

}  // namespace nines::config
