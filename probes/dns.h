#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probes/prober.h"

namespace nines::probes {

/// The DNS prober: blackbox_exporter's `dns:` module, on c-ares driven by the event loop
/// (its sockets are watched with EventLoop::Watch, its timeouts run on a loop timer; no
/// thread, no blocking call).
///
/// The target is the DNS server to ask, as blackbox reads it: `host:port`, `[v6]:port`, or
/// without a port (53) `host` or a bare IPv6 address. An IP literal is used as it is; the
/// address `/probe` pinned is used as it is; any other host name is looked up first
/// (phase `resolve`, blackbox's probe_dns_lookup_time_seconds), honouring
/// `preferred_ip_protocol` and `ip_protocol_fallback` as blackbox does: with the fallback,
/// every address is looked up and the first of the preferred family wins, else the first
/// of the other; without it only the preferred family is looked up.
///
/// The resolver chosen per probe: `dns.resolver` (an IP address, optionally with a port:
/// `192.0.2.53`, `192.0.2.53:5353`, `[2001:db8::53]:53`) is the DNS server that resolves
/// the target's host name instead of the system resolver (/etc/resolv.conf, /etc/hosts).
/// It answers split-horizon setups, the most asked-for resolver option in blackbox's
/// issues (#577, #960, #1275, #1356), which blackbox cannot do: a module asking the
/// internal resolver for `ns1.corp` and another asking a public one. Without it the
/// system's configuration applies, read by c-ares (nameservers, search domains, ndots,
/// /etc/hosts; NSS modules other than `files` and `dns` are not consulted). With a
/// resolver, a name is looked up at the resolver and the address found is checked with
/// ProbeRequest::check_address before it is used (refused: reason `other`). `/probe` looks
/// the target up at the module's resolver too (LookUpAt()), applies its allow/deny policy
/// to what it found and pins the address, which the probe then uses as it is.
///
/// The query is one message (id random, RD per `recursion_desired`, one question of
/// `query_name` made fully qualified, `query_type`, `query_class`, no EDNS: exactly what
/// blackbox sends) over UDP, or TCP with `transport_protocol: tcp`, from
/// `source_ip_address` when set, with no retry. A truncated UDP answer is taken as it is
/// (no retry over TCP, as blackbox), and SERVFAIL, REFUSED and NOTIMP answers are taken
/// like any other.
///
/// Results: phases `resolve`, `connect` (until the socket is connected: a UDP socket at
/// once, a TCP one when the handshake ends) and `request` (from then until the answer),
/// as blackbox's probe_dns_duration_seconds; ip_protocol / ip_address of the server; and
/// `dns` (DnsFacts), present on every DNS result: the rcode, the number of records in each
/// section, `query_succeeded` (an answer arrived, whatever its rcode: blackbox 0.23's
/// probe_dns_query_succeeded) and, for SOA queries that got an answer, `serial` (the last
/// SOA of the answer section, 0 without one, as blackbox's probe_dns_serial).
///
/// Validation, as blackbox: the rcode must be one of `valid_rcodes` (default NOERROR; an
/// empty list accepts none), then each section's records must pass its `validate_*_rrs`.
/// The regexes (RE2, unanchored, like Go's regexp.MatchString) are matched against each
/// record's text in the form of Go's miekg/dns RR.String(), e.g.
/// `example.com.\t300\tIN\tA\t192.0.2.1` (see internal::DnsRecordText for the types it
/// renders). The four lists keep blackbox's exact semantics, one of which its name
/// belies:
///  - `fail_if_matches_regexp`: fails when any record matches any of them;
///  - `fail_if_not_matches_regexp`: fails when any record does not match one of them, and
///    when the section is empty;
///  - `fail_if_none_matches_regexp`: fails unless some record matches one of them, and
///    when the section is empty;
///  - `fail_if_all_match_regexp`: fails when some record does NOT match one of them (it
///    requires every record to match every regex); an empty section passes.
///
/// Failure reasons: `dns` (the server's name does not resolve, or not in time, or not to
/// the wanted family), `connect_refused` (ICMP port unreachable over UDP, RST over TCP),
/// `connect_timeout` (the TCP connection was not established in time), `timeout` (no
/// answer in time), `dns_rcode` (an answer whose rcode is not valid), `dns_validation` (a
/// `validate_*_rrs` rule failed), `other` (a bad target or option, a source address that
/// cannot be used, an address refused by check_address, a malformed answer).
///
/// Known gaps against blackbox: c-ares drops an answer whose question section differs
/// from the query's (a REFUSED without a question, as some public resolvers send it), so
/// such a server times out instead of failing on its rcode; a link-local server address
/// with a zone (`fe80::1%eth0`) is refused; `dns_over_tls` and `tls_config` (blackbox
/// 0.24+) are not supported.
///
/// Loop thread only, like every ProbeRun.
class DnsProbe final : public ProbeRun {
 public:
  /// Parses nothing yet: a malformed target or option fails the run when it starts.
  DnsProbe(EventLoop& loop, ProbeRequest request);
  /// Releases the c-ares channels, their watches and timers, in any state.
  ~DnsProbe() override;

 protected:
  void Begin() override;
  void Abort() override;
  ProbeResult TimedOut() override;

 private:
  struct State;

  /// Looks the server's name up (c-ares, system configuration or `resolver`).
  void StartResolve();
  /// Uses `address` (numeric) as the server: checks its family, then sends the query.
  void UseAddress(const std::string& address, bool looked_up);
  /// Sends the query to the chosen server.
  void StartQuery();
  /// Goes on after c-ares reported: handles a finished lookup or query. Called after
  /// every call into c-ares, never from inside one.
  void Advance();
  /// Advance() from a loop callback: an exception fails the run (reason `other`).
  void Progress();
  /// The lookup ended (Advance).
  void OnResolved();
  /// The query ended (Advance): records the facts and validates the answer.
  void OnAnswer();
  /// Ends the run as a failure after releasing the channels.
  void FailNow(FailureReason reason, std::string detail);
  /// Sets the `connect` and `request` phases from the query's timestamps, up to `end`.
  void SetQueryPhases(SteadyClock::time_point end);
  /// Frees the channels; safe to call more than once.
  void Release();

  std::unique_ptr<State> state_;
};

/// The numeric RR type of a `query_type` name, as blackbox accepts them (miekg/dns's
/// StringToType: "A", "AAAA", "MX", "SOA", "TXT", "CAA", "ANY", ...; upper case only).
std::optional<std::uint16_t> DnsTypeFromName(std::string_view name);

/// The numeric class of a `query_class` name: IN, CS, CH, HS, NONE, ANY.
std::optional<std::uint16_t> DnsClassFromName(std::string_view name);

/// The rcode of a `valid_rcodes` name: NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP (or
/// NOTIMPL), REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, BADSIG, BADKEY,
/// BADTIME, BADMODE, BADNAME, BADALG, BADTRUNC, BADCOOKIE.
std::optional<int> DnsRcodeFromName(std::string_view name);

/// The name of an rcode (NOERROR, NXDOMAIN, ...); "RCODE<n>" for one without a name.
std::string DnsRcodeName(int rcode);

/// Why `name` cannot be queried, or std::nullopt when it can: a domain name in
/// presentation format (`example.com`, `example.com.`, `.` for the root, `\.` and `\DDD`
/// escapes), labels of 1 to 63 octets, at most 255 octets in all.
std::optional<std::string> DnsNameProblem(std::string_view name);

/// Why `server` cannot be a `resolver`, or std::nullopt when it can: an IP address, or
/// `ipv4:port` / `[ipv6]:port` with a port from 1 to 65535.
std::optional<std::string> DnsServerProblem(std::string_view server);

/// What LookUpAt() found: the addresses (numeric, IPv4 and IPv6, in c-ares's order), or
/// why there are none.
struct DnsLookup {
  std::vector<std::string> addresses;
  std::string error;  // "" on success
};

/// Looks `host` up at the DNS server `server` (a `resolver` value, DnsServerProblem()),
/// for both address families, as a probe with that `resolver` does: only that server, no
/// /etc/hosts, no search domains. Blocks the calling thread at most `timeout`, on a c-ares
/// channel of its own; safe to call from several threads at once. `/probe` uses it to check
/// a DNS module's target against its policy with the addresses the probe will use.
DnsLookup LookUpAt(std::string_view server, const std::string& host,
                   std::chrono::nanoseconds timeout);

/// The wire format and the text of records, exposed for tests.
namespace internal {

/// One resource record of an answer.
struct DnsRecord {
  std::uint16_t type = 0;
  /// The record as Go's miekg/dns RR.String() renders it.
  std::string text;
  /// The serial of an SOA record.
  std::optional<std::uint32_t> soa_serial;
};

/// A parsed DNS message.
struct DnsMessage {
  std::uint16_t id = 0;
  bool response = false;
  bool truncated = false;
  /// With the extended bits of an OPT record, as miekg/dns computes it.
  int rcode = 0;
  std::vector<DnsRecord> answer;
  std::vector<DnsRecord> authority;
  std::vector<DnsRecord> additional;
};

/// A query message for `name` (presentation format, made fully qualified), without EDNS.
/// std::nullopt with `*why` set when the name cannot be encoded.
std::optional<std::vector<unsigned char>> BuildDnsQuery(std::string_view name, std::uint16_t type,
                                                        std::uint16_t dns_class,
                                                        bool recursion_desired, std::uint16_t id,
                                                        std::string* why);

/// Parses a whole message, as strictly as miekg/dns: a message ending right after its
/// header has empty sections; a record that does not parse fails the whole message
/// (`*why` says where). `now` is the Unix time RRSIG dates are read against (RFC 1982).
///
/// Records are rendered like miekg/dns for A, AAAA (IPv4-mapped as `::ffff:a.b.c.d`),
/// NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME, NSAP-PTR, SOA, HINFO, MINFO, MX, AFSDB, RT,
/// KX, TXT, SPF, AVC, NINFO, SRV, NAPTR, DS, CDS, DLV, TA, SSHFP, RRSIG, SIG, NSEC, NSEC3,
/// NSEC3PARAM, DNSKEY, CDNSKEY, KEY, RKEY, TLSA, OPENPGPKEY, URI, CAA and OPT (its EDNS
/// options are left out). Every other type, SVCB and HTTPS included, is rendered in the
/// RFC 3597 generic form miekg/dns uses for types it does not know
/// (`name.\tTTL\tCLASS1\tTYPE64\t\# 3 abcdef`).
std::optional<DnsMessage> ParseDnsMessage(std::span<const unsigned char> wire, std::int64_t now,
                                          std::string* why);

/// Checks one section against its validator, as blackbox's validRRs. Returns why it
/// fails, or std::nullopt when it passes. `log` gets a line for each record checked.
std::optional<std::string> ValidateRecords(const std::vector<DnsRecord>& records,
                                           const config::DnsRrValidator& validator,
                                           const std::function<void(std::string)>& log);

}  // namespace internal

}  // namespace nines::probes
