#include "probes/icmp.h"

#include <ares.h>
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace nines::probes {
namespace {

// blackbox sends 28 bytes of data ("Prometheus Blackbox Exporter") when payload_size is 0.
constexpr std::size_t kDefaultDataBytes = 28;
// The random cookie at the start of the data (shorter when payload_size is smaller).
constexpr std::size_t kCookieBytes = 8;
constexpr std::string_view kFiller = "nines icmp echo ";
constexpr std::size_t kEchoHeaderBytes = 8;
// Reads per socket event, so one busy raw socket cannot starve the loop.
constexpr int kReadsPerEvent = 64;

// ICMP types (RFC 792, RFC 4443).
constexpr unsigned char kEchoReply4 = 0;
constexpr unsigned char kUnreachable4 = 3;
constexpr unsigned char kEchoRequest4 = 8;
constexpr unsigned char kTimeExceeded4 = 11;
constexpr unsigned char kParameterProblem4 = 12;
constexpr unsigned char kUnreachable6 = 1;
constexpr unsigned char kPacketTooBig6 = 2;
constexpr unsigned char kTimeExceeded6 = 3;
constexpr unsigned char kParameterProblem6 = 4;
constexpr unsigned char kEchoRequest6 = 128;
constexpr unsigned char kEchoReply6 = 129;
constexpr unsigned char kIcmpProtocol = 1;
constexpr unsigned char kIcmp6NextHeader = 58;

// ICMP_FILTER and struct icmp_filter of <linux/icmp.h>, which cannot be included with
// <net/if.h>: a raw IPv4 socket drops the types whose bit is set.
constexpr int kIcmpFilterOption = 1;
struct IcmpFilter {
  std::uint32_t data;
};

// Joins text pieces (messages built from many parts).
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

std::string ErrnoText(int error) { return std::generic_category().message(error); }

std::string FamilyName(int family) { return family == AF_INET ? "ip4" : "ip6"; }

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// The family of a numeric address (an IPv6 one possibly with a %zone), AF_UNSPEC otherwise.
int LiteralFamily(std::string_view text) {
  std::string address(text.substr(0, text.find('%')));
  std::array<unsigned char, sizeof(in6_addr)> buffer{};
  if (text.find('%') == std::string_view::npos &&
      inet_pton(AF_INET, address.c_str(), buffer.data()) == 1) {
    return AF_INET;
  }
  if (inet_pton(AF_INET6, address.c_str(), buffer.data()) == 1) {
    return AF_INET6;
  }
  return AF_UNSPEC;
}

std::string AddressText(int family, const void* bytes) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_ntop(family, bytes, text.data(), text.size()) == nullptr) {
    return "?";
  }
  return text.data();
}

std::string SockaddrText(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return AddressText(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr);
  }
  if (address.ss_family == AF_INET6) {
    return AddressText(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr);
  }
  return "?";
}

// RFC 1071 checksum, for IPv4 raw sockets (the kernel computes it everywhere else).
std::uint16_t Checksum(const std::vector<unsigned char>& bytes) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
    sum += static_cast<std::uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  }
  if (bytes.size() % 2 == 1) {
    sum += static_cast<std::uint32_t>(bytes.back() << 8);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::uint16_t Read16(const unsigned char* bytes) {
  return static_cast<std::uint16_t>(bytes[0] << 8 | bytes[1]);
}

void Random(void* out, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t filled = 0;
  while (filled < size) {
    ssize_t n = getrandom(bytes + filled, size - filled, GRND_NONBLOCK);
    if (n <= 0) {
      break;
    }
    filled += static_cast<std::size_t>(n);
  }
  // No entropy yet (early boot): the clock still tells concurrent runs apart.
  auto ticks = static_cast<std::uint64_t>(SteadyClock::now().time_since_epoch().count());
  for (std::size_t i = filled; i < size; ++i) {
    bytes[i] = static_cast<unsigned char>(ticks >> (8 * (i % 8)));
  }
}

std::string ReadFirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  for (char& c : line) {
    if (c == '\t') {
      c = ' ';
    }
  }
  return line;
}

// What an ICMP error message says, in words.
std::string IcmpErrorText(int family, int type, int code) {
  std::string text;
  if (family == AF_INET) {
    static constexpr std::array<std::string_view, 16> kUnreachable = {
        "net unreachable",
        "host unreachable",
        "protocol unreachable",
        "port unreachable",
        "fragmentation needed and DF set",
        "source route failed",
        "destination network unknown",
        "destination host unknown",
        "source host isolated",
        "network administratively prohibited",
        "host administratively prohibited",
        "network unreachable for TOS",
        "host unreachable for TOS",
        "communication administratively prohibited",
        "host precedence violation",
        "precedence cutoff in effect"};
    if (type == kUnreachable4) {
      text = "destination unreachable";
      if (code >= 0 && static_cast<std::size_t>(code) < kUnreachable.size()) {
        text = Cat(text, " (", kUnreachable[static_cast<std::size_t>(code)], ")");
      }
    } else if (type == kTimeExceeded4) {
      text = code == 1 ? "time exceeded (fragment reassembly)" : "time exceeded (ttl exceeded)";
    } else if (type == kParameterProblem4) {
      text = "parameter problem";
    } else {
      text = Cat("icmp type ", std::to_string(type));
    }
  } else {
    static constexpr std::array<std::string_view, 7> kUnreachable = {
        "no route to destination",
        "communication administratively prohibited",
        "beyond scope of source address",
        "address unreachable",
        "port unreachable",
        "source address failed ingress/egress policy",
        "reject route to destination"};
    if (type == kUnreachable6) {
      text = "destination unreachable";
      if (code >= 0 && static_cast<std::size_t>(code) < kUnreachable.size()) {
        text = Cat(text, " (", kUnreachable[static_cast<std::size_t>(code)], ")");
      }
    } else if (type == kPacketTooBig6) {
      text = "packet too big";
    } else if (type == kTimeExceeded6) {
      text =
          code == 1 ? "time exceeded (fragment reassembly)" : "time exceeded (hop limit exceeded)";
    } else if (type == kParameterProblem6) {
      text = "parameter problem";
    } else {
      text = Cat("icmpv6 type ", std::to_string(type));
    }
  }
  return Cat(text, " (type ", std::to_string(type), ", code ", std::to_string(code), ")");
}

bool IsErrorType(int family, unsigned char type) {
  if (family == AF_INET) {
    return type == kUnreachable4 || type == kTimeExceeded4 || type == kParameterProblem4;
  }
  return type == kUnreachable6 || type == kPacketTooBig6 || type == kTimeExceeded6 ||
         type == kParameterProblem6;
}

void AresInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (int status = ares_library_init(ARES_LIB_INIT_ALL); status != ARES_SUCCESS) {
      throw std::runtime_error(Cat("c-ares: ", ares_strerror(status)));
    }
  });
}

}  // namespace

struct IcmpProbe::State {
  // One echo request.
  struct Packet {
    bool sent = false;
    bool replied = false;
    bool errored = false;
    SteadyClock::time_point sent_at{};
    double rtt = 0;
  };

  // c-ares hooks: they only record what happened; the probe goes on once c-ares returned.
  static void OnAresSocket(void* data, ares_socket_t fd, int readable, int writable);
  static void OnAresResult(void* arg, int status, int timeouts, ares_addrinfo* info);

  explicit State(IcmpProbe* probe) : self(probe) {}

  IcmpProbe* self;

  // What to probe.
  std::string host;  // the target without its %zone
  std::string zone;
  int preferred = AF_INET6;
  bool fallback = true;

  // The lookup of a host name.
  ares_channel channel = nullptr;
  bool lookup_done = false;
  int lookup_status = ARES_SUCCESS;
  std::vector<std::pair<int, std::string>> addresses;  // family, numeric address
  EventLoop::TimerId lookup_timer = 0;
  std::vector<int> lookup_fds;
  SteadyClock::time_point lookup_started{};

  // The address probed.
  int family = AF_UNSPEC;
  std::array<unsigned char, 16> target{};  // 4 or 16 bytes used
  sockaddr_storage destination{};
  socklen_t destination_size = 0;

  // The socket.
  int fd = -1;
  bool raw = false;
  bool watched = false;
  SteadyClock::time_point setup_started{};

  // The requests.
  std::uint16_t identifier = 0;  // raw sockets only; the kernel picks it for datagram ones
  std::uint16_t first_sequence = 0;
  std::vector<unsigned char> data;  // the echo data of every request of the run
  std::vector<Packet> packets;
  SteadyClock::time_point first_send{};
  EventLoop::TimerId send_timer = 0;
  bool sending_done = false;
  int sent = 0;
  int received = 0;
  int errors = 0;
  int not_sent = 0;  // would have left after the deadline
  bool first_reply_seen = false;
  std::optional<int> hop_limit;
  std::string first_error;  // the first ICMP error, in words
  FailureReason send_failure = FailureReason::kNone;
  std::string send_error;
  std::uint64_t ignored = 0;
  bool receive_error_logged = false;
  std::vector<unsigned char> buffer;

  std::string Target() const { return AddressText(family, target.data()); }

  // The index of the request with `sequence`, when this run sent it.
  std::optional<std::size_t> IndexOf(std::uint16_t sequence) const {
    auto index = static_cast<std::uint16_t>(sequence - first_sequence);
    if (index >= packets.size() || !packets[index].sent) {
      return std::nullopt;
    }
    return index;
  }

  bool IsTarget(const unsigned char* bytes) const {
    return std::memcmp(bytes, target.data(), family == AF_INET ? 4 : 16) == 0;
  }

  bool Settled() const { return sending_done && received + errors >= sent; }
};

void IcmpProbe::State::OnAresSocket(void* data, ares_socket_t fd, int readable, int writable) {
  auto* state = static_cast<State*>(data);
  IcmpProbe* self = state->self;
  if (readable == 0 && writable == 0) {
    self->loop().Unwatch(fd);
    std::erase(state->lookup_fds, fd);
    return;
  }
  std::uint32_t events = (readable != 0 ? EPOLLIN : 0U) | (writable != 0 ? EPOLLOUT : 0U);
  self->loop().Watch(fd, events, [self, fd](std::uint32_t ready) {
    try {
      self->ProcessLookup(fd, ready);
    } catch (const std::exception& e) {
      self->FailNow(FailureReason::kOther, e.what());
    }
  });
  if (std::find(state->lookup_fds.begin(), state->lookup_fds.end(), fd) ==
      state->lookup_fds.end()) {
    state->lookup_fds.push_back(fd);
  }
}

void IcmpProbe::State::OnAresResult(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
  auto* state = static_cast<State*>(arg);
  state->lookup_done = true;
  state->lookup_status = status;
  if (info == nullptr) {
    return;
  }
  for (const ares_addrinfo_node* node = info->nodes; node != nullptr; node = node->ai_next) {
    if (node->ai_family == AF_INET && node->ai_addr != nullptr) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
      state->addresses.emplace_back(AF_INET, AddressText(AF_INET, &v4->sin_addr));
    } else if (node->ai_family == AF_INET6 && node->ai_addr != nullptr) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
      state->addresses.emplace_back(AF_INET6, AddressText(AF_INET6, &v6->sin6_addr));
    }
  }
  ares_freeaddrinfo(info);
}

IcmpProbe::IcmpProbe(EventLoop& loop, ProbeRequest request)
    : ProbeRun(loop, std::move(request)), state_(std::make_unique<State>(this)) {}

IcmpProbe::~IcmpProbe() { Release(); }

void IcmpProbe::Begin() {
  State& s = *state_;
  const config::IcmpModule& icmp = module().icmp;
  const std::string& target = request().target;
  s.preferred = icmp.preferred_ip_protocol == config::IpProtocol::kIp4 ? AF_INET : AF_INET6;
  s.fallback = icmp.ip_protocol_fallback;
  s.packets.resize(static_cast<std::size_t>(std::clamp(icmp.packets, 1, 65535)));

  s.host = target.substr(0, target.find('%'));
  if (target.find('%') != std::string::npos) {
    s.zone = target.substr(target.find('%') + 1);
  }
  int literal = LiteralFamily(target);
  if (target.empty()) {
    Fail(FailureReason::kOther, "empty target, want a host name or an IP address");
    return;
  }
  if (literal == AF_UNSPEC &&
      (!s.zone.empty() || !std::all_of(target.begin(), target.end(), IsHostNameChar))) {
    Fail(FailureReason::kOther,
         Cat("invalid target \"", target, "\", want a host name or an IP address"));
    return;
  }

  std::string known = literal != AF_UNSPEC ? target : "";
  const std::string& pinned = request().pinned_address;
  if (known.empty() && !pinned.empty()) {
    known = pinned.size() > 2 && pinned.front() == '[' && pinned.back() == ']'
                ? pinned.substr(1, pinned.size() - 2)
                : pinned;
    if (LiteralFamily(known) == AF_UNSPEC) {
      Fail(FailureReason::kOther, Cat("pinned address \"", pinned, "\" is not an IP address"));
      return;
    }
    Log(Cat("pinned: \"", s.host, "\" is probed only at ", known));
    s.zone = known.find('%') != std::string::npos ? known.substr(known.find('%') + 1) : "";
    known.resize(std::min(known.size(), known.find('%')));
  } else {
    known.resize(std::min(known.size(), known.find('%')));
  }
  s.lookup_started = SteadyClock::now();
  if (!known.empty()) {
    int family = LiteralFamily(known);
    result().phases["resolve"] = SteadyClock::now() - s.lookup_started;
    if (family != s.preferred && !s.fallback) {
      Fail(FailureReason::kDns, Cat("no ", FamilyName(s.preferred), " address for \"", s.host,
                                    "\" and ip_protocol_fallback is off"));
      return;
    }
    UseAddress(known);
    return;
  }
  StartLookup(s.host, s.fallback ? AF_UNSPEC : s.preferred);
}

void IcmpProbe::StartLookup(const std::string& host, int family) {
  State& s = *state_;
  AresInit();
  ares_options options{};
  options.sock_state_cb = &State::OnAresSocket;
  options.sock_state_cb_data = &s;
  options.timeout = 1000;  // ms, per try; the run's deadline bounds the whole lookup
  options.tries = 3;
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  if (int status = ares_init_options(&s.channel, &options, mask); status != ARES_SUCCESS) {
    s.channel = nullptr;
    FailNow(FailureReason::kDns,
            Cat("cannot set up the resolver for \"", host, "\": ", ares_strerror(status)));
    return;
  }
  Log(Cat("resolving \"", host, "\" (",
          family == AF_UNSPEC
              ? Cat(FamilyName(s.preferred), " preferred, ",
                    FamilyName(s.preferred == AF_INET ? AF_INET6 : AF_INET), " as fallback")
              : Cat(FamilyName(family), " only"),
          ")"));
  ares_addrinfo_hints hints{};
  hints.ai_family = family;
  ares_getaddrinfo(s.channel, host.c_str(), nullptr, &hints, &State::OnAresResult, &s);
  if (s.lookup_done) {  // answered at once (/etc/hosts)
    OnLookupDone();
    return;
  }
  ArmLookupTimer();
}

void IcmpProbe::ArmLookupTimer() {
  State& s = *state_;
  if (s.lookup_timer != 0) {
    loop().CancelTimer(s.lookup_timer);
    s.lookup_timer = 0;
  }
  timeval wait{};
  if (ares_timeout(s.channel, nullptr, &wait) == nullptr) {
    return;
  }
  auto when = SteadyClock::now() + std::chrono::seconds(wait.tv_sec) +
              std::chrono::microseconds(wait.tv_usec);
  s.lookup_timer = loop().AddTimer(when, [this] {
    state_->lookup_timer = 0;
    try {
      ProcessLookup(-1, 0);
    } catch (const std::exception& e) {
      FailNow(FailureReason::kOther, e.what());
    }
  });
}

void IcmpProbe::ProcessLookup(int fd, std::uint32_t events) {
  State& s = *state_;
  if (s.channel == nullptr) {
    return;
  }
  ares_socket_t read_fd =
      fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 ? fd : ARES_SOCKET_BAD;
  ares_socket_t write_fd = fd >= 0 && (events & EPOLLOUT) != 0 ? fd : ARES_SOCKET_BAD;
  ares_process_fd(s.channel, read_fd, write_fd);
  if (s.lookup_done) {
    OnLookupDone();
  } else {
    ArmLookupTimer();
  }
}

void IcmpProbe::OnLookupDone() {
  State& s = *state_;
  result().phases["resolve"] = SteadyClock::now() - s.lookup_started;
  if (s.lookup_timer != 0) {
    loop().CancelTimer(s.lookup_timer);
    s.lookup_timer = 0;
  }
  // Not from inside c-ares: every caller runs after ares_getaddrinfo or ares_process_fd
  // returned.
  ares_destroy(s.channel);
  s.channel = nullptr;
  const std::pair<int, std::string>* chosen = nullptr;
  for (const auto& entry : s.addresses) {
    if (entry.first == s.preferred) {
      chosen = &entry;
      break;
    }
    if (chosen == nullptr && s.fallback) {
      chosen = &entry;
    }
  }
  if (chosen == nullptr || s.lookup_status != ARES_SUCCESS) {
    std::string why = s.lookup_status != ARES_SUCCESS ? ares_strerror(s.lookup_status)
                                                      : "no address of a usable family";
    FailNow(FailureReason::kDns, Cat("cannot resolve \"", s.host, "\": ", why));
    return;
  }
  // A copy: FailNow below may clear the list.
  std::string address = chosen->second;
  Log(Cat("resolved \"", s.host, "\" to ", address));
  UseAddress(address);
}

void IcmpProbe::UseAddress(const std::string& address) {
  State& s = *state_;
  s.family = LiteralFamily(address);
  inet_pton(s.family, address.c_str(), s.target.data());
  result().ip_address = address;
  result().ip_protocol = s.family == AF_INET ? 4 : 6;
  if (request().check_address) {
    if (std::optional<std::string> refused = request().check_address(s.host, address)) {
      FailNow(FailureReason::kOther,
              Cat("address ", address, " of \"", s.host, "\" may not be probed: ", *refused));
      return;
    }
  }
  if (s.family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&s.destination);
    v4->sin_family = AF_INET;
    std::memcpy(&v4->sin_addr, s.target.data(), 4);
    s.destination_size = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&s.destination);
    v6->sin6_family = AF_INET6;
    std::memcpy(&v6->sin6_addr, s.target.data(), 16);
    if (!s.zone.empty()) {
      unsigned index = if_nametoindex(s.zone.c_str());
      if (index == 0 &&
          std::all_of(s.zone.begin(), s.zone.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        index = static_cast<unsigned>(std::stoul(s.zone));
      }
      if (index == 0) {
        FailNow(FailureReason::kOther, Cat("unknown zone \"", s.zone, "\" in the target"));
        return;
      }
      v6->sin6_scope_id = index;
    }
    s.destination_size = sizeof(sockaddr_in6);
  }
  if (!OpenSocket()) {
    return;
  }
  SendRequest(0);
}

bool IcmpProbe::OpenSocket() {
  State& s = *state_;
  const config::IcmpModule& icmp = module().icmp;
  s.setup_started = SteadyClock::now();
  const bool v4 = s.family == AF_INET;
  const int protocol = v4 ? static_cast<int>(IPPROTO_ICMP) : static_cast<int>(IPPROTO_ICMPV6);
  // ping_group_range first: it needs no privilege, and the kernel keeps replies to other
  // sockets away from this one.
  s.fd = socket(s.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  int datagram_error = s.fd < 0 ? errno : 0;
  if (s.fd < 0) {
    s.fd = socket(s.family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    int raw_error = s.fd < 0 ? errno : 0;
    if (s.fd < 0) {
      if ((datagram_error == EACCES || datagram_error == EPERM) &&
          (raw_error == EPERM || raw_error == EACCES)) {
        FailNow(FailureReason::kOther,
                Cat("ICMP needs net.ipv4.ping_group_range to include gid ",
                    std::to_string(getegid()), " (it is \"",
                    ReadFirstLine("/proc/sys/net/ipv4/ping_group_range"), "\") or CAP_NET_RAW"));
      } else {
        FailNow(FailureReason::kOther,
                Cat("cannot open an ICMP socket (", FamilyName(s.family),
                    "): datagram: ", ErrnoText(datagram_error), "; raw: ", ErrnoText(raw_error)));
      }
      return false;
    }
    s.raw = true;
    Log(Cat("using a raw ICMP socket (the unprivileged datagram socket was refused: ",
            ErrnoText(datagram_error), ")"));
  } else {
    Log("using an unprivileged ICMP datagram socket");
  }

  auto set = [&](int level, int name, int value, std::string_view what) {
    if (setsockopt(s.fd, level, name, &value, sizeof value) != 0) {
      FailNow(FailureReason::kOther, Cat("cannot set ", what, ": ", ErrnoText(errno)));
      return false;
    }
    return true;
  };
  const std::string& source = icmp.source_ip_address;
  if (!source.empty()) {
    int source_family = LiteralFamily(source);
    if (source_family != s.family) {
      FailNow(FailureReason::kOther,
              Cat("source_ip_address ", source, " is not an ", FamilyName(s.family),
                  " address like the target's ", s.Target()));
      return false;
    }
    sockaddr_storage bind_to{};
    socklen_t size = 0;
    if (v4) {
      auto* address = reinterpret_cast<sockaddr_in*>(&bind_to);
      address->sin_family = AF_INET;
      inet_pton(AF_INET, source.c_str(), &address->sin_addr);
      size = sizeof(sockaddr_in);
    } else {
      auto* address = reinterpret_cast<sockaddr_in6*>(&bind_to);
      address->sin6_family = AF_INET6;
      inet_pton(AF_INET6, source.c_str(), &address->sin6_addr);
      size = sizeof(sockaddr_in6);
    }
    if (bind(s.fd, reinterpret_cast<const sockaddr*>(&bind_to), size) != 0) {
      FailNow(FailureReason::kOther,
              Cat("cannot use source_ip_address ", source, ": ", ErrnoText(errno)));
      return false;
    }
    Log(Cat("sending from ", source));
  }
  if (v4) {
    if ((icmp.ttl > 0 && !set(IPPROTO_IP, IP_TTL, icmp.ttl, "ttl")) ||
        (icmp.dont_fragment &&
         !set(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "dont_fragment")) ||
        !set(IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL") ||
        (!s.raw && !set(IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR"))) {
      return false;
    }
    if (s.raw) {
      // Only what can concern a request: replies and the errors quoting one.
      IcmpFilter filter{~((1U << kEchoReply4) | (1U << kUnreachable4) | (1U << kTimeExceeded4) |
                          (1U << kParameterProblem4))};
      if (setsockopt(s.fd, SOL_RAW, kIcmpFilterOption, &filter, sizeof filter) != 0) {
        Log(Cat("cannot filter ICMP types (", ErrnoText(errno), "); filtering here"));
      }
    }
  } else {
    if ((icmp.ttl > 0 && !set(IPPROTO_IPV6, IPV6_UNICAST_HOPS, icmp.ttl, "ttl")) ||
        (icmp.dont_fragment && !set(IPPROTO_IPV6, IPV6_DONTFRAG, 1, "dont_fragment")) ||
        !set(IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT") ||
        (!s.raw && !set(IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR"))) {
      return false;
    }
    if (s.raw) {
      icmp6_filter filter{};
      ICMP6_FILTER_SETBLOCKALL(&filter);
      for (int type :
           {kEchoReply6, kUnreachable6, kPacketTooBig6, kTimeExceeded6, kParameterProblem6}) {
        ICMP6_FILTER_SETPASS(type, &filter);
      }
      if (setsockopt(s.fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0) {
        Log(Cat("cannot filter ICMPv6 types (", ErrnoText(errno), "); filtering here"));
      }
    }
  }

  std::array<unsigned char, 2 + 2 + kCookieBytes> random{};
  Random(random.data(), random.size());
  s.identifier = Read16(random.data());
  s.first_sequence = Read16(random.data() + 2);
  std::size_t size =
      icmp.payload_size > 0 ? static_cast<std::size_t>(icmp.payload_size) : kDefaultDataBytes;
  s.data.resize(size);
  for (std::size_t i = 0; i < size; ++i) {
    s.data[i] = i < kCookieBytes
                    ? random[4 + i]
                    : static_cast<unsigned char>(kFiller[(i - kCookieBytes) % kFiller.size()]);
  }
  // Room for the largest IPv4 header, the echo header, the data and what an error quotes.
  s.buffer.resize(std::max<std::size_t>(2048, 60 + kEchoHeaderBytes + size + 64));

  loop().Watch(s.fd, EPOLLIN, [this](std::uint32_t events) {
    try {
      OnSocket(events);
    } catch (const std::exception& e) {
      FailNow(FailureReason::kOther, e.what());
    }
  });
  s.watched = true;
  Log(Cat("sending ", std::to_string(s.packets.size()), " echo request(s) with ",
          std::to_string(size), " bytes of data to ", s.Target(),
          icmp.ttl > 0 ? Cat(", ttl ", std::to_string(icmp.ttl)) : "",
          icmp.dont_fragment ? ", don't fragment" : ""));
  return true;
}

void IcmpProbe::SendRequest(int index) {
  State& s = *state_;
  const auto i = static_cast<std::size_t>(index);
  const bool v4 = s.family == AF_INET;
  const auto sequence = static_cast<std::uint16_t>(s.first_sequence + i);
  std::vector<unsigned char> message(kEchoHeaderBytes);
  message[0] = v4 ? kEchoRequest4 : kEchoRequest6;
  message[4] = static_cast<unsigned char>(s.identifier >> 8);
  message[5] = static_cast<unsigned char>(s.identifier & 0xff);
  message[6] = static_cast<unsigned char>(sequence >> 8);
  message[7] = static_cast<unsigned char>(sequence & 0xff);
  message.insert(message.end(), s.data.begin(), s.data.end());
  if (v4 && s.raw) {
    std::uint16_t sum = Checksum(message);
    message[2] = static_cast<unsigned char>(sum >> 8);
    message[3] = static_cast<unsigned char>(sum & 0xff);
  }
  SteadyClock::time_point now = SteadyClock::now();
  if (index == 0) {
    result().phases["setup"] = now - s.setup_started;
    s.first_send = now;
  }
  ssize_t n = sendto(s.fd, message.data(), message.size(), 0,
                     reinterpret_cast<const sockaddr*>(&s.destination), s.destination_size);
  if (n >= 0) {
    s.packets[i].sent = true;
    s.packets[i].sent_at = now;
    ++s.sent;
    Log(Cat("echo request seq=", std::to_string(sequence), " sent"));
  } else {
    int error = errno;
    std::string why = Cat("cannot send an echo request to ", s.Target(), ": ", ErrnoText(error),
                          error == EMSGSIZE && module().icmp.dont_fragment
                              ? " (payload_size does not fit the path MTU and dont_fragment is set)"
                              : "");
    Log(why);
    if (s.send_error.empty()) {
      s.send_error = why;
      s.send_failure = error == ENETUNREACH || error == EHOSTUNREACH
                           ? FailureReason::kIcmpUnreachable
                           : FailureReason::kOther;
    }
  }

  if (i + 1 < s.packets.size()) {
    SteadyClock::time_point next =
        s.first_send + module().icmp.packet_interval * static_cast<std::int64_t>(i + 1);
    if (next < deadline()) {
      s.send_timer = loop().AddTimer(next, [this, index] {
        state_->send_timer = 0;
        try {
          SendRequest(index + 1);
        } catch (const std::exception& e) {
          FailNow(FailureReason::kOther, e.what());
        }
      });
    } else {
      s.not_sent = static_cast<int>(s.packets.size() - i - 1);
      s.sending_done = true;
      Log(Cat(std::to_string(s.not_sent),
              " echo request(s) not sent: they would leave after the deadline"));
    }
  } else {
    s.sending_done = true;
  }
  MaybeFinish();
}

void IcmpProbe::OnSocket(std::uint32_t events) {
  State& s = *state_;
  if ((events & EPOLLERR) != 0) {
    if (!s.raw) {
      for (int i = 0; i < kReadsPerEvent && !finished() && ReadErrorQueue(); ++i) {
      }
    }
    // An ICMP error may also leave a pending socket error; reading it clears it, so
    // epoll stops reporting it.
    int pending = 0;
    socklen_t size = sizeof pending;
    getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &pending, &size);
  }
  for (int i = 0; i < kReadsPerEvent && !finished(); ++i) {
    sockaddr_storage from{};
    std::array<char, 256> control{};
    iovec io{s.buffer.data(), s.buffer.size()};
    msghdr message{};
    message.msg_name = &from;
    message.msg_namelen = sizeof from;
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    ssize_t n = recvmsg(s.fd, &message, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      if (errno != EINTR && !s.receive_error_logged) {
        // A pending error from an ICMP message, reported once; the data is still there.
        Log(Cat("receiving: ", ErrnoText(errno)));
        s.receive_error_logged = true;
      }
      continue;
    }
    SteadyClock::time_point when = SteadyClock::now();
    std::optional<int> hop_limit;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
          (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
        int value = 0;
        std::memcpy(&value, CMSG_DATA(c), sizeof value);
        hop_limit = value;
      }
    }
    auto size = std::min(static_cast<std::size_t>(n), s.buffer.size());
    OnPacket(s.buffer.data(), size, from, hop_limit, when);
  }
  if (!finished()) {
    MaybeFinish();
  }
}

void IcmpProbe::OnPacket(const unsigned char* data, std::size_t size, const sockaddr_storage& from,
                         std::optional<int> hop_limit, SteadyClock::time_point when) {
  State& s = *state_;
  const bool v4 = s.family == AF_INET;
  if (from.ss_family != s.family) {
    ++s.ignored;
    return;
  }
  if (v4 && s.raw) {
    // A raw IPv4 socket reads the IP header too.
    if (size < 20 || (data[0] >> 4) != 4) {
      ++s.ignored;
      return;
    }
    std::size_t header = static_cast<std::size_t>(data[0] & 0x0f) * 4;
    if (header < 20 || size < header) {
      ++s.ignored;
      return;
    }
    data += header;
    size -= header;
  }
  if (size < kEchoHeaderBytes) {
    ++s.ignored;
    return;
  }
  const unsigned char type = data[0];
  const unsigned char code = data[1];
  const void* source =
      v4 ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&from)->sin_addr)
         : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&from)->sin6_addr);
  const std::string source_text = AddressText(s.family, source);

  if (type == (v4 ? kEchoReply4 : kEchoReply6)) {
    const std::uint16_t sequence = Read16(data + 6);
    std::optional<std::size_t> index = s.IndexOf(sequence);
    // The kernel picks a datagram socket's identifier and delivers only its replies.
    if (!s.IsTarget(static_cast<const unsigned char*>(source)) || !index ||
        (s.raw && Read16(data + 4) != s.identifier) || size - kEchoHeaderBytes != s.data.size() ||
        !std::equal(s.data.begin(), s.data.end(), data + kEchoHeaderBytes)) {
      ++s.ignored;
      return;
    }
    State::Packet& packet = s.packets[*index];
    if (packet.replied || packet.errored) {
      Log(Cat("duplicate echo reply seq=", std::to_string(sequence), " from ", source_text));
      return;
    }
    packet.replied = true;
    packet.rtt = std::chrono::duration<double>(when - packet.sent_at).count();
    ++s.received;
    if (hop_limit) {
      s.hop_limit = hop_limit;
    }
    if (!s.first_reply_seen) {
      s.first_reply_seen = true;
      result().phases["rtt"] = when - packet.sent_at;
    }
    Log(Cat("echo reply seq=", std::to_string(sequence), " from ", source_text,
            ": rtt=", std::to_string(packet.rtt), "s",
            hop_limit ? Cat(v4 ? " ttl=" : " hop_limit=", std::to_string(*hop_limit)) : ""));
    return;
  }

  if (!s.raw || !IsErrorType(s.family, type)) {
    ++s.ignored;
    return;
  }
  // An error quotes the request it is about: its IP header, then its echo header.
  const unsigned char* quoted = data + kEchoHeaderBytes;
  std::size_t left = size - kEchoHeaderBytes;
  if (v4) {
    if (left < 20 || (quoted[0] >> 4) != 4) {
      ++s.ignored;
      return;
    }
    std::size_t header = static_cast<std::size_t>(quoted[0] & 0x0f) * 4;
    if (header < 20 || left < header + kEchoHeaderBytes || quoted[9] != kIcmpProtocol ||
        !s.IsTarget(quoted + 16)) {
      ++s.ignored;
      return;
    }
    quoted += header;
  } else {
    constexpr std::size_t kHeader = 40;
    if (left < kHeader + kEchoHeaderBytes || (quoted[0] >> 4) != 6 ||
        quoted[6] != kIcmp6NextHeader || !s.IsTarget(quoted + 24)) {
      ++s.ignored;
      return;
    }
    quoted += kHeader;
  }
  if (quoted[0] != (v4 ? kEchoRequest4 : kEchoRequest6) || Read16(quoted + 4) != s.identifier ||
      !s.IndexOf(Read16(quoted + 6))) {
    ++s.ignored;
    return;
  }
  SettleWithError(Read16(quoted + 6),
                  Cat(IcmpErrorText(s.family, type, code), " from ", source_text));
}

bool IcmpProbe::ReadErrorQueue() {
  State& s = *state_;
  sockaddr_storage original{};
  std::array<char, 512> control{};
  iovec io{s.buffer.data(), s.buffer.size()};
  msghdr message{};
  message.msg_name = &original;
  message.msg_namelen = sizeof original;
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  ssize_t n = recvmsg(s.fd, &message, MSG_ERRQUEUE | MSG_DONTWAIT);
  if (n < 0) {
    return errno == EINTR;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    bool v4_error = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
    bool v6_error = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
    if (!v4_error && !v6_error) {
      continue;
    }
    sock_extended_err error{};
    std::memcpy(&error, CMSG_DATA(c), sizeof error);
    if (error.ee_origin != SO_EE_ORIGIN_ICMP && error.ee_origin != SO_EE_ORIGIN_ICMP6) {
      // A local error (EMSGSIZE, say): sendto() reported it already.
      continue;
    }
    // What the kernel quotes is the request as sent: the echo header with the kernel's
    // identifier, then the data.
    if (static_cast<std::size_t>(n) < kEchoHeaderBytes || original.ss_family != s.family) {
      continue;
    }
    const void* destination =
        s.family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&original)->sin_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in6*>(&original)->sin6_addr);
    if (!s.IsTarget(static_cast<const unsigned char*>(destination)) ||
        !s.IndexOf(Read16(s.buffer.data() + 6))) {
      continue;
    }
    sockaddr_storage offender{};
    // SO_EE_OFFENDER: the sender of the ICMP message follows the extended error.
    constexpr std::size_t kOffenderOffset = sizeof(sock_extended_err);
    std::size_t available = c->cmsg_len - CMSG_LEN(0);
    if (available > kOffenderOffset) {
      std::memcpy(&offender, CMSG_DATA(c) + kOffenderOffset,
                  std::min(available - kOffenderOffset, sizeof offender));
    }
    std::string from = offender.ss_family == s.family ? SockaddrText(offender) : "?";
    SettleWithError(Read16(s.buffer.data() + 6),
                    Cat(IcmpErrorText(s.family, error.ee_type, error.ee_code), " from ", from));
  }
  return true;
}

void IcmpProbe::SettleWithError(std::uint16_t sequence, const std::string& what) {
  State& s = *state_;
  std::optional<std::size_t> index = s.IndexOf(sequence);
  if (!index) {
    return;
  }
  State::Packet& packet = s.packets[*index];
  Log(Cat("echo request seq=", std::to_string(sequence), ": ", what));
  if (packet.replied || packet.errored) {
    return;
  }
  packet.errored = true;
  ++s.errors;
  if (s.first_error.empty()) {
    s.first_error = what;
  }
}

void IcmpProbe::MaybeFinish() {
  if (finished() || !state_->Settled()) {
    return;
  }
  ProbeResult done = Outcome(false);
  Release();
  Finish(std::move(done));
}

ProbeResult IcmpProbe::Outcome(bool timed_out) {
  State& s = *state_;
  ProbeResult out = std::move(result());
  if (!s.host.empty() && s.family == AF_UNSPEC) {
    // The deadline came during the lookup.
    out.success = false;
    out.reason = FailureReason::kDns;
    out.detail = Cat("no address for \"", s.host, "\" within the timeout");
    if (s.channel != nullptr) {
      out.phases["resolve"] = SteadyClock::now() - s.lookup_started;
    }
    if (request().debug) {
      out.log.push_back(Cat("probe failed: ", out.detail));
    }
    return out;
  }
  IcmpFacts facts;
  facts.packets_sent = s.sent;
  facts.packets_received = s.received;
  for (const State::Packet& packet : s.packets) {
    if (packet.replied) {
      facts.rtt_seconds.push_back(packet.rtt);
    }
  }
  facts.reply_hop_limit = s.hop_limit;
  out.icmp = std::move(facts);
  const std::string target = s.Target();
  std::string summary = Cat(std::to_string(s.sent), " sent, ", std::to_string(s.received),
                            " received, ", std::to_string(s.errors), " icmp error(s)");
  if (s.ignored > 0) {
    summary = Cat(summary, ", ", std::to_string(s.ignored), " unrelated packet(s) ignored");
  }
  if (request().debug) {
    out.log.push_back(summary);
  }
  out.success = s.received > 0;
  if (out.success) {
    out.reason = FailureReason::kNone;
    return out;
  }
  if (s.errors > 0) {
    out.reason = FailureReason::kIcmpUnreachable;
    out.detail = Cat("no echo reply from ", target, ": ", s.first_error, " (", summary, ")");
  } else if (s.send_failure != FailureReason::kNone) {
    out.reason = s.send_failure;
    out.detail = s.send_error;
  } else {
    out.reason = FailureReason::kTimeout;
    out.detail = Cat("no echo reply from ", target, timed_out ? " within the timeout" : "", " (",
                     summary, ")");
  }
  if (request().debug) {
    out.log.push_back(Cat("probe failed: ", out.detail));
  }
  return out;
}

ProbeResult IcmpProbe::TimedOut() { return Outcome(true); }

void IcmpProbe::FailNow(FailureReason reason, std::string detail) {
  Release();
  Fail(reason, std::move(detail));
}

void IcmpProbe::Abort() { Release(); }

void IcmpProbe::Release() {
  if (!state_) {
    return;
  }
  State& s = *state_;
  if (s.lookup_timer != 0) {
    loop().CancelTimer(s.lookup_timer);
    s.lookup_timer = 0;
  }
  if (s.send_timer != 0) {
    loop().CancelTimer(s.send_timer);
    s.send_timer = 0;
  }
  if (s.channel != nullptr) {
    // Calls OnAresResult (ARES_EDESTRUCTION) and OnAresSocket for each socket it closes.
    ares_channel channel = std::exchange(s.channel, nullptr);
    ares_destroy(channel);
  }
  for (int fd : std::exchange(s.lookup_fds, {})) {
    loop().Unwatch(fd);
  }
  if (s.watched) {
    loop().Unwatch(s.fd);
    s.watched = false;
  }
  if (s.fd >= 0) {
    close(s.fd);
    s.fd = -1;
  }
}

}  // namespace nines::probes
