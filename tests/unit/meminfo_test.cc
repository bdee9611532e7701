// Tests of the meminfo collector.
//
// tests/fixtures/proc/meminfo is this machine's (Linux 6.18). tests/fixtures/old/proc/meminfo
// is written from knowledge of a CentOS 7 kernel (3.10.0-957): it has HardwareCorrupted,
// CmaTotal and CmaFree, and none of the fields added since (KReclaimable in 4.20, Percpu in
// 4.16, ShmemHugePages/ShmemPmdMapped in 4.8, FileHugePages in 5.4, Zswap in 5.19,
// SecPageTables in 6.3, Hugetlb in 5.16, DirectMap1G on that host).

#include "collectors/meminfo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "prometheus/metric_type.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::MeminfoField;
using internal::ParseMeminfo;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The message of the std::runtime_error ParseMeminfo(text) throws, or "(no error)".
std::string ErrorFrom(std::string_view text) {
  try {
    ParseMeminfo(text);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

// A procfs directory holding only `meminfo` with `text`, removed at the end of the test.
class TempProcfs {
 public:
  explicit TempProcfs(std::string_view text)
      : dir_(std::filesystem::path(::testing::TempDir()) /
             ("meminfo_test_" +
              std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "meminfo", std::ios::binary) << text;
  }
  ~TempProcfs() { std::filesystem::remove_all(dir_); }
  TempProcfs(const TempProcfs&) = delete;
  TempProcfs& operator=(const TempProcfs&) = delete;

  std::string path() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

std::vector<prometheus::MetricFamily> Collect(const std::string& procfs) {
  CollectorOptions options;
  options.paths.procfs = procfs;
  MetricSink sink;
  NewMeminfoCollector(options)->Update(sink);
  return sink.Take();
}

TEST(ParseMeminfoTest, ParsesKernelLines) {
  EXPECT_THAT(ParseMeminfo("MemTotal:       24684084 kB\n"
                           "Active(anon):       1548 kB\n"
                           "Inactive(file):    11268 kB\n"
                           "HugePages_Total:       0\n"
                           "HugePages_Free:        7\n"
                           "VmallocTotal:   34359738367 kB\n"
                           "DirectMap4k:       26624 kB\n"),
              ElementsAre(MeminfoField{"MemTotal_bytes", 24684084.0 * 1024},
                          MeminfoField{"Active_anon_bytes", 1548.0 * 1024},
                          MeminfoField{"Inactive_file_bytes", 11268.0 * 1024},
                          MeminfoField{"HugePages_Total", 0}, MeminfoField{"HugePages_Free", 7},
                          MeminfoField{"VmallocTotal_bytes", 35184372087808.0},
                          MeminfoField{"DirectMap4k_bytes", 26624.0 * 1024}));
}

TEST(ParseMeminfoTest, SkipsBlankLinesAndAcceptsMissingFinalNewline) {
  EXPECT_THAT(
      ParseMeminfo("\nMemTotal: 1 kB\n   \n\t\nMemFree:\t2   kB "),
      ElementsAre(MeminfoField{"MemTotal_bytes", 1024}, MeminfoField{"MemFree_bytes", 2048}));
  EXPECT_THAT(ParseMeminfo(""), IsEmpty());
  EXPECT_THAT(ParseMeminfo("\n\n"), IsEmpty());
}

TEST(ParseMeminfoTest, TurnsParenthesesIntoUnderscoreAsNodeExporter) {
  // node_exporter's regexp `\((.*)\)` -> "_${1}": from the first '(' to the last ')'.
  EXPECT_THAT(ParseMeminfo("A(b)c: 1\nActive(file): 1 kB\nNoParens: 3\n"),
              ElementsAre(MeminfoField{"A_bc", 1}, MeminfoField{"Active_file_bytes", 1024},
                          MeminfoField{"NoParens", 3}));
  // Anything else with parentheses leaves one in the name, which no metric name may hold.
  EXPECT_EQ(ErrorFrom("x(y)(z): 1\n"),
            R"(line 1: field name does not make a valid metric name (got "x(y)(z):"))");
  EXPECT_EQ(ErrorFrom("x(y: 1\n"),
            R"(line 1: field name does not make a valid metric name (got "x(y:"))");
  EXPECT_EQ(ErrorFrom("x)y(: 1\n"),
            R"(line 1: field name does not make a valid metric name (got "x)y(:"))");
}

TEST(ParseMeminfoTest, AcceptsLargestValues) {
  EXPECT_THAT(ParseMeminfo("Big: 18446744073709551615\n"),
              ElementsAre(MeminfoField{"Big", 18446744073709551615.0}));
  EXPECT_THAT(ParseMeminfo("Big: 18446744073709551615 kB\n"),
              ElementsAre(MeminfoField{"Big_bytes", 18446744073709551615.0 * 1024}));
}

TEST(ParseMeminfoTest, RejectsBadNames) {
  EXPECT_EQ(ErrorFrom("MemTotal: 1 kB\nMemFree 2 kB\n"),
            R"(line 2: field name does not end in ':' (got "MemFree"))");
  EXPECT_EQ(ErrorFrom("garbage\n"), R"(line 1: field name does not end in ':' (got "garbage"))");
  EXPECT_EQ(ErrorFrom(": 5 kB\n"),
            R"(line 1: field name does not make a valid metric name (got ":"))");
  EXPECT_EQ(ErrorFrom("Mem-Total: 5 kB\n"),
            R"(line 1: field name does not make a valid metric name (got "Mem-Total:"))");
  EXPECT_EQ(ErrorFrom(std::string_view("M\xff\x00: 5 kB\n", 10)),
            R"(line 1: field name does not make a valid metric name (got "M\xff\x00:"))");
  EXPECT_EQ(ErrorFrom(std::string(100, 'x') + "-: 1\n"),
            "line 1: field name does not make a valid metric name (got \"" + std::string(64, 'x') +
                "...\")");
}

TEST(ParseMeminfoTest, RejectsBadValues) {
  EXPECT_EQ(ErrorFrom("MemTotal:\n"), "line 1: MemTotal: missing value");
  EXPECT_EQ(ErrorFrom("MemTotal:   \n"), "line 1: MemTotal: missing value");
  EXPECT_EQ(ErrorFrom("MemTotal: x kB\n"), R"(line 1: MemTotal: not a number (got "x"))");
  EXPECT_EQ(ErrorFrom("MemTotal: 12.5 kB\n"), R"(line 1: MemTotal: not a number (got "12.5"))");
  EXPECT_EQ(ErrorFrom("MemTotal: 1e3 kB\n"), R"(line 1: MemTotal: not a number (got "1e3"))");
  EXPECT_EQ(ErrorFrom("MemTotal: +5 kB\n"), R"(line 1: MemTotal: not a number (got "+5"))");
  EXPECT_EQ(ErrorFrom("MemTotal: -5 kB\n"), R"(line 1: MemTotal: negative (got "-5"))");
  EXPECT_EQ(ErrorFrom("MemTotal: 18446744073709551616 kB\n"),
            R"(line 1: MemTotal: out of range (got "18446744073709551616"))");
  EXPECT_EQ(ErrorFrom("MemTotal: 5kB\n"), R"(line 1: MemTotal: not a number (got "5kB"))");
  // node_exporter splits on whitespace only, and so does nines.
  EXPECT_EQ(ErrorFrom("MemTotal:5 kB\n"),
            R"(line 1: field name does not end in ':' (got "MemTotal:5"))");
}

TEST(ParseMeminfoTest, RejectsUnknownUnitsAndExtraFields) {
  EXPECT_EQ(ErrorFrom("MemTotal: 5 MB\n"), R"(line 1: MemTotal: unknown unit (got "MB"))");
  EXPECT_EQ(ErrorFrom("MemTotal: 5 kb\n"), R"(line 1: MemTotal: unknown unit (got "kb"))");
  EXPECT_EQ(ErrorFrom("MemTotal: 5 kB extra\n"),
            R"(line 1: MemTotal: unexpected data after the value (got "extra"))");
  EXPECT_EQ(ErrorFrom("MemTotal: 5 6 kB\n"), R"(line 1: MemTotal: unknown unit (got "6"))");
}

TEST(ParseMeminfoTest, RejectsRepeatedMetricNames) {
  EXPECT_EQ(ErrorFrom("MemTotal: 1 kB\nMemFree: 2 kB\nMemTotal: 3 kB\n"),
            R"(line 3: metric name "MemTotal_bytes" repeated (first from line 1))");
  // Two kernel names that make one metric name.
  EXPECT_EQ(ErrorFrom("Active_anon: 1 kB\n\nActive(anon): 2 kB\n"),
            R"(line 3: metric name "Active_anon_bytes" repeated (first from line 1))");
  EXPECT_EQ(ErrorFrom("X_bytes: 1\nX: 2 kB\n"),
            R"(line 2: metric name "X_bytes" repeated (first from line 1))");
  // The same name with and without a unit makes two metric names.
  EXPECT_THAT(ParseMeminfo("X: 1\nX: 2 kB\n"),
              ElementsAre(MeminfoField{"X", 1}, MeminfoField{"X_bytes", 2048}));
}

TEST(ParseMeminfoTest, RejectsBinaryJunk) {
  EXPECT_EQ(ErrorFrom(std::string_view("\x7f"
                                       "ELF\x02\x01\x01\x00\x00",
                                       9)),
            R"(line 1: field name does not end in ':' (got "\x7fELF\x02\x01\x01\x00\x00"))");
  EXPECT_EQ(ErrorFrom("MemTotal: 1 kB\nMemF"),
            R"(line 2: field name does not end in ':' (got "MemF"))");
}

// Random mixes of the file's own tokens and junk: every input either parses or throws
// std::runtime_error (run under ASan/UBSan in the sanitizer build).
TEST(ParseMeminfoTest, NeverCrashesOnJunk) {
  const std::vector<std::string> pieces = {"MemTotal:",
                                           " ",
                                           "  ",
                                           "\n",
                                           "1",
                                           "24684084",
                                           "kB",
                                           "Active(anon):",
                                           "(",
                                           ")",
                                           ":",
                                           "HugePages_Total:",
                                           "-",
                                           "18446744073709551616",
                                           std::string("\0\xff\x80", 3),
                                           "\t"};
  std::mt19937 random(42);  // fixed, so a failure reproduces
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    const auto count = random() % 12;
    for (unsigned i = 0; i < count; ++i) {
      text += pieces[random() % pieces.size()];
    }
    try {
      ParseMeminfo(text);
    } catch (const std::runtime_error&) {
    }
  }
}

TEST(MeminfoCollectorTest, MatchesGoldenFile) {
  nines::testing::ExpectGolden(Collect(NINES_FIXTURES_DIR "/proc"), "meminfo");
}

TEST(MeminfoCollectorTest, MatchesGoldenFileOnOldKernel) {
  nines::testing::ExpectGolden(Collect(NINES_FIXTURES_DIR "/old/proc"), "meminfo_old");
}

TEST(MeminfoCollectorTest, FamiliesAreGaugesInKernelOrderWithNodeExporterHelp) {
  const auto families = Collect(NINES_FIXTURES_DIR "/proc");
  ASSERT_FALSE(families.empty());
  EXPECT_EQ(families.front().name, "node_memory_MemTotal_bytes");
  EXPECT_EQ(families.front().help, "Memory information field MemTotal_bytes.");
  for (const auto& family : families) {
    EXPECT_EQ(family.type, prometheus::MetricType::Gauge) << family.name;
    ASSERT_EQ(family.metric.size(), 1u) << family.name;
    EXPECT_TRUE(family.metric[0].label.empty()) << family.name;
  }
}

TEST(MeminfoCollectorTest, NameEndingInLowercaseTotalIsACounterAsInNodeExporter) {
  const TempProcfs procfs("MemTotal: 1 kB\nFoo_total: 5\n");
  const auto families = Collect(procfs.path());
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[1].name, "node_memory_Foo_total");
  EXPECT_EQ(families[1].type, prometheus::MetricType::Counter);
  EXPECT_EQ(families[1].metric[0].counter.value, 5);
}

TEST(MeminfoCollectorTest, ParseErrorNamesThePath) {
  const TempProcfs procfs("MemTotal: 1 kB\nMemFree: lots kB\n");
  try {
    Collect(procfs.path());
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              procfs.path() + R"(/meminfo: line 2: MemFree: not a number (got "lots"))");
  }
}

TEST(MeminfoCollectorTest, MissingFileNamesThePath) {
  try {
    Collect(NINES_FIXTURES_DIR "/no-such-dir");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot read " NINES_FIXTURES_DIR "/no-such-dir/meminfo: No such file or directory");
  }
}

TEST(MeminfoCollectorTest, ReadsTheRunningKernel) {
  const auto families = Collect("/proc");
  ASSERT_GT(families.size(), 20u);
  EXPECT_EQ(families.front().name, "node_memory_MemTotal_bytes");
  EXPECT_GT(families.front().metric[0].gauge.value, 0);
}

}  // namespace
}  // namespace nines::collectors
