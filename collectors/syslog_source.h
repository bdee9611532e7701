#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

/// The syslog source of the access-log pipeline, for sidecars that share no volume with
/// nginx: nginx sends each access-log line as one UDP datagram
/// (`access_log syslog:server=127.0.0.1:5531,tag=nginx,nohostname combined;`), and
/// SyslogListener receives them on a loopback port and hands out the bare log lines.
///
/// Format. nginx (ngx_syslog_add_header) writes an RFC 3164 header before the line:
///   `<PRI>MMM dd hh:mm:ss HOSTNAME TAG: MSG`, or `<PRI>MMM dd hh:mm:ss TAG: MSG` with
///   `nohostname`,
/// where PRI is facility * 8 + severity (190 for the default local7.info), the timestamp is
/// local time with the day padded by a space ("Nov  4 09:05:01"), HOSTNAME is the machine's
/// name and TAG is the `tag=` parameter ("nginx" by default; letters, digits and '_', at most
/// 32). An access-log line is sent without its '\n', one line per datagram and never split.
/// ParseSyslogMessage() accepts that and the common variants of other RFC 3164 senders: a
/// missing timestamp, a zero-padded day, a TAG with a "[pid]" suffix, a trailing '\n'.
/// RFC 5424 messages (`<PRI>1 2024-...`) are not syslog for it.
///
/// Loss. UDP drops datagrams when the socket's receive buffer is full (a burst while the
/// consumer is slow); nginx never knows. SyslogListener asks for a large receive buffer and
/// counts the drops the kernel reports (Stats::dropped), so they show in self-monitoring.
namespace nines::collectors {

/// One RFC 3164 syslog message. The views point into the parsed datagram.
struct SyslogMessage {
  /// facility * 8 + severity, 0 to 191 (nginx's default local7.info is 190).
  unsigned priority = 0;
  /// "Nov  4 09:05:01" as sent, or empty when the sender left it out.
  std::string_view timestamp;
  /// The sender's host name, or empty when left out (nginx's `nohostname`).
  std::string_view hostname;
  /// The TAG without its ':' ("nginx", "sshd[42]").
  std::string_view tag;
  /// The content after "TAG: " without a trailing '\n': the nginx log line. May be empty.
  std::string_view content;
};

/// Parses one syslog datagram: `<PRI>`, an optional `MMM dd hh:mm:ss ` timestamp, an
/// optional `HOSTNAME `, then `TAG: ` and the content. Returns nullopt when `datagram` is
/// not such a message, and then stores why in `*why` when `why` is not null ("no <PRI>
/// priority", "priority above 191", "no \"TAG: \" after the header"). A host name
/// that ends in ':' is read as the tag. Thread-safe; never throws.
std::optional<SyslogMessage> ParseSyslogMessage(std::string_view datagram,
                                                std::string_view* why = nullptr);

/// How a SyslogListener receives.
struct SyslogListenerOptions {
  /// Called on the listener's thread with each datagram that is not syslog and why, after
  /// it was counted in Stats::malformed. The views are valid only during the call. Each one
  /// is also logged at debug level.
  std::function<void(std::string_view datagram, std::string_view why)> on_malformed{};
  /// The receive buffer (SO_RCVBUF) asked for, in bytes, to absorb bursts; 0 keeps the
  /// system's default. The kernel doubles it for its bookkeeping and caps the request at
  /// net.core.rmem_max.
  int receive_buffer_bytes = 4 * 1024 * 1024;
  /// At most this many datagrams are read for one on_lines call, so it gets at most this
  /// many lines; the rest of what is waiting goes to the next call. At least 1.
  std::size_t max_batch_lines = 1024;
};

/// Receives nginx access-log lines sent over syslog (UDP) to one loopback address, on a
/// thread of its own. See the top of this file for the format.
///
/// Delivery. Whenever datagrams arrive, the thread reads everything waiting in the socket
/// (up to SyslogListenerOptions::max_batch_lines) without blocking, strips each one's syslog
/// header and calls `on_lines` once with the lines in arrival order. Datagrams that are not
/// syslog are counted and skipped; they never stop the listener.
///
/// Thread safety. Construct and destroy from one thread; port(), address() and stats() may
/// be called from any thread at any time. `on_lines` and `on_malformed` run on the
/// listener's thread, one call at a time, never after the destructor has returned. They must
/// not destroy the listener. An exception thrown by `on_lines` is logged and counted in
/// Stats::callback_errors; its lines count as delivered.
class SyslogListener {
 public:
  /// Receives a batch of log lines. The views are valid only during the call.
  using LinesCallback = std::function<void(std::span<const std::string_view> lines)>;

  /// Lifetime counters, for self-monitoring.
  struct Stats {
    std::uint64_t datagrams = 0;  ///< Datagrams received, well-formed or not.
    std::uint64_t lines = 0;      ///< Lines passed to on_lines.
    std::uint64_t malformed = 0;  ///< Datagrams that were not syslog.
    /// Datagrams the kernel dropped, mostly because the receive buffer was full. The kernel
    /// reports drops with the next datagram it queues, so they show once one more arrives.
    std::uint64_t dropped = 0;
    std::uint64_t receive_errors = 0;   ///< Failed receive calls.
    std::uint64_t callback_errors = 0;  ///< Exceptions thrown by on_lines.
  };

  /// Binds a UDP socket to `address` and starts the listener's thread. `address` is a
  /// numeric loopback address and a port: "127.0.0.1:5531" (any of 127.0.0.0/8) or
  /// "[::1]:5531"; port 0 binds a free port (see port()). Throws std::invalid_argument when
  /// `address` is malformed or not loopback ("syslog address \"0.0.0.0:5531\": 0.0.0.0 is
  /// not a loopback address ..."), or when `on_lines` is empty or max_batch_lines is 0;
  /// throws std::system_error when the socket cannot be set up, naming the address and the
  /// reason ("cannot bind 127.0.0.1:5531: Address already in use").
  SyslogListener(std::string_view address, LinesCallback on_lines,
                 SyslogListenerOptions options = {});
  /// Stops the thread and closes the socket, promptly: waits only for an on_lines call in
  /// progress to return. Datagrams not yet read are discarded.
  ~SyslogListener();

  SyslogListener(const SyslogListener&) = delete;
  SyslogListener& operator=(const SyslogListener&) = delete;

  /// The bound UDP port (the one the kernel chose when the address asked for port 0).
  std::uint16_t port() const { return port_; }

  /// The bound address with its actual port: "127.0.0.1:41234" or "[::1]:41234".
  const std::string& address() const { return address_; }

  /// A snapshot of the lifetime counters. Each is read atomically, not all at one instant.
  Stats stats() const;

  /// Datagrams that were not syslog so far: stats().malformed.
  std::uint64_t malformed() const { return malformed_.load(std::memory_order_relaxed); }

 private:
  // Owns one file descriptor.
  class Fd {
   public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept;
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();

    int get() const { return fd_; }

   private:
    int fd_ = -1;
  };

  // The thread's loop: waits for datagrams or the stop signal.
  void Run();
  // Reads what is waiting, up to one batch, and delivers it.
  void ReceiveBatch();
  // Records one received datagram: appends its line to the batch or counts it malformed.
  void Accept(std::string_view datagram, bool truncated);
  // Calls on_lines with the batch collected and clears it.
  void Deliver();

  std::string address_;
  std::uint16_t port_ = 0;
  LinesCallback on_lines_;
  SyslogListenerOptions options_;
  Fd socket_;
  Fd wake_;  // An eventfd the destructor writes to stop the thread.

  // Used by the thread only: one datagram, and the batch's lines copied out of it.
  std::unique_ptr<char[]> datagram_;
  std::string batch_bytes_;
  std::vector<std::pair<std::size_t, std::size_t>> batch_spans_;  // offset, size
  std::vector<std::string_view> batch_lines_;
  // The kernel's cumulative drop count as last reported with a datagram.
  std::uint32_t last_drop_count_ = 0;

  std::atomic<std::uint64_t> datagrams_{0};
  std::atomic<std::uint64_t> lines_{0};
  std::atomic<std::uint64_t> malformed_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> receive_errors_{0};
  std::atomic<std::uint64_t> callback_errors_{0};

  std::thread thread_;  // Last: started once everything above is ready.
};

}  // namespace nines::collectors
