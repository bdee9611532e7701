#pragma once

#include <string_view>

namespace nines::config {

/// The name the built-in default config goes by in messages and Config::source.
inline constexpr const char* kBuiltinConfigName = "<built-in default>";

/// The YAML of the config nines runs when no --config.file is given. It goes through
/// the same loader and validation as a file.
std::string_view DefaultConfigText();

}  // namespace nines::config
