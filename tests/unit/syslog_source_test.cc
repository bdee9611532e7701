#include "collectors/syslog_source.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <re2/re2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace nines::collectors {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

constexpr std::chrono::milliseconds kWait{5000};

// A combined-format line as nginx writes it.
constexpr std::string_view kLine =
    R"(127.0.0.1 - - [24/Nov/2025:23:25:00 +0000] "GET /a?b=c HTTP/1.1" 200 3 "-" "curl/7.88.1")";

// ---------------------------------------------------------------------------------------
// ParseSyslogMessage

struct ParseCase {
  std::string name;
  std::string datagram;
  unsigned priority;
  std::string timestamp;
  std::string hostname;
  std::string tag;
  std::string content;
};

class ParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseTest, SplitsHeaderAndContent) {
  const ParseCase& c = GetParam();
  std::string_view why;
  const std::optional<SyslogMessage> message = ParseSyslogMessage(c.datagram, &why);
  ASSERT_TRUE(message.has_value()) << why;
  EXPECT_EQ(message->priority, c.priority);
  EXPECT_EQ(message->timestamp, c.timestamp);
  EXPECT_EQ(message->hostname, c.hostname);
  EXPECT_EQ(message->tag, c.tag);
  EXPECT_EQ(message->content, c.content);
}

INSTANTIATE_TEST_SUITE_P(
    Syslog, ParseTest,
    ::testing::Values(
        // ngx_syslog_add_header with nohostname: "<PRI>TIMESTAMP TAG: ".
        ParseCase{"nginx_nohostname", "<190>Nov 24 23:25:00 nginx: " + std::string(kLine), 190,
                  "Nov 24 23:25:00", "", "nginx", std::string(kLine)},
        // Without nohostname: "<PRI>TIMESTAMP HOSTNAME TAG: ".
        ParseCase{"nginx_hostname",
                  "<190>Nov 24 23:25:00 web-1.example.org nginx: " + std::string(kLine), 190,
                  "Nov 24 23:25:00", "web-1.example.org", "nginx", std::string(kLine)},
        // nginx pads the day with a space (ngx_times.c: "%s %2d %02d:%02d:%02d").
        ParseCase{"space_padded_day", "<134>Nov  4 09:05:01 edge_1: x", 134, "Nov  4 09:05:01", "",
                  "edge_1", "x"},
        ParseCase{"zero_padded_day", "<134>Dec 04 09:05:01 host edge_1: x", 134, "Dec 04 09:05:01",
                  "host", "edge_1", "x"},
        ParseCase{"trailing_newline", "<190>Nov 24 23:25:00 nginx: line\n", 190, "Nov 24 23:25:00",
                  "", "nginx", "line"},
        // Only the one space after the colon belongs to the header.
        ParseCase{"content_with_colons_and_spaces", "<190>Jan  1 00:00:00 nginx:  a: b: c", 190,
                  "Jan  1 00:00:00", "", "nginx", " a: b: c"},
        ParseCase{"empty_content", "<190>Nov 24 23:25:00 nginx: ", 190, "Nov 24 23:25:00", "",
                  "nginx", ""},
        ParseCase{"no_timestamp", "<13>myapp: hello", 13, "", "", "myapp", "hello"},
        ParseCase{"no_timestamp_hostname", "<13>box myapp: hello", 13, "", "box", "myapp", "hello"},
        ParseCase{"tag_with_pid", "<30>Nov 24 23:25:00 host sshd[42]: Accepted key", 30,
                  "Nov 24 23:25:00", "host", "sshd[42]", "Accepted key"},
        ParseCase{"lowest_priority", "<0>Feb 29 12:00:00 kernel: x", 0, "Feb 29 12:00:00", "",
                  "kernel", "x"},
        ParseCase{"highest_priority", "<191>Feb 29 12:00:00 t: x", 191, "Feb 29 12:00:00", "", "t",
                  "x"},
        ParseCase{"max_tag", "<190>Nov 24 23:25:00 abcdefghijklmnopqrstuvwxyz_01234: x", 190,
                  "Nov 24 23:25:00", "", "abcdefghijklmnopqrstuvwxyz_01234", "x"}),
    [](const ::testing::TestParamInfo<ParseCase>& param_info) { return param_info.param.name; });

struct MalformedCase {
  std::string name;
  std::string datagram;
  std::string why;
};

class MalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedTest, IsRejectedWithAReason) {
  const MalformedCase& c = GetParam();
  std::string_view why;
  EXPECT_EQ(ParseSyslogMessage(c.datagram, &why), std::nullopt);
  EXPECT_EQ(why, c.why);
  // The reason is optional.
  EXPECT_EQ(ParseSyslogMessage(c.datagram), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(
    Syslog, MalformedTest,
    ::testing::Values(
        MalformedCase{"empty", "", "no <PRI> priority"},
        MalformedCase{"newline_only", "\n", "no <PRI> priority"},
        MalformedCase{"plain_text", std::string(kLine), "no <PRI> priority"},
        MalformedCase{"empty_priority", "<>nginx: x", "no <PRI> priority"},
        MalformedCase{"letters_priority", "<abc>nginx: x", "no <PRI> priority"},
        MalformedCase{"unterminated_priority", "<190", "no <PRI> priority"},
        MalformedCase{"binary", std::string("\x00\x01\xff<190>", 7), "no <PRI> priority"},
        MalformedCase{"long_priority", "<1900>nginx: x", "priority longer than 3 digits"},
        MalformedCase{"priority_too_high", "<192>Nov 24 23:25:00 nginx: x", "priority above 191"},
        MalformedCase{"header_only", "<190>", "no \"TAG: \" after the header"},
        MalformedCase{"no_colon", "<190>Nov 24 23:25:00 nginx", "no \"TAG: \" after the header"},
        MalformedCase{"no_space_after_colon", "<190>Nov 24 23:25:00 host nginx:x",
                      "no \"TAG: \" after the header"},
        MalformedCase{"no_tag", "<190>Nov 24 23:25:00 host some message",
                      "no \"TAG: \" after the header"},
        MalformedCase{"bad_month", "<190>Foo 24 23:25:00 nginx: x",
                      "no \"TAG: \" after the header"},
        MalformedCase{"rfc5424",
                      "<165>1 2003-10-11T22:14:15.003Z host.example.com evntslog - ID47 - msg",
                      "no \"TAG: \" after the header"}),
    [](const ::testing::TestParamInfo<MalformedCase>& param_info) {
      return param_info.param.name;
    });

// ---------------------------------------------------------------------------------------
// SyslogListener

// Collects what a listener delivers; waits for it with a deadline.
class Received {
 public:
  SyslogListener::LinesCallback Callback() {
    return [this](std::span<const std::string_view> lines) {
      const std::lock_guard lock(mutex_);
      batches_.push_back(lines.size());
      lines_.insert(lines_.end(), lines.begin(), lines.end());
      changed_.notify_all();
    };
  }

  // Whether at least `count` lines arrived within kWait.
  bool WaitForLines(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kWait, [&] { return lines_.size() >= count; });
  }

  // Whether a line satisfying `match` arrived within `timeout`.
  bool WaitForLine(const std::function<bool(const std::string&)>& match,
                   std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout,
                             [&] { return std::any_of(lines_.begin(), lines_.end(), match); });
  }

  std::vector<std::string> lines() const {
    const std::lock_guard lock(mutex_);
    return lines_;
  }

  std::vector<std::size_t> batches() const {
    const std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  std::vector<std::size_t> batches_;
};

// Sends UDP datagrams to one loopback port, as nginx does.
class Sender {
 public:
  explicit Sender(std::uint16_t port, bool ipv6 = false)
      : fd_(::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(), "socket");
    }
    sockaddr_storage storage{};
    if (ipv6) {
      sockaddr_in6 in6{};
      in6.sin6_family = AF_INET6;
      in6.sin6_port = htons(port);
      in6.sin6_addr = in6addr_loopback;
      std::memcpy(&storage, &in6, sizeof(in6));
      length_ = sizeof(in6);
    } else {
      sockaddr_in in{};
      in.sin_family = AF_INET;
      in.sin_port = htons(port);
      in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      std::memcpy(&storage, &in, sizeof(in));
      length_ = sizeof(in);
    }
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&storage), length_) != 0) {
      throw std::system_error(errno, std::generic_category(), "connect");
    }
  }
  ~Sender() { ::close(fd_); }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  void Send(std::string_view datagram) const {
    const ssize_t sent = ::send(fd_, datagram.data(), datagram.size(), 0);
    ASSERT_EQ(sent, static_cast<ssize_t>(datagram.size())) << std::strerror(errno);
  }

 private:
  int fd_;
  socklen_t length_ = 0;
};

// Makes on_lines block on its first call until Release(), so that datagrams pile up in the
// socket meanwhile.
class Gate {
 public:
  SyslogListener::LinesCallback Wrap(SyslogListener::LinesCallback inner) {
    return [this, inner = std::move(inner)](std::span<const std::string_view> lines) {
      inner(lines);
      std::unique_lock lock(mutex_);
      if (!entered_) {
        entered_ = true;
        changed_.notify_all();
        changed_.wait_for(lock, kWait, [&] { return released_; });
      }
    };
  }

  bool WaitUntilBlocked() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kWait, [&] { return entered_; });
  }

  void Release() {
    const std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool released_ = false;
};

std::string NginxDatagram(std::string_view line, std::string_view hostname = "",
                          std::string_view tag = "nginx") {
  std::string datagram = "<190>Nov  4 09:05:01 ";
  if (!hostname.empty()) {
    datagram.append(hostname).append(" ");
  }
  return datagram.append(tag).append(": ").append(line);
}

TEST(SyslogListenerTest, DeliversNginxLinesWithAndWithoutHostname) {
  Received received;
  SyslogListener listener("127.0.0.1:0", received.Callback());
  ASSERT_NE(listener.port(), 0);
  EXPECT_EQ(listener.address(), "127.0.0.1:" + std::to_string(listener.port()));
  Sender sender(listener.port());
  sender.Send(NginxDatagram("first"));
  sender.Send(NginxDatagram("second", "web-1"));
  sender.Send(NginxDatagram("third: with a colon", "web-1.example.org", "edge_1"));
  sender.Send(NginxDatagram(kLine, "", "a_32_character_tag_0123456789abc"));
  sender.Send("<190>Nov 24 23:25:00 nginx: with newline\n");
  sender.Send(NginxDatagram(""));
  ASSERT_TRUE(received.WaitForLines(6));
  EXPECT_THAT(received.lines(),
              ElementsAre("first", "second", "third: with a colon", kLine, "with newline", ""));
  const SyslogListener::Stats stats = listener.stats();
  EXPECT_EQ(stats.datagrams, 6U);
  EXPECT_EQ(stats.lines, 6U);
  EXPECT_EQ(stats.malformed, 0U);
  EXPECT_EQ(stats.dropped, 0U);
}

TEST(SyslogListenerTest, CountsAndSkipsDatagramsThatAreNotSyslog) {
  Received received;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> malformed;
  SyslogListenerOptions options;
  options.on_malformed = [&](std::string_view datagram, std::string_view why) {
    const std::lock_guard lock(mutex);
    malformed.emplace_back(datagram, why);
  };
  SyslogListener listener("127.0.0.1:0", received.Callback(), options);
  Sender sender(listener.port());
  sender.Send(std::string(kLine));
  sender.Send(std::string("\x00\xff\x01", 3));
  sender.Send("<999>nginx: x");
  sender.Send("<190>Nov 24 23:25:00 host no tag here");
  sender.Send(NginxDatagram("after the garbage"));
  ASSERT_TRUE(received.WaitForLines(1));
  EXPECT_THAT(received.lines(), ElementsAre("after the garbage"));
  EXPECT_EQ(listener.malformed(), 4U);
  EXPECT_EQ(listener.stats().datagrams, 5U);
  const std::lock_guard lock(mutex);
  ASSERT_EQ(malformed.size(), 4U);
  EXPECT_EQ(malformed[0].first, kLine);
  EXPECT_EQ(malformed[0].second, "no <PRI> priority");
  EXPECT_EQ(malformed[1].first, std::string("\x00\xff\x01", 3));
  EXPECT_EQ(malformed[2].second, "priority above 191");
  EXPECT_EQ(malformed[3].second, "no \"TAG: \" after the header");
}

TEST(SyslogListenerTest, ReceivesALineOf60KiB) {
  Received received;
  SyslogListener listener("127.0.0.1:0", received.Callback());
  Sender sender(listener.port());
  std::string line(std::size_t{60} * 1024, 'x');
  for (std::size_t i = 0; i < line.size(); i += 100) {
    line[i] = static_cast<char>('a' + (i / 100) % 26);
  }
  sender.Send(NginxDatagram(line, "web-1"));
  sender.Send(NginxDatagram("small"));
  ASSERT_TRUE(received.WaitForLines(2));
  const std::vector<std::string> lines = received.lines();
  EXPECT_EQ(lines[0], line);
  EXPECT_EQ(lines[1], "small");
}

TEST(SyslogListenerTest, ListensOnIpv6Loopback) {
  Received received;
  SyslogListener listener("[::1]:0", received.Callback());
  EXPECT_EQ(listener.address(), "[::1]:" + std::to_string(listener.port()));
  Sender sender(listener.port(), /*ipv6=*/true);
  sender.Send(NginxDatagram("over ipv6"));
  ASSERT_TRUE(received.WaitForLines(1));
  EXPECT_THAT(received.lines(), ElementsAre("over ipv6"));
}

TEST(SyslogListenerTest, AcceptsAnyAddressOf127Slash8) {
  Received received;
  SyslogListener listener("127.0.0.2:0", received.Callback());
  EXPECT_THAT(listener.address(), StartsWith("127.0.0.2:"));
}

TEST(SyslogListenerTest, DeliversWhatIsWaitingInOneBatch) {
  Received received;
  Gate gate;
  SyslogListener listener("127.0.0.1:0", gate.Wrap(received.Callback()));
  Sender sender(listener.port());
  sender.Send(NginxDatagram("blocks"));
  ASSERT_TRUE(gate.WaitUntilBlocked());
  for (int i = 0; i < 5; ++i) {
    sender.Send(NginxDatagram("queued " + std::to_string(i)));
  }
  gate.Release();
  ASSERT_TRUE(received.WaitForLines(6));
  EXPECT_THAT(received.batches(), ElementsAre(1, 5));
  EXPECT_THAT(received.lines(),
              ElementsAre("blocks", "queued 0", "queued 1", "queued 2", "queued 3", "queued 4"));
}

TEST(SyslogListenerTest, SplitsBatchesAtMaxBatchLines) {
  Received received;
  Gate gate;
  SyslogListenerOptions options;
  options.max_batch_lines = 2;
  SyslogListener listener("127.0.0.1:0", gate.Wrap(received.Callback()), options);
  Sender sender(listener.port());
  sender.Send(NginxDatagram("blocks"));
  ASSERT_TRUE(gate.WaitUntilBlocked());
  for (int i = 0; i < 5; ++i) {
    sender.Send(NginxDatagram(std::to_string(i)));
  }
  gate.Release();
  ASSERT_TRUE(received.WaitForLines(6));
  EXPECT_THAT(received.batches(), ElementsAre(1, 2, 2, 1));
  EXPECT_THAT(received.lines(), ElementsAre("blocks", "0", "1", "2", "3", "4"));
}

TEST(SyslogListenerTest, CountsDatagramsTheKernelDropped) {
  Received received;
  Gate gate;
  SyslogListenerOptions options;
  options.receive_buffer_bytes = 1;  // The kernel's minimum: a few datagrams.
  SyslogListener listener("127.0.0.1:0", gate.Wrap(received.Callback()), options);
  Sender sender(listener.port());
  sender.Send(NginxDatagram("blocks"));
  ASSERT_TRUE(gate.WaitUntilBlocked());
  constexpr int kFlood = 200;
  for (int i = 0; i < kFlood; ++i) {
    sender.Send(NginxDatagram(std::string(1000, 'f')));
  }
  gate.Release();
  // The kernel reports the drops with the next datagram it queues, once the listener has
  // made room: send probes until one arrives. Each probe sent before it was received or
  // dropped before it was queued, so the count it carries is complete.
  int probes = 0;
  bool probe_arrived = false;
  while (!probe_arrived && probes < 100) {
    const std::string probe = "probe " + std::to_string(probes++);
    sender.Send(NginxDatagram(probe));
    probe_arrived = received.WaitForLine([&](const std::string& line) { return line == probe; },
                                         std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(probe_arrived);
  const SyslogListener::Stats stats = listener.stats();
  EXPECT_GT(stats.dropped, 0U);
  EXPECT_EQ(stats.lines + stats.dropped, std::uint64_t{kFlood} + 1 + static_cast<unsigned>(probes));
  EXPECT_EQ(stats.datagrams, stats.lines);
}

TEST(SyslogListenerTest, SurvivesACallbackThatThrows) {
  Received received;
  bool thrown = false;
  SyslogListener listener("127.0.0.1:0", [&](std::span<const std::string_view> lines) {
    if (!thrown) {
      thrown = true;
      throw std::runtime_error("consumer failed");
    }
    received.Callback()(lines);
  });
  Sender sender(listener.port());
  sender.Send(NginxDatagram("lost"));
  for (int i = 0; i < 100 && listener.stats().callback_errors == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  sender.Send(NginxDatagram("kept"));
  ASSERT_TRUE(received.WaitForLines(1));
  EXPECT_THAT(received.lines(), ElementsAre("kept"));
  EXPECT_EQ(listener.stats().callback_errors, 1U);
  EXPECT_EQ(listener.stats().lines, 2U);
}

TEST(SyslogListenerTest, StopsPromptly) {
  Received received;
  auto listener = std::make_unique<SyslogListener>("127.0.0.1:0", received.Callback());
  Sender sender(listener->port());
  sender.Send(NginxDatagram("one"));
  ASSERT_TRUE(received.WaitForLines(1));
  const auto start = std::chrono::steady_clock::now();
  listener.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

TEST(SyslogListenerTest, StopsPromptlyDuringAFlood) {
  std::atomic<std::uint64_t> delivered{0};
  auto listener = std::make_unique<SyslogListener>(
      "127.0.0.1:0", [&](std::span<const std::string_view> lines) { delivered += lines.size(); });
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(listener->port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    const std::string good = NginxDatagram("flood");
    const std::string garbage(512, 'g');
    for (std::uint64_t i = 0; !stop; ++i) {
      const std::string& datagram = i % 2 == 0 ? good : garbage;
      // Errors are expected once the listener is gone.
      ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof(to));
    }
  });
  for (int i = 0; i < 500 && (delivered < 1000 || listener->malformed() < 1000); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(delivered, 1000U);
  EXPECT_GE(listener->malformed(), 1000U);
  const auto start = std::chrono::steady_clock::now();
  listener.reset();
  const auto took = std::chrono::steady_clock::now() - start;
  stop = true;
  flood.join();
  ::close(fd);
  EXPECT_LT(took, std::chrono::milliseconds(300));
}

TEST(SyslogListenerTest, RefusesAPortInUse) {
  Received received;
  SyslogListener first("127.0.0.1:0", received.Callback());
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  try {
    SyslogListener second(address, received.Callback());
    FAIL() << "bound " << address << " twice";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_EQ(std::string(e.what()), "cannot bind " + address + ": Address already in use");
  }
}

struct BadAddressCase {
  std::string name;
  std::string address;
  std::string message;
};

class BadAddressTest : public ::testing::TestWithParam<BadAddressCase> {};

TEST_P(BadAddressTest, IsRefused) {
  const BadAddressCase& c = GetParam();
  Received received;
  try {
    SyslogListener listener(c.address, received.Callback());
    FAIL() << "accepted " << c.address;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "syslog address \"" + c.address + "\": " + c.message);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Syslog, BadAddressTest,
    ::testing::Values(
        BadAddressCase{"any_ipv4", "0.0.0.0:5531",
                       "0.0.0.0 is not a loopback address; only 127.0.0.0/8 and ::1 are "
                       "accepted, so that no other machine can send log lines"},
        BadAddressCase{"public_ipv4", "192.0.2.10:5531",
                       "192.0.2.10 is not a loopback address; only 127.0.0.0/8 and ::1 are "
                       "accepted, so that no other machine can send log lines"},
        BadAddressCase{"any_ipv6", "[::]:5531",
                       ":: is not a loopback address; only 127.0.0.0/8 and ::1 are accepted, "
                       "so that no other machine can send log lines"},
        BadAddressCase{"mapped_ipv6", "[::ffff:127.0.0.1]:5531",
                       "::ffff:127.0.0.1 is not a loopback address; only 127.0.0.0/8 and ::1 "
                       "are accepted, so that no other machine can send log lines"},
        BadAddressCase{"host_name", "localhost:5531",
                       "\"localhost\" is not a numeric IP address (host names are not "
                       "resolved)"},
        BadAddressCase{"empty", "", "empty; want 127.0.0.1:PORT or [::1]:PORT"},
        BadAddressCase{"no_port", "127.0.0.1", "missing :PORT"},
        BadAddressCase{"empty_port", "127.0.0.1:", "\"\" is not a port number (0 to 65535)"},
        BadAddressCase{"port_too_big", "127.0.0.1:65536",
                       "\"65536\" is not a port number (0 to 65535)"},
        BadAddressCase{"port_not_number", "127.0.0.1:syslog",
                       "\"syslog\" is not a port number (0 to 65535)"},
        BadAddressCase{"ipv6_without_brackets", "::1:5531",
                       "an IPv6 address needs brackets, as in [::1]:5531"},
        BadAddressCase{"ipv6_no_port", "[::1]5531", "missing :PORT after ']'"},
        BadAddressCase{"ipv6_unclosed", "[::1:5531", "no ']' after the IPv6 address"},
        BadAddressCase{"ipv4_in_brackets", "[127.0.0.1]:5531",
                       "\"127.0.0.1\" is not a numeric IPv6 address"}),
    [](const ::testing::TestParamInfo<BadAddressCase>& param_info) {
      return param_info.param.name;
    });

TEST(SyslogListenerTest, RefusesAnEmptyCallback) {
  EXPECT_THROW(SyslogListener("127.0.0.1:0", nullptr), std::invalid_argument);
  SyslogListenerOptions options;
  options.max_batch_lines = 0;
  Received received;
  EXPECT_THROW(SyslogListener("127.0.0.1:0", received.Callback(), options), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// A real nginx sending its access log over syslog.

struct NginxCase {
  std::string name;
  // The syslog parameters after "server=127.0.0.1:PORT".
  std::string parameters;
};

class RealNginxTest : public ::testing::TestWithParam<NginxCase> {};

TEST_P(RealNginxTest, DeliversEachRequestOnce) {
  Received received;
  std::atomic<int> malformed{0};
  SyslogListenerOptions options;
  options.on_malformed = [&](std::string_view, std::string_view) { ++malformed; };
  SyslogListener listener("127.0.0.1:0", received.Callback(), options);
  // The server-level access_log replaces the http-level one for this server.
  const std::unique_ptr<nines::testing::Nginx> nginx = nines::testing::Nginx::Start(
      "access_log syslog:server=127.0.0.1:" + std::to_string(listener.port()) +
      GetParam().parameters +
      " combined;\n"
      "location = / { return 200 \"ok\\n\"; }\n"
      "location = /missing { return 404; }");
  ASSERT_NE(nginx, nullptr);

  constexpr int kRequests = 20;
  std::map<std::string, int> want_status;
  for (int i = 0; i < kRequests; ++i) {
    const bool missing = i % 3 == 0;
    const std::string target = (missing ? "/missing?req=" : "/?req=") + std::to_string(i);
    const nines::testing::HttpResponse response = nines::testing::Fetch("GET", nginx->Url(target));
    ASSERT_EQ(response.status, missing ? 404 : 200) << response.error;
    want_status[target] = response.status;
  }
  // One worker logs requests in order and loopback UDP keeps that order, so once the
  // sentinel's line is here every earlier line is too.
  ASSERT_EQ(nines::testing::Fetch("GET", nginx->Url("/?sentinel")).status, 200);
  ASSERT_TRUE(received.WaitForLine(
      [](const std::string& line) { return line.find("/?sentinel") != std::string::npos; }));

  // combined: $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
  // "$http_referer" "$http_user_agent"
  const RE2 combined(
      R"re(127\.0\.0\.1 - - \[[^\]]+\] "GET (\S+) HTTP/1\.1" (\d{3}) \d+ "-" "[^"]*")re");
  std::map<std::string, int> got_status;
  std::map<std::string, int> times_seen;
  for (const std::string& line : received.lines()) {
    std::string target;
    int status = 0;
    ASSERT_TRUE(RE2::FullMatch(line, combined, &target, &status)) << line;
    if (target.find("req=") != std::string::npos) {
      got_status[target] = status;
      ++times_seen[target];
    }
  }
  EXPECT_EQ(got_status, want_status);
  for (const auto& [target, times] : times_seen) {
    EXPECT_EQ(times, 1) << target;
  }
  EXPECT_EQ(malformed.load(), 0);
  EXPECT_EQ(listener.malformed(), 0U);
  EXPECT_EQ(listener.stats().dropped, 0U);
}

INSTANTIATE_TEST_SUITE_P(
    Syslog, RealNginxTest,
    ::testing::Values(NginxCase{"nohostname", ",tag=nginx,nohostname"},
                      NginxCase{"hostname", ",tag=edge_1,facility=local0,severity=notice"},
                      NginxCase{"defaults", ""}),
    [](const ::testing::TestParamInfo<NginxCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace nines::collectors
