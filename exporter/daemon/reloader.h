#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/config/config.h"
#include "exporter/config/loader.h"
#include "exporter/metrics/self_metrics.h"

namespace nines::daemon {

/// Owns the running config and swaps it whole on reload. A reload that fails validation
/// (or whose apply step fails) leaves the running config untouched and sets
/// `nines_config_last_reload_successful` to 0. Thread safe: reloads from SIGHUP and
/// `POST /-/reload` are serialized.
class Reloader {
 public:
  /// Applies a new config to the parts of the daemon that use it. Returns "" on success
  /// or why it could not be applied (the previous config stays).
  using Applier = std::function<std::string(const std::shared_ptr<const config::Config>&)>;

  /// `config_file` "" means the built-in default config.
  Reloader(std::string config_file, metrics::SelfMetrics& self_metrics);

  /// Where the daemon serves HTTP ("http://127.0.0.1:9469"), for the built-in default
  /// config's probe of itself. Call before the first Reload().
  void SetSelfUrl(std::string self_url);

  /// Registers an applier, called in registration order on every successful load. When
  /// one fails, those before it are called again with the running config.
  void OnApply(Applier applier);

  /// Loads the config and applies it. Returns the errors, empty on success.
  std::vector<std::string> Reload();

  /// The running config; null before the first successful Reload().
  std::shared_ptr<const config::Config> Current() const;

 private:
  config::LoadResult Load() const;

  std::string config_file_;
  std::string self_url_ = "http://127.0.0.1:9469";
  metrics::SelfMetrics& self_metrics_;
  std::mutex reload_mutex_;  // serializes Reload()
  mutable std::mutex current_mutex_;
  std::shared_ptr<const config::Config> current_;
  std::vector<Applier> appliers_;
};

/// Loads `config_file`, or the built-in default (probing `self_url`) when it is "".
config::LoadResult LoadConfig(const std::string& config_file, const std::string& self_url);

}  // namespace nines::daemon
