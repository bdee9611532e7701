#include "exporter/config/default_config.h"

namespace nines::config {

std::string DefaultConfigText(const std::string& self_url) {
  // Keep in sync with the "Built-in default config" section of README.md.
  return R"(# nines built-in default config, used when --config.file is not given.
defaults:
  interval: 15s
  timeout: 5s
probes:
  - name: nines
    module: http_2xx
    target: )" +
         self_url + R"(/-/healthy
probe_endpoint:
  enabled: true
)";
}

}  // namespace nines::config
