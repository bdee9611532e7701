#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <re2/re2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "exporter/config/config.h"
#include "probes/dns.h"
#include "probes/prober.h"
#include "tests/integration/peers.h"
#include "tests/probes/dnsmasq.h"
#include "tests/probes/test_server.h"

namespace nines::probes {
namespace {

using std::chrono::milliseconds;
using ::testing::Contains;
using testing::Dnsmasq;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::UnorderedElementsAre;
using Bytes = std::vector<unsigned char>;

config::Regexp Re(const std::string& pattern) {
  auto compiled = std::make_shared<const re2::RE2>(pattern);
  EXPECT_TRUE(compiled->ok()) << pattern;
  return config::Regexp{pattern, std::move(compiled)};
}

std::vector<config::Regexp> Res(const std::vector<std::string>& patterns) {
  std::vector<config::Regexp> out;
  out.reserve(patterns.size());
  for (const std::string& pattern : patterns) {
    out.push_back(Re(pattern));
  }
  return out;
}

std::shared_ptr<config::Module> DnsModule(
    const std::string& name, const std::string& type,
    const std::function<void(config::DnsModule&)>& edit = nullptr) {
  auto module = std::make_shared<config::Module>();
  module->prober = ProbeKind::kDns;
  module->dns.query_name = name;
  module->dns.query_type = type;
  module->dns.preferred_ip_protocol = config::IpProtocol::kIp4;
  if (edit) {
    edit(module->dns);
  }
  return module;
}

// The log line the prober writes for a record of the answer (tabs shown as \t).
std::string AnswerLine(const std::string& text) {
  std::string line = "answer: ";
  for (char c : text) {
    line += c == '\t' ? std::string("\\t") : std::string(1, c);
  }
  return line;
}

// ---- a scripted DNS server: answers UDP queries with whatever `respond` returns ----

// Wire-format name of plain labels ("a.b." or "a.b").
Bytes Name(const std::string& name) {
  Bytes out;
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) {
      dot = name.size();
    }
    out.push_back(static_cast<unsigned char>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
               name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

void Append16(Bytes* out, unsigned value) {
  out->push_back(static_cast<unsigned char>((value >> 8U) & 0xffU));
  out->push_back(static_cast<unsigned char>(value & 0xffU));
}

void Append32(Bytes* out, std::uint32_t value) {
  Append16(out, value >> 16U);
  Append16(out, value & 0xffffU);
}

struct Rr {
  std::string name;
  unsigned type = 1;
  Bytes rdata;
  unsigned dns_class = 1;
  std::uint32_t ttl = 300;
};

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) {
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

Bytes B(std::initializer_list<int> values) {
  Bytes out;
  for (int value : values) {
    out.push_back(static_cast<unsigned char>(value));
  }
  return out;
}

Bytes Str(const std::string& text) { return Bytes(text.begin(), text.end()); }

// A character-string: length octet and bytes.
Bytes CharString(const std::string& text) {
  Bytes out = {static_cast<unsigned char>(text.size())};
  out.insert(out.end(), text.begin(), text.end());
  return out;
}

// A response to `query` (its id and question copied) with `rcode` and these sections.
Bytes Reply(const Bytes& query, int rcode, const std::vector<Rr>& answer,
            const std::vector<Rr>& authority = {}, const std::vector<Rr>& additional = {},
            unsigned extra_flags = 0) {
  Bytes out(query.begin(), query.begin() + 2);
  unsigned flags =
      0x8000U | (query[2] & 0x01U) << 8U | 0x80U | static_cast<unsigned>(rcode) | extra_flags;
  Append16(&out, flags);
  Append16(&out, 1);
  Append16(&out, static_cast<unsigned>(answer.size()));
  Append16(&out, static_cast<unsigned>(authority.size()));
  Append16(&out, static_cast<unsigned>(additional.size()));
  out.insert(out.end(), query.begin() + 12, query.end());
  for (const auto* section : {&answer, &authority, &additional}) {
    for (const Rr& rr : *section) {
      Bytes name = Name(rr.name);
      out.insert(out.end(), name.begin(), name.end());
      Append16(&out, rr.type);
      Append16(&out, rr.dns_class);
      Append32(&out, rr.ttl);
      Append16(&out, static_cast<unsigned>(rr.rdata.size()));
      out.insert(out.end(), rr.rdata.begin(), rr.rdata.end());
    }
  }
  return out;
}

class ScriptedDns {
 public:
  using Respond = std::function<std::optional<Bytes>(const Bytes& query)>;

  explicit ScriptedDns(Respond respond) : respond_(std::move(respond)) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* raw = reinterpret_cast<sockaddr*>(&address);
    if (fd_ < 0 || bind(fd_, raw, length) != 0 || getsockname(fd_, raw, &length) != 0) {
      ADD_FAILURE() << "cannot bind a UDP socket";
      return;
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedDns() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  ScriptedDns(const ScriptedDns&) = delete;
  ScriptedDns& operator=(const ScriptedDns&) = delete;

  std::string HostPort() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      pollfd ready{fd_, POLLIN, 0};
      if (poll(&ready, 1, 50) <= 0) {
        continue;
      }
      std::array<unsigned char, 4096> buffer{};
      sockaddr_storage peer{};
      socklen_t length = sizeof peer;
      ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&peer),
                           &length);
      if (n < 12) {
        continue;
      }
      ++queries_;
      std::optional<Bytes> answer = respond_(Bytes(buffer.begin(), buffer.begin() + n));
      if (answer) {
        sendto(fd_, answer->data(), answer->size(), 0, reinterpret_cast<sockaddr*>(&peer), length);
      }
    }
  }

  Respond respond_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

// ---- the fixture: one event loop and one dnsmasq for the suite ----

class DnsProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    event_loop = new EventLoop();
    engine = new ProbeEngine(*event_loop);
    loop_thread = new std::thread([] { event_loop->Run(); });
    dnsmasq = Dnsmasq::Start(testing::ExampleZone()).release();
  }

  static void TearDownTestSuite() {
    event_loop->Stop();
    loop_thread->join();
    delete loop_thread;
    delete engine;
    delete event_loop;
    delete dnsmasq;
  }

  void SetUp() override { ASSERT_NE(dnsmasq, nullptr); }

  // Runs one probe through the engine and waits for its result (bounded).
  static ProbeResult Probe(const std::string& target, std::shared_ptr<config::Module> module,
                           milliseconds timeout = milliseconds(2000),
                           const std::function<void(ProbeRequest&)>& edit = nullptr) {
    ProbeRequest request;
    request.target = target;
    request.module = std::move(module);
    request.timeout = timeout;
    request.debug = true;
    if (edit) {
      edit(request);
    }
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

  static std::string Server() { return dnsmasq->HostPort(); }

  static std::string Describe(const ProbeResult& result) {
    std::string text =
        "reason " + std::string(FailureReasonName(result.reason)) + ": " + result.detail + "\n";
    for (const std::string& line : result.log) {
      text += "  " + line + "\n";
    }
    return text;
  }

  static EventLoop* event_loop;
  static ProbeEngine* engine;
  static std::thread* loop_thread;
  static Dnsmasq* dnsmasq;
};

EventLoop* DnsProbeTest::event_loop = nullptr;
ProbeEngine* DnsProbeTest::engine = nullptr;
std::thread* DnsProbeTest::loop_thread = nullptr;
Dnsmasq* DnsProbeTest::dnsmasq = nullptr;

TEST_F(DnsProbeTest, GoodAnswer) {
  ProbeResult result = Probe(Server(), DnsModule("www.example.test", "A"));
  ASSERT_TRUE(result.success) << Describe(result);
  EXPECT_EQ(result.reason, FailureReason::kNone);
  ASSERT_TRUE(result.dns.has_value());
  EXPECT_EQ(result.dns->rcode, "NOERROR");
  EXPECT_EQ(result.dns->answer_rrs, 1);
  EXPECT_EQ(result.dns->authority_rrs, 0);
  EXPECT_EQ(result.dns->additional_rrs, 0);
  EXPECT_TRUE(result.dns->query_succeeded);
  EXPECT_FALSE(result.dns->serial.has_value());
  for (const char* phase : {"resolve", "connect", "request"}) {
    EXPECT_TRUE(result.phases.contains(phase)) << phase;
  }
  EXPECT_EQ(result.ip_protocol, 4);
  EXPECT_EQ(result.ip_address, "127.0.0.1");
  EXPECT_THAT(result.log, Contains(AnswerLine("www.example.test.\t600\tIN\tA\t192.0.2.1")));
  EXPECT_GT(result.duration.count(), 0);
}

// The record texts are those blackbox 0.23 logged ("Validating RR") against the same zone.
TEST_F(DnsProbeTest, RecordTextsAreMiekgDnsStrings) {
  struct Case {
    std::string name;
    std::string type;
    std::vector<std::string> texts;
  };
  for (const Case& c : std::vector<Case>{
           {"www.example.test", "AAAA", {"www.example.test.\t600\tIN\tAAAA\t2001:db8::1"}},
           {"two.example.test",
            "A",
            {"two.example.test.\t600\tIN\tA\t192.0.2.10",
             "two.example.test.\t600\tIN\tA\t192.0.2.11"}},
           {"txt.example.test",
            "TXT",
            {"txt.example.test.\t600\tIN\tTXT\t\"hello\"",
             "txt.example.test.\t600\tIN\tTXT\t\"v=spf1 -all\""}},
           {"example.test", "MX", {"example.test.\t600\tIN\tMX\t10 mail.example.test."}},
           {"_ldap._tcp.example.test",
            "SRV",
            {"_ldap._tcp.example.test.\t600\tIN\tSRV\t1 2 389 ldap.example.test."}},
           {"alias.example.test",
            "A",
            {"alias.example.test.\t600\tIN\tCNAME\twww.example.test.",
             "www.example.test.\t600\tIN\tA\t192.0.2.1"}},
           {"example.test", "CAA", {"example.test.\t600\tIN\tCAA\t0 issue \"letsencrypt.org\""}},
           {"example.test",
            "SOA",
            {"example.test.\t600\tIN\tSOA\tns.example.test. hostmaster.example.test. 2024010101 "
             "1200 180 1209600 600"}},
       }) {
    ProbeResult result = Probe(Server(), DnsModule(c.name, c.type));
    EXPECT_TRUE(result.success) << c.name << " " << c.type << "\n" << Describe(result);
    ASSERT_TRUE(result.dns.has_value());
    EXPECT_EQ(result.dns->answer_rrs, static_cast<int>(c.texts.size())) << c.name;
    for (const std::string& text : c.texts) {
      EXPECT_THAT(result.log, Contains(AnswerLine(text))) << c.name << " " << c.type;
    }
  }
}

TEST_F(DnsProbeTest, SoaSerial) {
  ProbeResult soa = Probe(Server(), DnsModule("example.test", "SOA"));
  ASSERT_TRUE(soa.success) << Describe(soa);
  EXPECT_THAT(soa.dns->serial, Optional(2024010101U));
  // As blackbox: an SOA query reports a serial (0) even when the answer has no SOA.
  ProbeResult missing = Probe(Server(), DnsModule("nope.example.test", "SOA", [](auto& dns) {
                                dns.valid_rcodes = {"NXDOMAIN"};
                              }));
  ASSERT_TRUE(missing.success) << Describe(missing);
  EXPECT_THAT(missing.dns->serial, Optional(0U));
}

TEST_F(DnsProbeTest, NxdomainFailsUnlessValid) {
  ProbeResult failed = Probe(Server(), DnsModule("nope.example.test", "A"));
  EXPECT_FALSE(failed.success);
  EXPECT_EQ(failed.reason, FailureReason::kDnsRcode) << Describe(failed);
  EXPECT_THAT(failed.detail, HasSubstr("rcode NXDOMAIN is not one of the valid rcodes (NOERROR)"));
  ASSERT_TRUE(failed.dns.has_value());
  EXPECT_EQ(failed.dns->rcode, "NXDOMAIN");
  // blackbox 0.23: an answer arrived, so the query succeeded, whatever its rcode.
  EXPECT_TRUE(failed.dns->query_succeeded);
  EXPECT_EQ(failed.dns->answer_rrs, 0);

  ProbeResult accepted = Probe(Server(), DnsModule("nope.example.test", "A", [](auto& dns) {
                                 dns.valid_rcodes = {"NOERROR", "NXDOMAIN"};
                               }));
  EXPECT_TRUE(accepted.success) << Describe(accepted);

  ProbeResult none_valid =
      Probe(Server(), DnsModule("www.example.test", "A", [](auto& dns) { dns.valid_rcodes = {}; }));
  EXPECT_EQ(none_valid.reason, FailureReason::kDnsRcode) << Describe(none_valid);
}

TEST_F(DnsProbeTest, RefusedAndServfail) {
  ProbeResult refused = Probe(Server(), DnsModule("www.elsewhere.test", "A"));
  EXPECT_EQ(refused.reason, FailureReason::kDnsRcode) << Describe(refused);
  EXPECT_EQ(refused.dns->rcode, "REFUSED");

  ScriptedDns servfail([](const Bytes& query) { return Reply(query, 2, {}); });
  ProbeResult failed = Probe(servfail.HostPort(), DnsModule("www.example.test", "A"));
  EXPECT_EQ(failed.reason, FailureReason::kDnsRcode) << Describe(failed);
  EXPECT_EQ(failed.dns->rcode, "SERVFAIL");
  EXPECT_TRUE(failed.dns->query_succeeded);
  EXPECT_EQ(servfail.queries(), 1);  // no retry

  ProbeResult accepted =
      Probe(servfail.HostPort(),
            DnsModule("www.example.test", "A", [](auto& d) { d.valid_rcodes = {"SERVFAIL"}; }));
  EXPECT_TRUE(accepted.success) << Describe(accepted);
}

TEST_F(DnsProbeTest, SilentServerTimesOut) {
  ScriptedDns silent([](const Bytes&) { return std::nullopt; });
  auto started = std::chrono::steady_clock::now();
  ProbeResult result =
      Probe(silent.HostPort(), DnsModule("www.example.test", "A"), milliseconds(500));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kTimeout) << Describe(result);
  EXPECT_THAT(result.detail, HasSubstr("no answer from 127.0.0.1 port"));
  EXPECT_GE(result.duration.count(), 0.45);
  EXPECT_LT(result.duration.count(), 0.8);
  EXPECT_LT(took, milliseconds(1500));
  ASSERT_TRUE(result.dns.has_value());
  EXPECT_FALSE(result.dns->query_succeeded);
  EXPECT_EQ(result.dns->rcode, "");
  EXPECT_TRUE(result.phases.contains("connect"));
  EXPECT_TRUE(result.phases.contains("request"));
  EXPECT_EQ(silent.queries(), 1);
}

TEST_F(DnsProbeTest, Tcp) {
  auto tcp = [](auto& dns) { dns.transport_protocol = "tcp"; };
  ProbeResult result = Probe(Server(), DnsModule("www.example.test", "A", tcp));
  ASSERT_TRUE(result.success) << Describe(result);
  EXPECT_EQ(result.dns->answer_rrs, 1);
  EXPECT_TRUE(result.phases.contains("connect"));
  EXPECT_TRUE(result.phases.contains("request"));
  EXPECT_THAT(result.log, Contains(HasSubstr("over tcp")));

  // A listener that accepts and never answers: connected, then no answer.
  testing::SilentListener silent;
  ProbeResult hung = Probe("127.0.0.1:" + std::to_string(silent.port()),
                           DnsModule("www.example.test", "A", tcp), milliseconds(500));
  EXPECT_EQ(hung.reason, FailureReason::kTimeout) << Describe(hung);

  ProbeResult refused = Probe("127.0.0.1:" + std::to_string(testing::UnusedPort()),
                              DnsModule("www.example.test", "A", tcp));
  EXPECT_EQ(refused.reason, FailureReason::kConnectRefused) << Describe(refused);
}

TEST_F(DnsProbeTest, UdpPortUnreachableIsRefused) {
  ProbeResult result = Probe("127.0.0.1:" + std::to_string(testing::UnusedPort()),
                             DnsModule("www.example.test", "A"));
  EXPECT_EQ(result.reason, FailureReason::kConnectRefused) << Describe(result);
  EXPECT_LT(result.duration.count(), 1.0);
  EXPECT_FALSE(result.dns->query_succeeded);
}

// blackbox's validRRs, list by list, on an answer of two A records (192.0.2.10 and .11) and
// an empty authority section.
TEST_F(DnsProbeTest, RegexValidation) {
  struct Case {
    std::string what;
    std::function<void(config::DnsRrValidator&)> set;
    bool authority;  // validate the (empty) authority section instead of the answer
    bool success;
  };
  const std::string ten = "\tA\t192\\.0\\.2\\.10$";
  const std::string both = "^two\\.example\\.test\\.\t600\tIN\tA\t192\\.0\\.2\\.1[01]$";
  std::vector<Case> cases = {
      {"matches: one record matches", [&](auto& v) { v.fail_if_matches_regexp = Res({ten}); },
       false, false},
      {"matches: none matches",
       [](auto& v) { v.fail_if_matches_regexp = Res({"192\\.0\\.2\\.99"}); }, false, true},
      {"not_matches: all match", [&](auto& v) { v.fail_if_not_matches_regexp = Res({both}); },
       false, true},
      {"not_matches: one does not", [&](auto& v) { v.fail_if_not_matches_regexp = Res({ten}); },
       false, false},
      {"none_matches: one matches", [&](auto& v) { v.fail_if_none_matches_regexp = Res({ten}); },
       false, true},
      {"none_matches: none matches",
       [](auto& v) { v.fail_if_none_matches_regexp = Res({"192\\.0\\.2\\.99"}); }, false, false},
      // blackbox fails fail_if_all_match_regexp when NOT every record matches.
      {"all_match: all match", [&](auto& v) { v.fail_if_all_match_regexp = Res({both}); }, false,
       true},
      {"all_match: one does not", [&](auto& v) { v.fail_if_all_match_regexp = Res({ten}); }, false,
       false},
      {"empty: matches", [](auto& v) { v.fail_if_matches_regexp = Res({".*"}); }, true, true},
      {"empty: not_matches", [](auto& v) { v.fail_if_not_matches_regexp = Res({".*"}); }, true,
       false},
      {"empty: none_matches", [](auto& v) { v.fail_if_none_matches_regexp = Res({".*"}); }, true,
       false},
      {"empty: all_match", [](auto& v) { v.fail_if_all_match_regexp = Res({"nothing"}); }, true,
       true},
  };
  for (const Case& c : cases) {
    ProbeResult result =
        Probe(Server(), DnsModule("two.example.test", "A", [&](auto& dns) {
                c.set(c.authority ? dns.validate_authority_rrs : dns.validate_answer_rrs);
              }));
    EXPECT_EQ(result.success, c.success) << c.what << "\n" << Describe(result);
    if (!c.success) {
      EXPECT_EQ(result.reason, FailureReason::kDnsValidation) << c.what;
      EXPECT_THAT(result.detail,
                  HasSubstr(c.authority ? "validate_authority_rrs: " : "validate_answer_rrs: "))
          << c.what;
    }
  }
}

TEST_F(DnsProbeTest, ServerNameAndResolver) {
  std::string port = std::to_string(dnsmasq->port());
  std::string resolver = Server();
  // The server's name, looked up at the module's resolver (the dnsmasq itself).
  ProbeResult named =
      Probe("dns.example.test:" + port,
            DnsModule("www.example.test", "A", [&](auto& dns) { dns.resolver = resolver; }));
  ASSERT_TRUE(named.success) << Describe(named);
  EXPECT_EQ(named.ip_address, "127.0.0.1");
  EXPECT_EQ(named.ip_protocol, 4);
  EXPECT_THAT(named.log, Contains(HasSubstr("with resolver " + resolver)));

  // ip6 preferred: ::1, where nothing listens.
  ProbeResult v6 =
      Probe("dns.example.test:" + port, DnsModule("www.example.test", "A", [&](auto& dns) {
              dns.resolver = resolver;
              dns.preferred_ip_protocol = config::IpProtocol::kIp6;
            }));
  EXPECT_EQ(v6.ip_address, "::1") << Describe(v6);
  EXPECT_EQ(v6.ip_protocol, 6);

  ProbeResult unknown =
      Probe("nope.example.test:" + port,
            DnsModule("www.example.test", "A", [&](auto& dns) { dns.resolver = resolver; }));
  EXPECT_EQ(unknown.reason, FailureReason::kDns) << Describe(unknown);
  EXPECT_THAT(unknown.detail, HasSubstr("cannot resolve \"nope.example.test\""));
  EXPECT_TRUE(unknown.phases.contains("resolve"));
  EXPECT_FALSE(unknown.dns->query_succeeded);

  // Without the fallback only the preferred family is asked for.
  ProbeResult no_v6 = Probe("www.example.test:" + port,
                            DnsModule("x.test", "A",
                                      [&](auto& dns) {
                                        dns.resolver = resolver;
                                        dns.preferred_ip_protocol = config::IpProtocol::kIp6;
                                        dns.ip_protocol_fallback = false;
                                      }),
                            milliseconds(2000), [](ProbeRequest& request) {
                              // 2001:db8::1 must not be queried: refuse it.
                              request.check_address = [](const std::string&, const std::string&) {
                                return std::optional<std::string>("not on loopback");
                              };
                            });
  EXPECT_EQ(no_v6.reason, FailureReason::kOther) << Describe(no_v6);
  EXPECT_THAT(no_v6.detail, HasSubstr("refusing to query 2001:db8::1: not on loopback"));

  // A resolver that never answers: the lookup is a dns failure at the deadline.
  ScriptedDns silent([](const Bytes&) { return std::nullopt; });
  ProbeResult slow = Probe(
      "dns.example.test:" + port,
      DnsModule("www.example.test", "A", [&](auto& dns) { dns.resolver = silent.HostPort(); }),
      milliseconds(400));
  EXPECT_EQ(slow.reason, FailureReason::kDns) << Describe(slow);
  EXPECT_THAT(slow.detail, HasSubstr("did not finish within the timeout"));
  EXPECT_LT(slow.duration.count(), 0.7);
}

TEST_F(DnsProbeTest, LookUpAtAsksOnlyThatServer) {
  DnsLookup found = LookUpAt(Server(), "dns.example.test", milliseconds(2000));
  EXPECT_EQ(found.error, "");
  EXPECT_THAT(found.addresses, UnorderedElementsAre("127.0.0.1", "::1"));

  DnsLookup unknown = LookUpAt(Server(), "nope.example.test", milliseconds(2000));
  EXPECT_TRUE(unknown.addresses.empty());
  EXPECT_NE(unknown.error, "");

  ScriptedDns silent([](const Bytes&) { return std::nullopt; });
  auto started = std::chrono::steady_clock::now();
  DnsLookup slow = LookUpAt(silent.HostPort(), "dns.example.test", milliseconds(300));
  EXPECT_THAT(slow.error, HasSubstr("did not finish within the timeout"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(800));

  EXPECT_THAT(LookUpAt("dns.example.test", "x.test", milliseconds(100)).error,
              HasSubstr("is not an IP address"));
  EXPECT_THAT(LookUpAt(Server(), "x.test", milliseconds(0)).error, HasSubstr("no time left"));
}

TEST_F(DnsProbeTest, PinnedAddressAndLocalhost) {
  std::string port = std::to_string(dnsmasq->port());
  // /probe pins the address its policy approved: no lookup (the name exists nowhere).
  ProbeResult pinned =
      Probe("server.invalid:" + port, DnsModule("www.example.test", "A"), milliseconds(2000),
            [](ProbeRequest& request) { request.pinned_address = "127.0.0.1"; });
  ASSERT_TRUE(pinned.success) << Describe(pinned);
  EXPECT_EQ(pinned.ip_address, "127.0.0.1");
  // With a resolver too: /probe resolved the name there already.
  ProbeResult pinned_resolver = Probe(
      "server.invalid:" + port,
      DnsModule("www.example.test", "A", [](auto& dns) { dns.resolver = "192.0.2.1"; }),
      milliseconds(2000), [](ProbeRequest& request) { request.pinned_address = "127.0.0.1"; });
  ASSERT_TRUE(pinned_resolver.success) << Describe(pinned_resolver);
  EXPECT_EQ(pinned_resolver.ip_address, "127.0.0.1");

  // The system resolver; localhost never leaves the machine.
  ProbeResult local = Probe("localhost:" + port, DnsModule("www.example.test", "A"));
  EXPECT_TRUE(local.success) << Describe(local);
  EXPECT_EQ(local.ip_address, "127.0.0.1");
}

TEST_F(DnsProbeTest, BadTargetsAndOptions) {
  for (const std::string& target :
       {std::string("127.0.0.1:dns"), std::string("127.0.0.1:0"), std::string("127.0.0.1:")}) {
    ProbeResult result = Probe(target, DnsModule("www.example.test", "A"));
    EXPECT_EQ(result.reason, FailureReason::kOther) << target << "\n" << Describe(result);
    EXPECT_THAT(result.detail, HasSubstr("invalid target")) << target;
  }
  ProbeResult bad_name = Probe(Server(), DnsModule("a..b", "A"));
  EXPECT_EQ(bad_name.reason, FailureReason::kOther) << Describe(bad_name);
  EXPECT_THAT(bad_name.detail, HasSubstr("empty label"));

  ProbeResult v6_source =
      Probe(Server(),
            DnsModule("www.example.test", "A", [](auto& dns) { dns.source_ip_address = "::1"; }));
  EXPECT_EQ(v6_source.reason, FailureReason::kOther) << Describe(v6_source);
  EXPECT_THAT(v6_source.detail, HasSubstr("source_ip_address ::1 is ip6"));
}

TEST_F(DnsProbeTest, SourceAddress) {
  ProbeResult result = Probe(Server(), DnsModule("www.example.test", "A", [](auto& dns) {
                               dns.source_ip_address = "127.0.0.2";
                             }));
  EXPECT_TRUE(result.success) << Describe(result);
  EXPECT_THAT(dnsmasq->Log(), HasSubstr("from 127.0.0.2"));

  // An address of no interface here: the socket cannot be bound.
  ProbeResult unusable = Probe(Server(), DnsModule("www.example.test", "A", [](auto& dns) {
                                 dns.source_ip_address = "192.0.2.7";
                               }));
  EXPECT_EQ(unusable.reason, FailureReason::kOther) << Describe(unusable);
  EXPECT_THAT(unusable.detail, HasSubstr("from source_ip_address 192.0.2.7"));
}

// The query is blackbox's: RD per recursion_desired, one question, no EDNS record.
TEST_F(DnsProbeTest, QueryMessage) {
  std::atomic<int> rd{-1};
  std::atomic<int> other_records{-1};
  ScriptedDns server([&](const Bytes& query) {
    rd = query[2] & 0x01;
    other_records = query[6] + query[7] + query[8] + query[9] + query[10] + query[11];
    return Reply(query, 0, {});
  });
  EXPECT_TRUE(Probe(server.HostPort(), DnsModule("x.test", "A")).success);
  EXPECT_EQ(rd.load(), 1);
  EXPECT_EQ(other_records.load(), 0);
  EXPECT_TRUE(Probe(server.HostPort(),
                    DnsModule("x.test", "A", [](auto& dns) { dns.recursion_desired = false; }))
                  .success);
  EXPECT_EQ(rd.load(), 0);
}

TEST_F(DnsProbeTest, IPv6Server) {
  auto v6 = Dnsmasq::Start(testing::ExampleZone(), "::1");
  ASSERT_NE(v6, nullptr);
  ProbeResult result = Probe(v6->HostPort(), DnsModule("www.example.test", "AAAA"));
  ASSERT_TRUE(result.success) << Describe(result);
  EXPECT_EQ(result.ip_protocol, 6);
  EXPECT_EQ(result.ip_address, "::1");
  EXPECT_THAT(result.log, Contains(AnswerLine("www.example.test.\t600\tIN\tAAAA\t2001:db8::1")));
  // A bare IPv6 address is a host without a port (53), as blackbox reads it.
  ProbeResult bare = Probe("::1", DnsModule("www.example.test", "AAAA"), milliseconds(500));
  EXPECT_EQ(bare.ip_address, "::1") << Describe(bare);
}

// Answers the scripted server makes up: types dnsmasq does not serve, truncation, a large
// UDP answer, an OPT record.
TEST_F(DnsProbeTest, UnusualAnswers) {
  ScriptedDns server([](const Bytes& query) -> std::optional<Bytes> {
    std::string big(250, 'x');
    return Reply(query, 0,
                 {Rr{"t.test", 16, Cat({CharString(big), CharString(big), CharString(big)})},
                  Rr{"t.test", 15, Cat({B({0, 5}), Name("mx.t.test")})}},
                 {Rr{"t.test", 2, Name("ns.t.test")}}, {Rr{"", 41, {}, 1232, 0x00008000U}},
                 0x0200U /* TC */);
  });
  ProbeResult result = Probe(server.HostPort(), DnsModule("t.test", "TXT"));
  ASSERT_TRUE(result.success) << Describe(result);
  EXPECT_EQ(result.dns->answer_rrs, 2);
  EXPECT_EQ(result.dns->authority_rrs, 1);
  EXPECT_EQ(result.dns->additional_rrs, 1);
  EXPECT_THAT(result.log, Contains(AnswerLine("t.test.\t300\tIN\tMX\t5 mx.t.test.")));
  EXPECT_THAT(result.log, Contains(HasSubstr("truncated")));
  EXPECT_EQ(server.queries(), 1);  // taken as it is, no retry over TCP
}

TEST_F(DnsProbeTest, CancelledRunsLeaveNothingBehind) {
  ScriptedDns silent([](const Bytes&) { return std::nullopt; });
  for (std::string protocol : {"udp", "tcp"}) {
    testing::SilentListener listener;
    std::string target =
        protocol == "udp" ? silent.HostPort() : "127.0.0.1:" + std::to_string(listener.port());
    std::promise<void> cancelled;
    event_loop->Post([&] {
      ProbeRequest request;
      request.target = target;
      request.module =
          DnsModule("www.example.test", "A", [&](auto& dns) { dns.transport_protocol = protocol; });
      request.timeout = milliseconds(5000);
      std::uint64_t id = engine->Start(std::move(request), [](const ProbeResult&) {
        ADD_FAILURE() << "a cancelled run reported";
      });
      event_loop->AddTimer(SteadyClock::now() + milliseconds(50), [&, id] {
        engine->Cancel(id);
        cancelled.set_value();
      });
    });
    ASSERT_EQ(cancelled.get_future().wait_for(milliseconds(2000)), std::future_status::ready);
  }
  // The loop still works.
  EXPECT_TRUE(Probe(Server(), DnsModule("www.example.test", "A")).success);
}

// ---- the wire format, on inline messages ----

Bytes Header(unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar) {
  Bytes out = {0x12, 0x34};
  Append16(&out, flags);
  Append16(&out, qd);
  Append16(&out, an);
  Append16(&out, ns);
  Append16(&out, ar);
  return out;
}

Bytes Record(const Bytes& owner, unsigned type, const Bytes& rdata, unsigned dns_class = 1,
             std::uint32_t ttl = 3600) {
  Bytes out = owner;
  Append16(&out, type);
  Append16(&out, dns_class);
  Append32(&out, ttl);
  Append16(&out, static_cast<unsigned>(rdata.size()));
  out.insert(out.end(), rdata.begin(), rdata.end());
  return out;
}

std::vector<std::string> Texts(const Bytes& message) {
  std::string why;
  std::optional<internal::DnsMessage> parsed = internal::ParseDnsMessage(message, 1700000000, &why);
  EXPECT_TRUE(parsed.has_value()) << why;
  std::vector<std::string> texts;
  if (parsed) {
    for (const auto* section : {&parsed->answer, &parsed->authority, &parsed->additional}) {
      for (const internal::DnsRecord& record : *section) {
        texts.push_back(record.text);
      }
    }
  }
  return texts;
}

TEST(DnsWireTest, RendersRecordsLikeMiekgDns) {
  Bytes owner = Name("example.com");
  struct Case {
    unsigned type;
    Bytes rdata;
    std::string text;
  };
  std::vector<Case> cases = {
      {28, B({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), "AAAA\t2001:db8::1"},
      {28, B({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), "AAAA\t::"},
      {28, B({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}),
       "AAAA\t2001:db8:1:0:1::1"},
      {28, B({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}), "AAAA\t::ffff:192.0.2.1"},
      {13, Cat({CharString("INTEL"), CharString("Linux \"x\"")}),
       "HINFO\t\"INTEL\" \"Linux \\\"x\\\"\""},
      {16, Cat({CharString("a\tb\\"), CharString("")}), "TXT\t\"a\\009b\\\\\" \"\""},
      {6,
       Cat({Name("ns.example.com"), Name("h\\.m.example.com"), B({0, 0, 0, 5}), B({0, 0, 0, 6}),
            B({0, 0, 0, 7}), B({0, 0, 0, 8}), B({0xff, 0xff, 0xff, 0xff})}),
       "SOA\tns.example.com. h\\\\.m.example.com. 5 6 7 8 4294967295"},
      {43, Cat({B({0x30, 0x39, 8, 2}), B({0xab, 0xcd, 0x01})}), "DS\t12345 8 2 ABCD01"},
      {48, Cat({B({1, 1, 3, 8}), Str("abc")}), "DNSKEY\t257 3 8 YWJj"},
      {44, B({1, 1, 0x0f, 0xa0}), "SSHFP\t1 1 0FA0"},
      {52, B({3, 1, 1, 0xab, 0x0c}), "TLSA\t3 1 1 ab0c"},
      {35,
       Cat({B({0, 10, 0, 20}), CharString("S"), CharString("SIP+D2U"), CharString(""),
            Name("_sip._udp.example.com")}),
       "NAPTR\t10 20 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com."},
      {257, Cat({B({128}), CharString("iodef"), Str("mailto:a@example.com")}),
       "CAA\t128 iodef \"mailto:a@example.com\""},
      {256, Cat({B({0, 1, 0, 2}), Str("https://example.com/")}),
       "URI\t1 2 \"https://example.com/\""},
      {47, Cat({Name("b.example.com"), B({0, 4, 0x62, 0x01, 0x80, 0x08})}),
       "NSEC\tb.example.com. A NS SOA MX TXT AAAA"},
      {46,
       Cat({B({0, 1, 8, 2}), B({0, 0, 0x0e, 0x10}), B({0x65, 0x5a, 0xa1, 0x80}),
            B({0x65, 0x31, 0xc3, 0x00}), B({0x30, 0x39}), Name("example.com"), Str("sig")}),
       "RRSIG\tA 8 2 3600 20231120000000 20231020000000 12345 example.com. c2ln"},
      {51, B({1, 0, 0, 10, 0}), "NSEC3PARAM\t1 0 10 -"},
  };
  for (const Case& c : cases) {
    Bytes message = Cat({Header(0x8180, 0, 1, 0, 0), Record(owner, c.type, c.rdata)});
    EXPECT_THAT(Texts(message), ::testing::ElementsAre("example.com.\t3600\tIN\t" + c.text))
        << c.text;
  }
}

TEST(DnsWireTest, GenericFormNamesAndCompression) {
  // An unknown type and class in RFC 3597 form; a compressed owner; a name with escapes.
  Bytes message = Cat({Header(0x8180, 1, 3, 0, 0), Name("a.example.com"), B({0, 1, 0, 1}),
                       Record(B({0xc0, 12}), 65, B({0, 1, 0}), 1),
                       Record(B({0xc0, 14}), 1, B({192, 0, 2, 1}), 3, 5),
                       Record(Cat({B({4}), Str("a b."), B({1, 0x7f, 0})}), 1, B({192, 0, 2, 2}))});
  EXPECT_THAT(Texts(message),
              ::testing::ElementsAre("a.example.com.\t3600\tCLASS1\tTYPE65\t\\# 3 000100",
                                     "example.com.\t5\tCH\tA\t192.0.2.1",
                                     "a\\ b\\..\\127.\t3600\tIN\tA\t192.0.2.2"));
}

TEST(DnsWireTest, OptRecordAndExtendedRcode) {
  Bytes message =
      Cat({Header(0x8180 | 0x0001, 0, 0, 0, 1), Record(B({0}), 41, {}, 4096, 0x01008000U)});
  std::string why;
  std::optional<internal::DnsMessage> parsed = internal::ParseDnsMessage(message, 0, &why);
  ASSERT_TRUE(parsed) << why;
  EXPECT_EQ(parsed->rcode, 17);  // BADKEY: 1 << 4 | 1
  EXPECT_EQ(DnsRcodeName(parsed->rcode), "BADKEY");
  ASSERT_EQ(parsed->additional.size(), 1U);
  EXPECT_EQ(parsed->additional[0].text,
            "\n;; OPT PSEUDOSECTION:\n; EDNS: version 0; flags: do; udp: 4096");
}

TEST(DnsWireTest, RejectsMalformedMessages) {
  std::string why;
  EXPECT_FALSE(internal::ParseDnsMessage(B({0, 1, 0x81}), 0, &why));
  // A header alone is a valid (empty) message, as miekg/dns reads it.
  std::optional<internal::DnsMessage> header_only =
      internal::ParseDnsMessage(Header(0x8185, 1, 1, 0, 0), 0, &why);
  ASSERT_TRUE(header_only) << why;
  EXPECT_EQ(header_only->rcode, 5);
  EXPECT_TRUE(header_only->answer.empty());
  struct Case {
    std::string what;
    Bytes message;
  };
  for (const Case& c : std::vector<Case>{
           {"compression loop",
            Cat({Header(0x8180, 0, 1, 0, 0), Record(B({0xc0, 12}), 1, B({1, 2, 3, 4}))})},
           {"A of 5 bytes",
            Cat({Header(0x8180, 0, 1, 0, 0), Record(B({0}), 1, B({1, 2, 3, 4, 5}))})},
           {"data past the end",
            Cat({Header(0x8180, 0, 1, 0, 0), B({0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1})})},
           {"fewer records than counted",
            Cat({Header(0x8180, 0, 2, 0, 0), Record(B({0}), 1, B({1, 2, 3, 4}))})},
           {"bad type bit map",
            Cat({Header(0x8180, 0, 1, 0, 0), Record(B({0}), 47, B({0, 0, 0}))})},
       }) {
    EXPECT_FALSE(internal::ParseDnsMessage(c.message, 0, &why)) << c.what;
    EXPECT_FALSE(why.empty()) << c.what;
  }
}

TEST(DnsWireTest, BuildsQueries) {
  std::string why;
  std::optional<Bytes> query = internal::BuildDnsQuery("Example.COM", 28, 1, true, 0xbeef, &why);
  ASSERT_TRUE(query) << why;
  EXPECT_EQ(*query, Cat({B({0xbe, 0xef, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0}), B({7}), Str("Example"),
                         B({3}), Str("COM"), B({0, 0, 28, 0, 1})}));
  query = internal::BuildDnsQuery("a\\.b\\065.", 16, 3, false, 1, &why);
  ASSERT_TRUE(query) << why;
  EXPECT_EQ(*query,
            Cat({B({0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4}), Str("a.bA"), B({0, 0, 16, 0, 3})}));
  EXPECT_TRUE(internal::BuildDnsQuery(".", 2, 1, true, 1, &why));
  EXPECT_THAT(DnsNameProblem("a..b"), Optional(HasSubstr("empty label")));
  EXPECT_THAT(DnsNameProblem(std::string(64, 'x') + ".com"), Optional(HasSubstr("63 octets")));
  EXPECT_THAT(DnsNameProblem("a\\300.com"), Optional(HasSubstr("above \\255")));
  EXPECT_THAT(DnsNameProblem(""), Optional(HasSubstr("empty")));
  EXPECT_EQ(DnsNameProblem("example.com."), std::nullopt);
}

TEST(DnsWireTest, Names) {
  EXPECT_EQ(DnsTypeFromName("A"), 1);
  EXPECT_EQ(DnsTypeFromName("NSAP-PTR"), 23);
  EXPECT_EQ(DnsTypeFromName("HTTPS"), 65);
  EXPECT_EQ(DnsTypeFromName("a"), std::nullopt);  // blackbox is case-sensitive
  EXPECT_EQ(DnsTypeFromName("TYPE65"), std::nullopt);
  EXPECT_EQ(DnsClassFromName("CH"), 3);
  EXPECT_EQ(DnsRcodeFromName("NOTIMPL"), 4);
  EXPECT_EQ(DnsRcodeFromName("BADCOOKIE"), 23);
  EXPECT_EQ(DnsRcodeName(11), "RCODE11");
  EXPECT_EQ(DnsServerProblem("192.0.2.53"), std::nullopt);
  EXPECT_EQ(DnsServerProblem("192.0.2.53:5353"), std::nullopt);
  EXPECT_EQ(DnsServerProblem("[2001:db8::53]:53"), std::nullopt);
  EXPECT_EQ(DnsServerProblem("2001:db8::53"), std::nullopt);
  EXPECT_NE(DnsServerProblem("ns1.example.com"), std::nullopt);
  EXPECT_NE(DnsServerProblem("192.0.2.53:0"), std::nullopt);
  EXPECT_NE(DnsServerProblem("[192.0.2.53]:53"), std::nullopt);
}

}  // namespace
}  // namespace nines::probes
