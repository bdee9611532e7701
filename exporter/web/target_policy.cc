#include "exporter/web/target_policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "exporter/config/checks.h"
#include "exporter/web/http.h"

namespace nines::web {
namespace {

constexpr std::size_t kMaxHostLength = 253;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

bool IsDigitsAndDots(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// A URL scheme per RFC 3986: a letter, then letters, digits, '+', '-' or '.'.
bool IsScheme(std::string_view text) {
  if (text.empty() || !((text[0] >= 'a' && text[0] <= 'z') || (text[0] >= 'A' && text[0] <= 'Z'))) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
  });
}

std::optional<std::string> CheckPort(std::string_view port) {
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || port[0] == '+' ||
      value < 1 || value > 65535) {
    return "port " + config::internal::Quoted(port) + " is not a number from 1 to 65535";
  }
  return std::nullopt;
}

// The pieces of a target that matter to the policy.
struct HostPart {
  std::string host;  // as written, without brackets
  bool bracketed = false;
};

// Splits `host:port` or `[v6]:port` (Go's net.SplitHostPort shapes, decimal ports).
// `port_required` false also accepts an empty port after the colon (URLs allow it).
std::optional<std::string> SplitHostPort(std::string_view text, bool port_required, HostPart* out) {
  std::string_view port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return std::string("missing ']' after an IPv6 address");
    }
    out->host = std::string(text.substr(1, close - 1));
    out->bracketed = true;
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      if (port_required) {
        return std::string("missing port (want [address]:port)");
      }
      return std::nullopt;
    }
    if (rest[0] != ':') {
      return "unexpected " + config::internal::Quoted(rest) + " after ']'";
    }
    port = rest.substr(1);
  } else {
    auto colon = text.find(':');
    if (colon == std::string_view::npos) {
      if (port_required) {
        return std::string("missing port (want host:port)");
      }
      out->host = std::string(text);
      return std::nullopt;
    }
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return std::string("too many colons (an IPv6 address goes in brackets: [address]:port)");
    }
    out->host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (port.empty() && !port_required) {
    return std::nullopt;
  }
  return CheckPort(port);
}

// Finds the host of `target` for a prober of `kind`; sets `probe_target` to what the
// prober gets.
std::optional<std::string> ExtractHost(std::string_view target, probes::ProbeKind kind,
                                       HostPart* host, std::string* probe_target) {
  *probe_target = std::string(target);
  switch (kind) {
    case probes::ProbeKind::kHttp: {
      std::string_view rest = target;
      auto separator = target.find("://");
      if (separator != std::string_view::npos && IsScheme(target.substr(0, separator))) {
        std::string scheme = internal::AsciiLower(target.substr(0, separator));
        if (scheme != "http" && scheme != "https") {
          return "unsupported scheme " + config::internal::Quoted(scheme) + " (want http or https)";
        }
        rest = target.substr(separator + 3);
        // Probers compare schemes case-sensitively; the policy read it without case.
        *probe_target = scheme + std::string(target.substr(separator));
      } else {
        // blackbox_exporter probes a target without a scheme over plain HTTP.
        *probe_target = "http://" + std::string(target);
      }
      std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
      // Parsers disagree on '\' (WHATWG reads it as '/', curl does not): refuse it rather
      // than check a different host than the one the prober connects to.
      if (authority.find('\\') != std::string_view::npos) {
        return std::string("backslash in the URL's authority");
      }
      // Go takes the last '@' as the end of the user info, curl the first: refuse both.
      if (auto at = authority.find('@'); at != std::string_view::npos) {
        if (authority.find('@', at + 1) != std::string_view::npos) {
          return std::string("more than one '@' in the URL's authority");
        }
        authority.remove_prefix(at + 1);
      }
      if (authority.empty()) {
        return std::string("missing host in URL");
      }
      auto error = SplitHostPort(authority, false, host);
      if (!error && host->bracketed) {
        // In a URL the zone of an IPv6 address is written %25zone (RFC 6874).
        if (auto zone = host->host.find("%25"); zone != std::string::npos) {
          host->host.replace(zone, 3, "%");
        }
      }
      return error;
    }
    case probes::ProbeKind::kTcp:
      return SplitHostPort(target, true, host);
    case probes::ProbeKind::kDns: {
      // blackbox_exporter splits `host:port` and otherwise takes the whole target as the
      // host (port 53): a bare name, or a bare IPv6 address with its many colons.
      if (target.starts_with('[')) {
        return SplitHostPort(target, true, host);
      }
      auto colons = std::count(target.begin(), target.end(), ':');
      if (colons == 1) {
        return SplitHostPort(target, true, host);
      }
      host->host = std::string(target);
      return std::nullopt;
    }
    case probes::ProbeKind::kIcmp:
      host->host = std::string(target);
      return std::nullopt;
  }
  return std::string("unknown prober");
}

// Glob match where '*' stands for any run of characters, dots included.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

// A pattern or host compared the way names compare: lowercase, no trailing root dot.
std::string CanonicalName(std::string_view name) {
  if (name.size() > 1 && name.ends_with('.')) {
    name.remove_suffix(1);
  }
  return internal::AsciiLower(name);
}

Resolution LookUp(const std::string& host) {
  Resolution resolution;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address instead of one per socket type
  addrinfo* list = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    resolution.error = rc == EAI_SYSTEM ? std::generic_category().message(errno) : gai_strerror(rc);
    return resolution;
  }
  for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
    std::array<char, INET6_ADDRSTRLEN> text{};
    const char* written = nullptr;
    if (entry->ai_family == AF_INET && entry->ai_addrlen >= sizeof(sockaddr_in)) {
      sockaddr_in address{};
      std::memcpy(&address, entry->ai_addr, sizeof(address));
      written = ::inet_ntop(AF_INET, &address.sin_addr, text.data(), text.size());
    } else if (entry->ai_family == AF_INET6 && entry->ai_addrlen >= sizeof(sockaddr_in6)) {
      sockaddr_in6 address{};
      std::memcpy(&address, entry->ai_addr, sizeof(address));
      written = ::inet_ntop(AF_INET6, &address.sin6_addr, text.data(), text.size());
    }
    if (written != nullptr && std::find(resolution.addresses.begin(), resolution.addresses.end(),
                                        written) == resolution.addresses.end()) {
      resolution.addresses.emplace_back(written);
    }
  }
  ::freeaddrinfo(list);
  if (resolution.addresses.empty()) {
    resolution.error = "no IP addresses";
  }
  return resolution;
}

std::string FormatMillis(std::chrono::nanoseconds duration) {
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
  return std::to_string(millis) + "ms";
}

}  // namespace

Resolution SystemResolve(const std::string& host, std::chrono::nanoseconds timeout) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    Resolution resolution;
  };
  if (timeout <= std::chrono::nanoseconds::zero()) {
    return {{}, "no time left to resolve " + config::internal::Quoted(host)};
  }
  auto shared = std::make_shared<Shared>();
  try {
    std::thread([shared, host] {
      Resolution resolution = LookUp(host);
      std::lock_guard lock(shared->mutex);
      shared->resolution = std::move(resolution);
      shared->done = true;
      shared->done_cv.notify_one();
    }).detach();
  } catch (const std::system_error& e) {
    return {{}, std::string("cannot start a resolver thread: ") + e.what()};
  }
  std::unique_lock lock(shared->mutex);
  if (!shared->done_cv.wait_for(lock, timeout, [&] { return shared->done; })) {
    return {{}, "timed out after " + FormatMillis(timeout)};
  }
  return std::move(shared->resolution);
}

TargetPolicy::TargetPolicy(const config::ProbeEndpoint& endpoint, Resolver resolver)
    : allow_all_(endpoint.allow.empty()), resolver_(std::move(resolver)) {
  auto add = [](const std::vector<std::string>& entries, const char* list,
                std::vector<Network>* networks, std::vector<std::string>* patterns) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::string& entry = entries[i];
      if (auto error = CheckEntry(entry)) {
        throw std::invalid_argument("probe_endpoint." + std::string(list) + "[" +
                                    std::to_string(i) + "]: " + *error);
      }
      auto slash = entry.find('/');
      std::optional<Address> base = ParseAddress(std::string_view(entry).substr(0, slash));
      if (!base) {
        patterns->push_back(CanonicalName(entry));
        continue;
      }
      bool written_as_v6 = entry.find(':') != std::string::npos;
      int bits = written_as_v6 ? 128 : 32;
      if (slash != std::string::npos) {
        std::string_view digits = std::string_view(entry).substr(slash + 1);
        std::from_chars(digits.data(), digits.data() + digits.size(), bits);
      }
      Network network;
      network.base = *base;
      network.text = entry;
      // IPv4 sits in the last 32 bits of the 128; a mapped IPv6 network shorter than the
      // mapping prefix (/96) is an IPv6 network like any other.
      network.prefix = written_as_v6 ? bits : 96 + bits;
      if (base->v4 && network.prefix < 96) {
        network.base.v4 = false;
      }
      networks->push_back(std::move(network));
    }
  };
  add(endpoint.allow, "allow", &allow_networks_, &allow_patterns_);
  add(endpoint.deny, "deny", &deny_networks_, &deny_patterns_);
}

std::optional<std::string> TargetPolicy::CheckEntry(const std::string& entry) {
  if (entry.empty()) {
    return std::string("empty entry (want a CIDR like 10.0.0.0/8 or a host pattern)");
  }
  bool looks_like_address =
      entry.find_first_of(":/") != std::string::npos || IsDigitsAndDots(entry);
  if (!looks_like_address) {
    if (!std::all_of(entry.begin(), entry.end(),
                     [](char c) { return IsNameChar(c) || c == '*'; })) {
      return config::internal::Quoted(entry) +
             " is not a host pattern (letters, digits, '-', '_', '.' and '*' as a wildcard)";
    }
    return std::nullopt;
  }
  auto slash = entry.find('/');
  std::string address = entry.substr(0, slash);
  std::array<unsigned char, 16> buffer{};
  int max_bits = 0;
  if (::inet_pton(AF_INET, address.c_str(), buffer.data()) == 1) {
    max_bits = 32;
  } else if (::inet_pton(AF_INET6, address.c_str(), buffer.data()) == 1) {
    max_bits = 128;
  } else {
    return config::internal::Quoted(entry) +
           " is not an IP address or CIDR (want e.g. 10.0.0.0/8 or fe80::/10)";
  }
  if (slash == std::string::npos) {
    return std::nullopt;
  }
  std::string_view digits = std::string_view(entry).substr(slash + 1);
  int bits = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || bits < 0 ||
      bits > max_bits) {
    return "prefix length " + config::internal::Quoted(digits) + " of " +
           config::internal::Quoted(entry) + " is out of range for " +
           (max_bits == 32 ? "IPv4 (0 to 32)" : "IPv6 (0 to 128)");
  }
  return std::nullopt;
}

std::optional<TargetPolicy::Address> TargetPolicy::ParseAddress(std::string_view text) {
  std::string copy(text);
  Address address;
  if (copy.find(':') != std::string::npos) {
    if (::inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) {
      return std::nullopt;
    }
    static constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0,    0,
                                                                   0, 0, 0, 0, 0xff, 0xff};
    address.v4 = std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), address.bytes.begin());
    return address;
  }
  std::array<std::uint8_t, 4> v4{};
  if (::inet_pton(AF_INET, copy.c_str(), v4.data()) != 1) {
    return std::nullopt;
  }
  address.bytes[10] = 0xff;
  address.bytes[11] = 0xff;
  std::copy(v4.begin(), v4.end(), address.bytes.begin() + 12);
  address.v4 = true;
  return address;
}

bool TargetPolicy::Contains(const Network& network, const Address& address) {
  if (network.base.v4 != address.v4) {
    return false;
  }
  int bits = network.prefix;
  for (std::size_t i = 0; i < address.bytes.size() && bits > 0; ++i, bits -= 8) {
    int mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((network.base.bytes[i] & mask) != (address.bytes[i] & mask)) {
      return false;
    }
  }
  return true;
}

bool TargetPolicy::MatchesAny(const std::vector<std::string>& patterns, std::string_view host) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& pattern) { return GlobMatch(pattern, host); });
}

std::optional<std::string> TargetPolicy::Check(std::string_view host, const Address& address,
                                               bool host_allowed) const {
  for (const Network& network : deny_networks_) {
    if (Contains(network, address)) {
      return "in denied network " + network.text;
    }
  }
  if (host_allowed) {
    return std::nullopt;
  }
  for (const Network& network : allow_networks_) {
    if (Contains(network, address)) {
      return std::nullopt;
    }
  }
  return "in no allowed network, and host " + config::internal::Quoted(host) +
         " matches no allowed pattern";
}

std::optional<std::string> TargetPolicy::CheckAddress(std::string_view host,
                                                      std::string_view address) const {
  std::string name = CanonicalName(host);
  if (MatchesAny(deny_patterns_, name)) {
    return "host " + config::internal::Quoted(name) + " matches a denied pattern";
  }
  std::string_view bare = address.substr(0, address.find('%'));
  std::optional<Address> parsed = ParseAddress(bare);
  if (!parsed) {
    return config::internal::Quoted(address) + " is not an IP address";
  }
  if (auto why = Check(name, *parsed, allow_all_ || MatchesAny(allow_patterns_, name))) {
    return "address " + std::string(bare) + " is " + *why;
  }
  return std::nullopt;
}

TargetDecision TargetPolicy::Decide(std::string_view target, probes::ProbeKind kind,
                                    const ResolveOptions& options) const {
  using Verdict = TargetDecision::Verdict;
  TargetDecision decision;
  auto finish = [&decision](Verdict verdict, std::string reason) {
    decision.verdict = verdict;
    decision.reason = std::move(reason);
    return std::move(decision);
  };

  if (target.empty()) {
    return finish(Verdict::kMalformed, "empty target");
  }
  if (std::any_of(target.begin(), target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return finish(Verdict::kMalformed, "the target contains a space or a control character");
  }
  HostPart part;
  if (auto error = ExtractHost(target, kind, &part, &decision.probe_target)) {
    return finish(Verdict::kMalformed, *error);
  }
  if (part.host.empty()) {
    return finish(Verdict::kMalformed, "missing host");
  }

  // An IP literal: the zone of a link-local IPv6 address is kept for the pin, not checked.
  std::string_view literal = part.host;
  std::string_view zone;
  if (auto percent = literal.find('%'); percent != std::string_view::npos) {
    zone = literal.substr(percent);
    literal = literal.substr(0, percent);
  }
  std::optional<Address> literal_address = ParseAddress(literal);
  if (part.bracketed && (!literal_address || literal.find(':') == std::string_view::npos)) {
    return finish(Verdict::kMalformed,
                  config::internal::Quoted(part.host) + " in brackets is not an IPv6 address");
  }
  if (!literal_address && part.host.find(':') != std::string::npos) {
    return finish(Verdict::kMalformed,
                  config::internal::Quoted(part.host) + " is not a valid IPv6 address");
  }
  if (!literal_address && (!zone.empty() || part.host.size() > kMaxHostLength ||
                           !std::all_of(part.host.begin(), part.host.end(), IsNameChar))) {
    return finish(Verdict::kMalformed,
                  "host " + config::internal::Quoted(part.host) +
                      " is not an ASCII host name (letters, digits, '-', '_', '.') or an IP "
                      "address");
  }

  std::string name = literal_address ? internal::AsciiLower(part.host) : CanonicalName(part.host);
  decision.host = name;
  if (MatchesAny(deny_patterns_, name)) {
    return finish(Verdict::kDenied,
                  "host " + config::internal::Quoted(name) + " matches a denied pattern");
  }
  bool host_allowed = allow_all_ || MatchesAny(allow_patterns_, name);
  if (!host_allowed && allow_networks_.empty()) {
    return finish(Verdict::kDenied,
                  "host " + config::internal::Quoted(name) + " matches no allowed pattern");
  }

  std::vector<std::pair<std::string, Address>> addresses;
  if (literal_address) {
    addresses.emplace_back(std::string(literal) + std::string(zone), *literal_address);
  } else {
    auto started = std::chrono::steady_clock::now();
    Resolution resolution = resolver_(name, options.timeout);
    decision.looked_up = true;
    decision.resolve_duration = std::chrono::steady_clock::now() - started;
    if (!resolution.error.empty() || resolution.addresses.empty()) {
      return finish(Verdict::kUnresolved,
                    "resolving " + config::internal::Quoted(name) + ": " +
                        (resolution.error.empty() ? "no IP addresses" : resolution.error));
    }
    for (const std::string& text : resolution.addresses) {
      std::optional<Address> parsed = ParseAddress(text);
      if (!parsed) {
        return finish(Verdict::kUnresolved, "resolving " + config::internal::Quoted(name) +
                                                ": unusable address " +
                                                config::internal::Quoted(text));
      }
      addresses.emplace_back(text, *parsed);
    }
  }
  for (const auto& [text, address] : addresses) {
    decision.addresses.push_back(text);
  }

  for (const auto& [text, address] : addresses) {
    if (auto why = Check(name, address, host_allowed)) {
      return finish(Verdict::kDenied, literal_address
                                          ? "address " + text + " is " + *why
                                          : "host " + config::internal::Quoted(name) +
                                                " resolves to " + text + ", which is " + *why);
    }
  }

  bool want_v4 = options.preferred_ip_protocol == config::IpProtocol::kIp4;
  auto pick = [&](bool v4) -> const std::string* {
    for (const auto& [text, address] : addresses) {
      if (address.v4 == v4) {
        return &text;
      }
    }
    return nullptr;
  };
  const std::string* pinned = pick(want_v4);
  if (pinned == nullptr && options.ip_protocol_fallback) {
    pinned = pick(!want_v4);
  }
  if (pinned == nullptr) {
    return finish(Verdict::kUnresolved, "no " + std::string(want_v4 ? "IPv4" : "IPv6") +
                                            " address for " + config::internal::Quoted(name) +
                                            " and ip_protocol_fallback is off");
  }
  decision.pinned_address = *pinned;
  return finish(Verdict::kAllowed, "");
}

}  // namespace nines::web
