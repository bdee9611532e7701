#include "exporter/config/loader.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include "exporter/config/yaml_reader.h"

namespace nines::config {
namespace {
constexpr off_t kMaxConfigBytes = 16 << 20;
}  // namespace

namespace internal {
namespace {

using namespace std::chrono_literals;

constexpr Duration kMinInterval = 100ms;
constexpr std::size_t kMaxNameLength = 128;

// Probe, server and SLO names become label values and URL path segments (badges, logs),
// so they are kept to a safe alphabet.
bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return false;
  }
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  };
  return std::all_of(name.begin(), name.end(), ok) && name.front() != '.' && name.front() != '-';
}

constexpr const char* kNameRule =
    "must be 1 to 128 letters, digits, '_', '-' or '.', not starting with '-' or '.'";

// An RFC 9110 token (method names, header names).
bool IsToken(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  });
}

bool OneOf(std::string_view value, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

// Splits "host:port" or "[v6]:port". Returns false when the shape is wrong.
bool SplitHostPort(std::string_view text, std::string* host, std::string* port) {
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    *host = std::string(text.substr(1, close - 1));
    *port = std::string(text.substr(close + 2));
    return true;
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || text.find(':') != colon) {
    return false;
  }
  *host = std::string(text.substr(0, colon));
  *port = std::string(text.substr(colon + 1));
  return true;
}

bool IsPort(std::string_view text) {
  int port = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && ptr == text.data() + text.size() && port >= 1 && port <= 65535;
}

bool IsIpAddress(const std::string& text) {
  std::array<unsigned char, 16> buffer{};
  return inet_pton(AF_INET, text.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer.data()) == 1;
}

bool IsLoopback(const std::string& host) {
  std::array<unsigned char, 16> buffer{};
  if (inet_pton(AF_INET, host.c_str(), buffer.data()) == 1) {
    return buffer[0] == 127;
  }
  return host == "::1" || host == "localhost";
}

// "10.0.0.0/8", "fe80::/10" or a bare address.
bool IsCidr(const std::string& text) {
  auto slash = text.find('/');
  std::string address = text.substr(0, slash);
  std::array<unsigned char, 16> buffer{};
  int max_bits = 0;
  if (inet_pton(AF_INET, address.c_str(), buffer.data()) == 1) {
    max_bits = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), buffer.data()) == 1) {
    max_bits = 128;
  } else {
    return false;
  }
  if (slash == std::string::npos) {
    return true;
  }
  std::string_view bits = std::string_view(text).substr(slash + 1);
  int value = -1;
  auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
  return ec == std::errc() && ptr == bits.data() + bits.size() && value >= 0 && value <= max_bits;
}

// Host patterns such as "*.example.com" or "internal.example.com".
bool IsHostPattern(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '*' || c == '_';
  });
}

// Whether a scheme://authority URL has one of `schemes` and a non-empty host.
bool IsUrlWithScheme(std::string_view url, std::initializer_list<std::string_view> schemes) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos || !OneOf(url.substr(0, sep), schemes)) {
    return false;
  }
  std::string_view rest = url.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return !authority.empty() && authority.front() != ':' &&
         authority.find_first_of(" \t") == std::string_view::npos;
}

}  // namespace

// ---- struct decoders, found by the vector/optional templates through ADL ----

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
    errors.At(map.Find("min_version"), map.Child("min_version"),
              "must be one of TLS10, TLS11, TLS12, TLS13 " + Got(map.Find("min_version")));
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
    errors.At(map.Find("type"), map.Child("type"),
              "must be an HTTP auth scheme like Bearer " + Got(map.Find("type")));
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
    errors.At(map.Find("header"), map.Child("header"),
              "must be an HTTP header name " + Got(map.Find("header")));
  }
  map.Require("regexp", &out->regexp);
  map.Get("allow_missing", &out->allow_missing);
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, HttpModule* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  if (map.Get("valid_status_codes", &out->valid_status_codes)) {
    YAML::Node codes = map.Find("valid_status_codes");
    for (std::size_t i = 0; i < out->valid_status_codes.size(); ++i) {
      int code = out->valid_status_codes[i];
      if (code < 100 || code > 599) {
        errors.At(codes[i], map.Child("valid_status_codes") + "[" + std::to_string(i) + "]",
                  "must be an HTTP status code from 100 to 599 " + Got(codes[i]));
      }
    }
  }
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
    errors.At(map.Find("method"), map.Child("method"),
              "must be an HTTP method like GET " + Got(map.Find("method")));
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
    errors.At(map.Find("compression"), map.Child("compression"),
              "must be one of gzip, br, deflate, identity " + Got(map.Find("compression")));
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
    errors.At(map.Find("proxy_url"), map.Child("proxy_url"),
              "must be an http, https or socks5 URL " + Got(map.Find("proxy_url")));
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
  if (map.Get("source_ip_address", &out->source_ip_address) &&
      !IsIpAddress(out->source_ip_address)) {
    errors.At(map.Find("source_ip_address"), map.Child("source_ip_address"),
              "must be an IP address " + Got(map.Find("source_ip_address")));
  }
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
  map.Require("query_name", &out->query_name);
  if (map.Get("query_type", &out->query_type) &&
      !OneOf(out->query_type, {"A", "AAAA", "ANY", "CAA", "CNAME", "DS", "DNSKEY", "HTTPS", "MX",
                               "NS", "PTR", "SOA", "SRV", "SVCB", "TXT"})) {
    errors.At(map.Find("query_type"), map.Child("query_type"),
              "must be a DNS record type like A, AAAA, MX or SOA " + Got(map.Find("query_type")));
  }
  if (map.Get("query_class", &out->query_class) &&
      !OneOf(out->query_class, {"IN", "CH", "HS", "ANY"})) {
    errors.At(map.Find("query_class"), map.Child("query_class"),
              "must be one of IN, CH, HS, ANY " + Got(map.Find("query_class")));
  }
  if (map.Get("transport_protocol", &out->transport_protocol) &&
      !OneOf(out->transport_protocol, {"udp", "tcp"})) {
    errors.At(map.Find("transport_protocol"), map.Child("transport_protocol"),
              "must be udp or tcp " + Got(map.Find("transport_protocol")));
  }
  map.Get("recursion_desired", &out->recursion_desired);
  if (map.Get("valid_rcodes", &out->valid_rcodes)) {
    YAML::Node rcodes = map.Find("valid_rcodes");
    for (std::size_t i = 0; i < out->valid_rcodes.size(); ++i) {
      if (!OneOf(out->valid_rcodes[i],
                 {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
                  "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"})) {
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
  if (map.Get("source_ip_address", &out->source_ip_address) &&
      !IsIpAddress(out->source_ip_address)) {
    errors.At(map.Find("source_ip_address"), map.Child("source_ip_address"),
              "must be an IP address " + Got(map.Find("source_ip_address")));
  }
  map.Finish();
  return errors.size() == before;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, IcmpModule* out) {
  MapReader map(errors, node, path);
  std::size_t before = errors.size();
  map.Get("preferred_ip_protocol", &out->preferred_ip_protocol);
  map.Get("ip_protocol_fallback", &out->ip_protocol_fallback);
  if (map.Get("source_ip_address", &out->source_ip_address) &&
      !IsIpAddress(out->source_ip_address)) {
    errors.At(map.Find("source_ip_address"), map.Child("source_ip_address"),
              "must be an IP address " + Got(map.Find("source_ip_address")));
  }
  if (map.Get("payload_size", &out->payload_size) &&
      (out->payload_size < 0 || out->payload_size > 65507)) {
    errors.At(map.Find("payload_size"), map.Child("payload_size"),
              "must be from 0 to 65507 bytes " + Got(map.Find("payload_size")));
  }
  map.Get("dont_fragment", &out->dont_fragment);
  if (map.Get("ttl", &out->ttl) && (out->ttl < 0 || out->ttl > 255)) {
    errors.At(map.Find("ttl"), map.Child("ttl"), "must be from 0 to 255 " + Got(map.Find("ttl")));
  }
  map.Finish();
  return errors.size() == before;
}

namespace {

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
    errors.At(map.Find("timeout"), map.Child("timeout"),
              "must be positive " + Got(map.Find("timeout")));
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
    body.Finish();
    config->modules[name] = std::move(module);
    map.Find(name);  // mark known
  }
  map.Finish();
}

// Checks a target against what its prober needs.
std::string TargetProblem(probes::ProbeKind kind, const std::string& target) {
  std::string host;
  std::string port;
  switch (kind) {
    case probes::ProbeKind::kHttp:
      if (target.find("://") == std::string::npos) {
        // blackbox accepts a bare host[:port][/path] and prepends http://.
        return IsUrlWithScheme("http://" + target, {"http"}) ? "" : "must be an http or https URL";
      }
      return IsUrlWithScheme(target, {"http", "https"}) ? "" : "must be an http or https URL";
    case probes::ProbeKind::kTcp:
      if (!SplitHostPort(target, &host, &port) || host.empty() || !IsPort(port)) {
        return "must be host:port";
      }
      return "";
    case probes::ProbeKind::kDns:
      // The DNS server to ask: host or host:port.
      if (target.find(':') != std::string::npos && !IsIpAddress(target) &&
          (!SplitHostPort(target, &host, &port) || host.empty() || !IsPort(port))) {
        return "must be a DNS server as host or host:port";
      }
      return "";
    case probes::ProbeKind::kIcmp:
      if (target.empty() || (target.find(':') != std::string::npos && !IsIpAddress(target)) ||
          target.find('/') != std::string::npos) {
        return "must be a host name or IP address";
      }
      return "";
  }
  return "unknown prober";
}

void DecodeProbes(MapReader& top, Config* config) {
  YAML::Node probes_node = top.Find("probes");
  if (!probes_node.IsDefined()) {
    return;
  }
  ErrorList& errors = top.errors();
  if (!probes_node.IsSequence()) {
    errors.At(probes_node, "probes", "must be a list " + Got(probes_node));
    return;
  }
  std::set<std::string, std::less<>> names;
  std::size_t index = 0;
  for (const YAML::Node& item : probes_node) {
    std::string path = "probes[" + std::to_string(index++) + "]";
    MapReader map(errors, item, path);
    if (!item.IsMap()) {
      if (item.IsNull()) {
        errors.At(item, path, "must be a map (got null)");
      }
      continue;
    }
    std::size_t before = errors.size();
    Probe probe;
    if (map.Require("name", &probe.name)) {
      if (!IsValidName(probe.name)) {
        errors.At(map.Find("name"), map.Child("name"),
                  std::string(kNameRule) + " " + Got(map.Find("name")));
      } else if (!names.insert(probe.name).second) {
        errors.At(map.Find("name"), map.Child("name"),
                  "duplicate probe name " + Got(map.Find("name")));
      }
    }
    bool named_module = map.Get("module", &probe.module_name);
    if (named_module) {
      auto it = config->modules.find(probe.module_name);
      if (it == config->modules.end()) {
        errors.At(map.Find("module"), map.Child("module"),
                  "no such module " + Got(map.Find("module")));
      } else {
        probe.module = it->second;
      }
      for (std::string_view key : {"prober", "http", "tcp", "dns", "icmp"}) {
        if (map.Has(key)) {
          errors.At(map.Find(key), map.Child(key),
                    "cannot be combined with module: put options in the module, or drop module");
        }
      }
    } else if (map.Has("prober")) {
      DecodeModuleBody(map, &probe.module);
    } else {
      errors.At(item, path, "needs module or prober");
    }
    if (map.Require("target", &probe.target)) {
      std::string problem = TargetProblem(probe.module.prober, probe.target);
      if (!problem.empty()) {
        errors.At(map.Find("target"), map.Child("target"), problem + " " + Got(map.Find("target")));
      }
    }
    probe.interval = config->defaults.interval;
    if (map.Get("interval", &probe.interval) && probe.interval < kMinInterval) {
      errors.At(map.Find("interval"), map.Child("interval"),
                "must be at least 100ms " + Got(map.Find("interval")));
    }
    probe.timeout = probe.module.timeout.value_or(config->defaults.timeout);
    if (map.Get("timeout", &probe.timeout) && probe.timeout <= Duration::zero()) {
      errors.At(map.Find("timeout"), map.Child("timeout"),
                "must be positive " + Got(map.Find("timeout")));
    }
    if (probe.timeout > probe.interval && errors.size() == before) {
      YAML::Node at = map.Has("timeout") ? map.Find("timeout") : item;
      errors.At(at, map.Has("timeout") ? map.Child("timeout") : path,
                "timeout " + FormatDuration(probe.timeout) + " is longer than interval " +
                    FormatDuration(probe.interval));
    }
    probe.buckets = DefaultProbeBuckets();
    if (map.Get("buckets", &probe.buckets)) {
      YAML::Node buckets = map.Find("buckets");
      if (probe.buckets.empty()) {
        errors.At(buckets, map.Child("buckets"), "must not be empty");
      }
      for (std::size_t i = 0; i < probe.buckets.size(); ++i) {
        if (probe.buckets[i] <= 0) {
          errors.At(buckets[i], map.Child("buckets") + "[" + std::to_string(i) + "]",
                    "must be positive " + Got(buckets[i]));
        } else if (i > 0 && probe.buckets[i] <= probe.buckets[i - 1]) {
          errors.At(buckets[i], map.Child("buckets") + "[" + std::to_string(i) + "]",
                    "buckets must be strictly increasing " + Got(buckets[i]));
        }
      }
    }
    for (auto [key, field] :
         {std::pair{"down_after", &probe.down_after}, std::pair{"up_after", &probe.up_after}}) {
      if (map.Get(key, field) && *field < 1) {
        errors.At(map.Find(key), map.Child(key), "must be at least 1 " + Got(map.Find(key)));
      }
    }
    map.Finish();
    config->probes.push_back(std::move(probe));
  }
}

void DecodeNginx(MapReader& top, Config* config) {
  YAML::Node nginx_node = top.Find("nginx");
  if (!nginx_node.IsDefined()) {
    return;
  }
  ErrorList& errors = top.errors();
  if (!nginx_node.IsSequence()) {
    errors.At(nginx_node, "nginx", "must be a list " + Got(nginx_node));
    return;
  }
  std::set<std::string, std::less<>> names;
  std::size_t index = 0;
  for (const YAML::Node& item : nginx_node) {
    std::string path = "nginx[" + std::to_string(index++) + "]";
    MapReader map(errors, item, path);
    if (!item.IsMap()) {
      continue;
    }
    Nginx nginx;
    if (map.Require("name", &nginx.name)) {
      if (!IsValidName(nginx.name)) {
        errors.At(map.Find("name"), map.Child("name"),
                  std::string(kNameRule) + " " + Got(map.Find("name")));
      } else if (!names.insert(nginx.name).second) {
        errors.At(map.Find("name"), map.Child("name"),
                  "duplicate nginx name " + Got(map.Find("name")));
      }
    }
    if (map.Get("stub_status", &nginx.stub_status)) {
      bool unix_socket = nginx.stub_status.starts_with("unix:/");
      if (!unix_socket && !IsUrlWithScheme(nginx.stub_status, {"http", "https"})) {
        errors.At(map.Find("stub_status"), map.Child("stub_status"),
                  "must be an http(s) URL or unix:/path " + Got(map.Find("stub_status")));
      }
    }
    if (YAML::Node log = map.Find("access_log"); log.IsDefined()) {
      MapReader log_map(errors, log, map.Child("access_log"));
      AccessLog access_log;
      access_log.format = kDefaultAccessLogFormat;
      bool has_path = log_map.Get("path", &access_log.path);
      bool has_syslog = log_map.Get("syslog", &access_log.syslog);
      if (has_path == has_syslog && log.IsMap()) {
        errors.At(log, log_map.path(), "needs exactly one of path and syslog");
      }
      if (has_path && access_log.path.empty()) {
        errors.At(log_map.Find("path"), log_map.Child("path"), "must not be empty");
      }
      if (has_syslog) {
        std::string host;
        std::string port;
        if (!SplitHostPort(access_log.syslog, &host, &port) || !IsPort(port)) {
          errors.At(log_map.Find("syslog"), log_map.Child("syslog"),
                    "must be host:port " + Got(log_map.Find("syslog")));
        } else if (!IsLoopback(host)) {
          errors.At(log_map.Find("syslog"), log_map.Child("syslog"),
                    "must be a loopback address such as 127.0.0.1:5531, so only local nginx "
                    "can send " +
                        Got(log_map.Find("syslog")));
        }
      }
      if (log_map.Get("format", &access_log.format) && access_log.format.empty()) {
        errors.At(log_map.Find("format"), log_map.Child("format"), "must not be empty");
      }
      log_map.Finish();
      nginx.access_log = std::move(access_log);
    }
    if (nginx.stub_status.empty() && !nginx.access_log && item.IsMap()) {
      errors.At(item, path, "needs stub_status, access_log or both");
    }
    map.Finish();
    config->nginx.push_back(std::move(nginx));
  }
}

void DecodeSlos(MapReader& top, Config* config) {
  YAML::Node slos_node = top.Find("slos");
  if (!slos_node.IsDefined()) {
    return;
  }
  ErrorList& errors = top.errors();
  if (!slos_node.IsSequence()) {
    errors.At(slos_node, "slos", "must be a list " + Got(slos_node));
    return;
  }
  std::set<std::string, std::less<>> names;
  std::size_t index = 0;
  for (const YAML::Node& item : slos_node) {
    std::string path = "slos[" + std::to_string(index++) + "]";
    MapReader map(errors, item, path);
    if (!item.IsMap()) {
      continue;
    }
    Slo slo;
    if (map.Require("name", &slo.name)) {
      if (!IsValidName(slo.name)) {
        errors.At(map.Find("name"), map.Child("name"),
                  std::string(kNameRule) + " " + Got(map.Find("name")));
      } else if (!names.insert(slo.name).second) {
        errors.At(map.Find("name"), map.Child("name"),
                  "duplicate slo name " + Got(map.Find("name")));
      }
    }
    if (map.Require("objective", &slo.objective_percent) &&
        (slo.objective_percent <= 0 || slo.objective_percent >= 100)) {
      errors.At(map.Find("objective"), map.Child("objective"),
                "must be a percentage above 0 and below 100 " + Got(map.Find("objective")));
    }
    if (map.Get("period", &slo.period) && slo.period < std::chrono::hours(1)) {
      errors.At(map.Find("period"), map.Child("period"),
                "must be at least 1h " + Got(map.Find("period")));
    }
    YAML::Node sli_node = map.Find("sli");
    if (!sli_node.IsDefined()) {
      errors.At(item, map.Child("sli"), "missing required key");
    } else {
      MapReader sli(errors, sli_node, map.Child("sli"));
      bool has_probe = sli.Get("probe", &slo.sli.probe);
      bool has_log = sli.Get("access_log", &slo.sli.access_log);
      if (has_probe == has_log && sli_node.IsMap()) {
        errors.At(sli_node, sli.path(), "needs exactly one of probe and access_log");
      }
      if (has_probe && std::none_of(config->probes.begin(), config->probes.end(),
                                    [&](const Probe& p) { return p.name == slo.sli.probe; })) {
        errors.At(sli.Find("probe"), sli.Child("probe"), "no such probe " + Got(sli.Find("probe")));
      }
      if (has_log) {
        auto it = std::find_if(config->nginx.begin(), config->nginx.end(),
                               [&](const Nginx& n) { return n.name == slo.sli.access_log; });
        if (it == config->nginx.end()) {
          errors.At(sli.Find("access_log"), sli.Child("access_log"),
                    "no such nginx server " + Got(sli.Find("access_log")));
        } else if (!it->access_log) {
          errors.At(sli.Find("access_log"), sli.Child("access_log"),
                    "nginx server has no access_log " + Got(sli.Find("access_log")));
        }
      }
      if (sli.Get("latency_threshold", &slo.sli.latency_threshold) &&
          *slo.sli.latency_threshold <= Duration::zero()) {
        errors.At(sli.Find("latency_threshold"), sli.Child("latency_threshold"),
                  "must be positive " + Got(sli.Find("latency_threshold")));
      }
      sli.Finish();
    }
    map.Finish();
    config->slos.push_back(std::move(slo));
  }
}

void DecodeProbeEndpoint(MapReader& top, Config* config) {
  YAML::Node node = top.Find("probe_endpoint");
  if (!node.IsDefined()) {
    return;
  }
  MapReader map(top.errors(), node, "probe_endpoint");
  map.Get("enabled", &config->probe_endpoint.enabled);
  for (auto [key, list] : {std::pair{"allow", &config->probe_endpoint.allow},
                           std::pair{"deny", &config->probe_endpoint.deny}}) {
    if (!map.Get(key, list)) {
      continue;
    }
    YAML::Node items = map.Find(key);
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string& entry = (*list)[i];
      bool looks_like_address = entry.find_first_of(":/") != std::string::npos ||
                                std::all_of(entry.begin(), entry.end(), [](char c) {
                                  return (c >= '0' && c <= '9') || c == '.';
                                });
      if (looks_like_address ? !IsCidr(entry) : !IsHostPattern(entry)) {
        top.errors().At(
            items[i], map.Child(key) + "[" + std::to_string(i) + "]",
            "must be a CIDR like 10.0.0.0/8 or a host pattern like *.example.com " + Got(items[i]));
      }
    }
  }
  map.Finish();
}

void DecodeDefaults(MapReader& top, Config* config) {
  YAML::Node node = top.Find("defaults");
  MapReader map(top.errors(), node, "defaults");
  Defaults& defaults = config->defaults;
  if (map.Get("interval", &defaults.interval) && defaults.interval < kMinInterval) {
    top.errors().At(map.Find("interval"), "defaults.interval",
                    "must be at least 100ms " + Got(map.Find("interval")));
  }
  if (map.Get("timeout", &defaults.timeout) && defaults.timeout <= Duration::zero()) {
    top.errors().At(map.Find("timeout"), "defaults.timeout",
                    "must be positive " + Got(map.Find("timeout")));
  }
  if (defaults.timeout > defaults.interval) {
    top.errors().At(node, "defaults",
                    "timeout " + FormatDuration(defaults.timeout) + " is longer than interval " +
                        FormatDuration(defaults.interval));
  }
  map.Finish();
}

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
}  // namespace internal

LoadResult LoadConfigText(std::string_view text, const std::string& source) {
  using internal::ErrorList;
  using internal::MapReader;
  ErrorList errors(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    errors.AtMark(e.mark, "", "invalid YAML: " + e.msg);
    return {nullptr, errors.Take()};
  }
  auto config = std::make_shared<Config>();
  config->source = source;
  if (!root.IsNull() && !root.IsMap()) {
    errors.At(root, "", "the config must be a map of sections " + internal::Got(root));
    return {nullptr, errors.Take()};
  }
  MapReader top(errors, root, "");
  // Order matters: probes read defaults and modules, SLOs read probes and nginx.
  internal::DecodeDefaults(top, config.get());
  internal::DecodeModules(top, config.get());
  internal::AddBuiltinModules(config.get());
  internal::DecodeProbes(top, config.get());
  internal::DecodeNginx(top, config.get());
  internal::DecodeSlos(top, config.get());
  internal::DecodeProbeEndpoint(top, config.get());
  top.Finish();
  if (!errors.empty()) {
    return {nullptr, errors.Take()};
  }
  return {std::move(config), {}};
}

LoadResult LoadConfigFile(const std::string& path) {
  auto fail = [&](std::string_view what) -> LoadResult {
    internal::ErrorList errors(path);
    errors.File(std::string(what) + ": " + std::strerror(errno));
    return {nullptr, errors.Take()};
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail("cannot open config file");
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    return fail("cannot stat config file");
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    internal::ErrorList errors(path);
    errors.File("not a regular file");
    return {nullptr, errors.Take()};
  }
  if (info.st_size > kMaxConfigBytes) {
    ::close(fd);
    internal::ErrorList errors(path);
    errors.File("config file is larger than 16 MiB");
    return {nullptr, errors.Take()};
  }
  std::string text;
  std::array<char, 65536> buffer{};
  while (true) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      LoadResult result = fail("cannot read config file");
      ::close(fd);
      return result;
    }
    if (n == 0) {
      break;
    }
    text.append(buffer.data(), static_cast<std::size_t>(n));
    if (text.size() > static_cast<std::size_t>(kMaxConfigBytes)) {
      ::close(fd);
      internal::ErrorList errors(path);
      errors.File("config file is larger than 16 MiB");
      return {nullptr, errors.Take()};
    }
  }
  ::close(fd);
  return LoadConfigText(text, path);
}

}  // namespace nines::config
