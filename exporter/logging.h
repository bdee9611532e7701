#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <memory>
#include <optional>
#include <string_view>

/// Log setup in the node_exporter style: `--log.level` and `--log.format` (logfmt or
/// json), one event per line on stderr.
namespace nines::logging {

enum class Format { kLogfmt, kJson };

/// "logfmt" or "json"; std::nullopt otherwise.
std::optional<Format> ParseFormat(std::string_view name);

/// "debug", "info", "warn" or "error"; std::nullopt otherwise.
std::optional<spdlog::level::level_enum> ParseLevel(std::string_view name);

/// A formatter writing `ts=... level=... msg="..."` (logfmt) or
/// `{"ts":"...","level":"...","msg":"..."}` (json) with UTC RFC 3339 millisecond
/// timestamps. Messages are escaped so an event never spans two lines.
std::unique_ptr<spdlog::formatter> MakeFormatter(Format format);

/// Replaces spdlog's default logger with a thread-safe stderr logger using `format`.
void Setup(spdlog::level::level_enum level, Format format);

}  // namespace nines::logging
