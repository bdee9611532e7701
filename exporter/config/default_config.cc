#include "exporter/config/default_config.h"

namespace nines::config {

std::string_view DefaultConfigText() {
  // Keep in sync with the "Built-in default config" section of README.md.
  return R"(# nines built-in default config, used when --config.file is not given.
defaults:
  interval: 15s
  timeout: 5s
probe_endpoint:
  enabled: true
)";
}

}  // namespace nines::config
