#include "exporter/daemon/access_logs.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <vector>

#include "exporter/state/codec.h"

namespace nines::daemon {
namespace {

constexpr std::string_view kPositionPrefix = "log/";
// The version of a "log/<server>" section's layout.
constexpr std::uint64_t kPositionVersion = 1;

std::string KeyOf(const config::AccessLog& log) {
  return log.path.empty() ? "syslog:" + log.syslog : "file:" + log.path;
}

}  // namespace

void AccessLogSources::Save(state::Sections& sections) const {
  std::lock_guard lock(mutex_);
  for (const auto& [server, source] : sources_) {
    if (!source.follower) {
      continue;
    }
    const collectors::LogPosition position = source.follower->Position();
    state::Encoder encoder;
    encoder.U64(kPositionVersion);
    encoder.Str(source.follower->path());
    encoder.U64(position.device);
    encoder.U64(position.inode);
    encoder.U64(position.offset);
    sections[std::string(kPositionPrefix) + server] = encoder.Take();
  }
}

void AccessLogSources::SetResumePositions(const state::Sections& sections) {
  std::lock_guard lock(mutex_);
  resume_.clear();
  for (auto it = sections.lower_bound(std::string(kPositionPrefix));
       it != sections.end() && it->first.starts_with(kPositionPrefix); ++it) {
    const std::string server = it->first.substr(kPositionPrefix.size());
    state::Decoder decoder(it->second);
    std::uint64_t version = 0;
    std::string path;
    collectors::LogPosition position;
    if (!decoder.U64(&version) || version != kPositionVersion || !decoder.Str(&path) ||
        !decoder.U64(&position.device) || !decoder.U64(&position.inode) ||
        !decoder.U64(&position.offset) || !decoder.AtEnd()) {
      spdlog::warn("saved read position of the access log of server \"{}\" ignored: {}", server,
                   decoder.error().empty() ? "unknown layout version " + std::to_string(version)
                                           : decoder.error());
      continue;
    }
    resume_[server] = {std::move(path), position};
  }
}

std::string AccessLogSources::Apply(const std::shared_ptr<const config::Config>& config) {
  std::lock_guard lock(mutex_);
  std::string error = TryApply(*config);
  if (!error.empty()) {
    if (current_ != nullptr) {
      TryApply(*current_);
    }
    return error;
  }
  current_ = config;
  return "";
}

std::string AccessLogSources::TryApply(const config::Config& config) {
  std::vector<collectors::AccessLogSettings> settings;
  std::map<std::string, const config::AccessLog*> wanted;
  for (const config::Nginx& nginx : config.nginx) {
    if (nginx.access_log) {
      const config::AccessLog& log = *nginx.access_log;
      settings.push_back({nginx.name, log.compiled, log.buckets, log.status_codes});
      wanted.emplace(nginx.name, &log);
    }
  }
  // Readers that are gone or read something else stop first, so a syslog address can move
  // from one server to another.
  for (auto it = sources_.begin(); it != sources_.end();) {
    auto found = wanted.find(it->first);
    if (found == wanted.end() || KeyOf(*found->second) != it->second.key) {
      it = sources_.erase(it);
    } else {
      ++it;
    }
  }
  metrics_.SetServers(std::move(settings));
  for (const auto& [server, log] : wanted) {
    if (sources_.contains(server)) {
      continue;
    }
    Source source;
    source.key = KeyOf(*log);
    try {
      if (!log->path.empty()) {
        collectors::AccessLogFollowerOptions options;
        if (auto saved = resume_.find(server); saved != resume_.end()) {
          if (saved->second.first == log->path) {
            options.start_position = saved->second.second;
            spdlog::info("access log of server \"{}\": resuming {} at byte {}", server, log->path,
                         saved->second.second.offset);
          }
          resume_.erase(saved);
        }
        source.follower =
            std::make_unique<collectors::AccessLogFollower>(metrics_, server, log->path, options);
      } else {
        source.listener = std::make_unique<collectors::SyslogListener>(
            log->syslog, [this, name = server](std::span<const std::string_view> lines) {
              metrics_.RecordLines(name, lines);
            });
        metrics_.SetSourceState(server, true, "");
      }
    } catch (const std::exception& e) {
      return "nginx " + server + ": access_log: " + e.what();
    }
    sources_.emplace(server, std::move(source));
  }
  return "";
}

}  // namespace nines::daemon
