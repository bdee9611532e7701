#include "collectors/diskstats.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "collectors/options.h"
#include "collectors/proc_file.h"
#include "collectors/text.h"

namespace nines::collectors {
namespace internal {
namespace {

// The kernel's names of the /proc/diskstats counters (iostats.rst), for error messages.
constexpr std::array<std::string_view, kDiskstatsColumns> kFieldNames = {
    "reads_completed",  "reads_merged",      "read_sectors",        "read_time_ms",
    "writes_completed", "writes_merged",     "written_sectors",     "write_time_ms",
    "ios_in_progress",  "io_time_ms",        "weighted_io_time_ms", "discards_completed",
    "discards_merged",  "discarded_sectors", "discard_time_ms",     "flushes_completed",
    "flush_time_ms"};

// Major, minor and name come before the counters.
constexpr std::size_t kIdentityFields = 3;
// Kernels before 4.18 print 11 counters; node_exporter skips lines with fewer.
constexpr std::size_t kMinCounters = 11;

bool IsValidDeviceName(std::string_view name) {
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return false;
    }
  }
  return IsValidUtf8(name);
}

// Assigns `value` to the property `key` names, if the node_disk_* families use it.
void SetProperty(UdevProperties& properties, std::string_view key, std::string_view value) {
  struct Key {
    std::string_view name;
    std::string UdevProperties::*field;
  };
  static constexpr std::array<Key, 15> kKeys = {{
      {"ID_PATH", &UdevProperties::id_path},
      {"ID_WWN", &UdevProperties::id_wwn},
      {"ID_MODEL", &UdevProperties::id_model},
      {"ID_SERIAL_SHORT", &UdevProperties::id_serial_short},
      {"ID_REVISION", &UdevProperties::id_revision},
      {"ID_FS_TYPE", &UdevProperties::id_fs_type},
      {"ID_FS_USAGE", &UdevProperties::id_fs_usage},
      {"ID_FS_UUID", &UdevProperties::id_fs_uuid},
      {"ID_FS_VERSION", &UdevProperties::id_fs_version},
      {"DM_NAME", &UdevProperties::dm_name},
      {"DM_UUID", &UdevProperties::dm_uuid},
      {"DM_VG_NAME", &UdevProperties::dm_vg_name},
      {"DM_LV_NAME", &UdevProperties::dm_lv_name},
      {"DM_LV_LAYER", &UdevProperties::dm_lv_layer},
      {"ID_ATA", &UdevProperties::id_ata},
  }};
  struct OptionalKey {
    std::string_view name;
    std::optional<std::string> UdevProperties::*field;
  };
  static constexpr std::array<OptionalKey, 3> kOptionalKeys = {{
      {"ID_ATA_WRITE_CACHE", &UdevProperties::ata_write_cache},
      {"ID_ATA_WRITE_CACHE_ENABLED", &UdevProperties::ata_write_cache_enabled},
      {"ID_ATA_ROTATION_RATE_RPM", &UdevProperties::ata_rotation_rate_rpm},
  }};
  for (const Key& known : kKeys) {
    if (key == known.name) {
      properties.*known.field = std::string(value);
      return;
    }
  }
  for (const OptionalKey& known : kOptionalKeys) {
    if (key == known.name) {
      properties.*known.field = std::string(value);
      return;
    }
  }
}

}  // namespace

std::vector<DiskstatsLine> ParseDiskstats(std::string_view text) {
  std::vector<DiskstatsLine> devices;
  devices.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));
  constexpr std::size_t kMaxFields = kIdentityFields + kDiskstatsColumns;
  std::vector<std::string_view> fields;
  fields.reserve(kMaxFields);
  std::size_t number = 0;
  while (!text.empty()) {
    const std::string_view line = NextLine(text);
    ++number;
    // Counters after the 17th are ignored, as procfs' Sscanf of 20 fields does.
    SplitFields(line, kMaxFields, fields);
    if (fields.empty()) {
      continue;
    }
    const auto where = [number] { return "line " + std::to_string(number); };
    // Like Sscanf, every field present is checked before a short line is skipped.
    std::uint32_t ids[2] = {0, 0};
    for (std::size_t i = 0; i < 2 && i < fields.size(); ++i) {
      const std::string_view what = i == 0 ? "major" : "minor";
      const std::uint64_t id =
          ParseUint64(fields[i], [&] { return where() + ": " + std::string(what); });
      if (id > UINT32_MAX) {
        throw std::runtime_error(where() + ": " + std::string(what) + ": out of range (got " +
                                 Quote(fields[i]) + ")");
      }
      ids[i] = static_cast<std::uint32_t>(id);
    }
    const std::string_view name = fields.size() > 2 ? fields[2] : std::string_view();
    if (fields.size() > 2 && !IsValidDeviceName(name)) {
      throw std::runtime_error(where() + ": invalid device name (got " + Quote(name) + ")");
    }
    const auto device_where = [&] { return where() + ": device " + Quote(name); };
    DiskstatsLine device;
    device.major = ids[0];
    device.minor = ids[1];
    device.count = fields.size() > kIdentityFields ? fields.size() - kIdentityFields : 0;
    for (std::size_t i = 0; i < device.count; ++i) {
      device.values[i] = ParseUint64(fields[kIdentityFields + i], [&] {
        return device_where() + ": " + std::string(kFieldNames[i]);
      });
    }
    if (device.count < kMinCounters) {
      spdlog::debug("diskstats: line {}: {} fields, want at least {}; skipped", number,
                    fields.size(), kIdentityFields + kMinCounters);
      continue;
    }
    device.device = std::string(name);
    devices.push_back(std::move(device));
  }
  std::sort(devices.begin(), devices.end(),
            [](const DiskstatsLine& a, const DiskstatsLine& b) { return a.device < b.device; });
  const auto twice = std::adjacent_find(
      devices.begin(), devices.end(),
      [](const DiskstatsLine& a, const DiskstatsLine& b) { return a.device == b.device; });
  if (twice != devices.end()) {
    throw std::runtime_error("device " + Quote(twice->device) + " appears twice");
  }
  return devices;
}

UdevProperties ParseUdevData(std::string_view text) {
  UdevProperties properties;
  while (!text.empty()) {
    std::string_view line = NextLine(text);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    // "E:" lines are device properties; S: (symlinks), I:, W:, G:, Q:, V: are not.
    if (!line.starts_with("E:")) {
      continue;
    }
    line.remove_prefix(2);
    const std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      continue;
    }
    const std::string_view value = line.substr(equals + 1);
    if (!IsValidUtf8(value)) {
      spdlog::debug("diskstats: udev property {} is not valid UTF-8; ignored",
                    Quote(line.substr(0, equals)));
      continue;
    }
    SetProperty(properties, line.substr(0, equals), value);
  }
  return properties;
}

std::optional<double> ParseUdevNumber(std::string_view text) {
  // from_chars takes no '+', which strconv.ParseFloat allows.
  if (text.size() > 1 && text.front() == '+' && text[1] != '-' && text[1] != '+') {
    text.remove_prefix(1);
  }
  // from_chars also takes "nan(...)", which ParseFloat does not.
  if (text.empty() || text.find('(') != std::string_view::npos) {
    return std::nullopt;
  }
  double value = 0;
  const char* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return value;
}

}  // namespace internal

namespace {

using internal::DiskstatsLine;
using internal::kDiskstatsColumnInfo;
using internal::kDiskstatsColumns;
using internal::UdevProperties;

// udev database entries are a few KiB; a larger one is not udev's and is ignored whole
// rather than parsed up to a cut (which could cut a value short).
constexpr std::size_t kMaxUdevFileBytes = 1 << 20;

class DiskstatsCollector : public Collector {
 public:
  DiskstatsCollector(Paths paths, DeviceFilter filter)
      : paths_(std::move(paths)),
        diskstats_file_(paths_.Proc("diskstats")),
        filter_(std::move(filter)) {
    for (std::size_t column = 0; column < kDiskstatsColumns; ++column) {
      names_[column] = "node_disk_" + std::string(kDiskstatsColumnInfo[column].name);
    }
  }

  void Update(SampleSink& sink) const override {
    const std::string& path = diskstats_file_.path();
    const std::string text = diskstats_file_.Read();
    std::vector<DiskstatsLine> devices;
    try {
      devices = internal::ParseDiskstats(text);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
    std::erase_if(devices,
                  [this](const DiskstatsLine& device) { return filter_.Ignored(device.device); });

    std::vector<UdevProperties> udev;
    udev.reserve(devices.size());
    std::vector<Labels> labels;
    labels.reserve(devices.size());
    for (const DiskstatsLine& device : devices) {
      udev.push_back(ReadUdev(device));
      labels.push_back({{"device", device.device}});
    }

    for (std::size_t i = 0; i < devices.size(); ++i) {
      const UdevProperties& properties = udev[i];
      sink.Gauge("node_disk_info", "Info of /sys/block/<block_device>.", 1,
                 {{"device", devices[i].device},
                  {"major", std::to_string(devices[i].major)},
                  {"minor", std::to_string(devices[i].minor)},
                  {"model", properties.id_model},
                  {"path", properties.id_path},
                  {"revision", properties.id_revision},
                  {"serial", properties.id_serial_short},
                  {"wwn", properties.id_wwn}});
    }
    for (std::size_t column = 0; column < kDiskstatsColumns; ++column) {
      const internal::DiskstatsColumn& info = kDiskstatsColumnInfo[column];
      for (std::size_t i = 0; i < devices.size(); ++i) {
        if (column >= devices[i].count) {
          continue;  // not printed by this kernel: omitted, not zero
        }
        // The same double arithmetic as node_exporter (float64(v) * 512, * 0.001), so
        // values print identically.
        const double value = static_cast<double>(devices[i].values[column]) * info.scale;
        if (info.gauge) {
          sink.Gauge(names_[column], info.help, value, labels[i]);
        } else {
          sink.Counter(names_[column], info.help, value, labels[i]);
        }
      }
    }
    for (std::size_t i = 0; i < devices.size(); ++i) {
      const UdevProperties& properties = udev[i];
      if (!properties.id_fs_type.empty()) {
        sink.Gauge("node_disk_filesystem_info", "Info about disk filesystem.", 1,
                   {{"device", devices[i].device},
                    {"type", properties.id_fs_type},
                    {"usage", properties.id_fs_usage},
                    {"uuid", properties.id_fs_uuid},
                    {"version", properties.id_fs_version}});
      }
    }
    for (std::size_t i = 0; i < devices.size(); ++i) {
      const UdevProperties& properties = udev[i];
      if (!properties.dm_name.empty()) {
        sink.Gauge("node_disk_device_mapper_info", "Info about disk device mapper.", 1,
                   {{"device", devices[i].device},
                    {"lv_layer", properties.dm_lv_layer},
                    {"lv_name", properties.dm_lv_name},
                    {"name", properties.dm_name},
                    {"uuid", properties.dm_uuid},
                    {"vg_name", properties.dm_vg_name}});
      }
    }
    struct AtaFamily {
      std::optional<std::string> UdevProperties::*field;
      std::string_view name;
      std::string_view help;
    };
    static constexpr std::array<AtaFamily, 3> kAtaFamilies = {{
        {&UdevProperties::ata_rotation_rate_rpm, "node_disk_ata_rotation_rate_rpm",
         "ATA disk rotation rate in RPMs (0 for SSDs)."},
        {&UdevProperties::ata_write_cache, "node_disk_ata_write_cache",
         "ATA disk has a write cache."},
        {&UdevProperties::ata_write_cache_enabled, "node_disk_ata_write_cache_enabled",
         "ATA disk has its write cache enabled."},
    }};
    for (const AtaFamily& family : kAtaFamilies) {
      for (std::size_t i = 0; i < devices.size(); ++i) {
        const std::optional<std::string>& raw = udev[i].*family.field;
        if (udev[i].id_ata.empty() || !raw) {
          continue;
        }
        if (const std::optional<double> value = internal::ParseUdevNumber(*raw)) {
          sink.Gauge(family.name, family.help, *value, labels[i]);
        } else {
          spdlog::debug("diskstats: {} of {}: not a number (got {}); skipped", family.name,
                        devices[i].device, Quote(*raw));
        }
      }
    }
  }

 private:
  // A device without a udev entry (no udev in a container, devices udev ignores) gets
  // empty labels, as with node_exporter; so does one whose entry cannot be read.
  UdevProperties ReadUdev(const DiskstatsLine& device) const {
    std::string name = "b";
    name += std::to_string(device.major);
    name += ':';
    name += std::to_string(device.minor);
    const std::string path = paths_.Udev(name);
    try {
      if (const std::optional<std::string> text = ReadOptionalFile(path, kMaxUdevFileBytes)) {
        return internal::ParseUdevData(*text);
      }
    } catch (const std::runtime_error& e) {
      spdlog::debug("diskstats: no udev properties for {}: {}", device.device, e.what());
    }
    return {};
  }

  const Paths paths_;
  const ProcFile diskstats_file_;
  const DeviceFilter filter_;
  std::array<std::string, kDiskstatsColumns> names_;
};

}  // namespace

std::unique_ptr<Collector> NewDiskstatsCollector(const CollectorOptions& options) {
  return std::make_unique<DiskstatsCollector>(
      options.paths,
      DeviceFilter(options.diskstats_device_exclude, "--collector.diskstats.device-exclude",
                   options.diskstats_device_include, "--collector.diskstats.device-include"));
}

}  // namespace nines::collectors
