#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The diskstats collector (NewDiskstatsCollector in factories.h): node_exporter 1.5's
/// `node_disk_*` families from `<procfs>/diskstats` and the udev database
/// (`<udev_data>/b<major>:<minor>`):
///
///   node_disk_info{device,major,minor,model,path,revision,serial,wwn}   1 per device
///   node_disk_<counter>{device}   one per /proc/diskstats column the kernel provides
///   node_disk_filesystem_info{device,type,usage,uuid,version}   when udev has ID_FS_TYPE
///   node_disk_device_mapper_info{device,lv_layer,lv_name,name,uuid,vg_name}   DM_NAME
///   node_disk_ata_{write_cache,write_cache_enabled,rotation_rate_rpm}{device}   ID_ATA
///
/// Kernels print 11 counters per device before 4.18, 15 (discards) up to 5.4 and 17
/// (flushes) since 5.5; families for counters a kernel does not print are omitted.
namespace nines::collectors::internal {

/// One /proc/diskstats column after the device name: how node_exporter names the metric,
/// its HELP text, whether it is a gauge, and the factor from the kernel's unit
/// (sectors of 512 bytes, milliseconds) to node_exporter's (bytes, seconds).
struct DiskstatsColumn {
  std::string_view name;  // without the "node_disk_" prefix
  std::string_view help;
  bool gauge;
  double scale;  // 1, 512 or 0.001 (node_exporter multiplies by 1.0/1000.0)
};

inline constexpr std::size_t kDiskstatsColumns = 17;

/// The columns in kernel order (Documentation/admin-guide/iostats.rst, fields 1-17).
inline constexpr std::array<DiskstatsColumn, kDiskstatsColumns> kDiskstatsColumnInfo = {{
    {"reads_completed_total", "The total number of reads completed successfully.", false, 1},
    {"reads_merged_total", "The total number of reads merged.", false, 1},
    {"read_bytes_total", "The total number of bytes read successfully.", false, 512},
    {"read_time_seconds_total", "The total number of seconds spent by all reads.", false, 0.001},
    {"writes_completed_total", "The total number of writes completed successfully.", false, 1},
    {"writes_merged_total", "The number of writes merged.", false, 1},
    {"written_bytes_total", "The total number of bytes written successfully.", false, 512},
    {"write_time_seconds_total", "This is the total number of seconds spent by all writes.", false,
     0.001},
    {"io_now", "The number of I/Os currently in progress.", true, 1},
    {"io_time_seconds_total", "Total seconds spent doing I/Os.", false, 0.001},
    {"io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.", false, 0.001},
    {"discards_completed_total", "The total number of discards completed successfully.", false, 1},
    {"discards_merged_total", "The total number of discards merged.", false, 1},
    {"discarded_sectors_total", "The total number of sectors discarded successfully.", false, 1},
    {"discard_time_seconds_total", "This is the total number of seconds spent by all discards.",
     false, 0.001},
    {"flush_requests_total", "The total number of flush requests completed successfully", false, 1},
    {"flush_requests_time_seconds_total",
     "This is the total number of seconds spent by all flush requests.", false, 0.001},
}};

/// One device's line of /proc/diskstats.
struct DiskstatsLine {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::string device;
  /// How many of `values` the line holds: 11 (kernels before 4.18), 15 (4.18 to 5.4) or
  /// 17 (5.5 and later); node_exporter accepts any count from 11 up.
  std::size_t count = 0;
  /// Indexed like kDiskstatsColumnInfo, in the kernel's units; zero past `count`.
  std::array<std::uint64_t, kDiskstatsColumns> values{};

  bool operator==(const DiskstatsLine&) const = default;
};

/// Parses the text of /proc/diskstats, `<major> <minor> <name> <counters...>` per line,
/// and returns the devices sorted by name (the order node_exporter prints them in).
///
/// Follows node_exporter's parser (procfs' fmt.Sscanf of up to 20 fields): a line with
/// fewer than 11 counters is skipped (logged at debug level), counters after the 17th are
/// ignored (a future kernel may append some), and a field that is not a number in range
/// (major and minor are 32-bit) fails the whole file: throws std::runtime_error naming
/// the line and field, e.g. `line 3: device "sda": read_sectors: not a number (got "x")`.
/// Empty lines are ignored. A device name that is not valid UTF-8 or holds control bytes,
/// or a device listed twice, also fails the file.
std::vector<DiskstatsLine> ParseDiskstats(std::string_view text);

/// The properties of a udev database entry (`E:<key>=<value>` lines) that the node_disk_*
/// families use; empty when absent.
struct UdevProperties {
  std::string id_path;          // ID_PATH
  std::string id_wwn;           // ID_WWN
  std::string id_model;         // ID_MODEL
  std::string id_serial_short;  // ID_SERIAL_SHORT (node_exporter 1.5's serial label)
  std::string id_revision;      // ID_REVISION
  std::string id_fs_type;       // ID_FS_TYPE
  std::string id_fs_usage;      // ID_FS_USAGE
  std::string id_fs_uuid;       // ID_FS_UUID
  std::string id_fs_version;    // ID_FS_VERSION
  std::string dm_name;          // DM_NAME
  std::string dm_uuid;          // DM_UUID
  std::string dm_vg_name;       // DM_VG_NAME
  std::string dm_lv_name;       // DM_LV_NAME
  std::string dm_lv_layer;      // DM_LV_LAYER
  std::string id_ata;           // ID_ATA
  // Present-but-empty differs from absent for these, as in node_exporter: present values
  // are parsed (and skipped when not a number), absent ones are not reported.
  std::optional<std::string> ata_write_cache;          // ID_ATA_WRITE_CACHE
  std::optional<std::string> ata_write_cache_enabled;  // ID_ATA_WRITE_CACHE_ENABLED
  std::optional<std::string> ata_rotation_rate_rpm;    // ID_ATA_ROTATION_RATE_RPM

  bool operator==(const UdevProperties&) const = default;
};

/// Parses a udev database file (`/run/udev/data/b8:0`). Only `E:` lines count, split at
/// the first '='; a later line for the same key wins; a trailing '\r' is dropped (as Go's
/// bufio.Scanner does). Other lines and junk are ignored, and so is a value that is not
/// valid UTF-8 (node_exporter would panic on it as a label value). Never throws beyond
/// allocation.
UdevProperties ParseUdevData(std::string_view text);

/// Parses an ID_ATA_* value as node_exporter does with strconv.ParseFloat: a decimal
/// number with optional sign, fraction and exponent, or inf/nan; nullopt otherwise
/// (including surrounding whitespace and hex).
std::optional<double> ParseUdevNumber(std::string_view text);

}  // namespace nines::collectors::internal
