#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/config.h"

namespace nines::config {

/// The outcome of loading a config: either a validated config, or every error found, each
/// one line `file:line:col: key.path: what is wrong (got X)`.
struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is not empty
  std::vector<std::string> errors;

  bool ok() const { return config != nullptr; }
};

/// Reads and validates a config file. Never throws; unreadable files and YAML syntax
/// errors are reported like any other error.
LoadResult LoadConfigFile(const std::string& path);

/// Validates config text; `source` names it in errors and in Config::source.
LoadResult LoadConfigText(std::string_view text, const std::string& source);

}  // namespace nines::config
