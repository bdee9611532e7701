#include "exporter/daemon/access_logs.h"

#include <exception>
#include <vector>

namespace nines::daemon {
namespace {

std::string KeyOf(const config::AccessLog& log) {
  return log.path.empty() ? "syslog:" + log.syslog : "file:" + log.path;
}

}  // namespace

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
        source.follower =
            std::make_unique<collectors::AccessLogFollower>(metrics_, server, log->path);
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
