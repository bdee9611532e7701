#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "probes/prober.h"

namespace nines::probes {

/// The ICMP prober: blackbox_exporter's `icmp:` module, plus several echo requests per run
/// (`packets`, `packet_interval`) for loss, round-trip times and jitter.
///
/// The target is a host name or an IP address (IPv6 without brackets, a link-local one
/// with its `%zone`). A name is resolved on the event loop (c-ares, so /etc/hosts and
/// resolv.conf apply) the way blackbox chooses: with `ip_protocol_fallback` one lookup of
/// both families, the first address of `preferred_ip_protocol` else the first of the other;
/// without it, a lookup of the preferred family only. A pinned address (`/probe`) is used
/// as it is; `check_address` may refuse the chosen address (reason `other`).
///
/// Sockets: an unprivileged ICMP datagram socket (SOCK_DGRAM, IPPROTO_ICMP or
/// IPPROTO_ICMPV6) when net.ipv4.ping_group_range includes one of the process's groups (the
/// kernel then picks the echo identifier and, for IPv4, fills the checksum), else a raw
/// socket, which needs CAP_NET_RAW. Neither is opened before a run starts, so a nines
/// without ICMP probes never holds one. When both are refused the run fails with reason
/// `other` and a detail naming the gid and the capability.
///
/// Each run sends `packets` echo requests `packet_interval` apart (the first at once), with
/// `payload_size` bytes of data (0: 28 bytes, blackbox's default size), each carrying a
/// random per-run cookie; `ttl` sets IP_TTL / IPV6_UNICAST_HOPS and `dont_fragment` sets
/// IP_PMTUDISC_DO / IPV6_DONTFRAG. Requests that would leave after the deadline are not
/// sent. A reply matches when it comes from the target with a sequence number of this run
/// and the data sent (and, on a raw socket, the run's identifier); everything else a raw
/// socket sees is ignored. ICMP destination unreachable, packet too big, time exceeded and
/// parameter problem messages about a request of this run settle that request as an error.
/// The run ends as soon as every request is sent and settled, else at the deadline.
///
/// Results: success when at least one reply arrived. Phases `resolve`, `setup` (socket to
/// first request) and `rtt` (the first reply's round-trip time, absent without a reply),
/// as blackbox reports them. `icmp` holds the counts, each reply's RTT in request order
/// and the hop limit of the last reply (IP_RECVTTL / IPV6_RECVHOPLIMIT). Failure reasons:
/// `dns` (no address), `icmp_unreachable` (only ICMP errors, or no route to the target),
/// `timeout` (no answer at all), `other` (bad target, socket refused, send failures).
///
/// Loop thread only, like every ProbeRun.
class IcmpProbe final : public ProbeRun {
 public:
  /// Parses nothing yet: a malformed target fails the run when it starts.
  IcmpProbe(EventLoop& loop, ProbeRequest request);
  /// Releases the lookup, the timers, the watch and the socket, in any state.
  ~IcmpProbe() override;

 protected:
  void Begin() override;
  void Abort() override;
  ProbeResult TimedOut() override;

 private:
  struct State;

  /// Starts the c-ares lookup of `host` for `family` (AF_UNSPEC: both).
  void StartLookup(const std::string& host, int family);
  /// Runs c-ares on a ready socket (or its timeouts when `fd` is -1), then goes on when the
  /// lookup ended.
  void ProcessLookup(int fd, std::uint32_t events);
  /// Re-arms the timer c-ares asks for.
  void ArmLookupTimer();
  /// The lookup ended: picks the address or fails with `dns`.
  void OnLookupDone();
  /// Uses `address` (numeric, with the family of `family`): checks it, opens the socket.
  void UseAddress(const std::string& address);
  /// Opens and configures the socket; false when the run ended.
  bool OpenSocket();
  /// Sends request `index` and schedules the next one.
  void SendRequest(int index);
  /// Reads everything the socket has (replies, errors, the error queue).
  void OnSocket(std::uint32_t events);
  /// Handles one datagram read from the socket at `when`, sent by `from`.
  void OnPacket(const unsigned char* data, std::size_t size, const sockaddr_storage& from,
                std::optional<int> hop_limit, SteadyClock::time_point when);
  /// Handles one entry of a datagram socket's error queue; false when it was empty.
  bool ReadErrorQueue();
  /// Marks request `sequence` as answered by an ICMP error.
  void SettleWithError(std::uint16_t sequence, const std::string& what);
  /// Finishes when every request is sent and settled.
  void MaybeFinish();
  /// The result as it stands; `timed_out` when the deadline ended the run.
  ProbeResult Outcome(bool timed_out);
  /// Ends the run as a failure after releasing everything.
  void FailNow(FailureReason reason, std::string detail);
  /// Frees the lookup, timers, watch and socket; safe to call more than once.
  void Release();

  std::unique_ptr<State> state_;
};

}  // namespace nines::probes
