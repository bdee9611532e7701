#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>

namespace nines::collectors {

/// The receive_nohandler counter of every network device of this process's network
/// namespace (the one /proc/net/dev describes), read with one rtnetlink RTM_GETSTATS dump
/// of IFLA_STATS_LINK_64 (Linux 4.7 and later), as node_exporter reads it over netlink.
/// One request answers for every device, where sysfs needs an open, a read and a close of
/// `class/net/<device>/statistics/rx_nohandler` per device, each with its path walk.
///
/// Keeps its netlink socket open between reads; thread safe (reads take turns).
class LinkStats {
 public:
  LinkStats() = default;
  ~LinkStats();
  LinkStats(const LinkStats&) = delete;
  LinkStats& operator=(const LinkStats&) = delete;

  /// receive_nohandler by device name, for the devices `names` lists that still exist;
  /// throws std::runtime_error saying why when netlink cannot be used (no socket, a
  /// refused request, a malformed answer), after closing the socket so that the next
  /// read starts afresh.
  std::map<std::string, std::uint64_t, std::less<>> NoHandler(
      std::span<const std::string> names) const;

 private:
  // Opens the socket if needed; returns it. Call with mutex_ held.
  int Socket() const;
  void CloseSocket() const;

  mutable std::mutex mutex_;
  mutable int fd_ = -1;
  mutable std::uint32_t sequence_ = 0;
};

namespace internal {

/// Reads one RTM_GETSTATS dump answer, `data` being everything received: receive_nohandler
/// by ifindex. Sets `*done` when NLMSG_DONE was seen. Throws std::runtime_error on an
/// NLMSG_ERROR, a truncated message or attribute, or a message of another sequence number.
/// Exposed for tests.
void ParseStatsDump(std::span<const unsigned char> data, std::uint32_t sequence,
                    std::map<int, std::uint64_t>& out, bool* done);

}  // namespace internal

}  // namespace nines::collectors
