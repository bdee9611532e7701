// The DNS prober end to end: `/probe?module=dns_...` of the real nines binary next to
// blackbox_exporter's answer for the same module and target, both asking the same dnsmasq
// on a loopback port; compared family by family, label set by label set, and value by
// value for the gauges that do not measure time.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"
#include "tests/probes/dnsmasq.h"

namespace nines::testing {
namespace {

// Both exporters get these modules; blackbox's config is a nines `modules:` section.
constexpr std::string_view kModules =
    "modules:\n"
    "  dns_a:\n"
    "    prober: dns\n"
    "    timeout: 5s\n"
    "    dns:\n"
    "      query_name: www.example.test\n"
    "      query_type: A\n"
    "      preferred_ip_protocol: ip4\n"
    "  dns_soa:\n"
    "    prober: dns\n"
    "    timeout: 5s\n"
    "    dns:\n"
    "      query_name: example.test\n"
    "      query_type: SOA\n"
    "      preferred_ip_protocol: ip4\n"
    "  dns_nxdomain:\n"
    "    prober: dns\n"
    "    timeout: 5s\n"
    "    dns:\n"
    "      query_name: nope.example.test\n"
    "      query_type: A\n"
    "      preferred_ip_protocol: ip4\n"
    "  dns_nxdomain_valid:\n"
    "    prober: dns\n"
    "    timeout: 5s\n"
    "    dns:\n"
    "      query_name: nope.example.test\n"
    "      query_type: SOA\n"
    "      valid_rcodes: [NOERROR, NXDOMAIN]\n"
    "      preferred_ip_protocol: ip4\n"
    "  dns_refused:\n"
    "    prober: dns\n"
    "    timeout: 5s\n"
    "    dns:\n"
    "      query_name: www.elsewhere.test\n"
    "      query_type: A\n"
    "      preferred_ip_protocol: ip4\n"
    "  dns_tcp_mx:\n"
    "    prober: dns\n"
    "    timeout: 5s\n"
    "    dns:\n"
    "      query_name: example.test\n"
    "      query_type: MX\n"
    "      transport_protocol: tcp\n"
    "      recursion_desired: false\n"
    "      preferred_ip_protocol: ip4\n"
    "  dns_regex_ok:\n"
    "    prober: dns\n"
    "    timeout: 5s\n"
    "    dns:\n"
    "      query_name: two.example.test\n"
    "      query_type: A\n"
    "      preferred_ip_protocol: ip4\n"
    "      validate_answer_rrs:\n"
    "        fail_if_not_matches_regexp: [\"^two\\\\.example\\\\.test\\\\.\\t600\\tIN\\tA\\t\"]\n"
    "        fail_if_none_matches_regexp: [\"192\\\\.0\\\\.2\\\\.10$\"]\n"
    "        fail_if_all_match_regexp: [\"192\\\\.0\\\\.2\\\\.1[01]$\"]\n"
    "  dns_regex_fail:\n"
    "    prober: dns\n"
    "    timeout: 5s\n"
    "    dns:\n"
    "      query_name: txt.example.test\n"
    "      query_type: TXT\n"
    "      preferred_ip_protocol: ip4\n"
    "      validate_answer_rrs:\n"
    "        fail_if_matches_regexp: [\"\\tTXT\\t\\\"v=spf1 -all\\\"$\"]\n"
    "  dns_short:\n"
    "    prober: dns\n"
    "    timeout: 1s\n"
    "    dns:\n"
    "      query_name: www.example.test\n"
    "      query_type: A\n"
    "      preferred_ip_protocol: ip4\n";

// The gauges whose values do not depend on timing: equal on both pages.
const std::set<std::string>& DeterministicGauges() {
  static const std::set<std::string> kNames = {"probe_success",
                                               "probe_dns_answer_rrs",
                                               "probe_dns_authority_rrs",
                                               "probe_dns_additional_rrs",
                                               "probe_dns_query_succeeded",
                                               "probe_dns_serial",
                                               "probe_ip_protocol",
                                               "probe_ip_addr_hash"};
  return kNames;
}

// A UDP socket on 127.0.0.1 that never answers: a DNS server that does not respond.
class SilentUdp {
 public:
  SilentUdp() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* raw = reinterpret_cast<sockaddr*>(&address);
    if (fd_ >= 0 && bind(fd_, raw, length) == 0 && getsockname(fd_, raw, &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  ~SilentUdp() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  SilentUdp(const SilentUdp&) = delete;
  SilentUdp& operator=(const SilentUdp&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// name -> "type {label names} [values of the labels that are not the probe's own]".
std::map<std::string, std::string> Shape(std::string_view body) {
  std::map<std::string, std::string> shape;
  for (const auto& [name, family] : ParseExposition(body)) {
    std::set<std::string> labels;
    std::set<std::string> values;
    for (const auto& [key, sample] : family.samples) {
      for (const auto& [label, value] : sample.labels) {
        labels.insert(label);
        std::string pair = label;
        pair += '=';
        pair += value;
        values.insert(std::move(pair));
      }
    }
    std::string text = family.type + " {";
    for (const std::string& label : labels) {
      text += label + ",";
    }
    text += "} [";
    for (const std::string& value : values) {
      text += value + ",";
    }
    shape[name] = text + "]";
  }
  return shape;
}

std::string Describe(const std::map<std::string, std::string>& shape) {
  std::string text;
  for (const auto& [name, entry] : shape) {
    text += name;
    text += ' ';
    text += entry;
    text += '\n';
  }
  return text;
}

class DnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dnsmasq = Dnsmasq::Start(ExampleZone()).release();
    ASSERT_NE(dnsmasq, nullptr);
    daemon = Daemon::Start(kModules).release();
    ASSERT_NE(daemon, nullptr);
    blackbox = BlackboxExporter::Start(kModules).release();
    ASSERT_NE(blackbox, nullptr);
  }
  static void TearDownTestSuite() {
    delete blackbox;
    delete daemon;
    delete dnsmasq;
  }
  void SetUp() override {
    ASSERT_NE(dnsmasq, nullptr);
    ASSERT_NE(daemon, nullptr);
    ASSERT_NE(blackbox, nullptr);
  }

  // Asks both exporters and compares; returns nines' page, parsed.
  static std::map<std::string, Family> Compare(const std::string& module,
                                               const std::string& target) {
    std::string query = "/probe?module=" + module + "&target=" + target;
    HttpResponse ours = Fetch("GET", daemon->Url(query));
    HttpResponse theirs = Fetch("GET", blackbox->Url(query));
    EXPECT_EQ(ours.status, 200) << query << "\n" << ours.body << daemon->Describe();
    EXPECT_EQ(theirs.status, 200) << query << "\n" << theirs.body;
    EXPECT_TRUE(PromtoolAccepts(ours.body)) << ours.body;
    EXPECT_EQ(Describe(Shape(ours.body)), Describe(Shape(theirs.body)))
        << query << "\nnines:\n"
        << ours.body << "\nblackbox:\n"
        << theirs.body;
    std::map<std::string, Family> page = ParseExposition(ours.body);
    std::map<std::string, Family> reference = ParseExposition(theirs.body);
    for (const std::string& name : DeterministicGauges()) {
      auto want = reference.find(name);
      if (want == reference.end()) {
        continue;  // absent there: the shape comparison already said if it is here
      }
      auto got = page.find(name);
      if (got == page.end() || got->second.samples.size() != 1 ||
          want->second.samples.size() != 1) {
        continue;
      }
      EXPECT_EQ(got->second.samples.begin()->second.value,
                want->second.samples.begin()->second.value)
          << query << ": " << name;
    }
    return page;
  }

  static double Value(const std::map<std::string, Family>& page, const std::string& name) {
    auto it = page.find(name);
    if (it == page.end() || it->second.samples.empty()) {
      ADD_FAILURE() << "no " << name;
      return -1;
    }
    return it->second.samples.begin()->second.value;
  }

  static Dnsmasq* dnsmasq;
  static Daemon* daemon;
  static BlackboxExporter* blackbox;
};

Dnsmasq* DnsTest::dnsmasq = nullptr;
Daemon* DnsTest::daemon = nullptr;
BlackboxExporter* DnsTest::blackbox = nullptr;

TEST_F(DnsTest, AnswersLikeBlackbox) {
  std::string server = dnsmasq->HostPort();
  struct Case {
    std::string module;
    double success;
  };
  for (const Case& c : std::vector<Case>{{"dns_a", 1},
                                         {"dns_soa", 1},
                                         {"dns_nxdomain", 0},
                                         {"dns_nxdomain_valid", 1},
                                         {"dns_refused", 0},
                                         {"dns_tcp_mx", 1},
                                         {"dns_regex_ok", 1},
                                         {"dns_regex_fail", 0}}) {
    std::map<std::string, Family> page = Compare(c.module, server);
    EXPECT_EQ(Value(page, "probe_success"), c.success) << c.module;
  }
}

TEST_F(DnsTest, FailuresLikeBlackbox) {
  SilentUdp silent;
  ASSERT_NE(silent.port(), 0);
  // No answer within the module's timeout.
  std::map<std::string, Family> timeout =
      Compare("dns_short", "127.0.0.1:" + std::to_string(silent.port()));
  EXPECT_EQ(Value(timeout, "probe_success"), 0);
  EXPECT_GE(Value(timeout, "probe_duration_seconds"), 0.9);
  EXPECT_LT(Value(timeout, "probe_duration_seconds"), 1.5);
  // Nothing listens: ICMP port unreachable.
  std::map<std::string, Family> refused =
      Compare("dns_a", "127.0.0.1:" + std::to_string(FreePort()));
  EXPECT_EQ(Value(refused, "probe_success"), 0);
}

TEST_F(DnsTest, DebugOutputShowsTheRecords) {
  HttpResponse response =
      Fetch("GET", daemon->Url("/probe?module=dns_a&debug=true&target=" + dnsmasq->HostPort()));
  ASSERT_EQ(response.status, 200);
  EXPECT_NE(response.body.find("answer: www.example.test.\\t600\\tIN\\tA\\t192.0.2.1"),
            std::string::npos)
      << response.body;
}

// What blackbox cannot do: a module naming its own resolver. The DNS server's name is
// known only to the dnsmasq, which serves as that resolver; the system's resolver cannot
// find it, so the same target without `resolver` fails with reason dns.
TEST_F(DnsTest, ResolverChosenPerModule) {
  std::string port = std::to_string(dnsmasq->port());
  std::string config = std::string(kModules) +
                       "  dns_split:\n"
                       "    prober: dns\n"
                       "    timeout: 5s\n"
                       "    dns:\n"
                       "      query_name: www.example.test\n"
                       "      query_type: A\n"
                       "      preferred_ip_protocol: ip4\n"
                       "      resolver: " +
                       dnsmasq->HostPort() + "\n";
  std::unique_ptr<Daemon> split = Daemon::Start(config);
  ASSERT_NE(split, nullptr);
  std::string target = "dns.example.test:" + port;

  HttpResponse found = Fetch("GET", split->Url("/probe?module=dns_split&target=" + target));
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_TRUE(PromtoolAccepts(found.body)) << found.body;
  std::map<std::string, Family> page = ParseExposition(found.body);
  EXPECT_EQ(Value(page, "probe_success"), 1) << found.body;
  EXPECT_EQ(Value(page, "probe_dns_answer_rrs"), 1);
  EXPECT_GT(Value(page, "probe_dns_lookup_time_seconds"), 0);

  HttpResponse missed = Fetch("GET", split->Url("/probe?module=dns_a&debug=true&target=" + target));
  ASSERT_EQ(missed.status, 200) << missed.body;
  EXPECT_NE(missed.body.find("probe_success 0"), std::string::npos) << missed.body;
  EXPECT_NE(missed.body.find("reason=dns"), std::string::npos) << missed.body;
}

}  // namespace
}  // namespace nines::testing
