#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/collector.h"

/// The `filesystem` collector: node_exporter 1.5's `node_filesystem_*` families, one series
/// per mount of /proc/1/mounts (or /proc/mounts) that the mount point and fs type exclude
/// patterns let through, with the numbers of a statfs(2) of the mount point under
/// `--path.rootfs`. The factory is NewFilesystemCollector in collectors/factories.h; what
/// is declared here is exposed for tests.
namespace nines::collectors::internal {

/// One line of /proc/<pid>/mounts (the fstab(5) fields the collector uses).
struct MountEntry {
  std::string device;       // field 1, as the kernel prints it
  std::string mount_point;  // field 2, with "\040" and "\011" decoded
  std::string fs_type;      // field 3
  std::string options;      // field 4, comma separated

  bool operator==(const MountEntry&) const = default;
};

/// Parses the text of /proc/<pid>/mounts, keeping the lines in order. Fields are split on
/// runs of ASCII whitespace; fields after the fourth are ignored.
///
/// As node_exporter 1.5 does, a line with fewer than 4 fields (an empty line included, but
/// not the empty rest after a final newline) fails the whole file: throws
/// std::runtime_error `line 3: malformed mount line: 2 fields, want at least 4 (got "a b")`.
/// A line whose device, mount point or fs type is not valid UTF-8 cannot be a label value:
/// it is skipped and logged at debug level (node_exporter 1.5 panics on it).
std::vector<MountEntry> ParseMounts(std::string_view text);

/// Decodes the escapes node_exporter 1.5 decodes in a mount point field: "\040" (space)
/// and "\011" (tab). The kernel's other escapes ("\012" newline, "\134" backslash) are
/// kept as they are, so that label values are the same as node_exporter's.
std::string DecodeMountPoint(std::string_view field);

/// The mount point as seen from `rootfs` (`--path.rootfs`): "/host/boot" with rootfs
/// "/host" is "/boot", and "/host" itself is "/". Mount points outside rootfs, and every
/// mount point when rootfs is "/", are returned unchanged. Unlike node_exporter 1.5 (a
/// plain string prefix trim), only whole path components match: with rootfs "/host",
/// "/hostfs" stays "/hostfs" rather than becoming "fs".
std::string StripRootfsPrefix(std::string_view mount_point, std::string_view rootfs);

/// Whether the comma separated mount options hold "ro" (node_exporter's
/// node_filesystem_readonly; the statfs flags are not used).
bool HasReadOnlyOption(std::string_view options);

/// What statfs(2) said about one path.
struct StatFsResult {
  int error = 0;                       // the errno of a failed call; 0 on success
  std::uint64_t block_size = 0;        // f_bsize
  std::uint64_t blocks = 0;            // f_blocks
  std::uint64_t blocks_free = 0;       // f_bfree
  std::uint64_t blocks_available = 0;  // f_bavail
  std::uint64_t files = 0;             // f_files
  std::uint64_t files_free = 0;        // f_ffree
};

/// Runs statfs on a path. May block for as long as the kernel does (a dead NFS server);
/// must not throw (an exception is reported as EIO). Called from the collector's worker
/// threads, possibly several at once.
using StatFsFunction = std::function<StatFsResult(const std::string& path)>;

/// statfs(2) itself.
StatFsResult SystemStatFs(const std::string& path);

/// NewFilesystemCollector with `statfs` in place of statfs(2), for tests. Throws
/// std::invalid_argument naming the flag when an exclude pattern is not a valid RE2
/// expression or the mount timeout is not positive.
std::unique_ptr<Collector> NewFilesystemCollectorWithStatFs(const CollectorOptions& options,
                                                            StatFsFunction statfs);

}  // namespace nines::collectors::internal
