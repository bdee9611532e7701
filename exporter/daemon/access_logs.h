#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "collectors/access_log.h"
#include "collectors/syslog_source.h"
#include "exporter/config/config.h"
#include "exporter/state/state_file.h"

namespace nines::daemon {

/// The readers of every configured access log: a file follower or a syslog listener per
/// `nginx[].access_log`, all feeding one AccessLogMetrics. Apply() is the reload step:
/// readers whose server and source are unchanged keep running (a file keeps its read
/// position, so a reload neither loses nor repeats lines); the others are replaced.
/// Thread safe.
class AccessLogSources {
 public:
  explicit AccessLogSources(collectors::AccessLogMetrics& metrics) : metrics_(metrics) {}

  /// Makes `config`'s access logs the running set. Returns "" or why a source could not be
  /// started (a syslog address already in use, say); the previous set is then restored as
  /// far as possible and the caller keeps the previous config.
  std::string Apply(const std::shared_ptr<const config::Config>& config);

  /// Adds a section "log/<server>" per followed file: its path and read position. Call
  /// under AccessLogMetrics::PauseIngest() to save positions that agree with the counts.
  void Save(state::Sections& sections) const;
  /// Sets where file followers resume: a server's saved position applies when its follower
  /// is first started, if it still follows the same path (so call before the first Apply).
  /// Sections that do not decode are logged and ignored.
  void SetResumePositions(const state::Sections& sections);

 private:
  struct Source {
    std::string key;  // "file:<path>" or "syslog:<address>": what the reader reads
    std::unique_ptr<collectors::AccessLogFollower> follower;
    std::unique_ptr<collectors::SyslogListener> listener;
  };

  std::string TryApply(const config::Config& config);

  collectors::AccessLogMetrics& metrics_;
  mutable std::mutex mutex_;
  // Saved positions by server, each used once.
  std::map<std::string, std::pair<std::string, collectors::LogPosition>> resume_;
  std::shared_ptr<const config::Config> current_;
  std::map<std::string, Source> sources_;  // by server name
};

}  // namespace nines::daemon
