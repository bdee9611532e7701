#include "collectors/syslog_source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <system_error>

namespace nines::collectors {
namespace {

// The largest UDP payload is 65,527 bytes (IPv6) or 65,507 (IPv4); one more byte than any
// of them lets MSG_TRUNC catch only what cannot be a UDP datagram at all (jumbograms).
constexpr std::size_t kMaxDatagramBytes = std::size_t{64} * 1024;

// A batch stops growing at this many bytes of lines, so a flood of large datagrams still
// reaches on_lines in bounded pieces (and the thread checks for a stop between them).
constexpr std::size_t kMaxBatchBytes = std::size_t{1024} * 1024;

// How much of a malformed datagram the debug log shows.
constexpr std::size_t kPreviewBytes = 80;

constexpr std::string_view kNotTagged = "no \"TAG: \" after the header";

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int TwoDigits(char tens, char ones) { return (tens - '0') * 10 + (ones - '0'); }

// "Mmm dd hh:mm:ss" (RFC 3164 TIMESTAMP): nginx pads the day with a space ("Nov  4"); a
// zero ("Nov 04") is accepted too, as some senders write it.
bool IsTimestamp(std::string_view s) {
  if (s.size() != 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':') {
    return false;
  }
  bool month = false;
  for (std::string_view name : kMonths) {
    month = month || s.substr(0, 3) == name;
  }
  if (!month || !(s[4] == ' ' || IsDigit(s[4])) || !IsDigit(s[5])) {
    return false;
  }
  for (std::size_t i : {7U, 8U, 10U, 11U, 13U, 14U}) {
    if (!IsDigit(s[i])) {
      return false;
    }
  }
  const int day = TwoDigits(s[4] == ' ' ? '0' : s[4], s[5]);
  return day >= 1 && day <= 31 && TwoDigits(s[7], s[8]) <= 23 && TwoDigits(s[10], s[11]) <= 59 &&
         TwoDigits(s[13], s[14]) <= 60;
}

// Splits "TAG: rest" when `token` (the text up to the first space) ends in ':'.
bool IsTag(std::string_view token) { return token.size() > 1 && token.back() == ':'; }

std::optional<SyslogMessage> Fail(std::string_view* why, std::string_view reason) {
  if (why != nullptr) {
    *why = reason;
  }
  return std::nullopt;
}

// The bytes of `data` for a log line: printable ASCII as is, the rest as \xNN, cut at
// kPreviewBytes.
std::string Preview(std::string_view data) {
  std::string out;
  const std::size_t shown = std::min(data.size(), kPreviewBytes);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto byte = static_cast<unsigned char>(data[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out += static_cast<char>(byte);
    } else {
      constexpr std::string_view kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4U];
      out += kHex[byte & 0xfU];
    }
  }
  if (shown < data.size()) {
    out += "...";
  }
  return out;
}

// A loopback address to bind, parsed from "127.0.0.1:5531" or "[::1]:5531".
struct Endpoint {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_UNSPEC;
};

[[noreturn]] void BadAddress(std::string_view text, const std::string& reason) {
  throw std::invalid_argument("syslog address \"" + std::string(text) + "\": " + reason);
}

Endpoint ParseEndpoint(std::string_view text) {
  if (text.empty()) {
    BadAddress(text, "empty; want 127.0.0.1:PORT or [::1]:PORT");
  }
  std::string_view host;
  std::string_view port_text;
  int family = AF_INET;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      BadAddress(text, "no ']' after the IPv6 address");
    }
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      BadAddress(text, "missing :PORT after ']'");
    }
    port_text = text.substr(close + 2);
    family = AF_INET6;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      BadAddress(text, "missing :PORT");
    }
    if (text.find(':') != colon) {
      BadAddress(text, "an IPv6 address needs brackets, as in [::1]:5531");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  bool port_ok = !port_text.empty() && port_text.size() <= 5;
  for (char c : port_text) {
    port_ok = port_ok && IsDigit(c);
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (!port_ok || port > 65535) {
    BadAddress(text, "\"" + std::string(port_text) + "\" is not a port number (0 to 65535)");
  }
  const std::string host_text(host);
  Endpoint endpoint;
  endpoint.family = family;
  bool loopback = false;
  if (family == AF_INET) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host_text.c_str(), &in.sin_addr) != 1) {
      BadAddress(text,
                 "\"" + host_text + "\" is not a numeric IP address (host names are not resolved)");
    }
    loopback = (ntohl(in.sin_addr.s_addr) >> 24U) == 127U;
    std::memcpy(&endpoint.storage, &in, sizeof(in));
    endpoint.length = sizeof(in);
  } else {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, host_text.c_str(), &in6.sin6_addr) != 1) {
      BadAddress(text, "\"" + host_text + "\" is not a numeric IPv6 address");
    }
    loopback = IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr);
    std::memcpy(&endpoint.storage, &in6, sizeof(in6));
    endpoint.length = sizeof(in6);
  }
  if (!loopback) {
    // Anyone who can reach the port can forge log lines, and so move the SLOs.
    BadAddress(text, host_text +
                         " is not a loopback address; only 127.0.0.0/8 and ::1 are accepted, "
                         "so that no other machine can send log lines");
  }
  return endpoint;
}

// "127.0.0.1:41234" or "[::1]:41234" for a bound socket.
std::string FormatEndpoint(const sockaddr_storage& storage, std::uint16_t* port) {
  std::array<char, INET6_ADDRSTRLEN> host{};
  if (storage.ss_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &storage, sizeof(in6));
    ::inet_ntop(AF_INET6, &in6.sin6_addr, host.data(), static_cast<socklen_t>(host.size()));
    *port = ntohs(in6.sin6_port);
    // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
    std::string endpoint = "[";
    endpoint += host.data();
    endpoint += "]:";
    endpoint += std::to_string(*port);
    return endpoint;
  }
  sockaddr_in in{};
  std::memcpy(&in, &storage, sizeof(in));
  ::inet_ntop(AF_INET, &in.sin_addr, host.data(), static_cast<socklen_t>(host.size()));
  *port = ntohs(in.sin_port);
  return std::string(host.data()) + ":" + std::to_string(*port);
}

}  // namespace

std::optional<SyslogMessage> ParseSyslogMessage(std::string_view datagram, std::string_view* why) {
  if (!datagram.empty() && datagram.back() == '\n') {
    datagram.remove_suffix(1);
  }
  if (datagram.empty() || datagram.front() != '<') {
    return Fail(why, "no <PRI> priority");
  }
  // RFC 3164 4.1.1: one to three digits between '<' and '>', at most 191 (facility 23,
  // severity 7).
  SyslogMessage message;
  std::size_t i = 1;
  while (i < datagram.size() && IsDigit(datagram[i])) {
    if (i > 3) {
      return Fail(why, "priority longer than 3 digits");
    }
    message.priority = message.priority * 10 + static_cast<unsigned>(datagram[i] - '0');
    ++i;
  }
  if (i == 1 || i >= datagram.size() || datagram[i] != '>') {
    return Fail(why, "no <PRI> priority");
  }
  if (message.priority > 191) {
    return Fail(why, "priority above 191");
  }
  std::string_view rest = datagram.substr(i + 1);
  if (rest.size() > 15 && rest[15] == ' ' && IsTimestamp(rest.substr(0, 15))) {
    message.timestamp = rest.substr(0, 15);
    rest.remove_prefix(16);
  }
  // Then "HOSTNAME TAG: " or, with nginx's nohostname, "TAG: ". Neither contains a space.
  std::size_t space = rest.find(' ');
  if (space == std::string_view::npos) {
    return Fail(why, kNotTagged);
  }
  std::string_view token = rest.substr(0, space);
  if (!IsTag(token)) {
    if (token.empty()) {
      return Fail(why, kNotTagged);
    }
    message.hostname = token;
    rest.remove_prefix(space + 1);
    space = rest.find(' ');
    if (space == std::string_view::npos) {
      return Fail(why, kNotTagged);
    }
    token = rest.substr(0, space);
    if (!IsTag(token)) {
      return Fail(why, kNotTagged);
    }
  }
  message.tag = token.substr(0, token.size() - 1);
  message.content = rest.substr(space + 1);
  return message;
}

SyslogListener::Fd::Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

SyslogListener::Fd& SyslogListener::Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SyslogListener::Fd::~Fd() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

SyslogListener::SyslogListener(std::string_view address, LinesCallback on_lines,
                               SyslogListenerOptions options)
    : on_lines_(std::move(on_lines)), options_(std::move(options)) {
  if (!on_lines_) {
    throw std::invalid_argument("syslog listener " + std::string(address) +
                                ": on_lines must be set");
  }
  if (options_.max_batch_lines == 0) {
    throw std::invalid_argument("syslog listener " + std::string(address) +
                                ": max_batch_lines must be positive");
  }
  const Endpoint endpoint = ParseEndpoint(address);
  const std::string name(address);

  socket_ = Fd(::socket(endpoint.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (socket_.get() < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot create a UDP socket for " + name);
  }
  const int one = 1;
  if (endpoint.family == AF_INET6) {
    ::setsockopt(socket_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  // The kernel then reports its cumulative drop count with each datagram (Stats::dropped).
  if (::setsockopt(socket_.get(), SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0) {
    spdlog::debug("syslog {}: cannot count dropped datagrams: {}", name, std::strerror(errno));
  }
  if (options_.receive_buffer_bytes > 0) {
    const int wanted = options_.receive_buffer_bytes;
    ::setsockopt(socket_.get(), SOL_SOCKET, SO_RCVBUF, &wanted, sizeof(wanted));
    int granted = 0;
    socklen_t granted_size = sizeof(granted);
    if (::getsockopt(socket_.get(), SOL_SOCKET, SO_RCVBUF, &granted, &granted_size) == 0 &&
        granted / 2 < wanted) {
      spdlog::debug(
          "syslog {}: receive buffer is {} bytes, not the {} asked for "
          "(net.core.rmem_max caps it)",
          name, granted / 2, wanted);
    }
  }
  // No SO_REUSEADDR: for UDP it would let a second socket share the port and silently take
  // part of the datagrams.
  if (::bind(socket_.get(), reinterpret_cast<const sockaddr*>(&endpoint.storage),
             endpoint.length) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot bind " + name);
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof(bound);
  if (::getsockname(socket_.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot read the bound address of " + name);
  }
  address_ = FormatEndpoint(bound, &port_);

  wake_ = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (wake_.get() < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot create the stop event of syslog listener " + name);
  }
  datagram_ = std::make_unique<char[]>(kMaxDatagramBytes);
  thread_ = std::thread([this] { Run(); });
  // Shows in top and /proc/PID/task/*/comm; at most 15 characters.
  ::pthread_setname_np(thread_.native_handle(), "nines-syslog");
}

SyslogListener::~SyslogListener() {
  const std::uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof(one)) < 0) {
    // Only EAGAIN is possible (the counter is full), and then the thread is woken already.
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

SyslogListener::Stats SyslogListener::stats() const {
  Stats stats;
  stats.datagrams = datagrams_.load(std::memory_order_relaxed);
  stats.lines = lines_.load(std::memory_order_relaxed);
  stats.malformed = malformed_.load(std::memory_order_relaxed);
  stats.dropped = dropped_.load(std::memory_order_relaxed);
  stats.receive_errors = receive_errors_.load(std::memory_order_relaxed);
  stats.callback_errors = callback_errors_.load(std::memory_order_relaxed);
  return stats;
}

void SyslogListener::Run() {
  std::array<pollfd, 2> fds{};
  fds[0].fd = socket_.get();
  fds[0].events = POLLIN;
  fds[1].fd = wake_.get();
  fds[1].events = POLLIN;
  for (;;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      spdlog::error("syslog {}: poll failed, no more log lines are received: {}", address_,
                    std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    if ((fds[0].revents & POLLNVAL) != 0) {
      spdlog::error("syslog {}: the socket is gone, no more log lines are received", address_);
      return;
    }
    if (fds[0].revents != 0) {
      ReceiveBatch();
    }
  }
}

void SyslogListener::ReceiveBatch() {
  // Counting datagrams rather than lines bounds the loop under a flood of malformed ones
  // too, so the thread gets back to poll() and sees a stop request.
  for (std::size_t read = 0;
       read < options_.max_batch_lines && batch_bytes_.size() < kMaxBatchBytes; ++read) {
    iovec iov{datagram_.get(), kMaxDatagramBytes};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(std::uint32_t))> control{};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control.data();
    header.msg_controllen = control.size();
    const ssize_t received = ::recvmsg(socket_.get(), &header, MSG_DONTWAIT);
    if (received < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        receive_errors_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("syslog {}: cannot receive: {}", address_, std::strerror(errno));
      }
      break;
    }
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&header, cmsg)) {
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SO_RXQ_OVFL) {
        // The socket's drop counter when this datagram was queued: cumulative and 32 bits
        // wide, so the difference to the last one seen is what was lost since.
        std::uint32_t drops = 0;
        std::memcpy(&drops, CMSG_DATA(cmsg), sizeof(drops));
        dropped_.fetch_add(drops - last_drop_count_, std::memory_order_relaxed);
        last_drop_count_ = drops;
      }
    }
    datagrams_.fetch_add(1, std::memory_order_relaxed);
    Accept(std::string_view(datagram_.get(), static_cast<std::size_t>(received)),
           (header.msg_flags & MSG_TRUNC) != 0);
  }
  Deliver();
}

void SyslogListener::Accept(std::string_view datagram, bool truncated) {
  std::string_view why = "larger than 64 KiB";
  const std::optional<SyslogMessage> message =
      truncated ? std::nullopt : ParseSyslogMessage(datagram, &why);
  if (!message) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("syslog {}: skipped a datagram of {} bytes that is not syslog ({}): {}", address_,
                  datagram.size(), why, Preview(datagram));
    if (options_.on_malformed) {
      try {
        options_.on_malformed(datagram, why);
      } catch (const std::exception& e) {
        spdlog::error("syslog {}: the malformed-datagram handler failed: {}", address_, e.what());
      } catch (...) {
        spdlog::error("syslog {}: the malformed-datagram handler failed", address_);
      }
    }
    return;
  }
  batch_spans_.emplace_back(batch_bytes_.size(), message->content.size());
  batch_bytes_.append(message->content);
}

void SyslogListener::Deliver() {
  if (batch_spans_.empty()) {
    return;
  }
  batch_lines_.clear();
  for (const auto& [offset, size] : batch_spans_) {
    batch_lines_.emplace_back(batch_bytes_.data() + offset, size);
  }
  lines_.fetch_add(batch_lines_.size(), std::memory_order_relaxed);
  try {
    on_lines_(std::span<const std::string_view>(batch_lines_));
  } catch (const std::exception& e) {
    callback_errors_.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("syslog {}: handling {} log lines failed: {}", address_, batch_lines_.size(),
                  e.what());
  } catch (...) {
    callback_errors_.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("syslog {}: handling {} log lines failed", address_, batch_lines_.size());
  }
  batch_spans_.clear();
  batch_bytes_.clear();
}

}  // namespace nines::collectors
