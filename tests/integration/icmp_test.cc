// The ICMP prober in the real daemon: /probe answers compared name by name with the real
// blackbox_exporter's for the same modules, and a continuous ICMP probe's series on
// /metrics. Only loopback addresses are probed.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"

namespace nines::testing {
namespace {

using namespace std::chrono_literals;

// Modules both exporters read: blackbox's own syntax.
constexpr std::string_view kModules =
    "modules:\n"
    "  icmp:\n"
    "    prober: icmp\n"
    "    timeout: 3s\n"
    "    icmp:\n"
    "      preferred_ip_protocol: ip4\n"
    "  icmp_ip6:\n"
    "    prober: icmp\n"
    "    timeout: 3s\n"
    "  icmp_ip6_only:\n"
    "    prober: icmp\n"
    "    timeout: 3s\n"
    "    icmp:\n"
    "      preferred_ip_protocol: ip6\n"
    "      ip_protocol_fallback: false\n"
    "  icmp_sized:\n"
    "    prober: icmp\n"
    "    timeout: 3s\n"
    "    icmp:\n"
    "      preferred_ip_protocol: ip4\n"
    "      payload_size: 1200\n"
    "      dont_fragment: true\n"
    "      ttl: 8\n";

// nines only: several packets per run, and a continuous probe using them.
constexpr std::string_view kNinesOnly =
    "  icmp_several:\n"
    "    prober: icmp\n"
    "    timeout: 3s\n"
    "    icmp:\n"
    "      preferred_ip_protocol: ip4\n"
    "      packets: 3\n"
    "      packet_interval: 20ms\n"
    "probes:\n"
    "  - name: ping\n"
    "    module: icmp_several\n"
    "    target: 127.0.0.1\n"
    "    interval: 300ms\n"
    "    timeout: 250ms\n"
    "    buckets: [0.001, 0.01, 0.1]\n";

// name -> (type, help, label names of every sample).
using Shape = std::map<std::string, std::tuple<std::string, std::string, std::set<std::string>>>;

Shape ShapeOf(std::string_view body) {
  Shape shape;
  for (const auto& [name, family] : ParseExposition(body)) {
    auto& [type, help, labels] = shape[name];
    type = family.type;
    help = family.help;
    for (const auto& [key, sample] : family.samples) {
      for (const auto& [label, value] : sample.labels) {
        labels.insert(label);
      }
    }
  }
  return shape;
}

std::string Describe(const Shape& shape) {
  std::string text;
  for (const auto& [name, entry] : shape) {
    const auto& [type, help, labels] = entry;
    text.append(name).append(" ").append(type).append(" \"").append(help).append("\" {");
    for (const std::string& label : labels) {
      text.append(label).append(",");
    }
    text += "}\n";
  }
  return text;
}

class IcmpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon = Daemon::Start(std::string(kModules) + std::string(kNinesOnly)).release();
    ASSERT_NE(daemon, nullptr);
  }
  static void TearDownTestSuite() { delete daemon; }

  // One daemon for the suite: CivetWeb takes up to 2 s to stop.
  static Daemon* daemon;
};

Daemon* IcmpTest::daemon = nullptr;

TEST_F(IcmpTest, ProbeEndpointAnswersLikeBlackbox) {
  auto blackbox = BlackboxExporter::Start(kModules);
  ASSERT_NE(blackbox, nullptr);
  struct Case {
    std::string module;
    std::string target;
    double success;
  };
  for (const Case& c :
       {Case{"icmp", "127.0.0.1", 1}, Case{"icmp_ip6", "::1", 1}, Case{"icmp", "localhost", 1},
        Case{"icmp_sized", "127.0.0.1", 1}, Case{"icmp_ip6_only", "127.0.0.1", 0}}) {
    std::string query = "/probe?module=" + c.module + "&target=" + c.target;
    HttpResponse ours = Fetch("GET", daemon->Url(query));
    HttpResponse theirs = Fetch("GET", blackbox->Url(query));
    ASSERT_EQ(ours.status, 200) << query << "\n" << ours.body << daemon->Describe();
    ASSERT_EQ(theirs.status, 200) << query << "\n" << theirs.body;
    EXPECT_TRUE(PromtoolAccepts(ours.body)) << ours.body;
    EXPECT_EQ(Describe(ShapeOf(ours.body)), Describe(ShapeOf(theirs.body)))
        << query << "\nnines:\n"
        << ours.body << "\nblackbox:\n"
        << theirs.body;
    auto page = ParseExposition(ours.body);
    auto theirs_page = ParseExposition(theirs.body);
    ASSERT_EQ(page["probe_success"].samples.size(), 1U) << query;
    EXPECT_EQ(page["probe_success"].samples.begin()->second.value, c.success) << query;
    EXPECT_EQ(theirs_page["probe_success"].samples.begin()->second.value, c.success) << query;
    for (const char* family :
         {"probe_ip_protocol", "probe_ip_addr_hash", "probe_icmp_reply_hop_limit"}) {
      if (theirs_page.contains(family)) {
        ASSERT_EQ(page[family].samples.size(), 1U) << query << " " << family;
        EXPECT_EQ(page[family].samples.begin()->second.value,
                  theirs_page[family].samples.begin()->second.value)
            << query << " " << family;
      }
    }
  }
}

TEST_F(IcmpTest, SeveralPacketsOnTheDebugPage) {
  HttpResponse response =
      Fetch("GET", daemon->Url("/probe?module=icmp_several&target=127.0.0.1&debug=true"));
  ASSERT_EQ(response.status, 200) << response.body;
  for (const char* line :
       {"echo request seq=", "echo reply seq=", "3 sent, 3 received", "probe_success 1"}) {
    EXPECT_NE(response.body.find(line), std::string::npos) << line << "\n" << response.body;
  }
}

TEST_F(IcmpTest, ContinuousProbeExportsPacketCountsLossRttAndJitter) {
  std::map<std::string, Family> page;
  const std::map<std::string, std::string> ping = {
      {"probe", "ping"}, {"kind", "icmp"}, {"target", "127.0.0.1"}};
  for (int i = 0; i < 100; ++i) {
    HttpResponse response = Fetch("GET", daemon->Url("/metrics"));
    ASSERT_EQ(response.status, 200) << daemon->Describe();
    EXPECT_TRUE(PromtoolAccepts(response.body));
    page = ParseExposition(response.body);
    const Sample* runs = FindSample(page, "nines_probe_runs_total", ping);
    if (runs != nullptr && runs->value >= 3) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  const Sample* runs = FindSample(page, "nines_probe_runs_total", ping);
  ASSERT_NE(runs, nullptr);
  ASSERT_GE(runs->value, 3);
  const Sample* sent = FindSample(page, "nines_probe_icmp_packets_sent_total", ping);
  const Sample* received = FindSample(page, "nines_probe_icmp_packets_received_total", ping);
  ASSERT_NE(sent, nullptr);
  ASSERT_NE(received, nullptr);
  EXPECT_EQ(sent->value, 3 * runs->value);
  EXPECT_EQ(received->value, sent->value);
  EXPECT_EQ(page["nines_probe_icmp_packets_sent_total"].type, "counter");
  EXPECT_EQ(page["nines_probe_icmp_rtt_seconds"].type, "histogram");
  const Sample* loss = FindSample(page, "nines_probe_icmp_loss_ratio", ping);
  ASSERT_NE(loss, nullptr);
  EXPECT_EQ(loss->value, 0);
  const Sample* jitter = FindSample(page, "nines_probe_icmp_jitter_seconds", ping);
  ASSERT_NE(jitter, nullptr);
  EXPECT_GE(jitter->value, 0);
  EXPECT_LT(jitter->value, 0.1);
  auto inf = ping;
  inf["le"] = "+Inf";
  const Sample* replies = FindSample(page, "nines_probe_icmp_rtt_seconds", inf);
  ASSERT_NE(replies, nullptr);
  EXPECT_EQ(replies->value, received->value);
  const Sample* success = FindSample(page, "probe_success", ping);
  ASSERT_NE(success, nullptr);
  EXPECT_EQ(success->value, 1);
  const Sample* hop_limit = FindSample(page, "probe_icmp_reply_hop_limit", ping);
  ASSERT_NE(hop_limit, nullptr);
  EXPECT_EQ(hop_limit->value, 64);
  auto rtt = ping;
  rtt["phase"] = "rtt";
  EXPECT_NE(FindSample(page, "probe_icmp_duration_seconds", rtt), nullptr);
  EXPECT_NE(FindSample(page, "nines_probe_phase_duration_seconds", rtt), nullptr);
}

}  // namespace
}  // namespace nines::testing
