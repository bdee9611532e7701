#include "exporter/web/probe_handler.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>

#include "collectors/collector.h"
#include "exporter/config/duration.h"
#include "exporter/metrics/probe_metrics.h"
#include "exporter/metrics/text_format.h"
#include "exporter/web/gzip.h"
#include "probes/dns.h"

namespace nines::web {
namespace {

constexpr const char* kReadOnlyMethods = "GET, HEAD";
constexpr const char* kTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds";
constexpr const char* kDefaultModule = "http_2xx";
constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kSecret = "<secret>";
// blackbox_exporter's timeout when Prometheus sends none.
constexpr double kTimeoutWithoutHeaderSeconds = 120;
// More than any probe runs; keeps the conversion to nanoseconds in range.
constexpr double kMaxTimeoutSeconds = 1e9;

// The length of the valid UTF-8 sequence of two or more bytes at `text[i]`, or 0.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  std::size_t length = lead >= 0xf0 && lead <= 0xf4   ? 4
                       : lead >= 0xe0 && lead <= 0xef ? 3
                       : lead >= 0xc2 && lead <= 0xdf ? 2
                                                      : 0;
  if (length == 0 || i + length > text.size()) {
    return 0;
  }
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) {
      return 0;
    }
  }
  return length;
}

void AppendHexEscape(unsigned char c, std::string& out) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// A double-quoted string as Go's strconv.Quote (and so fmt's %q) writes it: `"` and `\`
// escaped, control characters as \n, \t, \x00..., invalid UTF-8 bytes as \xff.
std::string GoQuote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      default:
        break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (std::size_t length = c >= 0x80 ? Utf8SequenceLength(text, i) : 0; length > 0) {
      out.append(text.substr(i, length));
      i += length - 1;
    } else {
      AppendHexEscape(c, out);
    }
  }
  out += '"';
  return out;
}

bool IsDigit(char c, bool hex) {
  return (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
}

// Whether `text` (without sign) has the shape Go's ParseFloat reads as a number: decimal
// digits with an optional '.' and e-exponent, or 0x hex digits with an optional '.' and a
// required p-exponent. Sets `exponent_negative` for telling overflow from underflow.
bool IsGoFloatSyntax(std::string_view text, bool hex, bool* exponent_negative) {
  std::size_t i = hex ? 2 : 0;
  bool digits = false;
  bool dot = false;
  for (; i < text.size(); ++i) {
    if (IsDigit(text[i], hex)) {
      digits = true;
    } else if (text[i] == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (!digits) {
    return false;
  }
  if (i == text.size()) {
    return !hex;  // Go requires the p exponent of a hex mantissa
  }
  char mark = static_cast<char>(text[i] | 0x20);
  if (mark != (hex ? 'p' : 'e')) {
    return false;
  }
  ++i;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    *exponent_negative = text[i] == '-';
    ++i;
  }
  if (i == text.size()) {
    return false;
  }
  return std::all_of(text.begin() + static_cast<std::ptrdiff_t>(i), text.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

// Go's strconv.ParseFloat(text, 64): its syntax (sign, inf, infinity, nan, decimal and hex
// forms; digit-separating underscores aside), its errors, overflow as an error and
// underflow as 0. Locale independent.
std::optional<double> ParseGoFloat(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<double> {
    *error = "strconv.ParseFloat: parsing " + GoQuote(text) + ": " + why;
    return std::nullopt;
  };
  std::string_view rest = text;
  bool negative = false;
  bool has_sign = false;
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
    negative = rest[0] == '-';
    has_sign = true;
    rest.remove_prefix(1);
  }
  std::string lower = internal::AsciiLower(rest);
  if (lower == "inf" || lower == "infinity") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (lower == "nan" && !has_sign) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  bool hex = lower.starts_with("0x");
  bool exponent_negative = false;
  if (!IsGoFloatSyntax(rest, hex, &exponent_negative)) {
    return fail("invalid syntax");
  }
  std::string_view number = hex ? rest.substr(2) : rest;
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value,
                                   hex ? std::chars_format::hex : std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    // Too large is an error in Go; too small rounds to zero without one.
    if (!exponent_negative) {
      return fail("value out of range");
    }
    return negative ? -0.0 : 0.0;
  }
  if (ec != std::errc() || end != number.data() + number.size()) {
    return fail("invalid syntax");
  }
  return negative ? -value : value;
}

// What Go's http.Error sends.
Response Error(int status, std::string message) {
  message += '\n';
  Response response = Response::Text(status, std::move(message));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

// A logfmt value: bare when it can be, else quoted with Go escapes.
std::string LogfmtValue(std::string_view value) {
  bool bare = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return c > ' ' && c != '=' && c != '"' && c < 0x7f;
  });
  return bare ? std::string(value) : GoQuote(value);
}

std::string FormatNumber(double value) {
  std::string out;
  metrics::AppendValue(value, out);
  return out;
}

// go-kit's DefaultTimestampUTC: RFC 3339 with milliseconds.
std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> text{};
  std::size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  std::array<char, 8> fraction{};
  std::snprintf(fraction.data(), fraction.size(), ".%03dZ", static_cast<int>(millis.count()));
  return std::string(text.data(), length) + fraction.data();
}

// One line of the debug log in blackbox's layout: ts, module, target, then `fields`.
std::string LogLine(const std::string& module, const std::string& target,
                    const std::string& fields) {
  return "ts=" + Timestamp() + " module=" + LogfmtValue(module) + " target=" + LogfmtValue(target) +
         " " + fields + "\n";
}

config::IpProtocol PreferredProtocol(const config::Module& module, bool* fallback) {
  switch (module.prober) {
    case probes::ProbeKind::kHttp:
      *fallback = module.http.ip_protocol_fallback;
      return module.http.preferred_ip_protocol;
    case probes::ProbeKind::kTcp:
      *fallback = module.tcp.ip_protocol_fallback;
      return module.tcp.preferred_ip_protocol;
    case probes::ProbeKind::kDns:
      *fallback = module.dns.ip_protocol_fallback;
      return module.dns.preferred_ip_protocol;
    case probes::ProbeKind::kIcmp:
      *fallback = module.icmp.ip_protocol_fallback;
      return module.icmp.preferred_ip_protocol;
  }
  *fallback = true;
  return config::IpProtocol::kIp6;
}

std::chrono::nanoseconds ToDuration(double seconds) {
  // Negatives give blackbox a context that has already expired; Go's conversion of NaN and
  // infinities is unspecified (on amd64 it is negative too). All mean: no time left.
  if (!(seconds > 0) || std::isinf(seconds)) {
    return std::chrono::nanoseconds::zero();
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(std::min(seconds, kMaxTimeoutSeconds)));
}

// ---- the module as YAML ----

bool IsSensitiveHeader(std::string_view name) {
  std::string lower = internal::AsciiLower(name);
  static constexpr std::array<std::string_view, 9> kHints = {
      "auth", "cookie", "token", "secret", "key", "password", "passwd", "session", "credential"};
  return std::any_of(kHints.begin(), kHints.end(),
                     [&](std::string_view hint) { return lower.find(hint) != std::string::npos; });
}

std::string_view IpProtocolName(config::IpProtocol protocol) {
  return protocol == config::IpProtocol::kIp4 ? "ip4" : "ip6";
}

void EmitString(YAML::Emitter& out, const char* key, const std::string& value) {
  if (!value.empty()) {
    out << YAML::Key << key << YAML::Value << value;
  }
}

void EmitBool(YAML::Emitter& out, const char* key, bool value) {
  out << YAML::Key << key << YAML::Value << value;
}

void EmitRegexps(YAML::Emitter& out, const char* key, const std::vector<config::Regexp>& list) {
  if (list.empty()) {
    return;
  }
  out << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const config::Regexp& regexp : list) {
    out << regexp.pattern;
  }
  out << YAML::EndSeq;
}

void EmitStrings(YAML::Emitter& out, const char* key, const std::vector<std::string>& list) {
  if (list.empty()) {
    return;
  }
  out << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const std::string& item : list) {
    out << item;
  }
  out << YAML::EndSeq;
}

void EmitIpProtocol(YAML::Emitter& out, config::IpProtocol preferred, bool fallback) {
  out << YAML::Key << "preferred_ip_protocol" << YAML::Value
      << std::string(IpProtocolName(preferred));
  EmitBool(out, "ip_protocol_fallback", fallback);
}

void EmitTls(YAML::Emitter& out, const config::TlsConfig& tls) {
  out << YAML::Key << "tls_config" << YAML::Value << YAML::BeginMap;
  EmitBool(out, "insecure_skip_verify", tls.insecure_skip_verify);
  EmitString(out, "ca_file", tls.ca_file);
  EmitString(out, "cert_file", tls.cert_file);
  EmitString(out, "key_file", tls.key_file);
  EmitString(out, "server_name", tls.server_name);
  EmitString(out, "min_version", tls.min_version);
  out << YAML::EndMap;
}

void EmitHeaderMatches(YAML::Emitter& out, const char* key,
                       const std::vector<config::HeaderMatch>& list) {
  if (list.empty()) {
    return;
  }
  out << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const config::HeaderMatch& match : list) {
    out << YAML::BeginMap;
    EmitString(out, "header", match.header);
    EmitString(out, "regexp", match.regexp.pattern);
    EmitBool(out, "allow_missing", match.allow_missing);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

void EmitHttp(YAML::Emitter& out, const config::HttpModule& http) {
  out << YAML::Key << "http" << YAML::Value << YAML::BeginMap;
  if (!http.valid_status_codes.empty()) {
    out << YAML::Key << "valid_status_codes" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (int code : http.valid_status_codes) {
      out << code;
    }
    out << YAML::EndSeq;
  }
  EmitStrings(out, "valid_http_versions", http.valid_http_versions);
  EmitString(out, "method", http.method);
  if (!http.headers.empty()) {
    out << YAML::Key << "headers" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, value] : http.headers) {
      out << YAML::Key << name << YAML::Value
          << (IsSensitiveHeader(name) ? std::string(kSecret) : value);
    }
    out << YAML::EndMap;
  }
  EmitString(out, "body", http.body);
  if (http.body_size_limit != 0) {
    out << YAML::Key << "body_size_limit" << YAML::Value << http.body_size_limit;
  }
  EmitString(out, "compression", http.compression);
  EmitBool(out, "follow_redirects", http.follow_redirects);
  EmitBool(out, "fail_if_ssl", http.fail_if_ssl);
  EmitBool(out, "fail_if_not_ssl", http.fail_if_not_ssl);
  EmitRegexps(out, "fail_if_body_matches_regexp", http.fail_if_body_matches_regexp);
  EmitRegexps(out, "fail_if_body_not_matches_regexp", http.fail_if_body_not_matches_regexp);
  EmitHeaderMatches(out, "fail_if_header_matches", http.fail_if_header_matches);
  EmitHeaderMatches(out, "fail_if_header_not_matches", http.fail_if_header_not_matches);
  EmitTls(out, http.tls_config);
  if (http.basic_auth) {
    out << YAML::Key << "basic_auth" << YAML::Value << YAML::BeginMap;
    EmitString(out, "username", http.basic_auth->username);
    EmitString(out, "password", http.basic_auth->password.empty() ? "" : kSecret);
    EmitString(out, "password_file", http.basic_auth->password_file);
    out << YAML::EndMap;
  }
  if (http.authorization) {
    out << YAML::Key << "authorization" << YAML::Value << YAML::BeginMap;
    EmitString(out, "type", http.authorization->type);
    EmitString(out, "credentials", http.authorization->credentials.empty() ? "" : kSecret);
    EmitString(out, "credentials_file", http.authorization->credentials_file);
    out << YAML::EndMap;
  }
  EmitString(out, "proxy_url", RedactTarget(http.proxy_url));
  EmitIpProtocol(out, http.preferred_ip_protocol, http.ip_protocol_fallback);
  EmitBool(out, "enable_http2", http.enable_http2);
  out << YAML::EndMap;
}

void EmitTcp(YAML::Emitter& out, const config::TcpModule& tcp) {
  out << YAML::Key << "tcp" << YAML::Value << YAML::BeginMap;
  if (!tcp.query_response.empty()) {
    out << YAML::Key << "query_response" << YAML::Value << YAML::BeginSeq;
    for (const config::QueryResponse& step : tcp.query_response) {
      out << YAML::BeginMap;
      if (step.expect) {
        EmitString(out, "expect", step.expect->pattern);
      }
      EmitString(out, "expect_bytes", step.expect_bytes);
      EmitString(out, "send", step.send);
      if (step.starttls) {
        EmitBool(out, "starttls", step.starttls);
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  EmitBool(out, "tls", tcp.tls);
  EmitTls(out, tcp.tls_config);
  EmitIpProtocol(out, tcp.preferred_ip_protocol, tcp.ip_protocol_fallback);
  EmitString(out, "source_ip_address", tcp.source_ip_address);
  out << YAML::EndMap;
}

void EmitRrValidator(YAML::Emitter& out, const char* key, const config::DnsRrValidator& rrs) {
  if (rrs.fail_if_matches_regexp.empty() && rrs.fail_if_all_match_regexp.empty() &&
      rrs.fail_if_not_matches_regexp.empty() && rrs.fail_if_none_matches_regexp.empty()) {
    return;
  }
  out << YAML::Key << key << YAML::Value << YAML::BeginMap;
  EmitRegexps(out, "fail_if_matches_regexp", rrs.fail_if_matches_regexp);
  EmitRegexps(out, "fail_if_all_match_regexp", rrs.fail_if_all_match_regexp);
  EmitRegexps(out, "fail_if_not_matches_regexp", rrs.fail_if_not_matches_regexp);
  EmitRegexps(out, "fail_if_none_matches_regexp", rrs.fail_if_none_matches_regexp);
  out << YAML::EndMap;
}

void EmitDns(YAML::Emitter& out, const config::DnsModule& dns) {
  out << YAML::Key << "dns" << YAML::Value << YAML::BeginMap;
  EmitString(out, "query_name", dns.query_name);
  EmitString(out, "query_type", dns.query_type);
  EmitString(out, "query_class", dns.query_class);
  EmitString(out, "transport_protocol", dns.transport_protocol);
  EmitBool(out, "recursion_desired", dns.recursion_desired);
  EmitStrings(out, "valid_rcodes", dns.valid_rcodes);
  EmitRrValidator(out, "validate_answer_rrs", dns.validate_answer_rrs);
  EmitRrValidator(out, "validate_authority_rrs", dns.validate_authority_rrs);
  EmitRrValidator(out, "validate_additional_rrs", dns.validate_additional_rrs);
  EmitIpProtocol(out, dns.preferred_ip_protocol, dns.ip_protocol_fallback);
  EmitString(out, "source_ip_address", dns.source_ip_address);
  EmitString(out, "resolver", dns.resolver);
  out << YAML::EndMap;
}

void EmitIcmp(YAML::Emitter& out, const config::IcmpModule& icmp) {
  out << YAML::Key << "icmp" << YAML::Value << YAML::BeginMap;
  EmitIpProtocol(out, icmp.preferred_ip_protocol, icmp.ip_protocol_fallback);
  EmitString(out, "source_ip_address", icmp.source_ip_address);
  if (icmp.payload_size != 0) {
    out << YAML::Key << "payload_size" << YAML::Value << icmp.payload_size;
  }
  EmitBool(out, "dont_fragment", icmp.dont_fragment);
  if (icmp.ttl != 0) {
    out << YAML::Key << "ttl" << YAML::Value << icmp.ttl;
  }
  out << YAML::EndMap;
}

// ---- the request ----

// A failed result for a target whose name did not resolve: the prober is not run, so it
// cannot look the name up a second time and get another answer.
probes::ProbeResult UnresolvedResult(const TargetDecision& decision) {
  probes::ProbeResult result;
  result.success = false;
  result.reason = probes::FailureReason::kDns;
  result.detail = decision.reason;
  return result;
}

// blackbox_exporter's `hostname` parameter of HTTP modules: sets the Host header on a copy
// of the module, refusing a module that sets another one. Returns the refusal, or "".
std::string WithHostHeader(const config::Module& module, const std::string& hostname,
                           std::shared_ptr<const config::Module>* out) {
  // The value becomes a request header line: no line breaks or other control characters.
  if (std::any_of(hostname.begin(), hostname.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return "invalid hostname parameter " + GoQuote(hostname) + ": control characters";
  }
  auto copy = std::make_shared<config::Module>(module);
  std::map<std::string, std::string>& headers = copy->http.headers;
  for (auto it = headers.begin(); it != headers.end();) {
    if (!internal::EqualsIgnoringAsciiCase(it->first, "Host")) {
      ++it;
      continue;
    }
    if (it->second != hostname) {
      return "host header defined both in module configuration (" + it->second +
             ") and with URL-parameter 'hostname' (" + hostname + ")";
    }
    it = headers.erase(it);
  }
  headers["Host"] = hostname;
  *out = std::move(copy);
  return "";
}

std::string DebugPage(const std::string& log, const std::string& metrics,
                      const config::Module& module) {
  return "Logs for the probe:\n" + log + "\n\n\nMetrics that would have been returned:\n" +
         metrics + "\n\n\nModule configuration:\n" + ModuleYaml(module);
}

struct Endpoint {
  ConfigSource current_config;
  ProbeRunner run;
  ProbeHandlerOptions options;
  mutable std::atomic<int> in_flight{0};

  Response Serve(const Request& request) const;
  // Serve() once the request has its slot.
  Response ServeAdmitted(const Request& request,
                         const std::shared_ptr<const config::Config>& config) const;
};

Response Endpoint::Serve(const Request& request) const {
  if (request.method != "GET" && request.method != "HEAD") {
    return Response::MethodNotAllowed(kReadOnlyMethods);
  }
  std::shared_ptr<const config::Config> config = current_config();
  if (!config) {
    return Error(503, "no configuration is loaded yet");
  }
  if (!config->probe_endpoint.enabled) {
    return Error(404, "the /probe endpoint is disabled (probe_endpoint.enabled is false)");
  }
  if (in_flight.fetch_add(1) >= options.max_concurrent) {
    in_flight.fetch_sub(1);
    if (options.on_rejected) {
      options.on_rejected();
    }
    spdlog::debug("probe: {} requests already in flight; answering 429", options.max_concurrent);
    Response busy =
        Error(429, "too many /probe requests at once (" + std::to_string(options.max_concurrent) +
                       " in flight, --probe.endpoint-max-concurrent); retry later");
    busy.headers.emplace_back("Retry-After", "1");
    return busy;
  }
  struct Release {
    std::atomic<int>& count;
    ~Release() { count.fetch_sub(1); }
  } release{in_flight};
  return ServeAdmitted(request, config);
}

Response Endpoint::ServeAdmitted(const Request& request,
                                 const std::shared_ptr<const config::Config>& config) const {
  // The checks run in blackbox_exporter's order, so the same bad request gets the same
  // answer: module, then timeout, then target.
  std::vector<std::pair<std::string, std::string>> params = ParseQuery(request.query);
  std::string module_name = QueryValue(params, "module");
  if (module_name.empty()) {
    module_name = kDefaultModule;
  }
  auto found = config->modules.find(module_name);
  if (found == config->modules.end()) {
    spdlog::debug("probe: unknown module {}", GoQuote(module_name));
    return Error(400, "Unknown module " + GoQuote(module_name));
  }
  const config::Module& module = found->second;

  std::string error;
  std::optional<double> timeout_seconds = ProbeTimeoutSeconds(
      request.Header(kTimeoutHeader), module.timeout, options.timeout_offset_seconds, &error);
  if (!timeout_seconds) {
    return Error(500, "Failed to parse timeout from Prometheus header: " + error);
  }

  std::string target = QueryValue(params, "target");
  if (target.empty()) {
    return Error(400, "Target parameter is missing");
  }
  std::shared_ptr<const config::Module> probe_module(config, &module);
  std::string hostname = QueryValue(params, "hostname");
  if (module.prober == probes::ProbeKind::kHttp && !hostname.empty()) {
    std::string problem = WithHostHeader(module, hostname, &probe_module);
    if (!problem.empty()) {
      return Error(400, problem);
    }
  }
  bool debug = QueryValue(params, "debug") == "true";
  std::string shown_target = RedactTarget(target);
  std::string kind(probes::ProbeKindName(module.prober));

  std::chrono::nanoseconds timeout = ToDuration(*timeout_seconds);
  ResolveOptions resolve;
  resolve.preferred_ip_protocol = PreferredProtocol(module, &resolve.ip_protocol_fallback);
  resolve.timeout = timeout;
  Resolver resolver = options.resolver;
  if (module.prober == probes::ProbeKind::kDns && !module.dns.resolver.empty()) {
    resolver = [resolve_at = options.resolve_at, server = module.dns.resolver](
                   const std::string& host, std::chrono::nanoseconds left) {
      return resolve_at(server, host, left);
    };
  }
  auto policy = std::make_shared<const TargetPolicy>(config->probe_endpoint, std::move(resolver));
  TargetDecision decision = policy->Decide(target, module.prober, resolve);
  switch (decision.verdict) {
    case TargetDecision::Verdict::kMalformed:
      spdlog::debug("probe: invalid target {} for module {}: {}", GoQuote(shown_target),
                    GoQuote(module_name), decision.reason);
      return Error(400, "invalid target " + GoQuote(shown_target) + " for prober " + kind + ": " +
                            decision.reason);
    case TargetDecision::Verdict::kDenied:
      spdlog::debug("probe: target {} denied: {}", GoQuote(shown_target), decision.reason);
      return Error(403, "target " + GoQuote(shown_target) +
                            " is denied by probe_endpoint: " + decision.reason);
    case TargetDecision::Verdict::kUnresolved:
    case TargetDecision::Verdict::kAllowed:
      break;
  }

  std::string log;
  if (debug) {
    log += LogLine(module_name, shown_target,
                   "level=info msg=\"Beginning probe\" probe=" + kind +
                       " timeout_seconds=" + FormatNumber(*timeout_seconds));
  }
  probes::ProbeResult result;
  if (decision.verdict == TargetDecision::Verdict::kAllowed) {
    probes::ProbeRequest probe;
    probe.target = decision.probe_target;
    probe.module = probe_module;
    probe.timeout = std::max(timeout - decision.resolve_duration, std::chrono::nanoseconds::zero());
    probe.pinned_address = decision.pinned_address;
    // Connections the target did not name (a redirect to another host) are checked too.
    probe.check_address = [policy](const std::string& host, const std::string& address) {
      return policy->CheckAddress(host, address);
    };
    probe.debug = debug;
    result = run(std::move(probe));
  } else {
    result = UnresolvedResult(decision);
    if (debug) {
      log += LogLine(
          module_name, shown_target,
          "level=error msg=\"Error resolving address\" err=" + LogfmtValue(decision.reason));
    }
  }
  if (decision.looked_up) {
    probes::ProbeResult::Seconds spent = decision.resolve_duration;
    result.phases["resolve"] += spent;
    result.duration += spent;
  }

  collectors::MetricSink sink;
  metrics::AppendBlackboxMetrics(result, module.prober, {}, sink);
  std::vector<prometheus::MetricFamily> families = sink.Take();
  std::string metrics_text = metrics::RenderText(families);

  double seconds = result.duration.count();
  spdlog::debug("probe: module={} target={} success={} duration_seconds={} reason={}", module_name,
                shown_target, result.success, seconds, probes::FailureReasonName(result.reason));

  Response response;
  if (debug) {
    for (const std::string& line : result.log) {
      log += line;
      if (!line.ends_with('\n')) {
        log += '\n';
      }
    }
    std::string outcome =
        result.success
            ? "level=info msg=\"Probe succeeded\""
            : "level=error msg=\"Probe failed\" reason=" +
                  LogfmtValue(probes::FailureReasonName(result.reason)) +
                  (result.detail.empty() ? std::string() : " detail=" + LogfmtValue(result.detail));
    log +=
        LogLine(module_name, shown_target, outcome + " duration_seconds=" + FormatNumber(seconds));
    response.content_type = "text/plain; charset=utf-8";
    response.body = DebugPage(log, metrics_text, *probe_module);
  } else {
    response.content_type = kMetricsContentType;
    response.body = std::move(metrics_text);
  }
  response.headers.emplace_back("Vary", "Accept-Encoding");
  if (AcceptsGzip(request.accept_encoding)) {
    response.body = Gzip(response.body);
    response.headers.emplace_back("Content-Encoding", "gzip");
  }
  return response;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Go's url.QueryUnescape: '+' is a space, %XX a byte; a bad escape fails.
std::optional<std::string> QueryUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      int high = HexValue(text[i + 1]);
      int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Resolution ResolveAt(const std::string& server, const std::string& host,
                     std::chrono::nanoseconds timeout) {
  probes::DnsLookup lookup = probes::LookUpAt(server, host, timeout);
  return {std::move(lookup.addresses), std::move(lookup.error)};
}

Handler ProbeHandler(ConfigSource current_config, ProbeRunner run, ProbeHandlerOptions options) {
  auto endpoint = std::make_shared<Endpoint>();
  endpoint->current_config = std::move(current_config);
  endpoint->run = std::move(run);
  endpoint->options = std::move(options);
  return [endpoint](const Request& request) { return endpoint->Serve(request); };
}

std::optional<double> ProbeTimeoutSeconds(std::string_view header,
                                          const std::optional<config::Duration>& module_timeout,
                                          double offset_seconds, std::string* error) {
  double seconds = 0;
  if (!header.empty()) {
    std::optional<double> parsed = ParseGoFloat(header, error);
    if (!parsed) {
      return std::nullopt;
    }
    seconds = *parsed;
  }
  if (seconds == 0) {
    seconds = kTimeoutWithoutHeaderSeconds;
  }
  double module_seconds = module_timeout ? config::ToSeconds(*module_timeout) : 0;
  double max_seconds = seconds - offset_seconds;
  // blackbox's exact condition: a module timeout wins when it is set and shorter, and also
  // whenever the offset leaves less than nothing (even an unset one, i.e. 0).
  if ((module_seconds < max_seconds && module_seconds > 0) || max_seconds < 0) {
    return module_seconds;
  }
  return max_seconds;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    // Go 1.17 and later refuse ';' as a separator and drop the pair holding it.
    if (pair.empty() || pair.find(';') != std::string_view::npos) {
      continue;
    }
    std::size_t equals = pair.find('=');
    std::optional<std::string> key = QueryUnescape(pair.substr(0, equals));
    std::optional<std::string> value = QueryUnescape(
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1));
    if (key && value) {
      params.emplace_back(std::move(*key), std::move(*value));
    }
  }
  return params;
}

std::string QueryValue(const std::vector<std::pair<std::string, std::string>>& params,
                       std::string_view key) {
  for (const auto& [name, value] : params) {
    if (name == key) {
      return value;
    }
  }
  return {};
}

std::string ModuleYaml(const config::Module& module) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "prober" << YAML::Value << std::string(probes::ProbeKindName(module.prober));
  if (module.timeout) {
    out << YAML::Key << "timeout" << YAML::Value << config::FormatDuration(*module.timeout);
  }
  switch (module.prober) {
    case probes::ProbeKind::kHttp:
      EmitHttp(out, module.http);
      break;
    case probes::ProbeKind::kTcp:
      EmitTcp(out, module.tcp);
      break;
    case probes::ProbeKind::kDns:
      EmitDns(out, module.dns);
      break;
    case probes::ProbeKind::kIcmp:
      EmitIcmp(out, module.icmp);
      break;
  }
  out << YAML::EndMap;
  std::string yaml = out.c_str();
  yaml += '\n';
  return yaml;
}

std::string RedactTarget(std::string_view target) {
  std::size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) {
    return std::string(target);
  }
  std::size_t authority_start = scheme_end + 3;
  std::size_t authority_end = target.find_first_of("/?#", authority_start);
  std::string_view authority = target.substr(
      authority_start, authority_end == std::string_view::npos ? std::string_view::npos
                                                               : authority_end - authority_start);
  std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    return std::string(target);
  }
  std::size_t colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos) {
    return std::string(target);
  }
  std::string out(target.substr(0, authority_start + colon + 1));
  out += "xxxxx";
  out += target.substr(authority_start + at);
  return out;
}

}  // namespace nines::web
