// Tests of the loadavg collector. /proc/loadavg has had the same format since Linux 2.6
// ("%lu.%02lu %lu.%02lu %lu.%02lu %u/%u %d\n"), so there is no old-kernel fixture.

#include "collectors/loadavg.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::LoadAverage;
using internal::ParseLoadavg;
using ::testing::StartsWith;

// The message of the std::runtime_error `parse(text)` throws, or "(no error)".
std::string ErrorFrom(std::string_view text) {
  try {
    ParseLoadavg(text);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ParseLoadavgTest, ParsesKernelLine) {
  EXPECT_EQ(ParseLoadavg("0.05 0.22 0.49 1/115 20048\n"), (LoadAverage{0.05, 0.22, 0.49}));
}

TEST(ParseLoadavgTest, ParsesLargeLoadsAndOnlyThreeFields) {
  EXPECT_EQ(ParseLoadavg("1234.56 0.00 100.10"), (LoadAverage{1234.56, 0, 100.1}));
  // Whitespace other than single spaces, and anything after the third field, is accepted.
  EXPECT_EQ(ParseLoadavg("  1.00\t2.00   3.00 garbage \x01\n"), (LoadAverage{1, 2, 3}));
  EXPECT_EQ(ParseLoadavg("1 2 3"), (LoadAverage{1, 2, 3}));
}

TEST(ParseLoadavgTest, RejectsTruncatedText) {
  EXPECT_EQ(ErrorFrom(""), R"(expected at least 3 fields, got 0 (got ""))");
  EXPECT_EQ(ErrorFrom("\n"), R"(expected at least 3 fields, got 0 (got "\x0a"))");
  EXPECT_EQ(ErrorFrom("0.05 0.22"), R"(expected at least 3 fields, got 2 (got "0.05 0.22"))");
  EXPECT_EQ(ErrorFrom("0.05\n"), R"(expected at least 3 fields, got 1 (got "0.05\x0a"))");
}

TEST(ParseLoadavgTest, RejectsGarbageLoads) {
  EXPECT_EQ(ErrorFrom("x 0.22 0.49"), R"(field 1 (load1): not a number (got "x"))");
  EXPECT_EQ(ErrorFrom("0.05 0,22 0.49"), R"(field 2 (load5): not a number (got "0,22"))");
  EXPECT_EQ(ErrorFrom("0.05 0.22 0.49x"), R"(field 3 (load15): not a number (got "0.49x"))");
  EXPECT_EQ(ErrorFrom("1e3 0.22 0.49"), R"(field 1 (load1): not a number (got "1e3"))");
  EXPECT_EQ(ErrorFrom("0x1p3 0.22 0.49"), R"(field 1 (load1): not a number (got "0x1p3"))");
  EXPECT_EQ(ErrorFrom("+1 0.22 0.49"), R"(field 1 (load1): not a number (got "+1"))");
  EXPECT_EQ(ErrorFrom(". 0.22 0.49"), R"(field 1 (load1): not a number (got "."))");
  EXPECT_EQ(ErrorFrom(std::string_view("\xff\x00 1 2", 6)),
            R"(field 1 (load1): not a number (got "\xff\x00"))");
}

TEST(ParseLoadavgTest, RejectsNegativeAndNonFiniteLoads) {
  EXPECT_EQ(ErrorFrom("-1.00 0.22 0.49"), R"(field 1 (load1): negative (got "-1.00"))");
  EXPECT_EQ(ErrorFrom("-0.00 0.22 0.49"), R"(field 1 (load1): negative (got "-0.00"))");
  EXPECT_EQ(ErrorFrom("0.05 nan 0.49"), R"(field 2 (load5): not a finite number (got "nan"))");
  EXPECT_EQ(ErrorFrom("0.05 0.22 inf"), R"(field 3 (load15): not a finite number (got "inf"))");
  EXPECT_EQ(ErrorFrom("0.05 0.22 -Infinity"),
            R"(field 3 (load15): not a finite number (got "-Infinity"))");
  EXPECT_EQ(
      ErrorFrom("1" + std::string(400, '0') + " 0 0"),
      std::string(R"(field 1 (load1): out of range (got "1)") + std::string(63, '0') + R"(..."))");
}

// Random mixes of the file's own tokens and junk: every input either parses or throws
// std::runtime_error (run under ASan/UBSan in the sanitizer build).
TEST(ParseLoadavgTest, NeverCrashesOnJunk) {
  const std::vector<std::string> pieces = {"0.05",
                                           " ",
                                           "1.",
                                           ".5",
                                           "\n",
                                           "1/115",
                                           "20048",
                                           "-",
                                           "e",
                                           "inf",
                                           "nan",
                                           "x",
                                           std::string("\0\xff\x80", 3),
                                           "1e999",
                                           "\t"};
  std::mt19937 random(42);  // fixed, so a failure reproduces
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    const auto count = random() % 12;
    for (unsigned i = 0; i < count; ++i) {
      text += pieces[random() % pieces.size()];
    }
    try {
      ParseLoadavg(text);
    } catch (const std::runtime_error&) {
    }
  }
}

TEST(LoadavgCollectorTest, MatchesGoldenFile) {
  CollectorOptions options;
  options.paths.procfs = NINES_FIXTURES_DIR "/proc";
  MetricSink sink;
  NewLoadavgCollector(options)->Update(sink);
  nines::testing::ExpectGolden(sink.Take(), "loadavg");
}

TEST(LoadavgCollectorTest, MissingFileNamesThePath) {
  CollectorOptions options;
  options.paths.procfs = NINES_FIXTURES_DIR "/no-such-dir";
  MetricSink sink;
  try {
    NewLoadavgCollector(options)->Update(sink);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot read " NINES_FIXTURES_DIR "/no-such-dir/loadavg: No such file or directory");
  }
}

TEST(LoadavgCollectorTest, ParseErrorNamesThePath) {
  const std::filesystem::path procfs =
      std::filesystem::path(::testing::TempDir()) / "loadavg_test_bad_proc";
  std::filesystem::create_directories(procfs);
  std::ofstream(procfs / "loadavg") << "0.05 zzz 0.49 1/115 20048\n";
  CollectorOptions options;
  options.paths.procfs = procfs.string();
  MetricSink sink;
  try {
    NewLoadavgCollector(options)->Update(sink);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              (procfs / "loadavg").string() + R"(: field 2 (load5): not a number (got "zzz"))");
  }
  std::filesystem::remove_all(procfs);
}

TEST(LoadavgCollectorTest, ReadsTheRunningKernel) {
  MetricSink sink;
  NewLoadavgCollector(CollectorOptions{})->Update(sink);
  const auto families = sink.Take();
  ASSERT_EQ(families.size(), 3u);
  EXPECT_EQ(families[0].name, "node_load1");
  EXPECT_EQ(families[1].name, "node_load5");
  EXPECT_EQ(families[2].name, "node_load15");
  EXPECT_THAT(families[0].help, StartsWith("1m"));
}

}  // namespace
}  // namespace nines::collectors
