// Tests of the cpu collector and of the per-CPU lines of the shared /proc/stat parser.
//
// Fixtures: tests/fixtures/proc/stat is this development machine's /proc/stat (Linux 6.18,
// 2 CPUs) with btime set to 1700000000 for process_test. tests/fixtures/old/proc/stat was
// written by hand in the format of Linux 2.6.18 (RHEL/CentOS 5), not copied from a host:
// its per-CPU lines carry 8 columns (guest came in 2.6.24, guest_nice in 2.6.33), it has no
// softirq line (2.6.31) and 256 per-IRQ counts after the intr total. The 3.10 and 4.4
// formats are the same as today's, so they would test nothing new.

#include "collectors/cpu.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "collectors/factories.h"
#include "collectors/proc_stat.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::CpuTicks;
using internal::MonotonicCpuTicks;
using internal::ParseProcStat;
using internal::ProcStat;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The message of the std::runtime_error `fn()` throws, or "(no error)".
template <typename Fn>
std::string ErrorFrom(Fn fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string ParseError(std::string_view text) {
  return ErrorFrom([text] { ParseProcStat(text); });
}

CpuTicks Ticks(std::uint64_t cpu, std::uint64_t user, std::uint64_t nice, std::uint64_t system,
               std::uint64_t idle, std::uint64_t iowait, std::uint64_t irq, std::uint64_t softirq,
               std::uint64_t steal = 0, std::uint64_t guest = 0, std::uint64_t guest_nice = 0) {
  return CpuTicks{cpu, user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice};
}

// ---------------------------------------------------------------------------------------
// ParseProcStat: per-CPU lines

TEST(ParseProcStatCpuTest, ParsesThisMachinesLines) {
  const ProcStat stat = ParseProcStat(
      "cpu  107328 0 8262 400065 727 0 116 35 0 0\n"
      "cpu0 45935 0 3493 208721 75 0 25 11 0 0\n"
      "cpu1 61393 0 4768 191343 651 0 91 24 0 0\n"
      "intr 643902 0 0 0 0\n"
      "ctxt 793660\n"
      "btime 1795548296\n"
      "processes 18916\n"
      "procs_running 1\n"
      "procs_blocked 0\n"
      "softirq 345812 0 52565 4 7699 119127 0 4 83503 0 82910\n");
  EXPECT_THAT(stat.cpus, ElementsAre(Ticks(0, 45935, 0, 3493, 208721, 75, 0, 25, 11, 0, 0),
                                     Ticks(1, 61393, 0, 4768, 191343, 651, 0, 91, 24, 0, 0)));
}

TEST(ParseProcStatCpuTest, ParsesEveryColumnInKernelOrder) {
  const ProcStat stat = ParseProcStat("cpu7 1 2 3 4 5 6 7 8 9 10\n");
  EXPECT_THAT(stat.cpus, ElementsAre(Ticks(7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)));
}

TEST(ParseProcStatCpuTest, OldKernelsLackTrailingColumns) {
  // 2.6.24 to 2.6.32: no guest_nice; 2.6.11 to 2.6.23: no guest; 2.6.0 to 2.6.10: no steal.
  EXPECT_THAT(ParseProcStat("cpu0 1 2 3 4 5 6 7 8 9\n").cpus,
              ElementsAre(Ticks(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0)));
  EXPECT_THAT(ParseProcStat("cpu0 1 2 3 4 5 6 7 8\n").cpus,
              ElementsAre(Ticks(0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0)));
  EXPECT_THAT(ParseProcStat("cpu0 1 2 3 4 5 6 7\n").cpus,
              ElementsAre(Ticks(0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0)));
}

TEST(ParseProcStatCpuTest, IgnoresColumnsAfterGuestNice) {
  // A future kernel may add columns, as 2.6.11, 2.6.24 and 2.6.33 did; procfs ignores them.
  EXPECT_THAT(ParseProcStat("cpu0 1 2 3 4 5 6 7 8 9 10 11 junk\n").cpus,
              ElementsAre(Ticks(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)));
}

TEST(ParseProcStatCpuTest, AcceptsBlanksAndNoTrailingNewline) {
  EXPECT_THAT(
      ParseProcStat("  cpu3\t1  2 3 4 5 6 7 8 9 10\r\n\n\ncpu4 1 1 1 1 1 1 1 1 1 1").cpus,
      ElementsAre(Ticks(3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), Ticks(4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)));
}

TEST(ParseProcStatCpuTest, AcceptsLargestUint64) {
  EXPECT_EQ(ParseProcStat("cpu0 18446744073709551615 0 0 0 0 0 0\n").cpus.at(0).user,
            18446744073709551615u);
}

TEST(ParseProcStatCpuTest, DoesNotReadTheAggregateLine) {
  EXPECT_THAT(ParseProcStat("cpu junk -1\ncpu0 1 2 3 4 5 6 7 8 9 10\n").cpus,
              ElementsAre(Ticks(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)));
  EXPECT_THAT(ParseProcStat("cpu  1 2 3 4 5 6 7 8 9 10\n").cpus, IsEmpty());
}

TEST(ParseProcStatCpuTest, SortsCpusAndKeepsGaps) {
  // Offline CPUs are missing from /proc/stat; the others keep their numbers.
  EXPECT_THAT(ParseProcStat("cpu12 1 1 1 1 1 1 1\ncpu2 2 2 2 2 2 2 2\ncpu0 3 3 3 3 3 3 3\n").cpus,
              ElementsAre(Ticks(0, 3, 3, 3, 3, 3, 3, 3), Ticks(2, 2, 2, 2, 2, 2, 2, 2),
                          Ticks(12, 1, 1, 1, 1, 1, 1, 1)));
  EXPECT_EQ(ParseProcStat("cpu007 1 1 1 1 1 1 1\n").cpus.at(0).cpu, 7u);
}

TEST(ParseProcStatCpuTest, SkipsCpuLinesWithoutValues) {
  // As procfs does with every line of fewer than two fields.
  EXPECT_THAT(ParseProcStat("cpu0\ncpu1   \ncpux\ncpu2 1 2 3 4 5 6 7\n").cpus,
              ElementsAre(Ticks(2, 1, 2, 3, 4, 5, 6, 7)));
}

TEST(ParseProcStatCpuTest, EmptyTextHasNoCpus) {
  EXPECT_THAT(ParseProcStat("").cpus, IsEmpty());
  EXPECT_THAT(ParseProcStat("\n\n").cpus, IsEmpty());
}

TEST(ParseProcStatCpuTest, RejectsBadCpuNumbers) {
  EXPECT_EQ(ParseError("cpux 1 2 3 4 5 6 7\n"), R"(line 1: cpu number: not a number (got "x"))");
  EXPECT_EQ(ParseError("cpu0 1 1 1 1 1 1 1\ncpu1a 1 2 3 4 5 6 7\n"),
            R"(line 2: cpu number: not a number (got "1a"))");
  EXPECT_EQ(ParseError("cpu+1 1 2 3 4 5 6 7\n"), R"(line 1: cpu number: not a number (got "+1"))");
  EXPECT_EQ(ParseError("cpu-1 1 2 3 4 5 6 7\n"), R"(line 1: cpu number: negative (got "-1"))");
  EXPECT_EQ(ParseError("cpu99999999999999999999 1 2 3 4 5 6 7\n"),
            R"(line 1: cpu number: out of range (got "99999999999999999999"))");
  EXPECT_EQ(ParseError("cpufreq 1 2 3 4 5 6 7\n"),
            R"(line 1: cpu number: not a number (got "freq"))");
}

TEST(ParseProcStatCpuTest, RejectsBadValues) {
  EXPECT_EQ(ParseError("cpu0 1 2 3 x 5 6 7 8 9 10\n"),
            R"(line 1: cpu0 idle: not a number (got "x"))");
  EXPECT_EQ(ParseError("cpu0 -1 2 3 4 5 6 7 8 9 10\n"),
            R"(line 1: cpu0 user: negative (got "-1"))");
  EXPECT_EQ(ParseError("cpu0 1 2 3 4 5.5 6 7 8 9 10\n"),
            R"(line 1: cpu0 iowait: not a number (got "5.5"))");
  EXPECT_EQ(ParseError("cpu0 1 2 3 4 5 6 7 0x8 9 10\n"),
            R"(line 1: cpu0 steal: not a number (got "0x8"))");
  EXPECT_EQ(ParseError("cpu0 1 2 3 4 5 6 7 8 9 18446744073709551616\n"),
            R"(line 1: cpu0 guest_nice: out of range (got "18446744073709551616"))");
  EXPECT_EQ(ParseError("cpu0 1 2 3 4 5 6 7 8 +9 10\n"),
            R"(line 1: cpu0 guest: not a number (got "+9"))");
  EXPECT_EQ(ParseError(std::string_view("cpu1 1 2 \x01\xff\0 4 5 6 7\n", 21)),
            R"(line 1: cpu1 system: not a number (got "\x01\xff\x00"))");
}

TEST(ParseProcStatCpuTest, RejectsTruncatedLines) {
  // procfs would report 0 for the missing columns.
  EXPECT_EQ(ParseError("cpu0 1 2 3 4 5 6\n"), "line 1: cpu0: 6 values, want at least 7");
  EXPECT_EQ(ParseError("cpu  1 2\ncpu0 1\n"), "line 2: cpu0: 1 values, want at least 7");
}

TEST(ParseProcStatCpuTest, RejectsRepeatedCpus) {
  EXPECT_EQ(ParseError("cpu0 1 1 1 1 1 1 1\ncpu1 1 1 1 1 1 1 1\ncpu1 2 2 2 2 2 2 2\n"),
            "cpu1: repeated line");
  EXPECT_EQ(ParseError("cpu3 1 1 1 1 1 1 1\ncpu1 1 1 1 1 1 1 1\ncpu03 2 2 2 2 2 2 2\n"),
            "cpu3: repeated line");
}

TEST(ParseProcStatCpuTest, BadCpuLinesFailWhateverComesAfter) {
  // Like procfs, a malformed line fails the whole file, not just its CPU.
  EXPECT_EQ(ParseError("cpu0 1 2 3 4 5 6 7\ncpu1 a 2 3 4 5 6 7\nctxt 5\n"),
            R"(line 2: cpu1 user: not a number (got "a"))");
}

// ---------------------------------------------------------------------------------------
// MonotonicCpuTicks

constexpr std::uint64_t kHz = 100;

TEST(MonotonicCpuTicksTest, FirstScrapeTakesEverything) {
  const std::vector<CpuTicks> current = {Ticks(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)};
  EXPECT_EQ(MonotonicCpuTicks({}, current, kHz), current);
}

TEST(MonotonicCpuTicksTest, KeepsColumnsThatWentBackwards) {
  const std::vector<CpuTicks> previous = {Ticks(0, 100, 10, 50, 1000, 40, 5, 6, 7, 8, 9),
                                          Ticks(1, 200, 20, 60, 2000, 30, 5, 6, 7, 8, 9)};
  const std::vector<CpuTicks> current = {Ticks(0, 110, 10, 55, 1100, 39, 5, 6, 7, 8, 9),
                                         Ticks(1, 150, 19, 70, 1701, 31, 4, 7, 6, 9, 8)};
  EXPECT_THAT(MonotonicCpuTicks(previous, current, kHz),
              ElementsAre(Ticks(0, 110, 10, 55, 1100, 40, 5, 6, 7, 8, 9),
                          Ticks(1, 200, 20, 70, 2000, 31, 5, 7, 7, 9, 9)));
}

TEST(MonotonicCpuTicksTest, IdleFallingThreeSecondsRestartsTheCpu) {
  const std::vector<CpuTicks> previous = {Ticks(0, 100, 10, 50, 1000, 40, 5, 6, 7, 8, 9),
                                          Ticks(1, 100, 10, 50, 1000, 40, 5, 6, 7, 8, 9)};
  // cpu0's idle fell by exactly 3 s (300 ticks at 100 Hz), cpu1's by 2.99 s.
  const std::vector<CpuTicks> current = {Ticks(0, 1, 2, 3, 700, 4, 5, 6, 7, 8, 9),
                                         Ticks(1, 1, 2, 3, 701, 4, 5, 6, 7, 8, 9)};
  EXPECT_THAT(MonotonicCpuTicks(previous, current, kHz),
              ElementsAre(Ticks(0, 1, 2, 3, 700, 4, 5, 6, 7, 8, 9),
                          Ticks(1, 100, 10, 50, 1000, 40, 5, 6, 7, 8, 9)));
  // The limit is in seconds, so in ticks it follows USER_HZ.
  EXPECT_THAT(MonotonicCpuTicks(previous, current, 1000),
              ElementsAre(Ticks(0, 100, 10, 50, 1000, 40, 5, 6, 7, 8, 9),
                          Ticks(1, 100, 10, 50, 1000, 40, 5, 6, 7, 8, 9)));
}

TEST(MonotonicCpuTicksTest, ChangedCpuSetTakesEverything) {
  const std::vector<CpuTicks> previous = {Ticks(0, 100, 100, 100, 100, 100, 100, 100),
                                          Ticks(1, 100, 100, 100, 100, 100, 100, 100)};
  const std::vector<CpuTicks> fewer = {Ticks(0, 1, 1, 1, 1, 1, 1, 1)};
  EXPECT_EQ(MonotonicCpuTicks(previous, fewer, kHz), fewer);
  const std::vector<CpuTicks> other = {Ticks(0, 1, 1, 1, 1, 1, 1, 1),
                                       Ticks(2, 1, 1, 1, 1, 1, 1, 1)};
  EXPECT_EQ(MonotonicCpuTicks(previous, other, kHz), other);
  EXPECT_THAT(MonotonicCpuTicks(previous, {}, kHz), IsEmpty());
}

// ---------------------------------------------------------------------------------------
// The collector

CollectorOptions OptionsFor(const std::string& procfs) {
  CollectorOptions options;
  options.paths.procfs = procfs;
  options.paths.sysfs = std::string(NINES_FIXTURES_DIR) + "/sys";
  return options;
}

std::vector<prometheus::MetricFamily> Collect(const Collector& collector) {
  MetricSink sink;
  collector.Update(sink);
  return sink.Take();
}

std::string CollectError(const Collector& collector) {
  return ErrorFrom([&collector] { Collect(collector); });
}

TEST(CpuCollectorTest, UserHzIsWhatTheGoldenFilesAssume) {
  // The golden files hold ticks / 100. USER_HZ is 100 on every architecture Linux runs on
  // today but alpha.
  ASSERT_EQ(sysconf(_SC_CLK_TCK), 100);
}

TEST(CpuCollectorTest, MatchesGolden) {
  const auto collector = NewCpuCollector(OptionsFor(NINES_FIXTURES_DIR "/proc"));
  testing::ExpectGolden(Collect(*collector), "cpu");
}

TEST(CpuCollectorTest, MatchesGoldenOnOldKernel) {
  const auto collector = NewCpuCollector(OptionsFor(NINES_FIXTURES_DIR "/old/proc"));
  testing::ExpectGolden(Collect(*collector), "cpu_old");
}

TEST(CpuCollectorTest, FailsWithoutProcStat) {
  const std::string procfs = NINES_FIXTURES_DIR "/no-such-dir";
  const auto collector = NewCpuCollector(OptionsFor(procfs));
  EXPECT_EQ(CollectError(*collector), "cannot read " + procfs + "/stat: No such file or directory");
}

// A writable copy of a /proc/stat for the tests that change it between scrapes.
class CpuCollectorProcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "nines-cpu-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
    root_ = pattern;
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  void WriteStat(std::string_view contents) const {
    std::ofstream file(root_ / "stat", std::ios::binary | std::ios::trunc);
    file << contents;
    ASSERT_TRUE(file) << "cannot write " << (root_ / "stat");
  }

  std::unique_ptr<Collector> MakeCollector() const {
    return NewCpuCollector(OptionsFor(root_.string()));
  }

  // node_cpu_seconds_total{cpu=`cpu`,mode=`mode`}, or -1 when absent.
  static double Seconds(const std::vector<prometheus::MetricFamily>& families,
                        std::string_view family_name, std::string_view cpu, std::string_view mode) {
    for (const auto& family : families) {
      if (family.name != family_name) {
        continue;
      }
      for (const auto& metric : family.metric) {
        if (metric.label.size() == 2 && metric.label[0].value == cpu &&
            metric.label[1].value == mode) {
          return metric.counter.value;
        }
      }
    }
    return -1;
  }

  std::filesystem::path root_;
};

TEST_F(CpuCollectorProcTest, CountersNeverGoBackwardsAcrossScrapes) {
  const auto collector = MakeCollector();
  WriteStat("cpu0 100 0 50 1000 40 0 0 0 0 0\n");
  auto families = Collect(*collector);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "0", "iowait"), 0.4);

  // iowait went backwards by a tick: the last value stays, the others move on.
  WriteStat("cpu0 110 0 55 1100 39 0 0 0 0 0\n");
  families = Collect(*collector);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "0", "iowait"), 0.4);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "0", "idle"), 11);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "0", "user"), 1.1);

  // idle fell by 10 s: a hotplugged CPU, whose counters start again.
  WriteStat("cpu0 1 0 2 100 3 0 0 0 0 0\n");
  families = Collect(*collector);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "0", "idle"), 1);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "0", "iowait"), 0.03);

  // A new collector has no history.
  WriteStat("cpu0 1 0 2 100 1 0 0 0 0 0\n");
  EXPECT_DOUBLE_EQ(Seconds(Collect(*MakeCollector()), "node_cpu_seconds_total", "0", "iowait"),
                   0.01);
}

TEST_F(CpuCollectorProcTest, ExportsOnlyListedCpusAndGuestSeparately) {
  WriteStat(
      "cpu  0 0 0 0 0 0 0 0 0 0\n"
      "cpu0 500 60 300 4000 20 10 5 3 200 40\n"
      "cpu3 1 2 3 4 5 6 7 8 9 10\n");
  const auto families = Collect(*MakeCollector());
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "node_cpu_seconds_total");
  EXPECT_EQ(families[0].metric.size(), 16u);
  EXPECT_EQ(families[1].name, "node_cpu_guest_seconds_total");
  EXPECT_EQ(families[1].metric.size(), 4u);
  EXPECT_EQ(Seconds(families, "node_cpu_seconds_total", "1", "idle"), -1);
  // user and nice keep the guest time in them, as in node_exporter 1.5.
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "0", "user"), 5);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "0", "nice"), 0.6);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_guest_seconds_total", "0", "user"), 2);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_guest_seconds_total", "0", "nice"), 0.4);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_seconds_total", "3", "steal"), 0.08);
  EXPECT_DOUBLE_EQ(Seconds(families, "node_cpu_guest_seconds_total", "3", "nice"), 0.1);
}

TEST_F(CpuCollectorProcTest, FailsOnMalformedFile) {
  const auto collector = MakeCollector();
  const std::string path = (root_ / "stat").string();
  WriteStat("cpu0 1 2 3 4 5 6 7 8 9 10\nbtime soon\n");
  EXPECT_EQ(CollectError(*collector), path + R"(: line 2: btime: not a number (got "soon"))");
  WriteStat("cpu0 1 2 3 4\n");
  EXPECT_EQ(CollectError(*collector), path + ": line 1: cpu0: 4 values, want at least 7");
  WriteStat("cpu  1 2 3 4 5 6 7 8 9 10\nctxt 5\n");
  EXPECT_EQ(CollectError(*collector), path + R"(: no per-CPU "cpuN" lines)");
  WriteStat("");
  EXPECT_EQ(CollectError(*collector), path + R"(: no per-CPU "cpuN" lines)");
  WriteStat(std::string_view("\x7f\x45\x4c\x46\x02\x01\x01\0\0\0", 10));
  EXPECT_EQ(CollectError(*collector), path + R"(: no per-CPU "cpuN" lines)");
}

TEST_F(CpuCollectorProcTest, FailedScrapeKeepsHistory) {
  const auto collector = MakeCollector();
  WriteStat("cpu0 100 0 50 1000 40 0 0 0 0 0\n");
  Collect(*collector);
  WriteStat("cpu0 oops\n");
  EXPECT_NE(CollectError(*collector), "(no error)");
  WriteStat("cpu0 100 0 50 1000 30 0 0 0 0 0\n");
  EXPECT_DOUBLE_EQ(Seconds(Collect(*collector), "node_cpu_seconds_total", "0", "iowait"), 0.4);
}

TEST_F(CpuCollectorProcTest, ConcurrentScrapes) {
  WriteStat("cpu0 100 0 50 1000 40 0 0 0 0 0\ncpu1 100 0 50 1000 40 0 0 0 0 0\n");
  const auto collector = MakeCollector();
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&collector] {
      for (int i = 0; i < 200; ++i) {
        const auto families = Collect(*collector);
        EXPECT_EQ(families.size(), 2u);
        EXPECT_EQ(families.at(0).metric.size(), 16u);
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
}

}  // namespace
}  // namespace nines::collectors
