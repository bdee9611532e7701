#include "collectors/process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "prometheus/metric_family.h"
#include "prometheus/metric_type.h"

namespace nines::collectors {
namespace {

using internal::kUnlimited;
using internal::ParseBootTime;
using internal::ParseMaxOpenFiles;
using internal::ParseProcSelfStat;
using internal::ProcSelfStat;
using prometheus::MetricFamily;
using prometheus::MetricType;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

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

// A self/stat line shaped like the kernel's (52 fields), with `replace` overriding fields
// by their proc(5) number (3 and up) and the line ending after field `last_field`.
std::string StatLine(const std::map<int, std::string>& replace = {}, int last_field = 52,
                     std::string_view comm = "(nines)") {
  const std::map<int, std::string> defaults = {{3, "S"},       {14, "1234"},      {15, "566"},
                                               {22, "987654"}, {23, "123456789"}, {24, "4321"}};
  std::string line = "4242 " + std::string(comm);
  for (int n = 3; n <= last_field; ++n) {
    std::string value = "0";
    if (auto it = replace.find(n); it != replace.end()) {
      value = it->second;
    } else if (auto dit = defaults.find(n); dit != defaults.end()) {
      value = dit->second;
    }
    line += " " + value;
  }
  return line + "\n";
}

// ---------------------------------------------------------------------------------------
// ParseProcSelfStat

TEST(ParseProcSelfStatTest, ParsesKernelLine) {
  const ProcSelfStat stat = ParseProcSelfStat(
      "3681 (cat) R 3676 3676 3160 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 104167 3133440 382 "
      "18446744073709551615 94321839251456 94321839271337 140733338289456 0 0 0 0 0 0 0 0 0 17 "
      "0 0 0 0 0 0 94321839287344 94321839288960 94322512171008 140733338290818 "
      "140733338290838 140733338290838 140733338292203 0\n");
  EXPECT_EQ(stat.utime_ticks, 7u);
  EXPECT_EQ(stat.stime_ticks, 3u);
  EXPECT_EQ(stat.starttime_ticks, 104167u);
  EXPECT_EQ(stat.vsize_bytes, 3133440u);
  EXPECT_EQ(stat.rss_pages, 382u);
}

TEST(ParseProcSelfStatTest, ParsesLineWithoutTrailingNewlineOrExtraFields) {
  std::string line = StatLine({}, 24);
  line.pop_back();
  const ProcSelfStat stat = ParseProcSelfStat(line);
  EXPECT_EQ(stat.utime_ticks, 1234u);
  EXPECT_EQ(stat.rss_pages, 4321u);
}

TEST(ParseProcSelfStatTest, CommWithSpacesAndParentheses) {
  for (std::string_view comm :
       {"(my (weird) proc)", "(a) 1 2 3)", "())", "(( ) ))", "(1 2 3 4 5 6 7 8 9 10 11 12)"}) {
    SCOPED_TRACE(comm);
    const ProcSelfStat stat = ParseProcSelfStat(StatLine({}, 52, comm));
    EXPECT_EQ(stat.utime_ticks, 1234u);
    EXPECT_EQ(stat.stime_ticks, 566u);
    EXPECT_EQ(stat.starttime_ticks, 987654u);
    EXPECT_EQ(stat.vsize_bytes, 123456789u);
    EXPECT_EQ(stat.rss_pages, 4321u);
  }
}

TEST(ParseProcSelfStatTest, AcceptsLargestUint64) {
  const ProcSelfStat stat = ParseProcSelfStat(StatLine({{23, "18446744073709551615"}}));
  EXPECT_EQ(stat.vsize_bytes, 18446744073709551615u);
}

TEST(ParseProcSelfStatTest, RejectsEmpty) {
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, ""), "self/stat: empty");
}

TEST(ParseProcSelfStatTest, RejectsMissingParentheses) {
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, "1234 (bash"),
            R"(self/stat: no ')' closing the comm field (got "1234 (bash"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, "hello world\n"),
            R"(self/stat: no ')' closing the comm field (got "hello world\x0a"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, "garbage) S 1"),
            R"(self/stat: no '(' opening the comm field (got "garbage) S 1"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, ") ("),
            R"(self/stat: no '(' opening the comm field (got ") ("))");
}

TEST(ParseProcSelfStatTest, EscapesAndShortensBadValuesInMessages) {
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, std::string_view("\x01\"\\\0\xff", 5)),
            R"(self/stat: no ')' closing the comm field (got "\x01\"\\\x00\xff"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, std::string(100, 'x')),
            "self/stat: no ')' closing the comm field (got \"" + std::string(64, 'x') + "...\")");
}

TEST(ParseProcSelfStatTest, RejectsTruncatedLines) {
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, "1 (x)"),
            "self/stat: field 14 (utime): missing (line has 2 fields)");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, "1 (x)\n"),
            "self/stat: field 14 (utime): missing (line has 2 fields)");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({}, 13)),
            "self/stat: field 14 (utime): missing (line has 13 fields)");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({}, 14)),
            "self/stat: field 15 (stime): missing (line has 14 fields)");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({}, 21)),
            "self/stat: field 22 (starttime): missing (line has 21 fields)");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({}, 23)),
            "self/stat: field 24 (rss): missing (line has 23 fields)");
}

TEST(ParseProcSelfStatTest, RejectsNonNumericFields) {
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{14, "abc"}})),
            R"(self/stat: field 14 (utime): not a number (got "abc"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{15, "12abc"}})),
            R"(self/stat: field 15 (stime): not a number (got "12abc"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{22, "+5"}})),
            R"(self/stat: field 22 (starttime): not a number (got "+5"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{23, "1.5"}})),
            R"(self/stat: field 23 (vsize): not a number (got "1.5"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{24, "-"}})),
            R"(self/stat: field 24 (rss): not a number (got "-"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{24, "--5"}})),
            R"(self/stat: field 24 (rss): not a number (got "--5"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{24, "0x10"}})),
            R"(self/stat: field 24 (rss): not a number (got "0x10"))");
}

TEST(ParseProcSelfStatTest, RejectsNegativeFields) {
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{24, "-5"}})),
            R"(self/stat: field 24 (rss): negative (got "-5"))");
}

TEST(ParseProcSelfStatTest, RejectsOverflow) {
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{23, "18446744073709551616"}})),
            R"(self/stat: field 23 (vsize): out of range (got "18446744073709551616"))");
  EXPECT_EQ(ErrorFrom(ParseProcSelfStat, StatLine({{14, "99999999999999999999999999"}})),
            R"(self/stat: field 14 (utime): out of range (got "99999999999999999999999999"))");
}

// ---------------------------------------------------------------------------------------
// ParseMaxOpenFiles

// Copied from a Debian 12 host's /proc/self/limits, trailing spaces included.
constexpr std::string_view kRealLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max file size             unlimited            unlimited            bytes     \n"
    "Max data size             unlimited            unlimited            bytes     \n"
    "Max stack size            8388608              unlimited            bytes     \n"
    "Max core file size        0                    unlimited            bytes     \n"
    "Max resident set          unlimited            unlimited            bytes     \n"
    "Max processes             96365                96365                processes \n"
    "Max open files            1024                 524288               files     \n"
    "Max locked memory         8388608              8388608              bytes     \n"
    "Max address space         unlimited            unlimited            bytes     \n"
    "Max file locks            unlimited            unlimited            locks     \n"
    "Max pending signals       96365                96365                signals   \n"
    "Max msgqueue size         819200               819200               bytes     \n"
    "Max nice priority         0                    0                    \n"
    "Max realtime priority     0                    0                    \n"
    "Max realtime timeout      unlimited            unlimited            us        \n";

TEST(ParseMaxOpenFilesTest, ParsesRealText) { EXPECT_EQ(ParseMaxOpenFiles(kRealLimits), 1024u); }

TEST(ParseMaxOpenFilesTest, ParsesUnlimited) {
  EXPECT_EQ(ParseMaxOpenFiles(
                "Limit                     Soft Limit           Hard Limit           Units     \n"
                "Max open files            unlimited            unlimited            files     \n"),
            kUnlimited);
}

TEST(ParseMaxOpenFilesTest, AgreesWithGetrlimitOnThisProcess) {
  std::ifstream file("/proc/self/limits");
  ASSERT_TRUE(file) << "cannot open /proc/self/limits";
  std::stringstream text;
  text << file.rdbuf();
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const std::uint64_t want = limit.rlim_cur == RLIM_INFINITY ? kUnlimited : limit.rlim_cur;
  EXPECT_EQ(ParseMaxOpenFiles(text.str()), want);
}

TEST(ParseMaxOpenFilesTest, RejectsMissingLine) {
  EXPECT_EQ(ErrorFrom(ParseMaxOpenFiles, ""), R"(self/limits: no "Max open files" line)");
  EXPECT_EQ(ErrorFrom(ParseMaxOpenFiles, "Max open filesystems 5 5\nMax processes 1 1\n"),
            R"(self/limits: no "Max open files" line)");
  EXPECT_EQ(ErrorFrom(ParseMaxOpenFiles, "\x01garbage\n\n"),
            R"(self/limits: no "Max open files" line)");
}

TEST(ParseMaxOpenFilesTest, RejectsMissingSoftLimit) {
  EXPECT_EQ(ErrorFrom(ParseMaxOpenFiles, "Max open files"),
            R"(self/limits: "Max open files" soft limit: missing)");
  EXPECT_EQ(ErrorFrom(ParseMaxOpenFiles, "Max open files      \nMax processes 1 1\n"),
            R"(self/limits: "Max open files" soft limit: missing)");
}

TEST(ParseMaxOpenFilesTest, RejectsBadSoftLimit) {
  EXPECT_EQ(ErrorFrom(ParseMaxOpenFiles, "Max open files  lots  4096  files\n"),
            R"(self/limits: "Max open files" soft limit: not a number (got "lots"))");
  EXPECT_EQ(ErrorFrom(ParseMaxOpenFiles, "Max open files  Unlimited  4096  files\n"),
            R"(self/limits: "Max open files" soft limit: not a number (got "Unlimited"))");
  EXPECT_EQ(ErrorFrom(ParseMaxOpenFiles, "Max open files  -1  4096  files\n"),
            R"(self/limits: "Max open files" soft limit: negative (got "-1"))");
  EXPECT_EQ(
      ErrorFrom(ParseMaxOpenFiles, "Max open files  18446744073709551616  4096  files\n"),
      R"(self/limits: "Max open files" soft limit: out of range (got "18446744073709551616"))");
}

// ---------------------------------------------------------------------------------------
// ParseBootTime

TEST(ParseBootTimeTest, ParsesProcStat) {
  EXPECT_EQ(ParseBootTime("cpu  1 2 3 4 5 6 7 0 0 0\n"
                          "intr 199292200 34 9 0 0\n"
                          "ctxt 201208822\n"
                          "btime 1700000000\n"
                          "processes 1304157\n"),
            1700000000u);
  EXPECT_EQ(ParseBootTime("btime 1700000000"), 1700000000u);
}

TEST(ParseBootTimeTest, RejectsMissingLine) {
  EXPECT_EQ(ErrorFrom(ParseBootTime, ""), R"(stat: no "btime" line)");
  EXPECT_EQ(ErrorFrom(ParseBootTime, "cpu 1 2 3\nbtimex 5\nxbtime 5\n"),
            R"(stat: no "btime" line)");
}

TEST(ParseBootTimeTest, RejectsMalformedLine) {
  EXPECT_EQ(ErrorFrom(ParseBootTime, "ctxt 1\nbtime\n"), "stat: btime: missing value");
  EXPECT_EQ(ErrorFrom(ParseBootTime, "btime abc\n"), R"(stat: btime: not a number (got "abc"))");
  EXPECT_EQ(ErrorFrom(ParseBootTime, "btime -17\n"), R"(stat: btime: negative (got "-17"))");
  EXPECT_EQ(ErrorFrom(ParseBootTime, "btime 99999999999999999999\n"),
            R"(stat: btime: out of range (got "99999999999999999999"))");
  EXPECT_EQ(ErrorFrom(ParseBootTime, "btime 1700000000 7\n"),
            R"(stat: btime: unexpected data after the value (got "7"))");
}

// ---------------------------------------------------------------------------------------
// ProcessCollector

std::vector<std::string> Names(const std::vector<MetricFamily>& families) {
  std::vector<std::string> names;
  names.reserve(families.size());
  for (const MetricFamily& family : families) {
    names.push_back(family.name);
  }
  return names;
}

// The one unlabelled sample of family `name`; fails the test when it is absent.
double Value(const std::vector<MetricFamily>& families, std::string_view name) {
  for (const MetricFamily& family : families) {
    if (family.name != name) {
      continue;
    }
    EXPECT_EQ(family.metric.size(), 1u) << name;
    if (family.metric.empty()) {
      return 0;
    }
    EXPECT_THAT(family.metric[0].label, IsEmpty()) << name;
    return family.type == MetricType::Counter ? family.metric[0].counter.value
                                              : family.metric[0].gauge.value;
  }
  ADD_FAILURE() << "no family " << name;
  return 0;
}

double ClockTicks() { return static_cast<double>(sysconf(_SC_CLK_TCK)); }
double PageSize() { return static_cast<double>(sysconf(_SC_PAGESIZE)); }

TEST(ProcessCollectorTest, CollectsFixtureTree) {
  const std::vector<MetricFamily> families = ProcessCollector(NINES_FIXTURES_DIR "/proc").Collect();

  ASSERT_THAT(Names(families),
              ElementsAre("process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                          "process_virtual_memory_bytes", "process_resident_memory_bytes",
                          "process_start_time_seconds"));
  const std::vector<std::pair<MetricType, std::string>> want_type_and_help = {
      {MetricType::Counter, "Total user and system CPU time spent in seconds."},
      {MetricType::Gauge, "Number of open file descriptors."},
      {MetricType::Gauge, "Maximum number of open file descriptors."},
      {MetricType::Gauge, "Virtual memory size in bytes."},
      {MetricType::Gauge, "Resident memory size in bytes."},
      {MetricType::Gauge, "Start time of the process since unix epoch in seconds."},
  };
  for (std::size_t i = 0; i < families.size(); ++i) {
    EXPECT_EQ(families[i].type, want_type_and_help[i].first) << families[i].name;
    EXPECT_EQ(families[i].help, want_type_and_help[i].second) << families[i].name;
  }

  // fixtures/proc/self/stat: utime 1234, stime 566, starttime 987654, vsize 123456789,
  // rss 4321; fixtures/proc/stat: btime 1700000000; self/limits: soft 1024; self/fd: 4.
  EXPECT_DOUBLE_EQ(Value(families, "process_cpu_seconds_total"), (1234.0 + 566.0) / ClockTicks());
  EXPECT_DOUBLE_EQ(Value(families, "process_open_fds"), 4.0);
  EXPECT_DOUBLE_EQ(Value(families, "process_max_fds"), 1024.0);
  EXPECT_DOUBLE_EQ(Value(families, "process_virtual_memory_bytes"), 123456789.0);
  EXPECT_DOUBLE_EQ(Value(families, "process_resident_memory_bytes"), 4321.0 * PageSize());
  EXPECT_DOUBLE_EQ(Value(families, "process_start_time_seconds"),
                   1700000000.0 + 987654.0 / ClockTicks());
}

TEST(ProcessCollectorTest, CollectsRealProc) {
  const std::vector<MetricFamily> families = ProcessCollector().Collect();

  ASSERT_THAT(Names(families),
              ElementsAre("process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                          "process_virtual_memory_bytes", "process_resident_memory_bytes",
                          "process_start_time_seconds"));
  EXPECT_GE(Value(families, "process_cpu_seconds_total"), 0.0);
  EXPECT_GT(Value(families, "process_open_fds"), 0.0);
  EXPECT_GT(Value(families, "process_max_fds"), 0.0);
  EXPECT_GT(Value(families, "process_resident_memory_bytes"), 0.0);
  EXPECT_GE(Value(families, "process_virtual_memory_bytes"),
            Value(families, "process_resident_memory_bytes"));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = Value(families, "process_start_time_seconds");
  EXPECT_GT(start, now - 24 * 60 * 60);
  // btime is rounded to the second and drifts with clock adjustments.
  EXPECT_LT(start, now + 5);
}

TEST(ProcessCollectorTest, NonexistentProcfsGivesNoFamilies) {
  std::vector<MetricFamily> families;
  EXPECT_NO_THROW(families = ProcessCollector("/nonexistent/nines/proc").Collect());
  EXPECT_THAT(families, IsEmpty());
}

TEST(ProcessCollectorTest, ConcurrentCollectsAgree) {
  const ProcessCollector collector(NINES_FIXTURES_DIR "/proc");
  constexpr int kThreads = 8;
  std::vector<std::vector<MetricFamily>> results(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&collector, &results, i] {
      for (int j = 0; j < 50; ++j) {
        results[static_cast<std::size_t>(i)] = collector.Collect();
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  for (const std::vector<MetricFamily>& result : results) {
    ASSERT_EQ(result.size(), 6u);
    EXPECT_DOUBLE_EQ(Value(result, "process_open_fds"), 4.0);
    EXPECT_DOUBLE_EQ(Value(result, "process_max_fds"), 1024.0);
  }
}

// A scratch procfs tree, built per test from the fixture tree and then damaged.
class BrokenProcfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "nines-proc-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
    root_ = pattern;
    std::filesystem::copy(NINES_FIXTURES_DIR "/proc", root_,
                          std::filesystem::copy_options::recursive);
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  void Write(const std::string& relative, std::string_view contents) const {
    std::ofstream file(root_ / relative, std::ios::binary | std::ios::trunc);
    file << contents;
    ASSERT_TRUE(file) << "cannot write " << (root_ / relative);
  }

  std::filesystem::path root_;
};

TEST_F(BrokenProcfsTest, BadSelfStatKeepsOtherSources) {
  Write("self/stat", "4242 (nines) S 1 2 3\n");
  const std::vector<MetricFamily> families = ProcessCollector(root_.string()).Collect();
  EXPECT_THAT(Names(families), ElementsAre("process_open_fds", "process_max_fds"));
  EXPECT_DOUBLE_EQ(Value(families, "process_open_fds"), 4.0);
  EXPECT_DOUBLE_EQ(Value(families, "process_max_fds"), 1024.0);
}

TEST_F(BrokenProcfsTest, MissingProcStatOmitsOnlyStartTime) {
  std::filesystem::remove(root_ / "stat");
  const std::vector<MetricFamily> families = ProcessCollector(root_.string()).Collect();
  EXPECT_THAT(Names(families),
              ElementsAre("process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                          "process_virtual_memory_bytes", "process_resident_memory_bytes"));
}

TEST_F(BrokenProcfsTest, BadLimitsAndMissingFdDirOmitOnlyThoseMetrics) {
  Write("self/limits", "Max open files  lots  4096  files\n");
  std::filesystem::remove_all(root_ / "self" / "fd");
  const std::vector<MetricFamily> families = ProcessCollector(root_.string()).Collect();
  EXPECT_THAT(Names(families),
              ElementsAre("process_cpu_seconds_total", "process_virtual_memory_bytes",
                          "process_resident_memory_bytes", "process_start_time_seconds"));
}

TEST_F(BrokenProcfsTest, UnlimitedMaxFdsIsReportedAsLargestUint64) {
  Write("self/limits",
        "Max open files            unlimited            unlimited            files\n");
  const std::vector<MetricFamily> families = ProcessCollector(root_.string()).Collect();
  EXPECT_DOUBLE_EQ(Value(families, "process_max_fds"), 18446744073709551615.0);
}

}  // namespace
}  // namespace nines::collectors
