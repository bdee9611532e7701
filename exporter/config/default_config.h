#pragma once

#include <string>

namespace nines::config {

/// The name the built-in default config goes by in messages and Config::source.
inline constexpr const char* kBuiltinConfigName = "<built-in default>";

/// The YAML of the config nines runs when no --config.file is given: the host collectors
/// (flags), the `/probe` endpoint, and one continuous probe named `nines` of its own
/// `/-/healthy` at `self_url` (e.g. "http://127.0.0.1:9469"), so the first run shows real
/// probe data. It goes through the same loader and validation as a file.
std::string DefaultConfigText(const std::string& self_url);

}  // namespace nines::config
