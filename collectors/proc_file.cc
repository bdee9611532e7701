#include "collectors/proc_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string_view>
#include <system_error>

namespace nines::collectors {
namespace {

// Reads `fd` from offset 0 to its end into `text`. Returns 0, or the errno of the failure.
int ReadFromStart(int fd, std::string& text) {
  text.clear();
  std::array<char, 16384> buffer;  // not zeroed: pread fills what is used
  while (true) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(text.size()));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return errno;
    }
    if (n == 0) {
      return 0;
    }
    text.append(buffer.data(), static_cast<std::size_t>(n));
  }
}

// Whether the kernel generates the file's text on read (procfs, sysfs) rather than
// storing it.
bool IsGenerated(int fd) {
  struct statfs fs {};
  return ::fstatfs(fd, &fs) == 0 && (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC);
}

[[noreturn]] void ThrowReadError(int error, const std::string& path) {
  throw std::system_error(error, std::generic_category(), "cannot read " + path);
}

// Reads the entries of `dir` from where it stands into `names`. Returns 0, or the errno of
// the failure.
int ReadEntries(DIR* dir, std::vector<std::string>& names) {
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      return errno;
    }
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
  }
}

}  // namespace

ProcFile::ProcFile(std::string path) : path_(std::move(path)) {}

ProcFile::~ProcFile() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::optional<std::string> ProcFile::ReadOptional() const {
  const std::lock_guard lock(mutex_);
  std::string text;
  if (fd_ >= 0) {
    if (ReadFromStart(fd_, text) == 0) {
      return text;
    }
    // The object behind the descriptor went away (a removed device's sysfs file fails
    // with ENODEV): open the path anew, which says what is there now.
    ::close(fd_);
    fd_ = -1;
  }
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return std::nullopt;
    }
    ThrowReadError(error, path_);
  }
  const int error = ReadFromStart(fd, text);
  if (error == 0 && IsGenerated(fd)) {
    fd_ = fd;
  } else {
    ::close(fd);
  }
  if (error != 0) {
    ThrowReadError(error, path_);
  }
  return text;
}

std::string ProcFile::Read() const {
  std::optional<std::string> text = ReadOptional();
  if (!text) {
    ThrowReadError(ENOENT, path_);
  }
  return *std::move(text);
}

ProcDir::ProcDir(std::string path) : path_(std::move(path)) {}

ProcDir::~ProcDir() {
  if (dir_ != nullptr) {
    ::closedir(dir_);
  }
}

std::optional<std::vector<std::string>> ProcDir::List() const {
  const std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  if (dir_ != nullptr) {
    ::rewinddir(dir_);
    if (ReadEntries(dir_, names) == 0) {
      return names;
    }
    ::closedir(dir_);
    dir_ = nullptr;
    names.clear();
  }
  DIR* dir = ::opendir(path_.c_str());
  if (dir == nullptr) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return std::nullopt;
    }
    throw std::system_error(error, std::generic_category(), "cannot list " + path_);
  }
  const int error = ReadEntries(dir, names);
  if (error == 0 && IsGenerated(::dirfd(dir))) {
    dir_ = dir;
  } else {
    ::closedir(dir);
  }
  if (error != 0) {
    throw std::system_error(error, std::generic_category(), "cannot list " + path_);
  }
  return names;
}

}  // namespace nines::collectors
