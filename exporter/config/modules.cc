#include "exporter/config/modules.h"

#include "exporter/config/checks.h"
#include "probes/dns.h"

namespace nines::config::internal {
namespace {

// `source_ip_address:` of the tcp, dns and icmp options.
void GetSourceIpAddress(MapReader& map, std::string* out) {
  if (map.Get("source_ip_address", out) && !IsIpAddress(*out)) {
    map.Invalid("source_ip_address", "must be an IP address");
  }
}

// Bounds of the icmp `packets:` and `packet_interval:` options.
constexpr int kMaxIcmpPackets = 100;
constexpr Duration kMinIcmpPacketInterval = std::chrono::milliseconds(10);

// Modules every config has unless it defines its own of the same name, so `/probe`
// answers the common blackbox module names out of the box.
void AddBuiltinModules(Config* config) {
  Module http_2xx;
  http_2xx.prober = probes::ProbeKind::kHttp;
  config->modules.emplace("http_2xx", http_2xx);
  Module tcp_connect;
  tcp_connect.prober = probes::ProbeKind::kTcp;
  config->modules.emplace("tcp_connect", tcp_connect);
}

}  // namespace

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, TlsConfig* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  map.Get("insecure_skip_verify", &out->insecure_skip_verify);
  map.Get("ca_file", &out->ca_file);
  map.Get("cert_file", &out->cert_file);
  map.Get("key_file", &out->key_file);
  map.Get("server_name", &out->server_name);
  if (map.Get("min_version", &out->min_version) &&
      !OneOf(out->min_version, {"TLS10", "TLS11", "TLS12", "TLS13"})) {
    map.Invalid("min_version", "must be one of TLS10, TLS11, TLS12, TLS13");
  }
  if (out->cert_file.empty() != out->key_file.empty()) {
    errors.At(node, path, "cert_file and key_file must be given together");
  }
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, BasicAuth* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  map.Require("username", &out->username);
  map.Get("password", &out->password);
  map.Get("password_file", &out->password_file);
  if (!out->password.empty() && !out->password_file.empty()) {
    errors.At(node, path, "password and password_file are mutually exclusive");
  }
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path,
            Authorization* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  if (map.Get("type", &out->type) && !IsToken(out->type)) {
    map.Invalid("type", "must be an HTTP auth scheme like Bearer");
  }
  map.Get("credentials", &out->credentials);
  map.Get("credentials_file", &out->credentials_file);
  if (!out->credentials.empty() && !out->credentials_file.empty()) {
    errors.At(node, path, "credentials and credentials_file are mutually exclusive");
  }
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, HeaderMatch* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  if (map.Require("header", &out->header) && !IsToken(out->header)) {
    map.Invalid("header", "must be an HTTP header name");
  }
  map.Require("regexp", &out->regexp);
  map.Get("allow_missing", &out->allow_missing);
  map.Finish();
  return errors.size() == before;
}

bool GetStatusCodes(MapReader& map, std::string_view key, std::vector<int>* out) {
  if (!map.Get(key, out)) {
    return false;
  }
  YAML::Node codes = map.Find(key);
  for (std::size_t i = 0; i < out->size(); ++i) {
    if ((*out)[i] < 100 || (*out)[i] > 599) {
      map.errors().At(codes[i], map.Child(key) + "[" + std::to_string(i) + "]",
                      "must be an HTTP status code from 100 to 599 " + Got(codes[i]));
    }
  }
  return true;
}

bool GetBuckets(MapReader& map, std::string_view key, std::vector<double>* out) {
  if (!map.Get(key, out)) {
    return false;
  }
  YAML::Node buckets = map.Find(key);
  if (out->empty()) {
    map.errors().At(buckets, map.Child(key), "must not be empty");
  }
  for (std::size_t i = 0; i < out->size(); ++i) {
    std::string at = map.Child(key) + "[" + std::to_string(i) + "]";
    if ((*out)[i] <= 0) {
      map.errors().At(buckets[i], at, "must be positive " + Got(buckets[i]));
    } else if (i > 0 && (*out)[i] <= (*out)[i - 1]) {
      map.errors().At(buckets[i], at, "buckets must be strictly increasing " + Got(buckets[i]));
    }
  }
  return true;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, HttpModule* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  GetStatusCodes(map, "valid_status_codes", &out->valid_status_codes);
  if (map.Get("valid_http_versions", &out->valid_http_versions)) {
    YAML::Node versions = map.Find("valid_http_versions");
    for (std::size_t i = 0; i < out->valid_http_versions.size(); ++i) {
      if (!OneOf(out->valid_http_versions[i],
                 {"HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/3", "HTTP/3.0"})) {
        errors.At(versions[i], map.Child("valid_http_versions") + "[" + std::to_string(i) + "]",
                  "must be one of HTTP/1.0, HTTP/1.1, HTTP/2.0, HTTP/3.0 " + Got(versions[i]));
      }
    }
  }
  if (map.Get("method", &out->method) && !IsToken(out->method)) {
    map.Invalid("method", "must be an HTTP method like GET");
  }
  if (map.Get("headers", &out->headers)) {
    for (const auto& [name, value] : out->headers) {
      if (!IsToken(name)) {
        errors.At(map.Find("headers"), map.Child("headers"),
                  "must map HTTP header names to values (got header " + Quoted(name) + ")");
      }
    }
  }
  map.Get("body", &out->body);
  if (YAML::Node limit = map.Find("body_size_limit"); limit.IsDefined()) {
    auto bytes = limit.IsScalar() ? ParseByteSize(limit.Scalar()) : std::nullopt;
    if (bytes) {
      out->body_size_limit = *bytes;
    } else {
      errors.At(limit, map.Child("body_size_limit"),
                "must be a size in bytes like 1048576 or 10MB " + Got(limit));
    }
  }
  if (map.Get("compression", &out->compression) &&
      !OneOf(out->compression, {"", "gzip", "br", "deflate", "identity"})) {
    map.Invalid("compression", "must be one of gzip, br, deflate, identity");
  }
  map.Get("follow_redirects", &out->follow_redirects);
  map.Get("fail_if_ssl", &out->fail_if_ssl);
  map.Get("fail_if_not_ssl", &out->fail_if_not_ssl);
  if (out->fail_if_ssl && out->fail_if_not_ssl) {
    errors.At(node, path, "fail_if_ssl and fail_if_not_ssl cannot both be true");
  }
  map.Get("fail_if_body_matches_regexp", &out->fail_if_body_matches_regexp);
  map.Get("fail_if_body_not_matches_regexp", &out->fail_if_body_not_matches_regexp);
  map.Get("fail_if_header_matches", &out->fail_if_header_matches);
  map.Get("fail_if_header_not_matches", &out->fail_if_header_not_matches);
  map.Get("tls_config", &out->tls_config);
  map.Get("basic_auth", &out->basic_auth);
  map.Get("authorization", &out->authorization);
  if (out->basic_auth && out->authorization) {
    errors.At(node, path, "basic_auth and authorization are mutually exclusive");
  }
  if (map.Get("proxy_url", &out->proxy_url) && !out->proxy_url.empty() &&
      !IsUrlWithScheme(out->proxy_url, {"http", "https", "socks5", "socks5h"})) {
    map.Invalid("proxy_url", "must be an http, https or socks5 URL");
  }
  map.Get("preferred_ip_protocol", &out->preferred_ip_protocol);
  map.Get("ip_protocol_fallback", &out->ip_protocol_fallback);
  map.Get("enable_http2", &out->enable_http2);
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path,
            QueryResponse* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  map.Get("expect", &out->expect);
  map.Get("expect_bytes", &out->expect_bytes);
  map.Get("send", &out->send);
  map.Get("starttls", &out->starttls);
  if (out->expect && !out->expect_bytes.empty()) {
    errors.At(node, path, "expect and expect_bytes are mutually exclusive");
  }
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, TcpModule* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  map.Get("query_response", &out->query_response);
  map.Get("tls", &out->tls);
  map.Get("tls_config", &out->tls_config);
  map.Get("preferred_ip_protocol", &out->preferred_ip_protocol);
  map.Get("ip_protocol_fallback", &out->ip_protocol_fallback);
  GetSourceIpAddress(map, &out->source_ip_address);
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path,
            DnsRrValidator* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  map.Get("fail_if_matches_regexp", &out->fail_if_matches_regexp);
  map.Get("fail_if_all_match_regexp", &out->fail_if_all_match_regexp);
  map.Get("fail_if_not_matches_regexp", &out->fail_if_not_matches_regexp);
  map.Get("fail_if_none_matches_regexp", &out->fail_if_none_matches_regexp);
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, DnsModule* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  // The names blackbox_exporter accepts (miekg/dns's tables), checked here rather than on
  // every run.
  if (map.Require("query_name", &out->query_name)) {
    if (std::optional<std::string> problem = probes::DnsNameProblem(out->query_name)) {
      map.Invalid("query_name", "must be a domain name: " + *problem);
    }
  }
  if (map.Get("query_type", &out->query_type) && !probes::DnsTypeFromName(out->query_type)) {
    map.Invalid("query_type", "must be a DNS record type like A, AAAA, MX or SOA");
  }
  if (map.Get("query_class", &out->query_class) && !probes::DnsClassFromName(out->query_class)) {
    map.Invalid("query_class", "must be one of IN, CS, CH, HS, NONE, ANY");
  }
  if (map.Get("transport_protocol", &out->transport_protocol) &&
      !OneOf(out->transport_protocol, {"udp", "tcp"})) {
    map.Invalid("transport_protocol", "must be udp or tcp");
  }
  map.Get("recursion_desired", &out->recursion_desired);
  if (map.Get("valid_rcodes", &out->valid_rcodes)) {
    YAML::Node rcodes = map.Find("valid_rcodes");
    for (std::size_t i = 0; i < out->valid_rcodes.size(); ++i) {
      if (!probes::DnsRcodeFromName(out->valid_rcodes[i])) {
        errors.At(rcodes[i], map.Child("valid_rcodes") + "[" + std::to_string(i) + "]",
                  "must be a DNS rcode like NOERROR or NXDOMAIN " + Got(rcodes[i]));
      }
    }
  }
  map.Get("validate_answer_rrs", &out->validate_answer_rrs);
  map.Get("validate_authority_rrs", &out->validate_authority_rrs);
  map.Get("validate_additional_rrs", &out->validate_additional_rrs);
  map.Get("preferred_ip_protocol", &out->preferred_ip_protocol);
  map.Get("ip_protocol_fallback", &out->ip_protocol_fallback);
  GetSourceIpAddress(map, &out->source_ip_address);
  if (map.Get("resolver", &out->resolver)) {
    if (std::optional<std::string> problem = probes::DnsServerProblem(out->resolver)) {
      map.Invalid("resolver",
                  "must be an IP address with an optional port, like 192.0.2.53, "
                  "192.0.2.53:5353 or [2001:db8::53]:53: " +
                      *problem);
    }
  }
  map.Finish();
  return errors.size() == before;
}

std::string IcmpScheduleProblem(const IcmpModule& icmp, Duration timeout) {
  // packets * packet_interval < timeout, compared by division: the product of a long
  // interval and many packets would overflow.
  if (icmp.packets <= 1 || timeout <= Duration::zero() ||
      icmp.packet_interval.count() <= (timeout.count() - 1) / icmp.packets) {
    return "";
  }
  std::string take = " apart take ";
  if (icmp.packet_interval.count() <= Duration::max().count() / icmp.packets) {
    take += FormatDuration(icmp.packets * icmp.packet_interval);
  } else {
    take += "centuries";
  }
  return std::to_string(icmp.packets) + " packets " + FormatDuration(icmp.packet_interval) + take +
         ", which is not below the timeout " + FormatDuration(timeout);
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, IcmpModule* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  map.Get("preferred_ip_protocol", &out->preferred_ip_protocol);
  map.Get("ip_protocol_fallback", &out->ip_protocol_fallback);
  GetSourceIpAddress(map, &out->source_ip_address);
  if (map.Get("payload_size", &out->payload_size) &&
      (out->payload_size < 0 || out->payload_size > 65507)) {
    map.Invalid("payload_size", "must be from 0 to 65507 bytes");
  }
  map.Get("dont_fragment", &out->dont_fragment);
  if (map.Get("ttl", &out->ttl) && (out->ttl < 0 || out->ttl > 255)) {
    map.Invalid("ttl", "must be from 0 to 255");
  }
  if (map.Get("packets", &out->packets) && (out->packets < 1 || out->packets > kMaxIcmpPackets)) {
    map.Invalid("packets", "must be from 1 to " + std::to_string(kMaxIcmpPackets));
  }
  if (map.Get("packet_interval", &out->packet_interval) &&
      out->packet_interval < kMinIcmpPacketInterval) {
    map.Invalid("packet_interval", "must be at least " + FormatDuration(kMinIcmpPacketInterval));
  }
  map.Finish();
  return errors.size() == before;
}

// Reads a module body (everything but `prober:`/`timeout:` checks shared with probes).
void DecodeModuleBody(MapReader& map, Module* out) {
  ErrorList& errors = map.errors();
  if (YAML::Node prober = map.Find("prober"); prober.IsDefined()) {
    std::string name;
    if (Decode(errors, prober, map.Child("prober"), &name)) {
      if (auto kind = probes::ParseProbeKind(name)) {
        out->prober = *kind;
      } else {
        errors.At(prober, map.Child("prober"),
                  "must be one of http, tcp, dns, icmp " + Got(prober));
      }
    }
  }
  if (map.Get("timeout", &out->timeout) && *out->timeout <= Duration::zero()) {
    map.Invalid("timeout", "must be positive");
  }
  // Options for another prober than the chosen one would be silently ignored: say so.
  auto options = [&](std::string_view key, probes::ProbeKind kind, auto* field) {
    if (!map.Has(key)) {
      return;
    }
    map.Get(key, field);
    if (out->prober != kind) {
      errors.At(map.Find(key), map.Child(key),
                "options for the " + std::string(probes::ProbeKindName(kind)) +
                    " prober, but prober is " + std::string(probes::ProbeKindName(out->prober)));
    }
  };
  options("http", probes::ProbeKind::kHttp, &out->http);
  options("tcp", probes::ProbeKind::kTcp, &out->tcp);
  options("dns", probes::ProbeKind::kDns, &out->dns);
  options("icmp", probes::ProbeKind::kIcmp, &out->icmp);
  if (out->prober == probes::ProbeKind::kDns && !map.Has("dns")) {
    errors.At(map.node(), map.path(), "a dns prober needs dns.query_name");
  }
}

void DecodeModules(MapReader& top, Config* config) {
  YAML::Node modules = top.Find("modules");
  MapReader map(top.errors(), modules, "modules");
  if (!modules.IsMap()) {
    AddBuiltinModules(config);
    return;
  }
  for (const auto& entry : modules) {
    if (!entry.first.IsScalar()) {
      continue;
    }
    const std::string& name = entry.first.Scalar();
    MapReader body(top.errors(), entry.second, map.Child(name));
    if (!body.Has("prober")) {
      top.errors().At(entry.second, map.Child(name), "missing required key prober");
    }
    Module module;
    DecodeModuleBody(body, &module);
    if (module.prober == probes::ProbeKind::kIcmp && module.timeout && body.Has("icmp")) {
      if (std::string problem = IcmpScheduleProblem(module.icmp, *module.timeout);
          !problem.empty()) {
        top.errors().At(body.Find("icmp"), body.Child("icmp"), problem);
      }
    }
    body.Finish();
    config->modules[name] = std::move(module);
    map.Find(name);  // mark known
  }
  map.Finish();
  AddBuiltinModules(config);
}

}  // namespace nines::config::internal
