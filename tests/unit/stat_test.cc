// Tests of the stat collector and of the single-value lines of the shared /proc/stat parser.
//
// Fixtures: tests/fixtures/proc/stat is this development machine's /proc/stat (Linux 6.18)
// with btime set to 1700000000 for process_test. tests/fixtures/old/proc/stat was written by
// hand in the format of Linux 2.6.18 (RHEL/CentOS 5), not copied from a host: 8 columns per
// CPU, no softirq line (added in 2.6.31), 256 per-IRQ counts after the intr total. The 3.10
// and 4.4 formats are the same as today's.

#include "collectors/stat.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "collectors/factories.h"
#include "collectors/proc_stat.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::ParseProcStat;
using internal::ProcStat;
using internal::StatCounters;
using internal::StatCountersFrom;
using ::testing::IsEmpty;
using ::testing::Optional;

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

// ---------------------------------------------------------------------------------------
// ParseProcStat: single-value lines

TEST(ParseProcStatValuesTest, ParsesThisMachinesText) {
  const ProcStat stat = ParseProcStat(
      "cpu  107328 0 8262 400065 727 0 116 35 0 0\n"
      "cpu0 45935 0 3493 208721 75 0 25 11 0 0\n"
      "cpu1 61393 0 4768 191343 651 0 91 24 0 0\n"
      "intr 643902 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 14 0 0 0 0 517 136\n"
      "ctxt 793660\n"
      "btime 1795548296\n"
      "processes 18916\n"
      "procs_running 1\n"
      "procs_blocked 0\n"
      "softirq 345812 0 52565 4 7699 119127 0 4 83503 0 82910\n");
  EXPECT_THAT(stat.interrupts, Optional(643902u));
  EXPECT_THAT(stat.context_switches, Optional(793660u));
  EXPECT_THAT(stat.boot_time, Optional(1795548296u));
  EXPECT_THAT(stat.forks, Optional(18916u));
  EXPECT_THAT(stat.procs_running, Optional(1u));
  EXPECT_THAT(stat.procs_blocked, Optional(0u));
}

TEST(ParseProcStatValuesTest, AcceptsAnyOrderBlanksAndNoTrailingNewline) {
  const ProcStat stat = ParseProcStat(
      "procs_blocked 4\r\n\n  ctxt\t\t2\nbtime 3   \nintr 1\nprocesses 5\nprocs_running 6");
  EXPECT_EQ(StatCountersFrom(stat), (StatCounters{3, 2, 5, 1, 6, 4}));
}

TEST(ParseProcStatValuesTest, AcceptsLargestUint64) {
  EXPECT_THAT(ParseProcStat("ctxt 18446744073709551615\n").context_switches,
              Optional(18446744073709551615u));
}

TEST(ParseProcStatValuesTest, MissingLinesAreAbsent) {
  const ProcStat stat = ParseProcStat("ctxt 5\n");
  EXPECT_THAT(stat.context_switches, Optional(5u));
  EXPECT_EQ(stat.boot_time, std::nullopt);
  EXPECT_EQ(stat.interrupts, std::nullopt);
  EXPECT_EQ(stat.forks, std::nullopt);
  EXPECT_EQ(stat.procs_running, std::nullopt);
  EXPECT_EQ(stat.procs_blocked, std::nullopt);
  EXPECT_THAT(stat.cpus, IsEmpty());
}

TEST(ParseProcStatValuesTest, SkipsLinesWithoutValues) {
  // As procfs does with every line of fewer than two fields.
  const ProcStat stat = ParseProcStat("btime\nctxt   \nprocesses 7\n");
  EXPECT_EQ(stat.boot_time, std::nullopt);
  EXPECT_EQ(stat.context_switches, std::nullopt);
  EXPECT_THAT(stat.forks, Optional(7u));
}

TEST(ParseProcStatValuesTest, IgnoresUnknownAndUnusedLines) {
  std::string text =
      "softirq junk\n"
      "intr 10 x -1 1.5\n"
      "page 5 6\nswap 1 2\n"
      "btimex 9\nxbtime 9\nBTIME 9\n";
  text += std::string_view("\x01\xff\0 garbage\n", 12);
  text += "btime 8\n";
  const ProcStat stat = ParseProcStat(text);
  EXPECT_THAT(stat.interrupts, Optional(10u));
  EXPECT_THAT(stat.boot_time, Optional(8u));
  EXPECT_EQ(stat.context_switches, std::nullopt);
}

TEST(ParseProcStatValuesTest, RejectsBadValues) {
  EXPECT_EQ(ParseError("ctxt 1\nbtime x7\n"), R"(line 2: btime: not a number (got "x7"))");
  EXPECT_EQ(ParseError("procs_running -1\n"), R"(line 1: procs_running: negative (got "-1"))");
  EXPECT_EQ(ParseError("procs_blocked 1.0\n"),
            R"(line 1: procs_blocked: not a number (got "1.0"))");
  EXPECT_EQ(ParseError("processes 99999999999999999999\n"),
            R"(line 1: processes: out of range (got "99999999999999999999"))");
  EXPECT_EQ(ParseError("intr 0x10 1 2\n"), R"(line 1: intr: not a number (got "0x10"))");
  EXPECT_EQ(ParseError("ctxt +5\n"), R"(line 1: ctxt: not a number (got "+5"))");
  EXPECT_EQ(ParseError("ctxt --5\n"), R"(line 1: ctxt: not a number (got "--5"))");
  EXPECT_EQ(ParseError(std::string_view("btime 12\x00\x1b[0m\n", 14)),
            R"(line 1: btime: not a number (got "12\x00\x1b[0m"))");
  EXPECT_EQ(ParseError("ctxt " + std::string(100, '9') + "\n"),
            "line 1: ctxt: out of range (got \"" + std::string(64, '9') + "...\")");
}

TEST(ParseProcStatValuesTest, RejectsExtraValues) {
  // procfs reads the first value and ignores the rest; the kernel prints one.
  EXPECT_EQ(ParseError("btime 1700000000 7\n"),
            R"(line 1: btime: unexpected data after the value (got "7"))");
  EXPECT_EQ(ParseError("cpu0 1 1 1 1 1 1 1\nprocs_blocked 0 junk\n"),
            R"(line 2: procs_blocked: unexpected data after the value (got "junk"))");
}

TEST(ParseProcStatValuesTest, RejectsRepeatedLines) {
  // procfs keeps the last one.
  EXPECT_EQ(ParseError("btime 7\nctxt 1\nbtime 9\n"), "line 3: btime: repeated line");
  EXPECT_EQ(ParseError("intr 1 2 3\nintr 1 2 3\n"), "line 2: intr: repeated line");
}

// ---------------------------------------------------------------------------------------
// StatCountersFrom

TEST(StatCountersFromTest, TakesEveryValue) {
  ProcStat stat;
  stat.boot_time = 1;
  stat.context_switches = 2;
  stat.forks = 3;
  stat.interrupts = 4;
  stat.procs_running = 5;
  stat.procs_blocked = 6;
  EXPECT_EQ(StatCountersFrom(stat), (StatCounters{1, 2, 3, 4, 5, 6}));
}

TEST(StatCountersFromTest, NamesTheFirstMissingLine) {
  const auto error = [](std::string_view text) {
    return ErrorFrom([text] { StatCountersFrom(ParseProcStat(text)); });
  };
  constexpr std::string_view kAll =
      "intr 1\nctxt 2\nbtime 3\nprocesses 4\nprocs_running 5\nprocs_blocked 6\n";
  EXPECT_EQ(error(kAll), "(no error)");
  EXPECT_EQ(error(""), R"(no "intr" line)");
  EXPECT_EQ(error("intr 1\nbtime 3\n"), R"(no "ctxt" line)");
  EXPECT_EQ(error("intr 1\nctxt 2\nprocesses 4\n"), R"(no "btime" line)");
  EXPECT_EQ(error("intr 1\nctxt 2\nbtime 3\nprocs_running 5\n"), R"(no "processes" line)");
  EXPECT_EQ(error("intr 1\nctxt 2\nbtime 3\nprocesses 4\nprocs_blocked 6\n"),
            R"(no "procs_running" line)");
  // A file cut short loses its last line, whose key alone does not count.
  EXPECT_EQ(error(kAll.substr(0, kAll.size() - 2)), R"(no "procs_blocked" line)");
  EXPECT_EQ(error(kAll.substr(0, kAll.size() - 1)), "(no error)");
}

// ---------------------------------------------------------------------------------------
// The collector

CollectorOptions OptionsFor(const std::string& procfs) {
  CollectorOptions options;
  options.paths.procfs = procfs;
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

TEST(StatCollectorTest, MatchesGolden) {
  const auto collector = NewStatCollector(OptionsFor(NINES_FIXTURES_DIR "/proc"));
  testing::ExpectGolden(Collect(*collector), "stat");
}

TEST(StatCollectorTest, MatchesGoldenOnOldKernel) {
  const auto collector = NewStatCollector(OptionsFor(NINES_FIXTURES_DIR "/old/proc"));
  testing::ExpectGolden(Collect(*collector), "stat_old");
}

TEST(StatCollectorTest, FailsWithoutProcStat) {
  const std::string procfs = NINES_FIXTURES_DIR "/no-such-dir";
  const auto collector = NewStatCollector(OptionsFor(procfs));
  EXPECT_EQ(CollectError(*collector), "cannot read " + procfs + "/stat: No such file or directory");
}

class StatCollectorProcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "nines-stat-XXXXXX").string();
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

  std::filesystem::path root_;
};

TEST_F(StatCollectorProcTest, FailsOnDamagedFile) {
  const auto collector = NewStatCollector(OptionsFor(root_.string()));
  const std::string path = (root_ / "stat").string();
  WriteStat("intr 1\nctxt 2\nbtime 3\nprocesses 4\nprocs_running 5\n");
  EXPECT_EQ(CollectError(*collector), path + R"(: no "procs_blocked" line)");
  WriteStat("intr 1\nctxt 2\nbtime 3\nprocesses 4\nprocs_running 5\nprocs_blocked x\n");
  EXPECT_EQ(CollectError(*collector), path + R"(: line 6: procs_blocked: not a number (got "x"))");
  // As in node_exporter, a bad per-CPU line fails this collector too.
  WriteStat("cpu0 1 2\nintr 1\nctxt 2\nbtime 3\nprocesses 4\nprocs_running 5\nprocs_blocked 6\n");
  EXPECT_EQ(CollectError(*collector), path + ": line 1: cpu0: 2 values, want at least 7");
  WriteStat("");
  EXPECT_EQ(CollectError(*collector), path + R"(: no "intr" line)");
}

TEST_F(StatCollectorProcTest, NeedsNoCpuLines) {
  WriteStat("intr 1\nctxt 2\nbtime 3\nprocesses 4\nprocs_running 5\nprocs_blocked 6\n");
  const auto families = Collect(*NewStatCollector(OptionsFor(root_.string())));
  ASSERT_EQ(families.size(), 6u);
  EXPECT_EQ(families[0].name, "node_intr_total");
  EXPECT_DOUBLE_EQ(families[0].metric.at(0).counter.value, 1);
}

}  // namespace
}  // namespace nines::collectors
