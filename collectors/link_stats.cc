#include "collectors/link_stats.h"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace nines::collectors {
namespace {

// The most a dump may take, in bytes: far more than any machine's devices produce (about
// 220 bytes each), so a kernel answering without end cannot hold the scrape.
constexpr std::size_t kMaxDumpBytes = std::size_t{16} << 20;

template <typename T>
T Load(std::span<const unsigned char> data, std::size_t offset) {
  T value{};
  std::memcpy(&value, data.data() + offset, sizeof(T));
  return value;
}

std::size_t Align(std::size_t length) {
  return (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
}

[[noreturn]] void ThrowErrno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

namespace internal {

void ParseStatsDump(std::span<const unsigned char> data, std::uint32_t sequence,
                    std::map<int, std::uint64_t>& out, bool* done) {
  std::size_t offset = 0;
  while (offset < data.size()) {
    if (data.size() - offset < sizeof(nlmsghdr)) {
      throw std::runtime_error("netlink: truncated message header");
    }
    const auto header = Load<nlmsghdr>(data, offset);
    if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > data.size() - offset) {
      throw std::runtime_error("netlink: message length " + std::to_string(header.nlmsg_len) +
                               " does not fit");
    }
    if (header.nlmsg_seq != sequence) {
      throw std::runtime_error("netlink: answer to another request (sequence " +
                               std::to_string(header.nlmsg_seq) + ")");
    }
    const std::span<const unsigned char> payload =
        data.subspan(offset + NLMSG_HDRLEN,
                     header.nlmsg_len - std::min<std::size_t>(header.nlmsg_len, NLMSG_HDRLEN));
    if (header.nlmsg_type == NLMSG_DONE) {
      *done = true;
      return;
    }
    if (header.nlmsg_type == NLMSG_ERROR) {
      int error = 0;
      if (payload.size() >= sizeof(nlmsgerr)) {
        error = -Load<nlmsgerr>(payload, 0).error;
      }
      throw std::system_error(error, std::generic_category(), "netlink: RTM_GETSTATS refused");
    }
    if (header.nlmsg_type == RTM_NEWSTATS) {
      if (payload.size() < sizeof(if_stats_msg)) {
        throw std::runtime_error("netlink: truncated if_stats_msg");
      }
      const int ifindex = static_cast<int>(Load<if_stats_msg>(payload, 0).ifindex);
      std::size_t at = Align(sizeof(if_stats_msg));
      while (at + sizeof(rtattr) <= payload.size()) {
        const auto attribute = Load<rtattr>(payload, at);
        if (attribute.rta_len < sizeof(rtattr) || attribute.rta_len > payload.size() - at) {
          throw std::runtime_error("netlink: attribute length " +
                                   std::to_string(attribute.rta_len) + " does not fit");
        }
        const std::size_t value_size = attribute.rta_len - RTA_LENGTH(0);
        constexpr std::size_t kNoHandlerEnd =
            offsetof(rtnl_link_stats64, rx_nohandler) + sizeof(std::uint64_t);
        // Kernels before 4.6 send a shorter struct without rx_nohandler: no value then.
        if (attribute.rta_type == IFLA_STATS_LINK_64 && value_size >= kNoHandlerEnd) {
          out[ifindex] = Load<std::uint64_t>(
              payload, at + RTA_LENGTH(0) + offsetof(rtnl_link_stats64, rx_nohandler));
        }
        at += Align(attribute.rta_len);
      }
    }
    offset += Align(header.nlmsg_len);
  }
}

}  // namespace internal

LinkStats::~LinkStats() { CloseSocket(); }

int LinkStats::Socket() const {
  if (fd_ < 0) {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) {
      ThrowErrno("netlink: cannot open a NETLINK_ROUTE socket");
    }
  }
  return fd_;
}

void LinkStats::CloseSocket() const {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::map<std::string, std::uint64_t, std::less<>> LinkStats::NoHandler(
    std::span<const std::string> names) const {
  std::lock_guard lock(mutex_);
  try {
    const int fd = Socket();
    struct Request {
      nlmsghdr header;
      if_stats_msg stats;
    } request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(if_stats_msg));
    request.header.nlmsg_type = RTM_GETSTATS;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = ++sequence_;
    request.stats.family = AF_UNSPEC;
    request.stats.filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd, &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof(kernel)) < 0) {
      ThrowErrno("netlink: cannot send RTM_GETSTATS");
    }
    std::map<int, std::uint64_t> by_index;
    std::vector<unsigned char> buffer(32768);
    std::size_t received = 0;
    for (bool done = false; !done;) {
      // MSG_TRUNC: the length of the message even when it did not fit, to notice that.
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        ThrowErrno("netlink: cannot receive the RTM_GETSTATS answer");
      }
      if (n == 0) {
        throw std::runtime_error("netlink: the answer ended without NLMSG_DONE");
      }
      if (static_cast<std::size_t>(n) > buffer.size()) {
        throw std::runtime_error("netlink: a message of " + std::to_string(n) +
                                 " bytes does not fit the buffer");
      }
      received += static_cast<std::size_t>(n);
      if (received > kMaxDumpBytes) {
        throw std::runtime_error("netlink: the answer exceeds 16 MiB");
      }
      internal::ParseStatsDump(std::span(buffer.data(), static_cast<std::size_t>(n)), sequence_,
                               by_index, &done);
    }
    std::map<std::string, std::uint64_t, std::less<>> by_name;
    for (const std::string& name : names) {
      ifreq request_name{};
      if (name.size() >= sizeof(request_name.ifr_name)) {
        continue;
      }
      std::memcpy(request_name.ifr_name, name.data(), name.size());
      // The device may be gone since /proc/net/dev was read: then it has no value.
      if (::ioctl(fd, SIOCGIFINDEX, &request_name) == 0) {
        auto it = by_index.find(request_name.ifr_ifindex);
        if (it != by_index.end()) {
          by_name.emplace(name, it->second);
        }
      }
    }
    return by_name;
  } catch (...) {
    CloseSocket();  // a half-read dump must not be taken for the next answer
    throw;
  }
}

}  // namespace nines::collectors
