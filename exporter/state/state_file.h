#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

/// The state file behind `--storage.path`: named opaque blobs saved atomically and read back
/// at start. Pure I/O: nothing here logs (callers log the messages) or reads the config.
///
/// File format, version 1. All fixed-width integers are little-endian.
///
///   offset  size  field
///        0     8  magic "NINESST\n" (4e 49 4e 45 53 53 54 0a)
///        8     4  u32 format version, 1
///       12     8  u64 payload length P in bytes (at most kMaxPayloadBytes)
///       20     4  u32 CRC-32 of the payload (zlib's crc32: ISO-HDLC, as gzip and PNG use)
///       24     P  payload
///
/// The payload, in the primitives of codec.h:
///   U64 section count, then for each section: Str name, Str blob.
/// Section names are unique (WriteStateFile writes them in byte order; readers accept any
/// order). The file ends right after the payload.
///
/// A later format version that older readers cannot read gets a new version number;
/// readers set aside a file of a version they do not know rather than guess.
namespace nines::state {

/// Named opaque blobs, e.g. "probe/web", "slo/web-availability", "log/web"; each subsystem
/// encodes its own blob (see codec.h).
using Sections = std::map<std::string, std::string>;

/// The format version this build writes and reads.
inline constexpr std::uint32_t kFormatVersion = 1;
/// The size of the fixed header before the payload.
inline constexpr std::uint64_t kHeaderBytes = 24;
/// The largest payload written or read (1 GiB): a length above it is corruption, never a
/// reason to allocate.
inline constexpr std::uint64_t kMaxPayloadBytes = std::uint64_t{1} << 30;

/// Saves `sections` to `file` atomically: writes `<file>.tmp` in the same directory (a stale
/// one from a killed save is replaced; created with O_CLOEXEC and mode 0600), fsyncs it,
/// renames it over `file` and fsyncs the directory. A crash or kill at any point leaves
/// either the old file or the new one, whole; never a partly written `file`.
///
/// Returns std::nullopt on success, or a message naming the path and the system error
/// (e.g. "cannot create /var/lib/nines/nines.state.tmp: Permission denied"), after removing
/// the temporary file. When only the final directory fsync fails, `file` already holds the
/// new state but may not survive a power loss; that is reported too.
///
/// Blocking I/O; safe to call from any thread, but not concurrently for the same `file`.
std::optional<std::string> WriteStateFile(const std::filesystem::path& file,
                                          const Sections& sections);

/// What ReadStateFile found.
struct LoadedState {
  enum class Status {
    /// No file at the path: a first start. `sections` is empty, `message` says so.
    kMissing,
    /// A good file; `sections` holds it.
    kLoaded,
    /// A file that could not be used: corrupt, truncated, of another format version, or
    /// unreadable. It was renamed to `set_aside` (or, when that failed too, left in place;
    /// `set_aside` is then empty). `sections` is empty and `message` says where and why.
    kSetAside,
  };
  Status status = Status::kMissing;
  Sections sections;
  /// Empty for kLoaded. Otherwise a lowercase sentence for the log, starting with the path,
  /// e.g. "/x/nines.state: checksum mismatch (stored 0x1234abcd, computed 0x9f00e2c1); set
  /// aside as /x/nines.state.corrupt-20261125T101500Z".
  std::string message;
  /// Where a kSetAside file now is: `<file>.corrupt-<UTC time, e.g. 20261125T101500Z>`, with
  /// "-2", "-3", ... appended if that name is taken.
  std::filesystem::path set_aside;
};

/// Reads `file` as written by WriteStateFile. Anything but a missing or good file (bad
/// magic, a future format version, a truncated header or payload, a length above
/// kMaxPayloadBytes, trailing bytes, a checksum mismatch, an undecodable payload, a section
/// name given twice, a file that cannot be read, e.g. a directory) is set aside under a new
/// name so that the next save starts clean and the bad file stays for inspection.
///
/// Never throws and never crashes, whatever the file holds. A stale `<file>.tmp` from a save
/// that was killed is ignored (the next save replaces it). Blocking I/O; safe to call from
/// any thread, but not concurrently with a save of the same `file`.
LoadedState ReadStateFile(const std::filesystem::path& file);

}  // namespace nines::state
