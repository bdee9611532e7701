// Tests of the diskstats collector.
//
// Fixtures: tests/fixtures/proc/diskstats is a copy from the development machine (Linux
// 6.18: 17 counters per line, with discards (4.18+) and flushes (5.5+)). This machine has
// no udev database, so tests/fixtures/udev/data/ is written by hand in systemd-udevd's
// format: b254:0 is what udev records for this machine's virtio disk (vda, ext4 root);
// b8:0, b8:1, b11:0, b252:0 and b259:0 describe the devices of the old-kernel fixture.
// tests/fixtures/old/proc/diskstats is written by hand in the format of Linux 4.4
// (block/genhd.c diskstats_show: "%4d %7d %s %lu %lu %lu %u %lu %lu %lu %u %u %u %u",
// 11 counters, the tick counters 32-bit and wrapping). The 15-counter format of Linux
// 4.18 to 5.4 is tested on inline text (ParseDiskstatsTest.Kernel418Format).
//
// The expected node_exporter behaviour (which udev keys feed which label, serial from
// ID_SERIAL_SHORT only, ATA values through strconv.ParseFloat, short lines skipped) was
// checked by running node_exporter 1.5.0 on these fixture trees.
#include "collectors/diskstats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "prometheus/metric_family.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::DiskstatsLine;
using internal::ParseDiskstats;
using internal::ParseUdevData;
using internal::ParseUdevNumber;
using internal::UdevProperties;
using prometheus::MetricFamily;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

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

std::vector<std::string> Devices(const std::vector<DiskstatsLine>& lines) {
  std::vector<std::string> devices;
  devices.reserve(lines.size());
  for (const DiskstatsLine& line : lines) {
    devices.push_back(line.device);
  }
  return devices;
}

// ---------------------------------------------------------------------------------------
// ParseDiskstats

TEST(ParseDiskstatsTest, Kernel55Format) {
  const std::vector<DiskstatsLine> lines = ParseDiskstats(
      " 254       0 vda 118921 31586 5732394 57334 28643 19369 8798592 26667 0 15916 85680 "
      "6644 47 5797160 1624 912 54\n"
      "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  EXPECT_THAT(
      lines, ElementsAre(DiskstatsLine{7, 0, "loop0", 17, {}},
                         DiskstatsLine{254,
                                       0,
                                       "vda",
                                       17,
                                       {118921, 31586, 5732394, 57334, 28643, 19369, 8798592, 26667,
                                        0, 15916, 85680, 6644, 47, 5797160, 1624, 912, 54}}));
}

TEST(ParseDiskstatsTest, Kernel418Format) {
  // Linux 4.18 to 5.4: discards, no flushes.
  const std::vector<DiskstatsLine> lines =
      ParseDiskstats("   8       0 sda 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].count, 15u);
  EXPECT_EQ(lines[0].values[14], 18u);
  EXPECT_EQ(lines[0].values[15], 0u);
}

TEST(ParseDiskstatsTest, Kernel44Format) {
  const std::vector<DiskstatsLine> lines =
      ParseDiskstats(" 252       0 dm-0 1 0 3 4 5 0 7 4294967295 3 10 4294960000\n");
  EXPECT_THAT(lines,
              ElementsAre(DiskstatsLine{
                  252, 0, "dm-0", 11, {1, 0, 3, 4, 5, 0, 7, 4294967295, 3, 10, 4294960000}}));
}

TEST(ParseDiskstatsTest, OddCountsAndExtraCounters) {
  // node_exporter reports as many counters as a line has, from 11 up, and ignores any
  // after the 17th (a later kernel may append more).
  const std::vector<DiskstatsLine> lines = ParseDiskstats(
      "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12\n"
      "8 16 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 junk\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].count, 12u);
  EXPECT_EQ(lines[0].values[11], 12u);
  EXPECT_EQ(lines[1].count, 17u);
  EXPECT_EQ(lines[1].values[16], 17u);
}

TEST(ParseDiskstatsTest, SkipsShortAndEmptyLines) {
  const std::vector<DiskstatsLine> lines = ParseDiskstats(
      "\n"
      "   \t \n"
      "8 0\n"
      "8 0 sda\n"
      "8 0 sda 1 2 3 4 5 6 7 8 9 10\n"
      "8 16 sdb 1 2 3 4 5 6 7 8 9 10 11");
  EXPECT_THAT(Devices(lines), ElementsAre("sdb"));
  EXPECT_THAT(ParseDiskstats(""), IsEmpty());
}

TEST(ParseDiskstatsTest, SortsByDeviceName) {
  EXPECT_THAT(Devices(ParseDiskstats("8 16 sdb 1 2 3 4 5 6 7 8 9 10 11\n"
                                     "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"
                                     "259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11\n")),
              ElementsAre("nvme0n1", "sda", "sdb"));
}

TEST(ParseDiskstatsTest, RejectsBadMajorMinor) {
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "x 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"),
            R"(line 1: major: not a number (got "x"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 -1 sda 1 2 3 4 5 6 7 8 9 10 11\n"),
            R"(line 1: minor: negative (got "-1"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "4294967296 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"),
            R"(line 1: major: out of range (got "4294967296"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\ngarbage\n"),
            R"(line 2: major: not a number (got "garbage"))");
  // A short line is checked as far as it goes before it is skipped, like Sscanf.
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 x\n"), R"(line 1: minor: not a number (got "x"))");
}

TEST(ParseDiskstatsTest, RejectsBadCounters) {
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n"),
            R"(line 1: device "sda": read_sectors: not a number (got "x"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 1.5\n"),
            R"(line 1: device "sda": flush_time_ms: not a number (got "1.5"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sda 1 2 3 4 5 6 7 8 -9 10 11\n"),
            R"(line 1: device "sda": ios_in_progress: negative (got "-9"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sda 18446744073709551616 2 3 4 5 6 7 8 9 10 11\n"),
            R"(line 1: device "sda": reads_completed: out of range (got "18446744073709551616"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sda 1 2 3 4 5 6 7 8 9 10 +11\n"),
            R"(line 1: device "sda": weighted_io_time_ms: not a number (got "+11"))");
  // Short lines are checked too.
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sda 1 2 x\n"),
            R"(line 1: device "sda": read_sectors: not a number (got "x"))");
}

TEST(ParseDiskstatsTest, RejectsJunkDeviceNamesAndBinary) {
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sd\x01 1 2 3 4 5 6 7 8 9 10 11\n"),
            R"(line 1: invalid device name (got "sd\x01"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, "8 0 sd\xff 1 2 3 4 5 6 7 8 9 10 11\n"),
            R"(line 1: invalid device name (got "sd\xff"))");
  EXPECT_EQ(ErrorFrom(ParseDiskstats, std::string_view("\x00\x01\x02\xff\xfe", 5)),
            R"(line 1: major: not a number (got "\x00\x01\x02\xff\xfe"))");
  // Block device names with '!' (cciss!c0d0) and UTF-8 are fine.
  EXPECT_THAT(Devices(ParseDiskstats("104 0 cciss!c0d0 1 2 3 4 5 6 7 8 9 10 11\n")),
              ElementsAre("cciss!c0d0"));
}

TEST(ParseDiskstatsTest, RejectsDuplicateDevices) {
  EXPECT_EQ(ErrorFrom(ParseDiskstats,
                      "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"
                      "8 16 sdb 1 2 3 4 5 6 7 8 9 10 11\n"
                      "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"),
            R"(device "sda" appears twice)");
}

// ---------------------------------------------------------------------------------------
// ParseUdevData

TEST(ParseUdevDataTest, ParsesRealEntry) {
  const UdevProperties properties = ParseUdevData(
      "S:disk/by-id/ata-WDC_WD10EZEX-08WN4A0_WD-WCC6Y4KXXJ2P\n"
      "W:12\n"
      "I:1840213\n"
      "E:ID_ATA=1\n"
      "E:ID_MODEL=WDC_WD10EZEX-08WN4A0\n"
      "E:ID_REVISION=01.01A01\n"
      "E:ID_SERIAL=WDC_WD10EZEX-08WN4A0_WD-WCC6Y4KXXJ2P\n"
      "E:ID_SERIAL_SHORT=WD-WCC6Y4KXXJ2P\n"
      "E:ID_ATA_WRITE_CACHE=1\n"
      "E:ID_ATA_WRITE_CACHE_ENABLED=0\n"
      "E:ID_ATA_ROTATION_RATE_RPM=7200\n"
      "E:ID_WWN=0x50014ee2b5c7a4e1\n"
      "E:ID_PATH=pci-0000:00:1f.2-ata-1\n"
      "E:ID_FS_VERSION=LVM2 001\n"
      "E:ID_FS_TYPE=LVM2_member\n"
      "E:ID_FS_USAGE=raid\n"
      "E:ID_FS_UUID=0b9d7e52\n"
      "E:SCSI_IDENT_SERIAL=other\n"
      "G:systemd\n"
      "V:1\n");
  UdevProperties want;
  want.id_ata = "1";
  want.id_model = "WDC_WD10EZEX-08WN4A0";
  want.id_revision = "01.01A01";
  want.id_serial_short = "WD-WCC6Y4KXXJ2P";
  want.ata_write_cache = "1";
  want.ata_write_cache_enabled = "0";
  want.ata_rotation_rate_rpm = "7200";
  want.id_wwn = "0x50014ee2b5c7a4e1";
  want.id_path = "pci-0000:00:1f.2-ata-1";
  want.id_fs_version = "LVM2 001";
  want.id_fs_type = "LVM2_member";
  want.id_fs_usage = "raid";
  want.id_fs_uuid = "0b9d7e52";
  EXPECT_EQ(properties, want);
}

TEST(ParseUdevDataTest, DeviceMapperEntry) {
  const UdevProperties properties = ParseUdevData(
      "E:DM_NAME=vg0-root\nE:DM_UUID=LVM-abc\nE:DM_VG_NAME=vg0\nE:DM_LV_NAME=root\n"
      "E:DM_LV_LAYER=real\n");
  EXPECT_EQ(properties.dm_name, "vg0-root");
  EXPECT_EQ(properties.dm_uuid, "LVM-abc");
  EXPECT_EQ(properties.dm_vg_name, "vg0");
  EXPECT_EQ(properties.dm_lv_name, "root");
  EXPECT_EQ(properties.dm_lv_layer, "real");
}

TEST(ParseUdevDataTest, LaterLinesWinAndEqualsSignsInValues) {
  const UdevProperties properties =
      ParseUdevData("E:ID_PATH=first\nE:ID_PATH=second\nE:ID_MODEL=a=b=c\nE:ID_WWN=\n");
  EXPECT_EQ(properties.id_path, "second");
  EXPECT_EQ(properties.id_model, "a=b=c");
  EXPECT_EQ(properties.id_wwn, "");
}

TEST(ParseUdevDataTest, PresentButEmptyAtaValuesDifferFromAbsent) {
  const UdevProperties properties = ParseUdevData("E:ID_ATA=1\nE:ID_ATA_WRITE_CACHE=\n");
  EXPECT_THAT(properties.ata_write_cache, Optional(std::string()));
  EXPECT_EQ(properties.ata_write_cache_enabled, std::nullopt);
}

TEST(ParseUdevDataTest, IgnoresJunk) {
  const std::string junk = std::string("E:NO_EQUALS_SIGN\n") + std::string("\x00\xff\xfe\n", 4) +
                           "E:=no name\n"
                           "e:ID_PATH=lower case prefix\n"
                           " E:ID_PATH=leading space\n"
                           "S:ID_PATH=symlink line\n"
                           "E:ID_MODEL=bad \xff utf-8\n"
                           "E:ID_REVISION=ok\r\n"
                           "E:ID_PATH";
  UdevProperties want;
  want.id_revision = "ok";
  EXPECT_EQ(ParseUdevData(junk), want);
  EXPECT_EQ(ParseUdevData(""), UdevProperties());
}

// ---------------------------------------------------------------------------------------
// ParseUdevNumber

TEST(ParseUdevNumberTest, AcceptsWhatParseFloatAccepts) {
  EXPECT_THAT(ParseUdevNumber("7200"), Optional(7200.0));
  EXPECT_THAT(ParseUdevNumber("0"), Optional(0.0));
  EXPECT_THAT(ParseUdevNumber("1e3"), Optional(1000.0));
  EXPECT_THAT(ParseUdevNumber("+5"), Optional(5.0));
  EXPECT_THAT(ParseUdevNumber("-1.5"), Optional(-1.5));
  EXPECT_THAT(ParseUdevNumber(".5"), Optional(0.5));
  ASSERT_TRUE(ParseUdevNumber("inf").has_value());
  EXPECT_TRUE(std::isinf(*ParseUdevNumber("inf")));
}

TEST(ParseUdevNumberTest, RejectsOthers) {
  for (std::string_view text :
       {"", " 5400", "5400 ", "0x10", "fast", "+", "+-5", "++5", "1,5", "nan(123)", "5\n"}) {
    EXPECT_EQ(ParseUdevNumber(text), std::nullopt) << text;
  }
}

// ---------------------------------------------------------------------------------------
// The collector

CollectorOptions FixtureOptions(const std::string& tree = NINES_FIXTURES_DIR) {
  CollectorOptions options;
  options.paths.procfs = tree + "/proc";
  options.paths.sysfs = tree + "/sys";
  options.paths.udev_data = NINES_FIXTURES_DIR "/udev/data";
  return options;
}

std::vector<MetricFamily> Collect(const CollectorOptions& options) {
  MetricSink sink;
  NewDiskstatsCollector(options)->Update(sink);
  return sink.Take();
}

// `name{label="value",...}` -> value for every sample.
std::map<std::string, double> Samples(const std::vector<MetricFamily>& families) {
  std::map<std::string, double> samples;
  for (const MetricFamily& family : families) {
    for (const auto& metric : family.metric) {
      std::string key = family.name + "{";
      for (const auto& label : metric.label) {
        key += (key.back() == '{' ? "" : ",") + label.name + "=\"" + label.value + "\"";
      }
      samples[key + "}"] = family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                                          : metric.gauge.value;
    }
  }
  return samples;
}

std::vector<std::string> Names(const std::vector<MetricFamily>& families) {
  std::vector<std::string> names;
  names.reserve(families.size());
  for (const MetricFamily& family : families) {
    names.push_back(family.name);
  }
  return names;
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
    NewDiskstatsCollector(options);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DiskstatsCollectorTest, GoldenOnFixtures) {
  nines::testing::ExpectGolden(Collect(FixtureOptions()), "diskstats");
}

TEST(DiskstatsCollectorTest, GoldenOnOldKernelFixtures) {
  nines::testing::ExpectGolden(Collect(FixtureOptions(NINES_FIXTURES_DIR "/old")), "diskstats_old");
}

TEST(DiskstatsCollectorTest, FamiliesOnThisKernel) {
  EXPECT_THAT(
      Names(Collect(FixtureOptions())),
      ElementsAre("node_disk_info", "node_disk_reads_completed_total",
                  "node_disk_reads_merged_total", "node_disk_read_bytes_total",
                  "node_disk_read_time_seconds_total", "node_disk_writes_completed_total",
                  "node_disk_writes_merged_total", "node_disk_written_bytes_total",
                  "node_disk_write_time_seconds_total", "node_disk_io_now",
                  "node_disk_io_time_seconds_total", "node_disk_io_time_weighted_seconds_total",
                  "node_disk_discards_completed_total", "node_disk_discards_merged_total",
                  "node_disk_discarded_sectors_total", "node_disk_discard_time_seconds_total",
                  "node_disk_flush_requests_total", "node_disk_flush_requests_time_seconds_total",
                  "node_disk_filesystem_info"));
}

TEST(DiskstatsCollectorTest, OldKernelHasNoDiscardOrFlushFamilies) {
  for (const std::string& name : Names(Collect(FixtureOptions(NINES_FIXTURES_DIR "/old")))) {
    EXPECT_EQ(name.find("discard"), std::string::npos) << name;
    EXPECT_EQ(name.find("flush"), std::string::npos) << name;
  }
}

TEST(DiskstatsCollectorTest, ExcludeAndIncludeFilters) {
  CollectorOptions options = FixtureOptions(NINES_FIXTURES_DIR "/old");
  // The default exclude drops ram*, loop*, partitions of sd* and nvme*.
  std::map<std::string, double> samples = Samples(Collect(options));
  for (const char* device : {"dm-0", "nvme0n1", "sda", "sr0"}) {
    EXPECT_TRUE(samples.contains(std::string("node_disk_io_now{device=\"") + device + "\"}"))
        << device;
  }
  for (const char* device : {"ram0", "ram1", "loop0", "sda1", "nvme0n1p1"}) {
    EXPECT_FALSE(samples.contains(std::string("node_disk_io_now{device=\"") + device + "\"}"))
        << device;
  }

  options.diskstats_device_exclude = "";
  options.diskstats_device_include = "^sda";
  samples = Samples(Collect(options));
  EXPECT_TRUE(samples.contains(R"(node_disk_io_now{device="sda"})"));
  EXPECT_TRUE(samples.contains(R"(node_disk_io_now{device="sda1"})"));
  EXPECT_FALSE(samples.contains(R"(node_disk_io_now{device="sr0"})"));
  // sda1's udev entry has ID_ATA with an unparseable rotation rate: that one is skipped.
  EXPECT_EQ(samples.at(R"(node_disk_ata_write_cache{device="sda1"})"), 1);
  EXPECT_FALSE(samples.contains(R"(node_disk_ata_rotation_rate_rpm{device="sda1"})"));
  EXPECT_FALSE(samples.contains(R"(node_disk_ata_write_cache_enabled{device="sda1"})"));
  EXPECT_EQ(samples.at(R"(node_disk_filesystem_info{device="sda1",type="LVM2_member",)"
                       R"(usage="raid",uuid="0b9d7e52-51c4-4e6d-8d0f-2a6a3c1f9b77",)"
                       R"(version="LVM2 001"})"),
            1);

  options.diskstats_device_include = "^nothing$";
  EXPECT_THAT(Collect(options), IsEmpty());
}

TEST(DiskstatsCollectorTest, FactoryRejectsBadFilters) {
  CollectorOptions options;  // the default exclude is set
  options.diskstats_device_include = "^sd";
  EXPECT_EQ(FactoryError(options),
            "--collector.diskstats.device-exclude and --collector.diskstats.device-include "
            "are mutually exclusive");
  options.diskstats_device_include = "";
  options.diskstats_device_exclude = "(";
  EXPECT_EQ(FactoryError(options),
            "--collector.diskstats.device-exclude: invalid regular expression: missing ): ( "
            "(got \"(\")");
  options.diskstats_device_exclude = "";
  options.diskstats_device_include = "a**";
  EXPECT_EQ(FactoryError(options),
            "--collector.diskstats.device-include: invalid regular expression: bad repetition "
            "operator: ** (got \"a**\")");
}

// A scratch procfs and udev tree per test.
class ScratchTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "nines-disk-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
    root_ = pattern;
    std::filesystem::create_directories(root_ / "proc");
    std::filesystem::create_directories(root_ / "udev");
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

  CollectorOptions Options() const {
    CollectorOptions options;
    options.paths.procfs = (root_ / "proc").string();
    options.paths.sysfs = (root_ / "sys").string();
    options.paths.udev_data = (root_ / "udev").string();
    options.diskstats_device_exclude = "";
    return options;
  }

  std::filesystem::path root_;
};

TEST_F(ScratchTreeTest, UnitsAndOmittedColumns) {
  Write("proc/diskstats",
        "8 0 sda 1 2 3 1500 5 6 7 2500 9 3500 4500\n"
        "8 16 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n");
  const std::map<std::string, double> samples = Samples(Collect(Options()));
  EXPECT_EQ(samples.at(R"(node_disk_read_bytes_total{device="sda"})"), 3 * 512);
  EXPECT_EQ(samples.at(R"(node_disk_written_bytes_total{device="sda"})"), 7 * 512);
  EXPECT_EQ(samples.at(R"(node_disk_read_time_seconds_total{device="sda"})"), 1500 * 0.001);
  EXPECT_EQ(samples.at(R"(node_disk_write_time_seconds_total{device="sda"})"), 2500 * 0.001);
  EXPECT_EQ(samples.at(R"(node_disk_io_time_seconds_total{device="sda"})"), 3500 * 0.001);
  EXPECT_EQ(samples.at(R"(node_disk_io_time_weighted_seconds_total{device="sda"})"), 4500 * 0.001);
  EXPECT_EQ(samples.at(R"(node_disk_io_now{device="sda"})"), 9);
  // Discarded sectors stay sectors, as in node_exporter.
  EXPECT_EQ(samples.at(R"(node_disk_discarded_sectors_total{device="sdb"})"), 14);
  EXPECT_EQ(samples.at(R"(node_disk_discard_time_seconds_total{device="sdb"})"), 15 * 0.001);
  EXPECT_FALSE(samples.contains(R"(node_disk_discards_completed_total{device="sda"})"));
  EXPECT_FALSE(samples.contains(R"(node_disk_flush_requests_total{device="sdb"})"));
  // No udev entries at all: empty labels.
  EXPECT_EQ(samples.at(R"(node_disk_info{device="sda",major="8",minor="0",model="",path="",)"
                       R"(revision="",serial="",wwn=""})"),
            1);
}

TEST_F(ScratchTreeTest, AtaFamiliesNeedIdAta) {
  Write("proc/diskstats", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9 10 11\n");
  Write("udev/b8:0", "E:ID_ATA_WRITE_CACHE=1\nE:ID_ATA_ROTATION_RATE_RPM=5400\n");
  Write("udev/b8:16",
        "E:ID_ATA=1\nE:ID_ATA_WRITE_CACHE=0\nE:ID_ATA_WRITE_CACHE_ENABLED=1e0\n"
        "E:ID_ATA_ROTATION_RATE_RPM= 5400\n");
  const std::map<std::string, double> samples = Samples(Collect(Options()));
  EXPECT_FALSE(samples.contains(R"(node_disk_ata_write_cache{device="sda"})"));
  EXPECT_FALSE(samples.contains(R"(node_disk_ata_rotation_rate_rpm{device="sda"})"));
  EXPECT_EQ(samples.at(R"(node_disk_ata_write_cache{device="sdb"})"), 0);
  EXPECT_EQ(samples.at(R"(node_disk_ata_write_cache_enabled{device="sdb"})"), 1);
  EXPECT_FALSE(samples.contains(R"(node_disk_ata_rotation_rate_rpm{device="sdb"})"));
}

TEST_F(ScratchTreeTest, UnreadableUdevEntriesGiveEmptyLabels) {
  Write("proc/diskstats", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9 10 11\n");
  // A directory where the entry should be, and an entry too large to be udev's.
  std::filesystem::create_directories(root_ / "udev/b8:0");
  Write("udev/b8:16", "E:ID_MODEL=m\n" + std::string(2 << 20, 'x'));
  const std::map<std::string, double> samples = Samples(Collect(Options()));
  EXPECT_EQ(samples.at(R"(node_disk_info{device="sda",major="8",minor="0",model="",path="",)"
                       R"(revision="",serial="",wwn=""})"),
            1);
  EXPECT_EQ(samples.at(R"(node_disk_info{device="sdb",major="8",minor="16",model="",path="",)"
                       R"(revision="",serial="",wwn=""})"),
            1);
}

TEST_F(ScratchTreeTest, MissingFileFailsTheCollector) {
  EXPECT_EQ(UpdateError(Options()),
            "cannot read " + (root_ / "proc/diskstats").string() + ": No such file or directory");
}

TEST_F(ScratchTreeTest, BadFileFailsTheCollectorNamingFileAndLine) {
  Write("proc/diskstats", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9 ten 11\n");
  EXPECT_EQ(UpdateError(Options()),
            (root_ / "proc/diskstats").string() +
                R"(: line 2: device "sdb": io_time_ms: not a number (got "ten"))");
}

TEST(DiskstatsCollectorTest, ConcurrentUpdatesAgree) {
  const std::unique_ptr<Collector> collector =
      NewDiskstatsCollector(FixtureOptions(NINES_FIXTURES_DIR "/old"));
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

}  // namespace
}  // namespace nines::collectors
