#include "exporter/daemon/reloader.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "exporter/config/default_config.h"

namespace nines::daemon {

config::LoadResult LoadConfig(const std::string& config_file, const std::string& self_url) {
  if (config_file.empty()) {
    return config::LoadConfigText(config::DefaultConfigText(self_url), config::kBuiltinConfigName);
  }
  return config::LoadConfigFile(config_file);
}

Reloader::Reloader(std::string config_file, metrics::SelfMetrics& self_metrics)
    : config_file_(std::move(config_file)), self_metrics_(self_metrics) {}

void Reloader::OnApply(Applier applier) {
  std::lock_guard lock(reload_mutex_);
  appliers_.push_back(std::move(applier));
}

void Reloader::SetSelfUrl(std::string self_url) {
  std::lock_guard lock(reload_mutex_);
  self_url_ = std::move(self_url);
}

config::LoadResult Reloader::Load() const { return LoadConfig(config_file_, self_url_); }

std::vector<std::string> Reloader::Reload() {
  std::lock_guard lock(reload_mutex_);
  config::LoadResult result = Load();
  if (!result.ok()) {
    self_metrics_.ReloadFailed();
    return std::move(result.errors);
  }
  for (std::size_t i = 0; i < appliers_.size(); ++i) {
    std::string error = appliers_[i](result.config);
    if (error.empty()) {
      continue;
    }
    // Roll the appliers that took the new config back to the running one.
    if (std::shared_ptr<const config::Config> previous = Current()) {
      for (std::size_t j = 0; j < i; ++j) {
        if (std::string rollback = appliers_[j](previous); !rollback.empty()) {
          spdlog::error("rolling back a failed reload: {}", rollback);
        }
      }
    }
    self_metrics_.ReloadFailed();
    return {result.config->source + ": " + error};
  }
  {
    std::lock_guard current_lock(current_mutex_);
    current_ = result.config;
  }
  self_metrics_.ReloadSucceeded(std::chrono::system_clock::now());
  return {};
}

std::shared_ptr<const config::Config> Reloader::Current() const {
  std::lock_guard lock(current_mutex_);
  return current_;
}

}  // namespace nines::daemon
