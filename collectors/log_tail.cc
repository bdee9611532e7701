#include "collectors/log_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace nines::collectors {
namespace {

// One read() fills at most this much; a line spanning reads is copied into File::partial.
constexpr std::size_t kReadChunkBytes = std::size_t{64} * 1024;

std::string ErrorText(int error) { return std::generic_category().message(error); }

bool SameFile(const struct stat& st, std::uint64_t device, std::uint64_t inode) {
  return static_cast<std::uint64_t>(st.st_dev) == device &&
         static_cast<std::uint64_t>(st.st_ino) == inode;
}

}  // namespace

std::string_view ToString(LogTailState state) {
  switch (state) {
    case LogTailState::kFollowing:
      return "following";
    case LogTailState::kWaiting:
      return "waiting";
    case LogTailState::kError:
      return "error";
  }
  return "unknown";
}

LogTail::File::File(File&& other) noexcept
    : fd(std::exchange(other.fd, -1)),
      device(other.device),
      inode(other.inode),
      offset(other.offset),
      line_start(other.line_start),
      partial(std::move(other.partial)),
      discarding(other.discarding),
      close_at(other.close_at) {}

LogTail::File& LogTail::File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd >= 0) {
      ::close(fd);
    }
    fd = std::exchange(other.fd, -1);
    device = other.device;
    inode = other.inode;
    offset = other.offset;
    line_start = other.line_start;
    partial = std::move(other.partial);
    discarding = other.discarding;
    close_at = other.close_at;
  }
  return *this;
}

LogTail::File::~File() {
  if (fd >= 0) {
    ::close(fd);
  }
}

LogTail::LogTail(std::string path, LogTailOptions options)
    : path_(std::move(path)), options_(std::move(options)) {
  if (options_.max_line_bytes == 0) {
    throw std::invalid_argument("log tail " + path_ + ": max_line_bytes must be positive");
  }
  if (options_.max_bytes_per_poll == 0) {
    throw std::invalid_argument("log tail " + path_ + ": max_bytes_per_poll must be positive");
  }
  buffer_size_ = kReadChunkBytes;
  buffer_ = std::make_unique<char[]>(buffer_size_);
  current_ = OpenPath(/*at_construction=*/true);
  struct stat st {};
  if (!current_ && state_ == LogTailState::kError && ::stat(path_.c_str(), &st) == 0) {
    // Unreadable for now (permission denied, say): once it can be read, start where the
    // options say as of now, so lines written meanwhile are not skipped.
    start_file_ =
        LogPosition{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                    static_cast<std::uint64_t>(st.st_size)};
  }
}

LogTail::~LogTail() = default;

std::chrono::steady_clock::time_point LogTail::Now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

void LogTail::SetState(LogTailState state, std::string message) {
  state_ = state;
  message_ = std::move(message);
}

std::optional<LogTail::File> LogTail::OpenPath(bool at_construction) {
  // O_NONBLOCK keeps a FIFO at the path from blocking the open; it is rejected below.
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      SetState(LogTailState::kWaiting, "waiting for " + path_);
    } else {
      SetState(LogTailState::kError, "cannot open " + path_ + ": " + ErrorText(error));
    }
    return std::nullopt;
  }
  File file;
  file.fd = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    SetState(LogTailState::kError, "cannot open " + path_ + ": " + ErrorText(errno));
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) {
    SetState(LogTailState::kError, "cannot open " + path_ + ": " + ErrorText(EISDIR));
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    SetState(LogTailState::kError, "cannot open " + path_ + ": not a regular file");
    return std::nullopt;
  }
  file.device = static_cast<std::uint64_t>(st.st_dev);
  file.inode = static_cast<std::uint64_t>(st.st_ino);
  // Any other file appeared after construction (or after a rotation): all of it is new.
  if (at_construction) {
    ApplyStart(file, static_cast<std::uint64_t>(st.st_size));
  } else if (start_file_ && SameFile(st, start_file_->device, start_file_->inode)) {
    ApplyStart(file, start_file_->offset);
  }
  start_file_.reset();
  SetState(LogTailState::kFollowing, "");
  return file;
}

void LogTail::ApplyStart(File& file, std::uint64_t end) {
  switch (options_.start) {
    case LogStart::kAtEnd:
      SeekTo(file, end);
      return;
    case LogStart::kAtBeginning:
      return;
    case LogStart::kAtPosition:
      if (file.device != options_.position.device || file.inode != options_.position.inode) {
        // Another file than the saved one: rotated while we were down, so all of it is new.
        return;
      }
      if (options_.position.offset > end) {
        ++stats_.truncations;
        return;
      }
      SeekTo(file, options_.position.offset);
      return;
  }
}

void LogTail::SeekTo(File& file, std::uint64_t offset) {
  file.offset = offset;
  file.line_start = offset;
  if (offset == 0) {
    return;
  }
  // Starting in the middle of a line would deliver its tail as a line of its own.
  char before = '\n';
  ssize_t n = 0;
  do {
    n = ::pread(file.fd, &before, 1, static_cast<off_t>(offset - 1));
  } while (n < 0 && errno == EINTR);
  file.discarding = n == 1 && before != '\n';
}

void LogTail::CheckTruncation(File& file) {
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) >= file.offset) {
    return;
  }
  // copytruncate: the unterminated line read before is in the copy, not in this file.
  file.offset = 0;
  file.line_start = 0;
  file.partial.clear();
  file.discarding = false;
  ++stats_.truncations;
}

LogTail::ReadEnd LogTail::ReadAvailable(File& file,
                                        const std::function<void(std::string_view)>& on_line,
                                        std::size_t& budget, std::size_t& lines) {
  for (;;) {
    const std::size_t want = std::min(buffer_size_, budget);
    if (want == 0) {
      return ReadEnd::kBudget;
    }
    const ssize_t n = ::pread(file.fd, buffer_.get(), want, static_cast<off_t>(file.offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      read_errno_ = errno;
      ++stats_.read_errors;
      return ReadEnd::kError;
    }
    if (n == 0) {
      return ReadEnd::kEndOfFile;
    }
    const auto got = static_cast<std::size_t>(n);
    const std::uint64_t chunk_offset = file.offset;
    file.offset += got;
    budget -= got;
    try {
      Deliver(file, std::string_view(buffer_.get(), got), chunk_offset, on_line, lines);
    } catch (...) {
      // Resume after the line whose delivery threw: re-read what follows it.
      file.offset = file.line_start;
      file.partial.clear();
      file.discarding = false;
      throw;
    }
    if (got < want) {
      // A short read of a regular file ends at its end: spare the read() that returns 0.
      return ReadEnd::kEndOfFile;
    }
  }
}

void LogTail::Deliver(File& file, std::string_view chunk, std::uint64_t chunk_offset,
                      const std::function<void(std::string_view)>& on_line, std::size_t& lines) {
  const std::size_t max = options_.max_line_bytes;
  std::size_t pos = 0;
  while (pos < chunk.size()) {
    const void* found = std::memchr(chunk.data() + pos, '\n', chunk.size() - pos);
    if (found == nullptr) {
      const std::size_t rest = chunk.size() - pos;
      if (!file.discarding) {
        if (file.partial.size() + rest > max) {
          // Never buffer more than one maximal line: drop the rest up to its '\n'.
          file.discarding = true;
          file.partial.clear();
          ++stats_.oversize_lines;
        } else {
          file.partial.append(chunk.data() + pos, rest);
        }
      }
      return;
    }
    const auto newline = static_cast<std::size_t>(static_cast<const char*>(found) - chunk.data());
    const std::string_view piece = chunk.substr(pos, newline - pos);
    pos = newline + 1;
    file.line_start = chunk_offset + pos;
    if (file.discarding) {
      file.discarding = false;
      continue;
    }
    if (file.partial.size() + piece.size() > max) {
      file.partial.clear();
      ++stats_.oversize_lines;
      continue;
    }
    ++stats_.lines;
    ++lines;
    if (file.partial.empty()) {
      on_line(piece);
    } else {
      file.partial.append(piece);
      on_line(file.partial);
      file.partial.clear();
    }
  }
}

void LogTail::FinishDraining(const std::function<void(std::string_view)>& on_line,
                             std::size_t& lines) {
  // Take the file out first, so that an exception from on_line leaves nothing half closed.
  const File file = std::move(*draining_);
  draining_.reset();
  if (!file.discarding && !file.partial.empty()) {
    // Nothing can complete this line any more.
    ++stats_.lines;
    ++lines;
    on_line(file.partial);
  }
}

void LogTail::StartDraining(const std::function<void(std::string_view)>& on_line,
                            std::size_t& lines) {
  if (draining_) {
    FinishDraining(on_line, lines);
  }
  draining_ = std::move(current_);
  current_.reset();
  draining_->close_at = Now() + options_.rotate_wait;
  if (options_.rotate_wait <= std::chrono::milliseconds::zero()) {
    FinishDraining(on_line, lines);
  }
}

LogTail::PollResult LogTail::Poll(const std::function<void(std::string_view line)>& on_line) {
  PollResult result;
  std::size_t budget = options_.max_bytes_per_poll;

  if (draining_) {
    const ReadEnd end = ReadAvailable(*draining_, on_line, budget, result.lines);
    if (end == ReadEnd::kBudget) {
      result.more = true;
    } else if (end == ReadEnd::kError || Now() >= draining_->close_at) {
      // A read error on a file nobody can open any more ends it like its rotate_wait would.
      FinishDraining(on_line, result.lines);
    }
  }

  // At most two files per call: the one followed, then the one that replaced it.
  for (int round = 0; round < 2 && !result.more; ++round) {
    if (!current_) {
      current_ = OpenPath(/*at_construction=*/false);
      if (!current_) {
        break;
      }
      if (draining_ && draining_->device == current_->device &&
          draining_->inode == current_->inode) {
        // The old file is back at the path (renamed back): carry on where it was.
        current_ = std::move(draining_);
        draining_.reset();
      }
    }

    CheckTruncation(*current_);
    const ReadEnd end = ReadAvailable(*current_, on_line, budget, result.lines);
    if (end == ReadEnd::kBudget) {
      result.more = true;
      break;
    }
    if (end == ReadEnd::kError) {
      SetState(LogTailState::kError, "cannot read " + path_ + ": " + ErrorText(read_errno_));
      break;
    }
    SetState(LogTailState::kFollowing, "");

    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) {
      if (SameFile(st, current_->device, current_->inode)) {
        break;
      }
    } else if (errno != ENOENT) {
      // The path cannot be checked (a directory made unsearchable, say), but the open file
      // can still be read: keep following it.
      break;
    }

    // The path names another file or none. The writer may have appended to the old file
    // since it was read: read it to its end before moving on.
    if (ReadAvailable(*current_, on_line, budget, result.lines) == ReadEnd::kBudget) {
      result.more = true;
      break;
    }
    ++stats_.rotations;
    StartDraining(on_line, result.lines);
    // Until the next round finds a file at the path.
    SetState(LogTailState::kWaiting, "waiting for " + path_);
  }

  result.state = state_;
  return result;
}

LogPosition LogTail::Position() const {
  const std::optional<File>& file = current_ ? current_ : draining_;
  if (!file) {
    return {};
  }
  return {file->device, file->inode, file->line_start};
}

}  // namespace nines::collectors
