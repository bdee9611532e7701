// Tests of the netdev collector.
//
// Fixtures: tests/fixtures/proc/net/dev and tests/fixtures/sys/class/net/*/statistics/
// rx_nohandler are copies from the development machine (Linux 6.18). The old-kernel
// variant tests/fixtures/old/proc/net/dev is written by hand in the format of Linux 3.10
// (net/core/net-procfs.c: the same 16 columns and header as today, names right-aligned
// in 6 columns so longer ones start the line, and a long first counter running into the
// colon). Kernels before 4.6 have no statistics/rx_nohandler, so the old golden test
// points sysfs at a tree without it and node_network_receive_nohandler_total is omitted.
#include "collectors/netdev.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "collectors/link_stats.h"
#include "prometheus/metric_family.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::NetDevLine;
using internal::ParseNetDev;
using internal::ParseSysfsCounter;
using prometheus::MetricFamily;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kHeader =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n";

// The message of the std::runtime_error `parse(text)` throws, or "(no error)".
template <typename Parser>
std::string ErrorFrom(Parser parse, std::string_view text) {
  try {
    parse(text);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string NetDevError(std::string_view body) {
  return ErrorFrom(ParseNetDev, std::string(kHeader) + std::string(body));
}

NetDevLine Line(std::string device, std::array<std::uint64_t, 16> values) {
  return NetDevLine{std::move(device), values};
}

std::vector<std::string> Devices(const std::vector<NetDevLine>& lines) {
  std::vector<std::string> devices;
  devices.reserve(lines.size());
  for (const NetDevLine& line : lines) {
    devices.push_back(line.device);
  }
  return devices;
}

// ---------------------------------------------------------------------------------------
// ParseNetDev

TEST(ParseNetDevTest, ParsesRealTextSortedByDevice) {
  const std::vector<NetDevLine> lines = ParseNetDev(
      std::string(kHeader) +
      "    lo: 1396902   12345    0    0    0     0          0         0  1396902   12345    0 "
      "   0    0     0       0          0\n"
      "  eth0: 46190474    1124    1    2    3     4          5         6    52295     642    7 "
      "   8    9    10      11         12\n");
  EXPECT_THAT(
      lines, ElementsAre(
                 Line("eth0", {46190474, 1124, 1, 2, 3, 4, 5, 6, 52295, 642, 7, 8, 9, 10, 11, 12}),
                 Line("lo", {1396902, 12345, 0, 0, 0, 0, 0, 0, 1396902, 12345, 0, 0, 0, 0, 0, 0})));
}

TEST(ParseNetDevTest, CounterRunningIntoTheColonAndLongNames) {
  const std::vector<NetDevLine> lines =
      ParseNetDev(std::string(kHeader) +
                  "  eth0:18446744073709551615 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"
                  "abcdefghijklmno:0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].device, "abcdefghijklmno");
  EXPECT_EQ(lines[1], Line("eth0", {18446744073709551615u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                    13, 14, 15}));
}

TEST(ParseNetDevTest, HeaderOnlyAndBlankLines) {
  EXPECT_THAT(ParseNetDev(kHeader), IsEmpty());
  EXPECT_THAT(ParseNetDev(std::string(kHeader) + "\n   \n"), IsEmpty());
  // The last line may lack its '\n'; tabs separate as well as spaces.
  EXPECT_THAT(Devices(ParseNetDev(std::string(kHeader) +
                                  "\n  lo:\t1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\r\n"
                                  "  b:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16")),
              ElementsAre("b", "lo"));
}

TEST(ParseNetDevTest, RejectsMissingOrWrongHeader) {
  EXPECT_EQ(ErrorFrom(ParseNetDev, ""), "line 2: missing header");
  EXPECT_EQ(ErrorFrom(ParseNetDev, "Inter-|   Receive  |  Transmit\n"), "line 2: missing header");
  // A device line where the header should be.
  EXPECT_EQ(ErrorFrom(ParseNetDev, "Inter-|\n  lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"),
            R"(line 2: unexpected header (got "  lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"))");
  // Columns swapped, missing or added: the numbers would land under the wrong names.
  EXPECT_EQ(ErrorFrom(ParseNetDev,
                      "x\n face |packets bytes errs drop fifo frame compressed multicast|bytes "
                      "packets errs drop fifo colls carrier compressed\n"),
            "line 2: unexpected header (got \" face |packets bytes errs drop fifo frame "
            "compressed multicast|b...\")");
  EXPECT_EQ(ErrorFrom(ParseNetDev,
                      "x\n|bytes packets errs drop fifo frame compressed|bytes packets errs "
                      "drop fifo colls carrier compressed\n"),
            "line 2: unexpected header (got \"|bytes packets errs drop fifo frame compressed|"
            "bytes packets err...\")");
  EXPECT_EQ(ErrorFrom(ParseNetDev,
                      "x\n|bytes packets errs drop fifo frame compressed multicast|bytes "
                      "packets errs drop fifo colls carrier compressed nohandler\n"),
            "line 2: unexpected header (got \"|bytes packets errs drop fifo frame compressed "
            "multicast|bytes p...\")");
  EXPECT_EQ(ErrorFrom(ParseNetDev, "x\n|bytes|bytes\n"),
            R"(line 2: unexpected header (got "|bytes|bytes"))");
}

TEST(ParseNetDevTest, RejectsLinesWithoutColon) {
  EXPECT_EQ(
      NetDevError("  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"),
      R"(line 3: no ':' after the device name (got "  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"))");
  EXPECT_EQ(NetDevError("garbage"), R"(line 3: no ':' after the device name (got "garbage"))");
}

TEST(ParseNetDevTest, RejectsInvalidDeviceNames) {
  const std::string values = ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
  EXPECT_EQ(NetDevError(values), R"(line 3: invalid device name (got ""))");
  EXPECT_EQ(NetDevError("   " + values), R"(line 3: invalid device name (got ""))");
  EXPECT_EQ(NetDevError("." + values), R"(line 3: invalid device name (got "."))");
  EXPECT_EQ(NetDevError(".." + values), R"(line 3: invalid device name (got ".."))");
  EXPECT_EQ(NetDevError("a/b" + values), R"(line 3: invalid device name (got "a/b"))");
  EXPECT_EQ(NetDevError("a b" + values), R"(line 3: invalid device name (got "a b"))");
  EXPECT_EQ(NetDevError("abcdefghijklmnop" + values),
            R"(line 3: invalid device name (got "abcdefghijklmnop"))");
  EXPECT_EQ(NetDevError("e\x01" + values), R"(line 3: invalid device name (got "e\x01"))");
  EXPECT_EQ(NetDevError("e\x7f" + values), R"(line 3: invalid device name (got "e\x7f"))");
  // Invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate, a cut sequence.
  EXPECT_EQ(NetDevError("e\x80" + values), R"(line 3: invalid device name (got "e\x80"))");
  EXPECT_EQ(NetDevError("\xc0\xaf" + values), R"(line 3: invalid device name (got "\xc0\xaf"))");
  EXPECT_EQ(NetDevError("\xed\xa0\x80" + values),
            R"(line 3: invalid device name (got "\xed\xa0\x80"))");
  EXPECT_EQ(NetDevError("e\xe2\x82" + values), R"(line 3: invalid device name (got "e\xe2\x82"))");
  // Valid UTF-8 is fine: the kernel allows any byte but '/', ':' and whitespace.
  EXPECT_THAT(Devices(ParseNetDev(std::string(kHeader) + "wlän0" + values)), ElementsAre("wlän0"));
}

TEST(ParseNetDevTest, RejectsWrongNumberOfValues) {
  EXPECT_EQ(NetDevError("  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"),
            R"(line 3: device "eth0": 15 values, want 16)");
  EXPECT_EQ(NetDevError("  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"),
            R"(line 3: device "eth0": 17 values, want 16)");
  EXPECT_EQ(NetDevError("  eth0:\n"), R"(line 3: device "eth0": 0 values, want 16)");
  // Truncated in the middle of the file.
  EXPECT_EQ(NetDevError("lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\neth0: 1 2 3\n"),
            R"(line 4: device "eth0": 3 values, want 16)");
}

TEST(ParseNetDevTest, RejectsBadNumbers) {
  EXPECT_EQ(NetDevError("eth0: 1 x 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"),
            R"(line 3: device "eth0": receive_packets: not a number (got "x"))");
  EXPECT_EQ(NetDevError("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 1.5\n"),
            R"(line 3: device "eth0": transmit_compressed: not a number (got "1.5"))");
  EXPECT_EQ(NetDevError("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 -14 15 16\n"),
            R"(line 3: device "eth0": transmit_colls: negative (got "-14"))");
  EXPECT_EQ(NetDevError("eth0: 18446744073709551616 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"),
            R"(line 3: device "eth0": receive_bytes: out of range (got "18446744073709551616"))");
  EXPECT_EQ(NetDevError("eth0: 1 2 3 4 5 6 7 +8 9 10 11 12 13 14 15 16\n"),
            R"(line 3: device "eth0": receive_multicast: not a number (got "+8"))");
  EXPECT_EQ(NetDevError("eth0: 1 2 3 4 5 6 7 8 9 10 0x11 12 13 14 15 16\n"),
            R"(line 3: device "eth0": transmit_errs: not a number (got "0x11"))");
}

TEST(ParseNetDevTest, RejectsBinaryJunk) {
  EXPECT_EQ(NetDevError(std::string_view("\x00\xff\xfe:\x01\x02", 6)),
            R"(line 3: invalid device name (got "\x00\xff\xfe"))");
  EXPECT_EQ(NetDevError("eth0: \x01\x02 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"),
            R"(line 3: device "eth0": receive_bytes: not a number (got "\x01\x02"))");
}

TEST(ParseNetDevTest, RejectsDuplicateDevices) {
  EXPECT_EQ(NetDevError("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                        "  lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                        "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"),
            R"(device "eth0" appears twice)");
}

// ---------------------------------------------------------------------------------------
// ParseSysfsCounter

TEST(ParseSysfsCounterTest, ParsesCounters) {
  EXPECT_EQ(ParseSysfsCounter("0\n"), 0u);
  EXPECT_EQ(ParseSysfsCounter("12345"), 12345u);
  EXPECT_EQ(ParseSysfsCounter("18446744073709551615\n"), 18446744073709551615u);
}

TEST(ParseSysfsCounterTest, RejectsGarbage) {
  EXPECT_EQ(ErrorFrom(ParseSysfsCounter, ""), R"(not a number (got ""))");
  EXPECT_EQ(ErrorFrom(ParseSysfsCounter, "\n"), R"(not a number (got ""))");
  EXPECT_EQ(ErrorFrom(ParseSysfsCounter, "12\n\n"), R"(not a number (got "12\x0a"))");
  EXPECT_EQ(ErrorFrom(ParseSysfsCounter, " 12\n"), R"(not a number (got " 12"))");
  EXPECT_EQ(ErrorFrom(ParseSysfsCounter, "1 2\n"), R"(not a number (got "1 2"))");
  EXPECT_EQ(ErrorFrom(ParseSysfsCounter, "-1\n"), R"(negative (got "-1"))");
  EXPECT_EQ(ErrorFrom(ParseSysfsCounter, "18446744073709551616\n"),
            R"(out of range (got "18446744073709551616"))");
  EXPECT_EQ(ErrorFrom(ParseSysfsCounter, std::string_view("\xff\x00", 2)),
            R"(not a number (got "\xff\x00"))");
}

// ---------------------------------------------------------------------------------------
// The collector

CollectorOptions FixtureOptions(const std::string& tree = NINES_FIXTURES_DIR) {
  CollectorOptions options;
  options.paths.procfs = tree + "/proc";
  options.paths.sysfs = tree + "/sys";
  return options;
}

std::vector<MetricFamily> Collect(const CollectorOptions& options) {
  MetricSink sink;
  NewNetdevCollector(options)->Update(sink);
  return sink.Take();
}

// `name{device="x"}` -> value for every sample.
std::map<std::string, double> Samples(const std::vector<MetricFamily>& families) {
  std::map<std::string, double> samples;
  for (const MetricFamily& family : families) {
    for (const auto& metric : family.metric) {
      std::string key = family.name + "{";
      for (const auto& label : metric.label) {
        key += label.name + "=\"" + label.value + "\"";
      }
      samples[key + "}"] = metric.counter.value;
    }
  }
  return samples;
}

std::string UpdateError(const CollectorOptions& options) {
  try {
    Collect(options);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::string FactoryError(const CollectorOptions& options) {
  try {
    NewNetdevCollector(options);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(NetdevCollectorTest, GoldenOnFixtures) {
  nines::testing::ExpectGolden(Collect(FixtureOptions()), "netdev");
}

TEST(NetdevCollectorTest, GoldenOnOldKernelFixtures) {
  nines::testing::ExpectGolden(Collect(FixtureOptions(NINES_FIXTURES_DIR "/old")), "netdev_old");
}

TEST(NetdevCollectorTest, FamiliesAndTypes) {
  const std::vector<MetricFamily> families = Collect(FixtureOptions());
  std::vector<std::string> names;
  names.reserve(families.size());
  for (const MetricFamily& family : families) {
    names.push_back(family.name);
    EXPECT_EQ(family.type, prometheus::MetricType::Counter) << family.name;
    EXPECT_EQ(family.metric.size(), 4u) << family.name;
  }
  EXPECT_THAT(
      names,
      ElementsAre("node_network_receive_bytes_total", "node_network_receive_packets_total",
                  "node_network_receive_errs_total", "node_network_receive_drop_total",
                  "node_network_receive_fifo_total", "node_network_receive_frame_total",
                  "node_network_receive_compressed_total", "node_network_receive_multicast_total",
                  "node_network_transmit_bytes_total", "node_network_transmit_packets_total",
                  "node_network_transmit_errs_total", "node_network_transmit_drop_total",
                  "node_network_transmit_fifo_total", "node_network_transmit_colls_total",
                  "node_network_transmit_carrier_total", "node_network_transmit_compressed_total",
                  "node_network_receive_nohandler_total"));
}

TEST(NetdevCollectorTest, ExcludeAndIncludeFilters) {
  CollectorOptions options = FixtureOptions();
  options.netdev_device_exclude = "^lo$";
  std::map<std::string, double> samples = Samples(Collect(options));
  EXPECT_FALSE(samples.contains(R"(node_network_receive_bytes_total{device="lo"})"));
  EXPECT_TRUE(samples.contains(R"(node_network_receive_bytes_total{device="eth0"})"));
  EXPECT_TRUE(samples.contains(R"(node_network_receive_bytes_total{device="ifb1"})"));

  // Unanchored, as node_exporter's regexp.MatchString.
  options.netdev_device_exclude = "";
  options.netdev_device_include = "fb";
  samples = Samples(Collect(options));
  EXPECT_FALSE(samples.contains(R"(node_network_receive_bytes_total{device="lo"})"));
  EXPECT_FALSE(samples.contains(R"(node_network_receive_bytes_total{device="eth0"})"));
  EXPECT_TRUE(samples.contains(R"(node_network_receive_bytes_total{device="ifb0"})"));
  EXPECT_TRUE(samples.contains(R"(node_network_receive_nohandler_total{device="ifb1"})"));

  // Nothing left: no families at all, and no error.
  options.netdev_device_include = "^nothing$";
  EXPECT_THAT(Collect(options), IsEmpty());
}

TEST(NetdevCollectorTest, FactoryRejectsBadFilters) {
  CollectorOptions options;
  options.netdev_device_exclude = "^lo$";
  options.netdev_device_include = "^eth";
  EXPECT_EQ(FactoryError(options),
            "--collector.netdev.device-exclude and --collector.netdev.device-include are "
            "mutually exclusive");
  options.netdev_device_include = "";
  options.netdev_device_exclude = "(";
  EXPECT_EQ(FactoryError(options),
            "--collector.netdev.device-exclude: invalid regular expression: missing ): ( "
            "(got \"(\")");
  options.netdev_device_exclude = "";
  options.netdev_device_include = "[a-";
  EXPECT_EQ(FactoryError(options),
            "--collector.netdev.device-include: invalid regular expression: missing ]: [a- "
            "(got \"[a-\")");
}

// A scratch procfs + sysfs tree per test.
class ScratchTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "nines-net-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
    root_ = pattern;
    std::filesystem::create_directories(root_ / "proc/net");
    std::filesystem::create_directories(root_ / "sys/class/net");
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  void Write(const std::string& relative, std::string_view contents) const {
    std::filesystem::create_directories((root_ / relative).parent_path());
    std::ofstream file(root_ / relative, std::ios::binary | std::ios::trunc);
    file << contents;
    ASSERT_TRUE(file) << "cannot write " << (root_ / relative);
  }

  CollectorOptions Options() const { return FixtureOptions(root_.string()); }

  std::filesystem::path root_;
};

TEST_F(ScratchTreeTest, NoHandlerPerDeviceAndSkippedWhenMissingOrBad) {
  Write("proc/net/dev", std::string(kHeader) +
                            "a: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                            "b: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                            "c: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                            "d: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                            "e: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n");
  Write("sys/class/net/a/statistics/rx_nohandler", "42\n");
  Write("sys/class/net/b/statistics/rx_nohandler", "garbage\n");
  // c: no file (a kernel before 4.6). d: a directory where the file should be.
  std::filesystem::create_directories(root_ / "sys/class/net/d/statistics/rx_nohandler");
  // e: longer than any counter; read only far enough to reject it.
  Write("sys/class/net/e/statistics/rx_nohandler", std::string(100000, '7'));
  const std::map<std::string, double> samples = Samples(Collect(Options()));
  EXPECT_EQ(samples.at(R"(node_network_receive_nohandler_total{device="a"})"), 42);
  for (const char* device : {"b", "c", "d", "e"}) {
    EXPECT_FALSE(samples.contains(std::string("node_network_receive_nohandler_total{device=\"") +
                                  device + "\"}"))
        << device;
    EXPECT_EQ(samples.at(std::string("node_network_transmit_compressed_total{device=\"") + device +
                         "\"}"),
              16)
        << device;
  }
}

TEST_F(ScratchTreeTest, LargeCountersBecomeDoubles) {
  Write("proc/net/dev",
        std::string(kHeader) +
            "eth0:18446744073709551615 9007199254740993 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  const std::map<std::string, double> samples = Samples(Collect(Options()));
  EXPECT_EQ(samples.at(R"(node_network_receive_bytes_total{device="eth0"})"),
            18446744073709551615.0);
  EXPECT_EQ(samples.at(R"(node_network_receive_packets_total{device="eth0"})"), 9007199254740992.0);
}

TEST_F(ScratchTreeTest, MissingFileFailsTheCollector) {
  EXPECT_EQ(UpdateError(Options()),
            "cannot read " + (root_ / "proc/net/dev").string() + ": No such file or directory");
}

TEST_F(ScratchTreeTest, BadFileFailsTheCollectorNamingFileAndLine) {
  Write("proc/net/dev", std::string(kHeader) +
                            "lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                            "eth0: 1 2 3 4 5 6 7 8\n");
  EXPECT_EQ(UpdateError(Options()),
            (root_ / "proc/net/dev").string() + R"(: line 4: device "eth0": 8 values, want 16)");
  Write("proc/net/dev", "");
  EXPECT_EQ(UpdateError(Options()), (root_ / "proc/net/dev").string() + ": line 2: missing header");
}

TEST(NetdevCollectorTest, ConcurrentUpdatesAgree) {
  const std::unique_ptr<Collector> collector = NewNetdevCollector(FixtureOptions());
  const std::string want = [&] {
    MetricSink sink;
    collector->Update(sink);
    return nines::testing::RenderFamilies(sink.Take());
  }();
  std::vector<std::string> got(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 20; ++round) {
        MetricSink sink;
        collector->Update(sink);
        got[i] = nines::testing::RenderFamilies(sink.Take());
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  for (const std::string& page : got) {
    EXPECT_EQ(page, want);
  }
}

// ---- receive_nohandler over netlink ----

// Builds RTM_GETSTATS answers as the kernel writes them.
class DumpBuilder {
 public:
  explicit DumpBuilder(std::uint32_t sequence) : sequence_(sequence) {}

  // One RTM_NEWSTATS message for `ifindex` whose IFLA_STATS_LINK_64 is `stats_bytes` long
  // (the whole struct, or a shorter one as older kernels send).
  DumpBuilder& Stats(int ifindex, std::uint64_t nohandler,
                     std::size_t stats_bytes = sizeof(rtnl_link_stats64)) {
    rtnl_link_stats64 stats{};
    stats.rx_packets = 7;
    stats.rx_nohandler = nohandler;
    std::vector<unsigned char> payload(NLMSG_ALIGN(sizeof(if_stats_msg)) + RTA_SPACE(stats_bytes));
    if_stats_msg message{};
    message.ifindex = static_cast<std::uint32_t>(ifindex);
    std::memcpy(payload.data(), &message, sizeof(message));
    rtattr attribute{};
    attribute.rta_len = static_cast<unsigned short>(RTA_LENGTH(stats_bytes));
    attribute.rta_type = IFLA_STATS_LINK_64;
    std::memcpy(payload.data() + NLMSG_ALIGN(sizeof(if_stats_msg)), &attribute, sizeof(attribute));
    std::memcpy(payload.data() + NLMSG_ALIGN(sizeof(if_stats_msg)) + RTA_LENGTH(0), &stats,
                stats_bytes);
    return Message(RTM_NEWSTATS, payload);
  }
  DumpBuilder& Done() { return Message(NLMSG_DONE, std::vector<unsigned char>(4, 0)); }
  DumpBuilder& Error(int error) {
    nlmsgerr message{};
    message.error = -error;
    std::vector<unsigned char> payload(sizeof(message));
    std::memcpy(payload.data(), &message, sizeof(message));
    return Message(NLMSG_ERROR, payload);
  }
  DumpBuilder& Message(std::uint16_t type, const std::vector<unsigned char>& payload) {
    nlmsghdr header{};
    header.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(payload.size()));
    header.nlmsg_type = type;
    header.nlmsg_seq = sequence_;
    const std::size_t at = bytes_.size();
    bytes_.resize(at + NLMSG_ALIGN(header.nlmsg_len));
    std::memcpy(bytes_.data() + at, &header, sizeof(header));
    std::memcpy(bytes_.data() + at + NLMSG_HDRLEN, payload.data(), payload.size());
    return *this;
  }
  std::vector<unsigned char>& bytes() { return bytes_; }

 private:
  std::uint32_t sequence_;
  std::vector<unsigned char> bytes_;
};

TEST(LinkStatsTest, ParsesADump) {
  DumpBuilder dump(42);
  dump.Stats(1, 0).Stats(2, 12345).Stats(3, 9, offsetof(rtnl_link_stats64, rx_nohandler)).Done();
  std::map<int, std::uint64_t> values;
  bool done = false;
  internal::ParseStatsDump(dump.bytes(), 42, values, &done);
  EXPECT_TRUE(done);
  // Device 3's kernel sent a struct without rx_nohandler: no value rather than a wrong one.
  EXPECT_EQ(values, (std::map<int, std::uint64_t>{{1, 0}, {2, 12345}}));

  std::map<int, std::uint64_t> partial;
  bool partial_done = false;
  DumpBuilder first_part(42);
  first_part.Stats(5, 1);
  internal::ParseStatsDump(first_part.bytes(), 42, partial, &partial_done);
  EXPECT_FALSE(partial_done);
  EXPECT_EQ(partial.at(5), 1u);
}

TEST(LinkStatsTest, RejectsBadAnswers) {
  std::map<int, std::uint64_t> values;
  bool done = false;
  DumpBuilder refused(1);
  refused.Error(EPERM);
  EXPECT_THAT([&] { internal::ParseStatsDump(refused.bytes(), 1, values, &done); },
              ::testing::ThrowsMessage<std::system_error>(HasSubstr("RTM_GETSTATS refused")));

  DumpBuilder other(2);
  other.Stats(1, 1).Done();
  EXPECT_THAT([&] { internal::ParseStatsDump(other.bytes(), 3, values, &done); },
              ::testing::ThrowsMessage<std::runtime_error>(HasSubstr("another request")));

  DumpBuilder truncated(4);
  truncated.Stats(1, 1);
  std::vector<unsigned char> cut(truncated.bytes().begin(), truncated.bytes().end() - 20);
  EXPECT_THAT([&] { internal::ParseStatsDump(cut, 4, values, &done); },
              ::testing::ThrowsMessage<std::runtime_error>(HasSubstr("does not fit")));

  std::vector<unsigned char> header_only(truncated.bytes().begin(), truncated.bytes().begin() + 10);
  EXPECT_THAT([&] { internal::ParseStatsDump(header_only, 4, values, &done); },
              ::testing::ThrowsMessage<std::runtime_error>(HasSubstr("truncated message header")));

  // An attribute claiming more than its message holds.
  DumpBuilder bad_attribute(5);
  bad_attribute.Stats(1, 1);
  std::vector<unsigned char>& bytes = bad_attribute.bytes();
  rtattr attribute{};
  const std::size_t attribute_at = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(if_stats_msg));
  std::memcpy(&attribute, bytes.data() + attribute_at, sizeof(attribute));
  attribute.rta_len = 4000;
  std::memcpy(bytes.data() + attribute_at, &attribute, sizeof(attribute));
  EXPECT_THAT([&] { internal::ParseStatsDump(bytes, 5, values, &done); },
              ::testing::ThrowsMessage<std::runtime_error>(HasSubstr("attribute length 4000")));
  EXPECT_FALSE(done);
}

// The live kernel: what netlink says is what sysfs says, for the loopback device (whose
// counter does not move), and a device that does not exist has no value.
TEST(LinkStatsTest, AgreesWithSysfsOnThisMachine) {
  std::ifstream file("/sys/class/net/lo/statistics/rx_nohandler");
  std::uint64_t from_sysfs = 0;
  ASSERT_TRUE(file >> from_sysfs);
  LinkStats stats;
  const std::vector<std::string> names = {"lo", "no-such-dev0"};
  for (int i = 0; i < 3; ++i) {  // the kept socket serves read after read
    auto values = stats.NoHandler(names);
    ASSERT_EQ(values.size(), 1u);
    EXPECT_EQ(values.at("lo"), from_sysfs);
  }
}

}  // namespace
}  // namespace nines::collectors
