#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <re2/re2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "exporter/config/config.h"
#include "probes/prober.h"
#include "probes/tcp.h"
#include "tests/probes/test_server.h"

namespace nines::probes {
namespace {

using std::chrono::milliseconds;
using testing::Connection;
using ::testing::Contains;
using ::testing::HasSubstr;
using testing::TestPki;
using testing::TestServer;

config::Regexp Re(const std::string& pattern) {
  auto compiled = std::make_shared<const re2::RE2>(pattern);
  EXPECT_TRUE(compiled->ok()) << pattern;
  return config::Regexp{pattern, std::move(compiled)};
}

config::QueryResponse Expect(const std::string& pattern, const std::string& send = "") {
  config::QueryResponse step;
  step.expect = Re(pattern);
  step.send = send;
  return step;
}

config::QueryResponse Send(const std::string& send) {
  config::QueryResponse step;
  step.send = send;
  return step;
}

std::shared_ptr<config::Module> TcpModule(std::vector<config::QueryResponse> steps = {}) {
  auto module = std::make_shared<config::Module>();
  module->prober = ProbeKind::kTcp;
  module->tcp.query_response = std::move(steps);
  return module;
}

double Now() { return static_cast<double>(std::time(nullptr)); }

// Lines a server handler read, for the test thread to check after the probe ended.
class Transcript {
 public:
  void Add(std::string line) {
    std::lock_guard lock(mutex_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// One event loop on its own thread for the whole suite, as the daemon runs it.
class TcpProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    event_loop = new EventLoop();
    engine = new ProbeEngine(*event_loop);
    loop_thread = new std::thread([] { event_loop->Run(); });
  }

  static void TearDownTestSuite() {
    event_loop->Stop();
    loop_thread->join();
    delete loop_thread;
    delete engine;  // cancels any run a failed test left behind
    delete event_loop;
  }

  // Runs one probe through the engine and waits for its result (bounded).
  static ProbeResult Probe(const std::string& target, std::shared_ptr<config::Module> module,
                           milliseconds timeout = milliseconds(2000),
                           const std::string& pinned = "") {
    ProbeRequest request;
    request.target = target;
    request.module = std::move(module);
    request.timeout = timeout;
    request.pinned_address = pinned;
    request.debug = true;
    auto promise = std::make_shared<std::promise<ProbeResult>>();
    std::future<ProbeResult> future = promise->get_future();
    event_loop->Post([request = std::move(request), promise]() mutable {
      engine->Start(std::move(request),
                    [promise](ProbeResult result) { promise->set_value(std::move(result)); });
    });
    if (future.wait_for(timeout + milliseconds(3000)) != std::future_status::ready) {
      ADD_FAILURE() << "no result for " << target;
      return ProbeResult{};
    }
    return future.get();
  }

  static EventLoop* event_loop;
  static ProbeEngine* engine;
  static std::thread* loop_thread;
};

EventLoop* TcpProbeTest::event_loop = nullptr;
ProbeEngine* TcpProbeTest::engine = nullptr;
std::thread* TcpProbeTest::loop_thread = nullptr;

TEST_F(TcpProbeTest, ConnectsWithoutDialogue) {
  TestServer server([](Connection& connection) { connection.Hang(); });
  ProbeResult result = Probe(server.HostPort(), TcpModule());
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.reason, FailureReason::kNone);
  EXPECT_TRUE(result.phases.contains("resolve"));
  EXPECT_TRUE(result.phases.contains("connect"));
  EXPECT_FALSE(result.phases.contains("tls"));
  EXPECT_EQ(result.ip_protocol, 4);
  EXPECT_EQ(result.ip_address, "127.0.0.1");
  // As blackbox: probe_failed_due_to_regex exists (0) for every TCP probe.
  EXPECT_EQ(result.failed_due_to_regex, false);
  EXPECT_FALSE(result.tls_version.has_value());
  EXPECT_GT(result.duration.count(), 0);
}

TEST_F(TcpProbeTest, RefusedConnection) {
  ProbeResult result = Probe("127.0.0.1:" + std::to_string(testing::UnusedPort()), TcpModule());
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kConnectRefused) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("refused by 127.0.0.1 port"));
  EXPECT_FALSE(result.phases.contains("connect"));
  EXPECT_EQ(result.ip_protocol, 4);
}

// A listener whose accept queue is full: the kernel drops further SYNs, so a connect stays
// pending (the loopback stand-in for an unreachable host).
class FullListener {
 public:
  FullListener() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* raw = reinterpret_cast<sockaddr*>(&address);
    if (bind(listener_, raw, length) != 0 || listen(listener_, 0) != 0 ||
        getsockname(listener_, raw, &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
    // Connect until one stays pending; the ones before it fill the queue.
    for (int i = 0; i < 4; ++i) {
      int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      clients_.push_back(client);
      if (connect(client, raw, length) == 0) {
        continue;  // accepted into the queue at once
      }
      pollfd ready{client, POLLOUT, 0};
      if (poll(&ready, 1, 100) == 0) {
        full_ = true;
        return;
      }
    }
  }
  ~FullListener() {
    for (int client : clients_) {
      close(client);
    }
    close(listener_);
  }
  FullListener(const FullListener&) = delete;
  FullListener& operator=(const FullListener&) = delete;

  bool full() const { return full_; }
  int port() const { return port_; }

 private:
  int listener_ = -1;
  int port_ = 0;
  bool full_ = false;
  std::vector<int> clients_;
};

TEST_F(TcpProbeTest, ConnectTimeout) {
  FullListener listener;
  if (!listener.full()) {
    GTEST_SKIP() << "this kernel accepts connections beyond the listen backlog";
  }
  auto started = std::chrono::steady_clock::now();
  ProbeResult result =
      Probe("127.0.0.1:" + std::to_string(listener.port()), TcpModule(), milliseconds(300));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(result.reason, FailureReason::kConnectTimeout) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("no connection to 127.0.0.1:"));
  EXPECT_LT(took, milliseconds(1300));
}

TEST_F(TcpProbeTest, SourceAddress) {
  TestServer server([](Connection& connection) { connection.Write("hi\n"); });
  auto module = TcpModule({Expect("^hi")});
  module->tcp.source_ip_address = "127.0.0.1";
  ProbeResult result = Probe(server.HostPort(), module);
  EXPECT_TRUE(result.success) << result.detail;

  // 192.0.2.0/24 is for documentation: binding to it fails here without sending anything.
  module->tcp.source_ip_address = "192.0.2.77";
  result = Probe(server.HostPort(), module);
  EXPECT_EQ(result.reason, FailureReason::kOther) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("source_ip_address \"192.0.2.77\""));
}

TEST_F(TcpProbeTest, CancelClosesTheConnection) {
  std::promise<void> connected;
  std::promise<void> closed;
  TestServer server([&](Connection& connection) {
    connected.set_value();
    connection.Hang();  // returns when the probe closes its end
    closed.set_value();
  });
  ProbeRequest request;
  request.target = server.HostPort();
  request.module = TcpModule({Expect("^never")});
  request.timeout = std::chrono::seconds(10);
  std::promise<std::uint64_t> id;
  event_loop->Post([&] {
    id.set_value(
        engine->Start(request, [](const ProbeResult&) { ADD_FAILURE() << "cancelled run ended"; }));
  });
  std::uint64_t run = id.get_future().get();
  ASSERT_EQ(connected.get_future().wait_for(milliseconds(2000)), std::future_status::ready);
  event_loop->Post([run] { engine->Cancel(run); });
  EXPECT_EQ(closed.get_future().wait_for(milliseconds(2000)), std::future_status::ready);
}

std::size_t OpenDescriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

TEST_F(TcpProbeTest, EveryOutcomeReleasesItsSockets) {
  std::size_t before = OpenDescriptors();
  {
    TestServer server([](Connection& connection) { connection.Write("no\n"); });
    std::string refused = "127.0.0.1:" + std::to_string(testing::UnusedPort());
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(Probe(server.HostPort(), TcpModule()).success);
      EXPECT_EQ(Probe(server.HostPort(), TcpModule({Expect("^yes")})).reason,
                FailureReason::kExpectMismatch);
      EXPECT_EQ(Probe(refused, TcpModule()).reason, FailureReason::kConnectRefused);
    }
  }
  EXPECT_EQ(OpenDescriptors(), before);
}

TEST_F(TcpProbeTest, SmtpDialogueWithSubmatchInSend) {
  Transcript transcript;
  TestServer server([&transcript](Connection& connection) {
    connection.Write("220 mx.example.test ESMTP ready\r\n");
    transcript.Add(connection.ReadLine());
    connection.Write("250-mx.example.test\r\n250-SIZE 1000\r\n250 HELP\r\n");
    transcript.Add(connection.ReadLine());
    connection.Write("221 bye\r\n");
  });
  auto module = TcpModule({
      Expect("^220 ([^ ]+) ESMTP", "EHLO ${1}"),
      Expect("^250 "),  // skips the "250-" lines
      Send("QUIT"),
      Expect("^221"),
  });
  ProbeResult result = Probe(server.HostPort(), module);
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.failed_due_to_regex, false);
  // blackbox ends every send with "\n".
  EXPECT_EQ(transcript.lines(), (std::vector<std::string>{"EHLO mx.example.test\n", "QUIT\n"}));
  EXPECT_THAT(result.log, Contains("> EHLO mx.example.test"));
  EXPECT_THAT(result.log, Contains("< 250-SIZE 1000"));
}

TEST_F(TcpProbeTest, IrcPingPong) {
  Transcript transcript;
  TestServer server([&transcript](Connection& connection) {
    transcript.Add(connection.ReadLine());
    transcript.Add(connection.ReadLine());
    connection.Write(":irc.test NOTICE * :hello\r\nPING :x7Yz\r\n");
    transcript.Add(connection.ReadLine());
    connection.Write(":irc.test 001 prober :Welcome\r\n");
    connection.Hang();
  });
  auto module = TcpModule({
      Send("NICK prober"),
      Send("USER prober prober prober :prober"),
      Expect("PING :(?P<token>[^ ]+)", "PONG ${token} $1 $$ ${2}"),
      Expect("^:[^ ]+ 001"),
  });
  ProbeResult result = Probe(server.HostPort(), module);
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_EQ(transcript.lines(),
            (std::vector<std::string>{"NICK prober\n", "USER prober prober prober :prober\n",
                                      "PONG x7Yz x7Yz $ \n"}));
}

TEST_F(TcpProbeTest, SendWithoutExpectIsNotExpanded) {
  std::promise<std::string> received;
  std::future<std::string> line = received.get_future();
  TestServer server(
      [&received](Connection& connection) { received.set_value(connection.ReadLine()); });
  ProbeResult result = Probe(server.HostPort(), TcpModule({Send("literal ${1}")}));
  EXPECT_TRUE(result.success) << result.detail;
  // The run may end before the handler reads; the line is on its way either way.
  ASSERT_EQ(line.wait_for(milliseconds(2000)), std::future_status::ready);
  EXPECT_EQ(line.get(), "literal ${1}\n");
}

TEST_F(TcpProbeTest, ExpectWithoutMatchBeforeClose) {
  TestServer server([](Connection& connection) {
    connection.Write("hello\r\nnot what you want\r\nlast line without newline");
  });
  ProbeResult result = Probe(server.HostPort(), TcpModule({Expect("^220")}));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kExpectMismatch) << result.detail;
  EXPECT_EQ(result.failed_due_to_regex, true);
  EXPECT_THAT(result.detail, HasSubstr("^220"));
  EXPECT_THAT(result.log, Contains("< last line without newline"));
}

TEST_F(TcpProbeTest, LastLineWithoutNewlineCanMatch) {
  TestServer server([](Connection& connection) { connection.Write("x\nSSH-2.0-test"); });
  ProbeResult result = Probe(server.HostPort(), TcpModule({Expect("^SSH-2\\.0-")}));
  EXPECT_TRUE(result.success) << result.detail;
}

TEST_F(TcpProbeTest, SilentServerTimesOut) {
  TestServer server([](Connection& connection) { connection.Hang(); });
  auto started = std::chrono::steady_clock::now();
  ProbeResult result = Probe(server.HostPort(), TcpModule({Expect("^220")}), milliseconds(400));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kTimeout) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("^220"));
  // A timeout is not a regex failure (blackbox only sets it when the peer closed).
  EXPECT_EQ(result.failed_due_to_regex, false);
  EXPECT_TRUE(result.phases.contains("connect"));
  EXPECT_GE(took, milliseconds(400));
  EXPECT_LT(took, milliseconds(1400));
  EXPECT_GE(result.duration.count(), 0.4);
}

TEST_F(TcpProbeTest, ExpectBytes) {
  TestServer server([](Connection& connection) {
    std::string request = connection.ReadSome();
    connection.Write(std::string("S\0\x01", 3));
    connection.Hang();
  });
  config::QueryResponse ask = Send("SSL?");
  config::QueryResponse answer;
  answer.expect_bytes = std::string("S\0\x01", 3);
  ProbeResult result = Probe(server.HostPort(), TcpModule({ask, answer}));
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_THAT(result.log, Contains("< S\\x00\\x01"));

  answer.expect_bytes = "N";
  result = Probe(server.HostPort(), TcpModule({ask, answer}));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kExpectMismatch) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("expected bytes \"N\", got \"S\""));
  EXPECT_EQ(result.failed_due_to_regex, false);
}

TEST_F(TcpProbeTest, ExpectBytesCutShortByClose) {
  TestServer server([](Connection& connection) { connection.Write("AB"); });
  config::QueryResponse answer;
  answer.expect_bytes = "ABCD";
  ProbeResult result = Probe(server.HostPort(), TcpModule({answer}));
  EXPECT_EQ(result.reason, FailureReason::kExpectMismatch) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("2 of the 4 bytes"));
}

class TcpTlsTest : public TcpProbeTest {
 protected:
  static void SetUpTestSuite() {
    TcpProbeTest::SetUpTestSuite();
    pki = new TestPki();
  }
  static void TearDownTestSuite() {
    delete pki;
    TcpProbeTest::TearDownTestSuite();
  }

  static std::shared_ptr<config::Module> TlsModule(std::vector<config::QueryResponse> steps = {}) {
    auto module = TcpModule(std::move(steps));
    module->tcp.tls = true;
    module->tcp.tls_config.ca_file = pki->ca_file();
    return module;
  }

  static TestPki* pki;
};

TestPki* TcpTlsTest::pki = nullptr;

TEST_F(TcpTlsTest, ValidCertificate) {
  TestServer::Options options;
  options.cert = pki->Issue("valid", {"localhost", "127.0.0.1"});
  options.tls = true;
  TestServer server(
      [](Connection& connection) {
        connection.Write("* OK ready\r\n");
        connection.Hang();
      },
      options);
  ProbeResult result = Probe(server.HostPort(), TlsModule({Expect("^\\* OK")}));
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_TRUE(result.phases.contains("tls"));
  EXPECT_TRUE(result.tls_version.has_value());
  ASSERT_TRUE(result.leaf_cert_expiry_seconds.has_value());
  EXPECT_GT(*result.leaf_cert_expiry_seconds, Now() + 80 * 86400);
  EXPECT_TRUE(result.earliest_cert_expiry_seconds.has_value());
  EXPECT_TRUE(result.last_chain_expiry_seconds.has_value());
  ASSERT_TRUE(result.leaf.has_value());
  EXPECT_THAT(result.leaf->subject, HasSubstr("CN=localhost"));
}

TEST_F(TcpTlsTest, ExpiredCertificateStillReportsExpiry) {
  TestServer::Options options;
  options.cert =
      pki->Issue("expired", {"127.0.0.1"}, std::chrono::hours(-48), std::chrono::hours(-24));
  options.tls = true;
  TestServer server([](Connection& connection) { connection.Hang(); }, options);
  ProbeResult result = Probe(server.HostPort(), TlsModule());
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kTlsCertExpired) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("expired"));
  ASSERT_TRUE(result.leaf_cert_expiry_seconds.has_value());
  EXPECT_LT(*result.leaf_cert_expiry_seconds, Now());
  EXPECT_TRUE(result.phases.contains("tls"));
}

TEST_F(TcpTlsTest, WrongServerName) {
  TestServer::Options options;
  options.cert = pki->Issue("named", {"localhost", "127.0.0.1"});
  options.tls = true;
  TestServer server([](Connection& connection) { connection.Hang(); }, options);
  auto module = TlsModule();
  module->tcp.tls_config.server_name = "other.example.test";
  ProbeResult result = Probe(server.HostPort(), module);
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kTlsCertInvalid) << result.detail;
  EXPECT_TRUE(result.leaf.has_value());
}

TEST_F(TcpTlsTest, SilentServerTimesOutInTheHandshake) {
  TestServer server([](Connection& connection) { connection.Hang(); });
  ProbeResult result = Probe(server.HostPort(), TlsModule(), milliseconds(300));
  EXPECT_EQ(result.reason, FailureReason::kTimeout) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("tls handshake"));
  EXPECT_TRUE(result.phases.contains("tls"));
}

TEST_F(TcpTlsTest, PlainServerFailsTheHandshake) {
  TestServer server([](Connection& connection) {
    connection.Write("220 this is not tls\r\n");
    connection.Hang();
  });
  ProbeResult result = Probe(server.HostPort(), TlsModule());
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kTlsHandshake) << result.detail;
}

TEST_F(TcpTlsTest, StartTls) {
  TestServer::Options options;
  options.cert = pki->Issue("starttls", {"localhost", "127.0.0.1"});
  Transcript transcript;
  TestServer server(
      [&transcript](Connection& connection) {
        connection.Write("220 smtp.test ESMTP\r\n");
        transcript.Add(connection.ReadLine());
        connection.Write("250-smtp.test\r\n250 STARTTLS\r\n");
        transcript.Add(connection.ReadLine());
        connection.Write("220 go ahead\r\n");
        if (!connection.StartTls()) {
          return;
        }
        connection.Write("250 over tls\r\n");
        transcript.Add(connection.ReadLine());
        connection.Hang();
      },
      options);
  auto module = TcpModule({
      Expect("^220 ", "EHLO prober"),
      Expect("^250 STARTTLS", "STARTTLS"),
      Expect("^220 go"),
      config::QueryResponse{},
      Expect("^250 over", "QUIT"),
  });
  module->tcp.query_response[3].starttls = true;
  module->tcp.tls_config.ca_file = pki->ca_file();
  ProbeResult result = Probe(server.HostPort(), module);
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_TRUE(result.phases.contains("tls"));
  EXPECT_TRUE(result.tls_version.has_value());
  EXPECT_TRUE(result.leaf_cert_expiry_seconds.has_value());
  EXPECT_THAT(transcript.lines(), Contains("STARTTLS\n"));
  EXPECT_THAT(result.log, Contains("> QUIT"));
}

TEST_F(TcpProbeTest, Ipv6Loopback) {
  TestServer::Options options;
  options.ipv6 = true;
  TestServer server([](Connection& connection) { connection.Write("hi ::1\n"); }, options);
  ASSERT_EQ(server.HostPort().front(), '[');
  ProbeResult result = Probe(server.HostPort(), TcpModule({Expect("^hi")}));
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.ip_protocol, 6);
  EXPECT_EQ(result.ip_address, "::1");
}

TEST_F(TcpProbeTest, PinnedAddressReplacesTheLookup) {
  TestServer server([](Connection& connection) { connection.Write("pinned\n"); });
  std::string target = "probe-target.invalid:" + std::to_string(server.port());
  ProbeResult result =
      Probe(target, TcpModule({Expect("^pinned")}), milliseconds(2000), "127.0.0.1");
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.ip_address, "127.0.0.1");
}

TEST_F(TcpProbeTest, LiteralOfTheOtherFamilyWithoutFallback) {
  auto module = TcpModule();
  module->tcp.preferred_ip_protocol = config::IpProtocol::kIp6;
  module->tcp.ip_protocol_fallback = false;
  ProbeResult result = Probe("127.0.0.1:" + std::to_string(testing::UnusedPort()), module);
  EXPECT_EQ(result.reason, FailureReason::kDns) << result.detail;
  EXPECT_EQ(result.failed_due_to_regex, false);
  EXPECT_FALSE(result.ip_protocol.has_value());
}

TEST_F(TcpProbeTest, MalformedTargets) {
  for (const std::string target :
       {"", "127.0.0.1", "127.0.0.1:", "::1:80", "[::1]", "[::1]80", "[127.0.0.1]:80", "host:0",
        "host:65536", "host:http", ":80", "user@host:80", "host/path:80"}) {
    ProbeResult result = Probe(target, TcpModule());
    EXPECT_FALSE(result.success) << target;
    EXPECT_EQ(result.reason, FailureReason::kOther) << target;
    EXPECT_THAT(result.detail, HasSubstr("target \"" + target + "\"")) << target;
    EXPECT_TRUE(result.phases.empty()) << target;
  }
}

}  // namespace
}  // namespace nines::probes
