// Helpers shared by the tests of log readers and of code that logs: a capture of what
// spdlog writes, and a log writer that behaves like nginx.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace nines::testing {

/// Makes a logger that keeps the last 1000 lines the default logger for its lifetime.
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)),
        previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::trace);
    sink_->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  /// The lines logged so far as "<level> <message>".
  std::vector<std::string> Lines() const { return sink_->last_formatted(); }

  /// The lines logged at `level` ("warning", "info", ...).
  std::vector<std::string> At(std::string_view level) const {
    std::vector<std::string> out;
    for (const std::string& line : Lines()) {
      if (line.starts_with(std::string(level) + " ")) {
        out.push_back(line);
      }
    }
    return out;
  }

  /// How many lines were logged at `level`.
  std::size_t Count(std::string_view level) const { return At(level).size(); }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

/// Appends to a log file the way nginx does: opened with O_APPEND (created if missing),
/// one write() per Write(), reopened on Reopen() as on SIGUSR1.
class AppendWriter {
 public:
  explicit AppendWriter(std::filesystem::path path) : path_(std::move(path)) { Reopen(); }
  ~AppendWriter() { ::close(fd_); }
  AppendWriter(const AppendWriter&) = delete;
  AppendWriter& operator=(const AppendWriter&) = delete;

  /// Opens the path again (creating it) and writes there from now on.
  void Reopen() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(), "open " + path_.string());
    }
  }

  /// Writes `text` with one write().
  void Write(std::string_view text) const {
    ASSERT_EQ(::write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace nines::testing
