#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/config.h"
#include "probes/probe.h"

namespace nines::web {

/// What a host name resolved to: textual IP addresses in resolver order, or why there are
/// none.
struct Resolution {
  std::vector<std::string> addresses;
  std::string error;  // "" on success
};

/// Resolves a host name within `timeout`. Must be callable from several threads at once.
using Resolver =
    std::function<Resolution(const std::string& host, std::chrono::nanoseconds timeout)>;

/// The system resolver: getaddrinfo (so /etc/hosts and nsswitch apply) for every address
/// family. The lookup runs on a thread of its own, which keeps libc's resolver off the web
/// server's small worker stacks and lets the caller stop waiting after `timeout`; a lookup
/// that outlives it finishes in the background and its answer is dropped.
Resolution SystemResolve(const std::string& host, std::chrono::nanoseconds timeout);

/// How Decide() resolves a name and picks the address the probe will use (the module's
/// `preferred_ip_protocol` and `ip_protocol_fallback`, and the time left for the probe).
struct ResolveOptions {
  config::IpProtocol preferred_ip_protocol = config::IpProtocol::kIp6;
  bool ip_protocol_fallback = true;
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);
};

/// The answer of TargetPolicy::Decide().
struct TargetDecision {
  enum class Verdict {
    kAllowed,     // probe `probe_target`, connecting only to `pinned_address`
    kDenied,      // the policy forbids it (HTTP 403); no traffic at all
    kMalformed,   // the target cannot be parsed for this kind (HTTP 400)
    kUnresolved,  // the name did not resolve (or to no usable family): a DNS failure
  };
  Verdict verdict = Verdict::kDenied;
  /// Why, for every verdict but kAllowed: lowercase, names the host or the address (not
  /// the whole target, which the caller has).
  std::string reason;
  /// The target as the probe gets it: for HTTP, `http://` is put in front of a target
  /// without a scheme, as blackbox_exporter does; otherwise the target unchanged.
  std::string probe_target;
  /// The host extracted from the target, lowercased, without brackets or a trailing dot.
  std::string host;
  /// Every address the host stands for (the literal itself, or what it resolved to).
  std::vector<std::string> addresses;
  /// kAllowed: the checked address the probe must connect to (ProbeRequest::pinned_address).
  std::string pinned_address;
  /// Whether a name was looked up (false for IP literals and for decisions made before
  /// any lookup), and how long that took.
  bool looked_up = false;
  std::chrono::nanoseconds resolve_duration{0};
};

/// Which `/probe` targets may be probed: the `probe_endpoint.allow` and `.deny` lists of
/// the config. Entries are CIDRs (`10.0.0.0/8`, `fe80::/10`, a bare address meaning /32 or
/// /128) or host patterns (`db1.example.com`, `*.example.com`; `*` matches any run of
/// characters, dots included, so `*.example.com` matches `a.b.example.com` but not
/// `example.com`; compared without case).
///
/// Decide() applies these rules, in order, to the host of the target:
///  1. a target that cannot be parsed for its kind is kMalformed;
///  2. a host matching a `deny` pattern is kDenied, before any lookup;
///  3. with a non-empty `allow` that has no CIDRs, a host matching no `allow` pattern is
///     kDenied, before any lookup;
///  4. the host's addresses are the IP literal itself, or every address the resolver
///     returns for any family; a failed or timed-out lookup is kUnresolved;
///  5. if ANY address is in a `deny` CIDR: kDenied;
///  6. with a non-empty `allow`: unless the host matches an `allow` pattern, EVERY address
///     must be in an `allow` CIDR, else kDenied;
///  7. the pinned address is the first address of the preferred family, else (with
///     fallback) the first of the other; none is kUnresolved.
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) in targets and lookups are checked as the
/// IPv4 address they carry, and so are mapped entries of /96 or longer; an IPv6 network
/// never covers an IPv4 address (`::/0` denies no IPv4 target).
///
/// Target syntax by kind (blackbox_exporter's): HTTP a URL `[scheme://][user@]host[:port]
/// [/path][?query]` with scheme http or https (none means http), IPv6 in brackets; TCP
/// `host:port` or `[v6]:port`; DNS `host`, `host:port`, `[v6]:port` or a bare IPv6
/// address; ICMP a bare host or address. Hosts are ASCII names (letters, digits, `-`, `_`,
/// `.`) or IP addresses. Percent-encoded or non-ASCII host names, and URLs whose authority
/// holds a backslash or more than one '@', are refused rather than risk reading them
/// differently from the prober. Ports are decimal, 1 to 65535.
///
/// Immutable after construction; Decide() may be called from several threads at once.
class TargetPolicy {
 public:
  /// Builds the policy of `endpoint`. Throws std::invalid_argument naming the entry when
  /// one fails CheckEntry() (the config loader rejects those first). `resolver` looks
  /// names up; tests pass their own.
  explicit TargetPolicy(const config::ProbeEndpoint& endpoint, Resolver resolver = SystemResolve);

  /// Whether `entry` is a valid allow/deny entry: std::nullopt if so, else why not
  /// (e.g. "prefix length 33 is out of range for IPv4"). An entry made only of digits
  /// and dots, or holding ':' or '/', must be a CIDR; anything else a host pattern.
  static std::optional<std::string> CheckEntry(const std::string& entry);

  /// Decides whether `target` may be probed with a prober of `kind`; see the class comment
  /// for the rules. Blocks while a name is looked up, at most `options.timeout`.
  TargetDecision Decide(std::string_view target, probes::ProbeKind kind,
                        const ResolveOptions& options = {}) const;

  /// Applies rules 5 and 6 to one connection: why connecting to `address` (textual) for
  /// `host` is denied, or std::nullopt when it is allowed. For a prober that connects
  /// somewhere the target did not name (an HTTP redirect to another host).
  std::optional<std::string> CheckAddress(std::string_view host, std::string_view address) const;

 private:
  /// An address as 16 bytes; IPv4 (mapped ones included) as ::ffff:a.b.c.d.
  struct Address {
    std::array<std::uint8_t, 16> bytes{};
    bool v4 = false;
  };
  struct Network {
    Address base;
    int prefix = 0;  // over the 128 bits of Address::bytes
    std::string text;
  };

  static std::optional<Address> ParseAddress(std::string_view text);
  static bool Contains(const Network& network, const Address& address);
  static bool MatchesAny(const std::vector<std::string>& patterns, std::string_view host);
  std::optional<std::string> Check(std::string_view host, const Address& address,
                                   bool host_allowed) const;

  std::vector<Network> allow_networks_;
  std::vector<std::string> allow_patterns_;
  std::vector<Network> deny_networks_;
  std::vector<std::string> deny_patterns_;
  bool allow_all_ = true;
  Resolver resolver_;
};

}  // namespace nines::web
