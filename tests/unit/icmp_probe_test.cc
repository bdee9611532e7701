// The ICMP prober against this machine only: the loopback addresses, and a test host in a
// pair of network namespaces the tests create (a client and a host joined by a veth pair),
// where the host drops echo requests, routes to an unreachable network, or forwards with a
// TTL that runs out. Nothing is ever sent to an address outside this machine.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "exporter/config/config.h"
#include "probes/icmp.h"
#include "probes/prober.h"
#include "tests/integration/process_runner.h"

namespace nines::probes {
namespace {

using std::chrono::milliseconds;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<config::Module> IcmpModule(int packets = 1,
                                           milliseconds interval = milliseconds(100)) {
  auto module = std::make_shared<config::Module>();
  module->prober = ProbeKind::kIcmp;
  module->icmp.packets = packets;
  module->icmp.packet_interval = interval;
  module->icmp.preferred_ip_protocol = config::IpProtocol::kIp4;
  return module;
}

ProbeRequest Request(const std::string& target, std::shared_ptr<config::Module> module,
                     milliseconds timeout = milliseconds(2000)) {
  ProbeRequest request;
  request.target = target;
  request.module = std::move(module);
  request.timeout = timeout;
  request.debug = true;
  return request;
}

// Runs probes on an event loop of the calling thread (so their sockets live in the
// thread's network namespace) until every one has a result, or at most their timeout
// plus 3 s.
std::vector<ProbeResult> RunAll(std::vector<ProbeRequest> requests) {
  EventLoop loop;
  ProbeEngine engine(loop);
  std::vector<ProbeResult> results(requests.size());
  std::size_t pending = requests.size();
  SteadyClock::duration longest{};
  for (std::size_t i = 0; i < requests.size(); ++i) {
    longest = std::max<SteadyClock::duration>(longest, requests[i].timeout);
    loop.Post([&, i, request = std::move(requests[i])]() mutable {
      engine.Start(std::move(request), [&, i](ProbeResult result) {
        results[i] = std::move(result);
        if (--pending == 0) {
          loop.Stop();
        }
      });
    });
  }
  loop.AddTimer(SteadyClock::now() + longest + std::chrono::seconds(3), [&] {
    ADD_FAILURE() << pending << " probe(s) did not finish";
    loop.Stop();
  });
  loop.Run();
  return results;
}

ProbeResult RunOne(ProbeRequest request) {
  std::vector<ProbeRequest> requests;
  requests.push_back(std::move(request));
  return RunAll(std::move(requests)).front();
}

std::string Log(const ProbeResult& result) {
  std::string text;
  for (const std::string& line : result.log) {
    text += line;
    text += '\n';
  }
  return text;
}

bool PermissionDenied(const ProbeResult& result) {
  return result.detail.find("ping_group_range") != std::string::npos;
}

// Checks the facts of a run that got every reply.
void ExpectAllReplies(const ProbeResult& result, int packets, int ip_protocol) {
  EXPECT_TRUE(result.success) << result.detail << "\n" << Log(result);
  EXPECT_EQ(result.reason, FailureReason::kNone);
  EXPECT_EQ(result.ip_protocol, ip_protocol);
  ASSERT_TRUE(result.icmp.has_value());
  EXPECT_EQ(result.icmp->packets_sent, packets);
  EXPECT_EQ(result.icmp->packets_received, packets);
  EXPECT_EQ(result.icmp->rtt_seconds.size(), static_cast<std::size_t>(packets));
  for (double rtt : result.icmp->rtt_seconds) {
    EXPECT_GE(rtt, 0);
    EXPECT_LT(rtt, 1);
  }
  EXPECT_TRUE(result.icmp->reply_hop_limit.has_value());
  EXPECT_TRUE(result.phases.contains("resolve"));
  EXPECT_TRUE(result.phases.contains("setup"));
  EXPECT_TRUE(result.phases.contains("rtt"));
}

// ---- In the test's own network namespace: whatever socket the process may open. ----

class IcmpLoopbackTest : public ::testing::Test {
 protected:
  // Runs a probe; skips the test when this process may open no ICMP socket at all.
  ProbeResult Probe(ProbeRequest request) {
    ProbeResult result = RunOne(std::move(request));
    if (PermissionDenied(result)) {
      skipped_ = result.detail;
    }
    return result;
  }
  std::string skipped_;
};

#define SKIP_IF_NO_ICMP()                                                   \
  if (!skipped_.empty()) {                                                  \
    GTEST_SKIP() << "this process may not open ICMP sockets: " << skipped_; \
  }

TEST_F(IcmpLoopbackTest, EchoToIpv4Loopback) {
  ProbeResult result = Probe(Request("127.0.0.1", IcmpModule()));
  SKIP_IF_NO_ICMP();
  ExpectAllReplies(result, 1, 4);
  EXPECT_EQ(result.ip_address, "127.0.0.1");
  EXPECT_EQ(result.icmp->reply_hop_limit, 64);
  EXPECT_GT(result.duration.count(), 0);
  EXPECT_LT(result.duration.count(), 1);
}

TEST_F(IcmpLoopbackTest, EchoToIpv6Loopback) {
  auto module = IcmpModule();
  module->icmp.preferred_ip_protocol = config::IpProtocol::kIp6;
  ProbeResult result = Probe(Request("::1", module));
  SKIP_IF_NO_ICMP();
  ExpectAllReplies(result, 1, 6);
  EXPECT_EQ(result.ip_address, "::1");
  EXPECT_EQ(result.icmp->reply_hop_limit, 64);
}

TEST_F(IcmpLoopbackTest, SeveralPacketsAnIntervalApart) {
  ProbeResult result = Probe(Request("127.0.0.1", IcmpModule(5, milliseconds(30))));
  SKIP_IF_NO_ICMP();
  ExpectAllReplies(result, 5, 4);
  // The last request leaves 4 intervals after the first; the run ends with its reply.
  EXPECT_GE(result.duration.count(), 0.119);
  EXPECT_LT(result.duration.count(), 1);
  EXPECT_EQ(
      std::count_if(result.log.begin(), result.log.end(),
                    [](const std::string& line) { return line.starts_with("echo request seq="); }),
      5)
      << Log(result);
}

TEST_F(IcmpLoopbackTest, PayloadSizes) {
  for (int size : {0, 1, 8, 56, 1400, 9000}) {
    auto module = IcmpModule(2, milliseconds(10));
    module->icmp.payload_size = size;
    module->icmp.ttl = 3;
    ProbeResult result = Probe(Request("127.0.0.1", module));
    SKIP_IF_NO_ICMP();
    ExpectAllReplies(result, 2, 4);
    std::string bytes = std::to_string(size == 0 ? 28 : size) + " bytes of data";
    EXPECT_THAT(Log(result), HasSubstr(bytes)) << size;
  }
}

TEST_F(IcmpLoopbackTest, DontFragmentLimitsThePayloadToTheMtu) {
  auto module = IcmpModule();
  module->icmp.dont_fragment = true;
  module->icmp.payload_size = 1000;
  ProbeResult result = Probe(Request("127.0.0.1", module));
  SKIP_IF_NO_ICMP();
  ExpectAllReplies(result, 1, 4);
  // Loopback's MTU is 65536: 65507 bytes of data fit, with or without fragments.
  module = IcmpModule();
  module->icmp.dont_fragment = true;
  module->icmp.payload_size = 65507;
  result = Probe(Request("127.0.0.1", module));
  ExpectAllReplies(result, 1, 4);
}

TEST_F(IcmpLoopbackTest, ConcurrentRunsCountOnlyTheirOwnReplies) {
  std::vector<ProbeRequest> requests;
  requests.reserve(4);
  for (int i = 0; i < 4; ++i) {
    requests.push_back(Request(i % 2 == 0 ? "127.0.0.1" : "::1", IcmpModule(4, milliseconds(5))));
  }
  std::vector<ProbeResult> results = RunAll(std::move(requests));
  if (PermissionDenied(results[0])) {
    GTEST_SKIP() << results[0].detail;
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    ExpectAllReplies(results[i], 4, i % 2 == 0 ? 4 : 6);
  }
}

TEST_F(IcmpLoopbackTest, HostNameFromEtcHosts) {
  ProbeResult result = Probe(Request("localhost", IcmpModule()));
  SKIP_IF_NO_ICMP();
  ExpectAllReplies(result, 1, 4);
  EXPECT_EQ(result.ip_address, "127.0.0.1");
  EXPECT_THAT(Log(result), HasSubstr("resolved \"localhost\" to 127.0.0.1"));
}

TEST_F(IcmpLoopbackTest, PinnedAddressNeedsNoLookup) {
  ProbeRequest request = Request("nines-icmp-test.invalid", IcmpModule());
  request.pinned_address = "127.0.0.1";
  ProbeResult result = Probe(std::move(request));
  SKIP_IF_NO_ICMP();
  ExpectAllReplies(result, 1, 4);
  EXPECT_THAT(Log(result), Not(HasSubstr("resolving")));
}

TEST_F(IcmpLoopbackTest, CheckAddressRefuses) {
  ProbeRequest request = Request("127.0.0.1", IcmpModule());
  std::vector<std::string> checked;
  request.check_address = [&checked](const std::string& host, const std::string& address) {
    checked.push_back(host + " " + address);
    return std::optional<std::string>("denied by test");
  };
  ProbeResult result = RunOne(std::move(request));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kOther);
  EXPECT_THAT(result.detail, HasSubstr("denied by test"));
  EXPECT_THAT(checked, Contains("127.0.0.1 127.0.0.1"));
  EXPECT_FALSE(result.icmp.has_value());
}

TEST_F(IcmpLoopbackTest, AddressFamilyRules) {
  // An IPv4 literal while IPv6 is preferred: fine with the fallback, refused without.
  auto module = IcmpModule();
  module->icmp.preferred_ip_protocol = config::IpProtocol::kIp6;
  ProbeResult result = Probe(Request("127.0.0.1", module));
  SKIP_IF_NO_ICMP();
  EXPECT_TRUE(result.success) << result.detail;
  module->icmp.ip_protocol_fallback = false;
  result = RunOne(Request("127.0.0.1", module));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kDns);
  EXPECT_THAT(result.detail, HasSubstr("no ip6 address"));
  EXPECT_EQ(result.ip_protocol, std::nullopt);
}

TEST_F(IcmpLoopbackTest, SourceAddress) {
  auto module = IcmpModule();
  module->icmp.source_ip_address = "127.0.0.1";
  ProbeResult result = Probe(Request("127.0.0.1", module));
  SKIP_IF_NO_ICMP();
  ExpectAllReplies(result, 1, 4);
  module->icmp.source_ip_address = "::1";
  result = RunOne(Request("127.0.0.1", module));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kOther);
  EXPECT_THAT(result.detail, HasSubstr("source_ip_address ::1 is not an ip4 address"));
}

TEST_F(IcmpLoopbackTest, MalformedTargets) {
  for (std::string target : {"", "host/path", "[::1]", "127.0.0.1:80", "a b", "127.0.0.1%lo"}) {
    ProbeResult result = RunOne(Request(target, IcmpModule()));
    EXPECT_FALSE(result.success) << target;
    EXPECT_EQ(result.reason, FailureReason::kOther) << target;
    EXPECT_FALSE(result.icmp.has_value()) << target;
  }
}

TEST_F(IcmpLoopbackTest, PacketsThatWouldLeaveAfterTheDeadlineAreNotSent) {
  ProbeResult result =
      Probe(Request("127.0.0.1", IcmpModule(10, milliseconds(100)), milliseconds(450)));
  SKIP_IF_NO_ICMP();
  ExpectAllReplies(result, 5, 4);
  EXPECT_THAT(Log(result), HasSubstr("5 echo request(s) not sent"));
}

// ---- In network namespaces of the test's own: both socket kinds, and a test host. ----

// The output and exit status of a shell command.
struct Command {
  int status = -1;
  std::string output;
};

Command Shell(const std::string& command) {
  Command out;
  std::string line = command + " 2>&1";
  std::FILE* pipe = ::popen(line.c_str(), "r");
  if (pipe == nullptr) {
    return out;
  }
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
    out.output += buffer;
  }
  out.status = ::pclose(pipe);
  return out;
}

// Two network namespaces, client and host, joined by a veth pair:
//   client 198.18.0.1/30, 2001:db8:1::1/64  <->  host 198.18.0.2/30, 2001:db8:1::2/64
// The client routes 198.19.0.0/24 and 2001:db8:2::/64 through the host. The host drops
// echo requests to itself, answers the lower half of those networks with "unreachable"
// and forwards the upper half out of its veth (where nobody answers), so a TTL of 1 runs
// out there. Every other IPv4 address the client sends to (a DNS server, say) is routed
// to the host, which silently drops it: nothing leaves the namespaces.
// Both namespaces (and the veth pair with them) go away with the object.
class TestNetwork {
 public:
  TestNetwork()
      : client_("nines-icmp-" + std::to_string(::getpid()) + "-c"),
        host_("nines-icmp-" + std::to_string(::getpid()) + "-h") {
    Cleanup();
    std::string c = "ip -n " + client_ + " ";
    std::string h = "ip -n " + host_ + " ";
    std::string host_exec = "ip netns exec " + host_ + " sysctl -qw ";
    for (const std::string& command : {
             "ip netns add " + client_,
             "ip netns add " + host_,
             c + "link add veth-c type veth peer name veth-h netns " + host_,
             c + "link set lo up",
             h + "link set lo up",
             c + "addr add 198.18.0.1/30 dev veth-c",
             h + "addr add 198.18.0.2/30 dev veth-h",
             c + "addr add 2001:db8:1::1/64 dev veth-c nodad",
             h + "addr add 2001:db8:1::2/64 dev veth-h nodad",
             c + "link set veth-c up",
             h + "link set veth-h up",
             c + "route add 198.19.0.0/24 via 198.18.0.2",
             c + "-6 route add 2001:db8:2::/64 via 2001:db8:1::2",
             c + "route add default via 198.18.0.2",
             h + "route add blackhole default",
             host_exec + "net.ipv4.ip_forward=1",
             host_exec + "net.ipv6.conf.all.forwarding=1",
             host_exec + "net.ipv4.icmp_echo_ignore_all=1",
             host_exec + "net.ipv6.icmp.echo_ignore_all=1",
             host_exec + "net.ipv4.icmp_ratelimit=0",
             host_exec + "net.ipv6.icmp.ratelimit=0",
             host_exec + "net.ipv4.icmp_ratemask=0",
             h + "route add unreachable 198.19.0.0/25",
             h + "route add 198.19.0.128/25 dev veth-h",
             h + "-6 route add unreachable 2001:db8:2::/65",
             h + "-6 route add 2001:db8:2:0:8000::/65 dev veth-h",
         }) {
      Command result = Shell(command);
      if (result.status != 0) {
        error_ = command + ": " + result.output;
        return;
      }
    }
  }
  ~TestNetwork() { Cleanup(); }
  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;

  /// Why the network could not be built; "" when it is up.
  const std::string& error() const { return error_; }

  /// The client namespace's name.
  const std::string& client() const { return client_; }

  /// Runs `ip -n CLIENT <arguments>`; whether it succeeded.
  bool Run(const std::string& arguments) {
    return Shell("ip -n " + client_ + " " + arguments).status == 0;
  }

  /// Sets the client's net.ipv4.ping_group_range (it also governs ICMPv6 sockets).
  bool SetPingGroupRange(const std::string& range) {
    return Shell("ip netns exec " + client_ + " sysctl -qw net.ipv4.ping_group_range='" + range +
                 "'")
               .status == 0;
  }

  /// Runs `probe` on a thread inside the client namespace, with CAP_NET_RAW dropped from
  /// that thread when `without_raw`.
  template <typename Result>
  std::optional<Result> InClient(const std::function<Result()>& probe, bool without_raw = false) {
    std::optional<Result> out;
    std::string failure;
    std::thread thread([&] {
      int fd = ::open(("/run/netns/" + client_).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        failure = "cannot enter " + client_;
        if (fd >= 0) {
          ::close(fd);
        }
        return;
      }
      ::close(fd);
      if (without_raw && !DropNetRaw()) {
        failure = "cannot drop CAP_NET_RAW";
        return;
      }
      out = probe();
    });
    thread.join();
    EXPECT_EQ(failure, "");
    return out;
  }

 private:
  // Clears CAP_NET_RAW from the calling thread's effective set (capabilities are per
  // thread on Linux).
  static bool DropNetRaw() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &header, data) != 0) {
      return false;
    }
    data[0].effective &= ~(1U << CAP_NET_RAW);
    return ::syscall(SYS_capset, &header, data) == 0;
  }

  void Cleanup() {
    Shell("ip netns del " + client_);
    Shell("ip netns del " + host_);
  }

  std::string client_;
  std::string host_;
  std::string error_;
};

class IcmpNamespaceTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "network namespace tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)";
    }
    network_ = std::make_unique<TestNetwork>();
    if (!network_->error().empty()) {
      GTEST_SKIP() << "cannot build the test network (no CAP_NET_ADMIN or no ip netns?): "
                   << network_->error();
    }
    // Datagram sockets: every group may ping. Raw sockets: no group may (the default).
    ASSERT_TRUE(network_->SetPingGroupRange(Datagram() ? "0 2147483647" : "1 0"));
  }

  static bool Datagram() { return GetParam(); }
  static const char* SocketKind() {
    return Datagram() ? "unprivileged ICMP datagram socket" : "raw ICMP socket";
  }

  std::vector<ProbeResult> InClient(std::vector<ProbeRequest> requests) {
    std::optional<std::vector<ProbeResult>> results = network_->InClient<std::vector<ProbeResult>>(
        [&requests] { return RunAll(std::move(requests)); });
    return results.value_or(std::vector<ProbeResult>());
  }

  ProbeResult InClient(ProbeRequest request) {
    std::vector<ProbeRequest> requests;
    requests.push_back(std::move(request));
    std::vector<ProbeResult> results = InClient(std::move(requests));
    return results.empty() ? ProbeResult{} : results.front();
  }

  std::unique_ptr<TestNetwork> network_;
};

TEST_P(IcmpNamespaceTest, LoopbackWithEachSocketKind) {
  auto v6 = IcmpModule(3, milliseconds(20));
  v6->icmp.preferred_ip_protocol = config::IpProtocol::kIp6;
  v6->icmp.payload_size = 100;
  v6->icmp.ttl = 2;
  auto v4 = IcmpModule(3, milliseconds(20));
  v4->icmp.payload_size = 100;
  v4->icmp.ttl = 2;
  std::vector<ProbeRequest> requests;
  requests.push_back(Request("127.0.0.1", v4));
  requests.push_back(Request("::1", v6));
  std::vector<ProbeResult> results = InClient(std::move(requests));
  ASSERT_EQ(results.size(), 2U);
  ExpectAllReplies(results[0], 3, 4);
  ExpectAllReplies(results[1], 3, 6);
  for (const ProbeResult& result : results) {
    EXPECT_THAT(Log(result), HasSubstr(SocketKind()));
  }
}

TEST_P(IcmpNamespaceTest, HostThatDropsEchoRequests) {
  auto v6 = IcmpModule(3, milliseconds(50));
  v6->icmp.preferred_ip_protocol = config::IpProtocol::kIp6;
  std::vector<ProbeRequest> requests;
  requests.push_back(Request("198.18.0.2", IcmpModule(3, milliseconds(50)), milliseconds(500)));
  requests.push_back(Request("2001:db8:1::2", v6, milliseconds(500)));
  std::vector<ProbeResult> results = InClient(std::move(requests));
  ASSERT_EQ(results.size(), 2U);
  for (const ProbeResult& result : results) {
    EXPECT_FALSE(result.success);
    EXPECT_EQ(result.reason, FailureReason::kTimeout) << result.detail;
    EXPECT_THAT(result.detail, HasSubstr("no echo reply from"));
    EXPECT_THAT(result.detail, HasSubstr("within the timeout"));
    ASSERT_TRUE(result.icmp.has_value());
    EXPECT_EQ(result.icmp->packets_sent, 3);
    EXPECT_EQ(result.icmp->packets_received, 0);
    EXPECT_TRUE(result.icmp->rtt_seconds.empty());
    EXPECT_FALSE(result.icmp->reply_hop_limit.has_value());
    EXPECT_FALSE(result.phases.contains("rtt"));
    EXPECT_GE(result.duration.count(), 0.5);
    EXPECT_LT(result.duration.count(), 1.5);
    EXPECT_THAT(Log(result), HasSubstr(SocketKind()));
  }
}

TEST_P(IcmpNamespaceTest, UnreachableNetwork) {
  auto v6 = IcmpModule(2, milliseconds(20));
  v6->icmp.preferred_ip_protocol = config::IpProtocol::kIp6;
  std::vector<ProbeRequest> requests;
  requests.push_back(Request("198.19.0.1", IcmpModule(2, milliseconds(20))));
  requests.push_back(Request("2001:db8:2::1", v6));
  std::vector<ProbeResult> results = InClient(std::move(requests));
  ASSERT_EQ(results.size(), 2U);
  EXPECT_THAT(results[0].detail, HasSubstr("destination unreachable (host unreachable)"));
  EXPECT_THAT(results[0].detail, HasSubstr("from 198.18.0.2"));
  EXPECT_THAT(results[1].detail, HasSubstr("destination unreachable (no route to destination)"));
  EXPECT_THAT(results[1].detail, HasSubstr("from 2001:db8:1::2"));
  for (const ProbeResult& result : results) {
    EXPECT_FALSE(result.success);
    EXPECT_EQ(result.reason, FailureReason::kIcmpUnreachable) << result.detail;
    ASSERT_TRUE(result.icmp.has_value());
    EXPECT_EQ(result.icmp->packets_sent, 2);
    EXPECT_EQ(result.icmp->packets_received, 0);
    // Every request was answered with an error: the run ends without waiting.
    EXPECT_LT(result.duration.count(), 1) << Log(result);
  }
}

TEST_P(IcmpNamespaceTest, TtlRunsOutAtTheFirstHop) {
  auto v4 = IcmpModule();
  v4->icmp.ttl = 1;
  auto v6 = IcmpModule();
  v6->icmp.ttl = 1;
  v6->icmp.preferred_ip_protocol = config::IpProtocol::kIp6;
  std::vector<ProbeRequest> requests;
  requests.push_back(Request("198.19.0.200", v4));
  requests.push_back(Request("2001:db8:2:0:8000::1", v6));
  std::vector<ProbeResult> results = InClient(std::move(requests));
  ASSERT_EQ(results.size(), 2U);
  EXPECT_THAT(results[0].detail, HasSubstr("time exceeded (ttl exceeded)"));
  EXPECT_THAT(results[1].detail, HasSubstr("time exceeded (hop limit exceeded)"));
  EXPECT_THAT(results[0].detail, HasSubstr("from 198.18.0.2"));
  EXPECT_THAT(results[1].detail, HasSubstr("from 2001:db8:1::2"));
  for (const ProbeResult& result : results) {
    EXPECT_EQ(result.reason, FailureReason::kIcmpUnreachable) << result.detail << Log(result);
    ASSERT_TRUE(result.icmp.has_value());
    EXPECT_EQ(result.icmp->packets_sent, 1);
    EXPECT_EQ(result.icmp->packets_received, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(SocketKinds, IcmpNamespaceTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "Datagram" : "Raw";
                         });

// A name the resolver cannot answer: the DNS server of resolv.conf is unreachable from
// the client namespace (silently dropped, or refused on a loopback address), so the run
// fails with `dns` whether c-ares gives up or the deadline comes first.
TEST(IcmpResolverTest, HostNameThatDoesNotResolve) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "network namespace tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)";
  }
  TestNetwork network;
  if (!network.error().empty()) {
    GTEST_SKIP() << "cannot build the test network (no CAP_NET_ADMIN or no ip netns?): "
                 << network.error();
  }
  std::optional<ProbeResult> result = network.InClient<ProbeResult>(
      [] { return RunOne(Request("nines-icmp-test.invalid", IcmpModule(), milliseconds(700))); });
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(result->success);
  EXPECT_EQ(result->reason, FailureReason::kDns) << result->detail;
  EXPECT_THAT(result->detail, HasSubstr("\"nines-icmp-test.invalid\""));
  EXPECT_TRUE(result->phases.contains("resolve"));
  EXPECT_LT(result->duration.count(), 1.5);
  EXPECT_FALSE(result->icmp.has_value());
  EXPECT_THAT(Log(*result), HasSubstr("resolving \"nines-icmp-test.invalid\" (ip4 preferred"));
}

// The first IPv4 nameserver of /etc/resolv.conf, the one c-ares asks first; "" when none.
std::string FirstIpv4Nameserver() {
  std::ifstream in("/etc/resolv.conf");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword;
    std::string address;
    if (words >> keyword >> address && keyword == "nameserver" &&
        address.find(':') == std::string::npos) {
      return address;
    }
  }
  return "";
}

// A name answered by the system's resolver: a dnsmasq inside the client namespace plays
// the nameserver of resolv.conf (its address added to the namespace's loopback), so the
// lookup goes through c-ares's sockets and timers on the event loop for real.
TEST(IcmpResolverTest, HostNameFromTheConfiguredNameserver) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "network namespace tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)";
  }
  const std::string nameserver = FirstIpv4Nameserver();
  const char* dnsmasq = "/usr/sbin/dnsmasq";
  if (nameserver.empty() || ::access(dnsmasq, X_OK) != 0) {
    GTEST_SKIP() << "needs an IPv4 nameserver in /etc/resolv.conf and " << dnsmasq;
  }
  TestNetwork network;
  if (!network.error().empty()) {
    GTEST_SKIP() << "cannot build the test network (no CAP_NET_ADMIN or no ip netns?): "
                 << network.error();
  }
  if (!nameserver.starts_with("127.")) {
    ASSERT_TRUE(network.Run("addr add " + nameserver + "/32 dev lo"));
  }
  testing::Process server(testing::ProcessOptions{
      .argv = {"/usr/sbin/ip", "netns", "exec", network.client(), dnsmasq, "--no-daemon",
               "--port=53", "--listen-address=" + nameserver, "--bind-interfaces", "--no-resolv",
               "--no-hosts", "--conf-file=/dev/null", "--pid-file", "--log-facility=-",
               "--address=/icmp-target.test/127.0.0.1"}});
  ASSERT_TRUE(server.WaitForLine("started", std::chrono::seconds(10)).has_value())
      << server.Describe();
  std::optional<ProbeResult> result = network.InClient<ProbeResult>(
      [] { return RunOne(Request("icmp-target.test.", IcmpModule(2, milliseconds(10)))); });
  ASSERT_TRUE(result.has_value());
  ExpectAllReplies(*result, 2, 4);
  EXPECT_EQ(result->ip_address, "127.0.0.1");
  EXPECT_THAT(Log(*result), HasSubstr("resolved \"icmp-target.test.\" to 127.0.0.1"));
}

// Where ping_group_range excludes the process and CAP_NET_RAW is gone, the run says what
// to change.
TEST(IcmpPermissionsTest, NeitherSocketAllowed) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "network namespace tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)";
  }
  TestNetwork network;
  if (!network.error().empty()) {
    GTEST_SKIP() << "cannot build the test network (no CAP_NET_ADMIN or no ip netns?): "
                 << network.error();
  }
  ASSERT_TRUE(network.SetPingGroupRange("1 0"));
  std::optional<ProbeResult> result = network.InClient<ProbeResult>(
      [] { return RunOne(Request("127.0.0.1", IcmpModule())); }, /*without_raw=*/true);
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(result->success);
  EXPECT_EQ(result->reason, FailureReason::kOther);
  EXPECT_THAT(result->detail,
              HasSubstr("ICMP needs net.ipv4.ping_group_range to include gid " +
                        std::to_string(::getegid()) + " (it is \"1 0\") or CAP_NET_RAW"));
  EXPECT_FALSE(result->icmp.has_value());
}

}  // namespace
}  // namespace nines::probes
