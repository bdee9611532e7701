// Tests of the pressure collector.
//
// tests/fixtures/proc/pressure/ is this machine's (Linux 6.18, where cpu also has a "full"
// line, since 5.13). tests/fixtures/old/proc (a 3.10 kernel) has no pressure directory: PSI
// arrived in 4.20. The 4.20-5.12 format, where cpu has only a "some" line, is written from
// knowledge of a 5.4 kernel in CpuWithoutFullLineAsOnLinux54 below.

#include "collectors/pressure.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
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

using internal::ParsePressure;
using internal::PressureTotals;
using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

// The message of the std::runtime_error ParsePressure(text) throws, or "(no error)".
std::string ErrorFrom(std::string_view text) {
  try {
    ParsePressure(text);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

// A procfs directory with the given pressure/ files, removed at the end of the test. `tag`
// tells apart the directories of one test.
class TempProcfs {
 public:
  TempProcfs(std::string_view tag, const std::map<std::string, std::string>& files)
      : dir_(std::filesystem::path(::testing::TempDir()) /
             ("pressure_test_" +
              std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
              std::string(tag))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "pressure");
    for (const auto& [name, text] : files) {
      std::ofstream(dir_ / "pressure" / name, std::ios::binary) << text;
    }
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
  NewPressureCollector(options)->Update(sink);
  return sink.Take();
}

// The message of the std::runtime_error Collect(procfs) throws, or "(no error)".
std::string CollectError(const std::string& procfs) {
  try {
    Collect(procfs);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

// name -> value of every sample.
std::map<std::string, double> Values(const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, double> values;
  for (const auto& family : families) {
    EXPECT_EQ(family.type, prometheus::MetricType::Counter) << family.name;
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    values[family.name] = family.metric.at(0).counter.value;
  }
  return values;
}

constexpr std::string_view kSomeAndFull =
    "some avg10=0.00 avg60=0.00 avg300=0.00 total=7442850\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=6324045\n";

TEST(ParsePressureTest, ParsesKernelText) {
  EXPECT_EQ(ParsePressure(kSomeAndFull), (PressureTotals{7442850, 6324045}));
  EXPECT_EQ(ParsePressure("some avg10=12.50 avg60=1.50 avg300=100.00 total=18446744073709551615\n"
                          "full avg10=0.00 avg60=0.00 avg300=0.00 total=0"),
            (PressureTotals{18446744073709551615u, 0}));
}

TEST(ParsePressureTest, CpuWithoutFullLineAsOnLinux54) {
  EXPECT_EQ(ParsePressure("some avg10=0.00 avg60=0.05 avg300=0.01 total=1394385\n"),
            (PressureTotals{1394385, std::nullopt}));
}

TEST(ParsePressureTest, SkipsUnknownAndBlankLines) {
  EXPECT_EQ(ParsePressure("\nnew avg10=1 total=x\n  \nfull total=2\n\x01\xff junk\nsome total=1\n"),
            (PressureTotals{1, 2}));
  EXPECT_EQ(ParsePressure(""), (PressureTotals{}));
  EXPECT_EQ(ParsePressure("something total=1\nsome: total=2\n"), (PressureTotals{}));
}

TEST(ParsePressureTest, ReadsTotalWhereverItIs) {
  EXPECT_EQ(ParsePressure("some total=5 avg10=0.00\n"), (PressureTotals{5, std::nullopt}));
  EXPECT_EQ(ParsePressure("full\tavg10=0.00  avg60=0.00 avg300=0.00 total=9 future=1\n"),
            (PressureTotals{std::nullopt, 9}));
}

TEST(ParsePressureTest, RejectsMissingTotal) {
  EXPECT_EQ(ErrorFrom("some avg10=0.00 avg60=0.00 avg300=0.00\n"),
            R"(line 1: some: no "total=" field (got "some avg10=0.00 avg60=0.00 avg300=0.00"))");
  EXPECT_EQ(ErrorFrom("some total=1\nfull\n"), R"(line 2: full: no "total=" field (got "full"))");
  EXPECT_EQ(
      ErrorFrom("some avg10=0.00 avg60=0.00 avg300=0.00 tot"),
      R"(line 1: some: no "total=" field (got "some avg10=0.00 avg60=0.00 avg300=0.00 tot"))");
}

TEST(ParsePressureTest, RejectsBadTotals) {
  EXPECT_EQ(ErrorFrom("some total=\n"), R"(line 1: some: total: not a number (got ""))");
  EXPECT_EQ(ErrorFrom("some total=x\n"), R"(line 1: some: total: not a number (got "x"))");
  EXPECT_EQ(ErrorFrom("full total=1.5\n"), R"(line 1: full: total: not a number (got "1.5"))");
  EXPECT_EQ(ErrorFrom("full total=-1\n"), R"(line 1: full: total: negative (got "-1"))");
  EXPECT_EQ(ErrorFrom("some total=18446744073709551616\n"),
            R"(line 1: some: total: out of range (got "18446744073709551616"))");
  EXPECT_EQ(ErrorFrom(std::string_view("some total=1\xff\x00\n", 15)),
            R"(line 1: some: total: not a number (got "1\xff\x00"))");
}

TEST(ParsePressureTest, RejectsRepeatedLinesAndFields) {
  EXPECT_EQ(ErrorFrom("some total=1\nsome total=2\n"), "line 2: some: repeated");
  EXPECT_EQ(ErrorFrom("full total=1\nsome total=1\nfull total=2\n"), "line 3: full: repeated");
  EXPECT_EQ(ErrorFrom("some total=1 total=2\n"), R"(line 1: some: repeated "total=" field)");
}

// Random mixes of the file's own tokens and junk: every input either parses or throws
// std::runtime_error (run under ASan/UBSan in the sanitizer build).
TEST(ParsePressureTest, NeverCrashesOnJunk) {
  const std::vector<std::string> pieces = {"some",
                                           "full",
                                           " ",
                                           "\n",
                                           "avg10=0.00",
                                           "total=",
                                           "total=7442850",
                                           "=",
                                           "1",
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
      ParsePressure(text);
    } catch (const std::runtime_error&) {
    }
  }
}

TEST(PressureCollectorTest, MatchesGoldenFile) {
  nines::testing::ExpectGolden(Collect(NINES_FIXTURES_DIR "/proc"), "pressure");
}

TEST(PressureCollectorTest, NoPressureDirectoryOnOldKernelIsNotAnError) {
  const auto families = Collect(NINES_FIXTURES_DIR "/old/proc");
  EXPECT_THAT(families, IsEmpty());
  nines::testing::ExpectGolden(families, "pressure_old");
}

TEST(PressureCollectorTest, IgnoresCpuFullLineAsNodeExporter15) {
  const TempProcfs procfs("procfs", {{"cpu", "some total=1000000\nfull total=2000000\n"},
                                     {"io", std::string(kSomeAndFull)},
                                     {"memory", "some total=1\nfull total=999999999999\n"}});
  EXPECT_THAT(
      Values(Collect(procfs.path())),
      ElementsAre(Pair("node_pressure_cpu_waiting_seconds_total", DoubleEq(1.0)),
                  Pair("node_pressure_io_stalled_seconds_total", DoubleEq(6.324045)),
                  Pair("node_pressure_io_waiting_seconds_total", DoubleEq(7.44285)),
                  Pair("node_pressure_memory_stalled_seconds_total", DoubleEq(999999.999999)),
                  Pair("node_pressure_memory_waiting_seconds_total", DoubleEq(1e-6))));
}

TEST(PressureCollectorTest, CpuWithoutFullLineAsOnLinux54) {
  const TempProcfs procfs("procfs",
                          {{"cpu", "some avg10=0.00 avg60=0.05 avg300=0.01 total=1394385\n"},
                           {"io", std::string(kSomeAndFull)},
                           {"memory", std::string(kSomeAndFull)}});
  EXPECT_EQ(Values(Collect(procfs.path())).at("node_pressure_cpu_waiting_seconds_total"),
            1394385 / 1000.0 / 1000.0);
}

TEST(PressureCollectorTest, SkipsOnlyAMissingFile) {
  const TempProcfs procfs("procfs", {{"cpu", "some total=5000000\n"}});
  EXPECT_THAT(Values(Collect(procfs.path())),
              ElementsAre(Pair("node_pressure_cpu_waiting_seconds_total", DoubleEq(5.0))));
}

TEST(PressureCollectorTest, FailsOnMissingLines) {
  const TempProcfs no_full(
      "no_full",
      {{"cpu", "some total=1\n"}, {"io", "some total=1\n"}, {"memory", std::string(kSomeAndFull)}});
  EXPECT_EQ(CollectError(no_full.path()), no_full.path() + "/pressure/io: no \"full\" line");
  const TempProcfs no_some("no_some", {{"cpu", "full total=1\n"}});
  EXPECT_EQ(CollectError(no_some.path()), no_some.path() + "/pressure/cpu: no \"some\" line");
  const TempProcfs empty("empty", {{"cpu", ""}});
  EXPECT_EQ(CollectError(empty.path()), empty.path() + "/pressure/cpu: no \"some\" line");
}

TEST(PressureCollectorTest, ParseErrorNamesThePath) {
  const TempProcfs procfs("procfs", {{"cpu", "some total=1\n"},
                                     {"io", std::string(kSomeAndFull)},
                                     {"memory", "some total=1\nfull total=oops\n"}});
  EXPECT_EQ(CollectError(procfs.path()),
            procfs.path() + R"(/pressure/memory: line 2: full: total: not a number (got "oops"))");
}

TEST(PressureCollectorTest, UnreadablePressurePathIsAnError) {
  // /proc/pressure being a file is not a kernel without PSI.
  const std::filesystem::path procfs =
      std::filesystem::path(::testing::TempDir()) / "pressure_test_file";
  std::filesystem::create_directories(procfs);
  std::ofstream(procfs / "pressure") << "x";
  EXPECT_EQ(CollectError(procfs.string()),
            "cannot read " + procfs.string() + "/pressure/cpu: Not a directory");
  std::filesystem::remove_all(procfs);
}

TEST(PressureCollectorTest, ReadsTheRunningKernel) {
  if (!std::filesystem::exists("/proc/pressure/cpu")) {
    GTEST_SKIP() << "this kernel has no PSI";
  }
  EXPECT_EQ(Collect("/proc").size(), 5u);
}

}  // namespace
}  // namespace nines::collectors
