#pragma once

#include <dirent.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace nines::collectors {

/// A procfs or sysfs file that a collector reads on every scrape, such as /proc/stat, kept
/// open between reads. The kernel generates such a file anew for each read from offset 0,
/// so pread(2) from 0 returns what open, read and close would, without open's path walk
/// (a third to a half of the cost of reading a small file). A file on any other filesystem
/// (a test fixture, which may be replaced by a new file) is opened for every read instead.
///
/// Only for paths that always name the same kernel object: /proc/stat or
/// /proc/pressure/cpu, not a device's file under /sys/class/net, where a kept descriptor
/// would go on reading a renamed device. Besides the descriptor it keeps no state. Thread
/// safe: concurrent reads of one file take turns.
class ProcFile {
 public:
  explicit ProcFile(std::string path);
  ~ProcFile();
  ProcFile(const ProcFile&) = delete;
  ProcFile& operator=(const ProcFile&) = delete;

  /// The whole file, or nullopt when it does not exist; throws std::system_error
  /// `cannot read <path>: <strerror>` on any other failure, as ReadOptionalFile (text.h).
  std::optional<std::string> ReadOptional() const;

  /// The whole file; throws std::system_error as ReadFile (collector.h) does, also when
  /// it does not exist.
  std::string Read() const;

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  mutable std::mutex mutex_;
  mutable int fd_ = -1;  // kept open when on procfs or sysfs, else -1; guarded by mutex_
};

/// A procfs or sysfs directory that a collector lists on every scrape, such as
/// /proc/self/fd, kept open and rewound for each listing, as ProcFile keeps a file. A
/// directory elsewhere is opened for every listing. Thread safe.
class ProcDir {
 public:
  explicit ProcDir(std::string path);
  ~ProcDir();
  ProcDir(const ProcDir&) = delete;
  ProcDir& operator=(const ProcDir&) = delete;

  /// The names of the entries but "." and "..", in the order the kernel lists them, or
  /// nullopt when the directory does not exist (ENOENT, or ENOTDIR for a path through a
  /// file). Throws std::system_error `cannot list <path>: <strerror>` on any other
  /// failure. A kept directory is itself an open descriptor, so /proc/self/fd lists it.
  std::optional<std::vector<std::string>> List() const;

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  mutable std::mutex mutex_;
  mutable DIR* dir_ = nullptr;  // kept open when on procfs or sysfs; guarded by mutex_
};

}  // namespace nines::collectors
