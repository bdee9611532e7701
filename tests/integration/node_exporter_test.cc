// The test of done for the host collectors: on this machine, every metric family the real
// node_exporter shows for the same collectors is on nines' page with the same type, HELP
// and label sets, and the values agree. node_exporter is read before and after nines, so
// a nines counter must lie between its two readings and a gauge near them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <set>
#include <thread>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

#ifndef NODE_EXPORTER
#error "NODE_EXPORTER must be the absolute path of prometheus-node-exporter"
#endif

namespace nines::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::array<std::string_view, 10> kCollectors = {
    "cpu",    "diskstats", "filesystem", "loadavg", "meminfo",
    "netdev", "pressure",  "stat",       "time",    "uname"};

// Upstream node_exporter 1.5's default; Debian's build defaults to another one.
constexpr const char* kMountPointsExclude =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

class NodeExporter {
 public:
  // Starts node_exporter with exactly nines' collectors and option defaults; nullptr after
  // a test failure when it does not answer.
  static std::unique_ptr<NodeExporter> Start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto exporter = std::unique_ptr<NodeExporter>(new NodeExporter(FreePort()));
      for (int i = 0; i < 50; ++i) {
        if (Fetch("GET", exporter->Url()).status == 200) {
          return exporter;
        }
        if (!exporter->process_->Running()) {
          break;  // the port was taken meanwhile: try another
        }
        std::this_thread::sleep_for(100ms);
      }
    }
    ADD_FAILURE() << "node_exporter did not start";
    return nullptr;
  }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/metrics"; }

 private:
  explicit NodeExporter(int port) : port_(port) {
    std::vector<std::string> argv = {
        NODE_EXPORTER, "--web.listen-address=127.0.0.1:" + std::to_string(port),
        "--collector.disable-defaults", "--collector.netdev.device-exclude=",
        std::string("--collector.filesystem.mount-points-exclude=") + kMountPointsExclude};
    for (std::string_view name : kCollectors) {
      argv.push_back("--collector." + std::string(name));
    }
    process_ = std::make_unique<Process>(ProcessOptions{.argv = argv});
  }

  int port_;
  std::unique_ptr<Process> process_;
};

bool Compared(const std::string& name) {
  return name.starts_with("node_") && !name.starts_with("node_scrape_") &&
         name != "node_exporter_build_info";
}

class NodeExporterParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    exporter_ = NodeExporter::Start();
    ASSERT_NE(exporter_, nullptr);
    std::vector<std::string> args = {"--collector.disable-defaults"};
    for (std::string_view name : kCollectors) {
      args.push_back("--collector." + std::string(name));
    }
    nines_ = Daemon::Start("{}\n", args);
    ASSERT_NE(nines_, nullptr);
    HttpResponse before = Fetch("GET", exporter_->Url());
    HttpResponse ours = Fetch("GET", nines_->Url("/metrics"));
    HttpResponse after = Fetch("GET", exporter_->Url());
    ASSERT_EQ(before.status, 200);
    ASSERT_EQ(ours.status, 200) << nines_->Describe();
    ASSERT_EQ(after.status, 200);
    EXPECT_TRUE(PromtoolAccepts(ours.body));
    before_ = ParseExposition(before.body);
    ours_ = ParseExposition(ours.body);
    after_ = ParseExposition(after.body);
  }

  std::unique_ptr<NodeExporter> exporter_;
  std::unique_ptr<Daemon> nines_;
  std::map<std::string, Family> before_;
  std::map<std::string, Family> ours_;
  std::map<std::string, Family> after_;
};

TEST_F(NodeExporterParityTest, SameFamiliesTypesHelpAndLabels) {
  std::set<std::string> theirs;
  for (const auto& [name, family] : before_) {
    if (!Compared(name)) {
      continue;
    }
    theirs.insert(name);
    auto it = ours_.find(name);
    if (it == ours_.end()) {
      ADD_FAILURE() << "nines has no " << name;
      continue;
    }
    EXPECT_EQ(it->second.type, family.type) << name;
    EXPECT_EQ(it->second.help, family.help) << name;
    std::set<std::string> their_series;
    std::set<std::string> our_series;
    for (const auto& [key, sample] : family.samples) {
      their_series.insert(key);
    }
    for (const auto& [key, sample] : it->second.samples) {
      our_series.insert(key);
    }
    EXPECT_EQ(our_series, their_series) << name;
  }
  for (const auto& [name, family] : ours_) {
    if (Compared(name)) {
      EXPECT_TRUE(theirs.contains(name)) << "node_exporter has no " << name;
    }
  }
}

TEST_F(NodeExporterParityTest, ValuesAgree) {
  for (const auto& [name, family] : ours_) {
    if (!Compared(name) || !before_.contains(name) || !after_.contains(name)) {
      continue;  // reported by the other test
    }
    for (const auto& [key, sample] : family.samples) {
      auto a = before_.at(name).samples.find(key);
      auto b = after_.at(name).samples.find(key);
      if (a == before_.at(name).samples.end() || b == after_.at(name).samples.end()) {
        continue;
      }
      double low = std::min(a->second.value, b->second.value);
      double high = std::max(a->second.value, b->second.value);
      // Counters only grow, so nines' reading lies between node_exporter's two (up to
      // print rounding). Gauges move both ways: allow 2% around the bracket, and more
      // for the ones that follow the clock.
      double slack = 1e-9 * std::max(1.0, std::fabs(high));
      if (family.type != "counter") {
        slack += 0.02 * std::fabs(high) + 1e-9;
      }
      if (name == "node_time_seconds") {
        slack = 2;
      }
      // Counts of things in flight change between reads by a few whatever their size.
      if (name == "node_procs_running" || name == "node_procs_blocked" ||
          name == "node_disk_io_now") {
        slack += 5;
      }
      EXPECT_GE(sample.value, low - slack)
          << key << " node_exporter read " << a->second.value << " then " << b->second.value;
      EXPECT_LE(sample.value, high + slack)
          << key << " node_exporter read " << a->second.value << " then " << b->second.value;
    }
  }
}

}  // namespace
}  // namespace nines::testing
