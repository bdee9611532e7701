// Tests of the time collector.
//
// tests/fixtures/sys/devices/system/clocksource/ is this machine's (a KVM guest on Linux
// 6.18: "tsc kvm-clock"). tests/fixtures/old/sys/... is written from knowledge of a bare-metal
// 3.10 kernel ("tsc hpet acpi_pm"); the format has not changed, only the names listed.

#include "collectors/time.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "prometheus/metric_type.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::GoUsesUtc;
using internal::ParseAvailableClocksources;
using internal::ParseCurrentClocksource;
using internal::TimeZone;
using internal::UnixSeconds;
using internal::ZoneAt;
using std::chrono::system_clock;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// 2024-07-03T09:46:40.123456789Z: summer time in Europe and America.
constexpr system_clock::time_point kSummer{std::chrono::duration_cast<system_clock::duration>(
    std::chrono::nanoseconds(1720000000123456789))};
// 2024-01-15T00:00:00Z.
constexpr system_clock::time_point kWinter{std::chrono::seconds(1705276800)};

// Sets TZ for the test (and makes the C library read it), restoring it afterwards.
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = std::getenv("TZ"); old != nullptr) {
      old_ = old;
    }
    Set(tz);
  }
  ~ScopedTz() { Set(old_ ? old_->c_str() : nullptr); }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

 private:
  static void Set(const char* tz) {
    if (tz == nullptr) {
      ::unsetenv("TZ");
    } else {
      ::setenv("TZ", tz, 1);
    }
    ::tzset();
  }

  std::optional<std::string> old_;
};

bool HaveZoneinfo(const char* zone) {
  return std::filesystem::is_regular_file(std::string("/usr/share/zoneinfo/") + zone);
}

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

// A sysfs directory removed at the end of the test; Add() writes a file below it.
class TempSysfs {
 public:
  TempSysfs()
      : dir_(std::filesystem::path(::testing::TempDir()) /
             ("time_test_" +
              std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempSysfs() { std::filesystem::remove_all(dir_); }
  TempSysfs(const TempSysfs&) = delete;
  TempSysfs& operator=(const TempSysfs&) = delete;

  void Add(const std::string& relative, std::string_view text) const {
    const std::filesystem::path path = dir_ / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }
  // Adds clocksource directory `name` with its two files.
  void AddClocksource(const std::string& name, std::string_view available,
                      std::string_view current) const {
    Add("devices/system/clocksource/" + name + "/available_clocksource", available);
    Add("devices/system/clocksource/" + name + "/current_clocksource", current);
  }
  std::string path() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

std::vector<prometheus::MetricFamily> Collect(const std::string& sysfs,
                                              system_clock::time_point now = kSummer) {
  CollectorOptions options;
  options.paths.sysfs = sysfs;
  options.now = [now] { return now; };
  MetricSink sink;
  NewTimeCollector(options)->Update(sink);
  return sink.Take();
}

// The message of the std::runtime_error Collect(sysfs) throws, or "(no error)".
std::string CollectError(const std::string& sysfs) {
  try {
    Collect(sysfs);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

// "name{label=value,...} value" for every sample, in the sink's order.
std::vector<std::string> Samples(const std::vector<prometheus::MetricFamily>& families) {
  std::vector<std::string> samples;
  for (const auto& family : families) {
    for (const auto& metric : family.metric) {
      std::string sample = family.name + "{";
      for (const auto& label : metric.label) {
        sample += label.name + "=" + label.value + ",";
      }
      sample += "} " + std::to_string(metric.gauge.value);
      samples.push_back(sample);
    }
  }
  return samples;
}

TEST(UnixSecondsTest, ComputesAsNodeExporter) {
  EXPECT_EQ(UnixSeconds(kSummer), static_cast<double>(1720000000123456789) / 1e9);
  EXPECT_EQ(UnixSeconds(kWinter), 1705276800.0);
  EXPECT_EQ(UnixSeconds(system_clock::time_point{}), 0.0);
  EXPECT_EQ(UnixSeconds(system_clock::time_point{} - std::chrono::seconds(5)), -5.0);
}

TEST(GoUsesUtcTest, FollowsGoInitLocal) {
  EXPECT_FALSE(GoUsesUtc(nullptr));
  EXPECT_TRUE(GoUsesUtc(""));
  EXPECT_TRUE(GoUsesUtc(":"));
  EXPECT_TRUE(GoUsesUtc("UTC"));
  EXPECT_TRUE(GoUsesUtc(":UTC"));
  // POSIX rules and unknown names: the C library would use them, Go does not.
  EXPECT_TRUE(GoUsesUtc("CET-1CEST,M3.5.0,M10.5.0/3"));
  EXPECT_TRUE(GoUsesUtc("No/Such_Zone"));
  EXPECT_TRUE(GoUsesUtc("/no/such/file"));
  EXPECT_TRUE(GoUsesUtc("/usr/share/zoneinfo"));  // a directory
}

TEST(GoUsesUtcTest, LoadsZoneinfoFiles) {
  if (!HaveZoneinfo("Europe/Paris")) {
    GTEST_SKIP() << "no tzdata";
  }
  EXPECT_FALSE(GoUsesUtc("Europe/Paris"));
  EXPECT_FALSE(GoUsesUtc(":Europe/Paris"));
  EXPECT_FALSE(GoUsesUtc("/usr/share/zoneinfo/Europe/Paris"));
  EXPECT_TRUE(GoUsesUtc("Europe"));  // a directory
}

TEST(ZoneAtTest, Utc) {
  const ScopedTz tz("UTC");
  EXPECT_EQ(ZoneAt(kSummer, false), (TimeZone{"UTC", 0}));
  EXPECT_EQ(ZoneAt(kSummer, true), (TimeZone{"UTC", 0}));
}

TEST(ZoneAtTest, ZonesWithSummerTime) {
  if (!HaveZoneinfo("Europe/Paris") || !HaveZoneinfo("America/New_York")) {
    GTEST_SKIP() << "no tzdata";
  }
  {
    const ScopedTz tz("Europe/Paris");
    EXPECT_EQ(ZoneAt(kSummer, false), (TimeZone{"CEST", 7200}));
    EXPECT_EQ(ZoneAt(kWinter, false), (TimeZone{"CET", 3600}));
    EXPECT_EQ(ZoneAt(kSummer, true), (TimeZone{"UTC", 0}));
  }
  {
    const ScopedTz tz("America/New_York");
    EXPECT_EQ(ZoneAt(kSummer, false), (TimeZone{"EDT", -14400}));
    EXPECT_EQ(ZoneAt(kWinter, false), (TimeZone{"EST", -18000}));
  }
}

TEST(ParseAvailableClocksourcesTest, SplitsKernelText) {
  EXPECT_THAT(ParseAvailableClocksources("tsc kvm-clock \n"), ElementsAre("tsc", "kvm-clock"));
  EXPECT_THAT(ParseAvailableClocksources("tsc hpet acpi_pm \n"),
              ElementsAre("tsc", "hpet", "acpi_pm"));
  EXPECT_THAT(ParseAvailableClocksources("arch_sys_counter"), ElementsAre("arch_sys_counter"));
  EXPECT_THAT(ParseAvailableClocksources(" a\tb\r\n\nc "), ElementsAre("a", "b", "c"));
  EXPECT_THAT(ParseAvailableClocksources(""), IsEmpty());
  EXPECT_THAT(ParseAvailableClocksources(" \n"), IsEmpty());
}

TEST(ParseAvailableClocksourcesTest, RejectsRepeatsAndInvalidUtf8) {
  EXPECT_EQ(ErrorFrom(ParseAvailableClocksources, "tsc hpet tsc\n"),
            R"(repeated clocksource "tsc")");
  EXPECT_EQ(ErrorFrom(ParseAvailableClocksources, "tsc \xff\xfe\n"),
            R"(clocksource name is not valid UTF-8 (got "\xff\xfe"))");
  EXPECT_EQ(ErrorFrom(ParseAvailableClocksources, std::string_view("a\x00\xc0 b", 5)),
            R"(clocksource name is not valid UTF-8 (got "a\x00\xc0"))");
}

TEST(ParseCurrentClocksourceTest, TrimsWhitespace) {
  EXPECT_EQ(ParseCurrentClocksource("tsc\n"), "tsc");
  EXPECT_EQ(ParseCurrentClocksource(" \tkvm-clock \n\n"), "kvm-clock");
  EXPECT_EQ(ParseCurrentClocksource(""), "");
  EXPECT_EQ(ParseCurrentClocksource("\n"), "");
  // node_exporter takes the whole trimmed text as the name.
  EXPECT_EQ(ParseCurrentClocksource("tsc hpet\n"), "tsc hpet");
  EXPECT_EQ(ParseCurrentClocksource("caf\xc3\xa9\n"), "caf\xc3\xa9");
}

TEST(ParseCurrentClocksourceTest, RejectsInvalidUtf8) {
  EXPECT_EQ(ErrorFrom(ParseCurrentClocksource, "ts\x80\n"),
            R"(clocksource name is not valid UTF-8 (got "ts\x80"))");
}

TEST(TimeCollectorTest, MatchesGoldenFile) {
  const ScopedTz tz("UTC");
  nines::testing::ExpectGolden(Collect(NINES_FIXTURES_DIR "/sys"), "time");
}

TEST(TimeCollectorTest, MatchesGoldenFileOnOldKernel) {
  const ScopedTz tz("UTC");
  nines::testing::ExpectGolden(Collect(NINES_FIXTURES_DIR "/old/sys"), "time_old");
}

TEST(TimeCollectorTest, ReportsTheLocalZone) {
  if (!HaveZoneinfo("Europe/Paris")) {
    GTEST_SKIP() << "no tzdata";
  }
  const ScopedTz tz("Europe/Paris");
  EXPECT_THAT(Samples(Collect(NINES_FIXTURES_DIR "/no-such-dir", kWinter)),
              ElementsAre("node_time_seconds{} 1705276800.000000",
                          "node_time_zone_offset_seconds{time_zone=CET,} 3600.000000"));
}

TEST(TimeCollectorTest, ReportsUtcWhereGoWould) {
  const ScopedTz tz("CET-1CEST,M3.5.0,M10.5.0/3");
  EXPECT_THAT(Samples(Collect(NINES_FIXTURES_DIR "/no-such-dir", kWinter)),
              ElementsAre("node_time_seconds{} 1705276800.000000",
                          "node_time_zone_offset_seconds{time_zone=UTC,} 0.000000"));
}

TEST(TimeCollectorTest, DeviceIsThePositionInTheSortedListAsInNodeExporter) {
  const ScopedTz tz("UTC");
  const TempSysfs sysfs;
  sysfs.AddClocksource("clocksource2", "c\n", "c\n");
  sysfs.AddClocksource("clocksource10", "b\n", "b\n");
  sysfs.AddClocksource("clocksource0", "tsc hpet\n", "hpet\n");
  sysfs.AddClocksource("clocksource1", "a\n", "a\n");
  // Entries that do not match clocksource[0-9]* are not read.
  sysfs.AddClocksource("clocksourcex", "x\n", "x\n");
  sysfs.AddClocksource("clocksource", "y\n", "y\n");
  sysfs.Add("devices/system/clocksource/power/autosuspend_delay_ms", "");
  sysfs.Add("devices/system/clocksource/uevent", "");
  EXPECT_THAT(
      Samples(Collect(sysfs.path(), kWinter)),
      ElementsAre("node_time_seconds{} 1705276800.000000",
                  "node_time_zone_offset_seconds{time_zone=UTC,} 0.000000",
                  // Sorted by clocksource, then device, as client_golang prints them.
                  "node_time_clocksource_available_info{clocksource=a,device=1,} 1.000000",
                  "node_time_clocksource_available_info{clocksource=b,device=2,} 1.000000",
                  "node_time_clocksource_available_info{clocksource=c,device=3,} 1.000000",
                  "node_time_clocksource_available_info{clocksource=hpet,device=0,} 1.000000",
                  "node_time_clocksource_available_info{clocksource=tsc,device=0,} 1.000000",
                  "node_time_clocksource_current_info{clocksource=a,device=1,} 1.000000",
                  "node_time_clocksource_current_info{clocksource=b,device=2,} 1.000000",
                  "node_time_clocksource_current_info{clocksource=c,device=3,} 1.000000",
                  "node_time_clocksource_current_info{clocksource=hpet,device=0,} 1.000000"));
}

TEST(TimeCollectorTest, EmptyClocksourceDirectory) {
  const ScopedTz tz("UTC");
  const TempSysfs sysfs;
  sysfs.Add("devices/system/clocksource/uevent", "");
  EXPECT_EQ(Collect(sysfs.path()).size(), 2u);
}

TEST(TimeCollectorTest, MissingFileNamesThePath) {
  const TempSysfs sysfs;
  sysfs.Add("devices/system/clocksource/clocksource0/available_clocksource", "tsc\n");
  EXPECT_EQ(CollectError(sysfs.path()),
            "cannot read " + sysfs.path() +
                "/devices/system/clocksource/clocksource0/current_clocksource: No such file or "
                "directory");
}

TEST(TimeCollectorTest, MatchingFileIsAnError) {
  const TempSysfs sysfs;
  sysfs.Add("devices/system/clocksource/clocksource0", "not a directory");
  EXPECT_EQ(CollectError(sysfs.path()),
            "cannot read " + sysfs.path() +
                "/devices/system/clocksource/clocksource0/available_clocksource: Not a directory");
}

TEST(TimeCollectorTest, ParseErrorNamesThePath) {
  const TempSysfs sysfs;
  sysfs.AddClocksource("clocksource0", "tsc tsc\n", "tsc\n");
  EXPECT_EQ(CollectError(sysfs.path()),
            sysfs.path() +
                R"(/devices/system/clocksource/clocksource0/available_clocksource: repeated )"
                R"(clocksource "tsc")");
  const TempSysfs sysfs2;
  sysfs2.AddClocksource("clocksource0", "tsc\n", "\xff\n");
  EXPECT_EQ(CollectError(sysfs2.path()),
            sysfs2.path() +
                R"(/devices/system/clocksource/clocksource0/current_clocksource: clocksource )"
                R"(name is not valid UTF-8 (got "\xff"))");
}

TEST(TimeCollectorTest, FamiliesAreGaugesWithNodeExporterHelp) {
  const ScopedTz tz("UTC");
  const auto families = Collect(NINES_FIXTURES_DIR "/sys");
  std::map<std::string, std::string> help;
  for (const auto& family : families) {
    EXPECT_EQ(family.type, prometheus::MetricType::Gauge) << family.name;
    help[family.name] = family.help;
  }
  EXPECT_THAT(
      help,
      ElementsAre(
          ::testing::Pair("node_time_clocksource_available_info",
                          "Available clocksources read from '/sys/devices/system/clocksource'."),
          ::testing::Pair("node_time_clocksource_current_info",
                          "Current clocksource read from '/sys/devices/system/clocksource'."),
          ::testing::Pair("node_time_seconds", "System time in seconds since epoch (1970)."),
          ::testing::Pair("node_time_zone_offset_seconds", "System time zone offset in seconds.")));
}

TEST(TimeCollectorTest, DefaultClockIsTheSystemClock) {
  const auto before = system_clock::now();
  MetricSink sink;
  NewTimeCollector(CollectorOptions{})->Update(sink);
  const auto after = system_clock::now();
  const auto families = sink.Take();
  ASSERT_GE(families.size(), 2u);
  EXPECT_EQ(families[0].name, "node_time_seconds");
  EXPECT_GE(families[0].metric[0].gauge.value, UnixSeconds(before));
  EXPECT_LE(families[0].metric[0].gauge.value, UnixSeconds(after));
}

TEST(TimeCollectorTest, ConcurrentUpdates) {
  CollectorOptions options;
  options.paths.sysfs = NINES_FIXTURES_DIR "/sys";
  options.now = [] { return kSummer; };
  const auto collector = NewTimeCollector(options);
  std::vector<std::thread> threads;
  std::vector<std::string> pages(8);
  for (std::size_t i = 0; i < pages.size(); ++i) {
    threads.emplace_back([&collector, &pages, i] {
      for (int n = 0; n < 50; ++n) {
        MetricSink sink;
        collector->Update(sink);
        pages[i] = nines::testing::RenderFamilies(sink.Take());
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const auto& page : pages) {
    EXPECT_EQ(page, pages[0]);
  }
}

}  // namespace
}  // namespace nines::collectors
