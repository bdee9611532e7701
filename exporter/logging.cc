#include "exporter/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace nines::logging {
namespace {

std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
    case spdlog::level::critical:
      return "error";
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return "info";
}

void AppendTimestamp(spdlog::log_clock::time_point time, spdlog::memory_buf_t& out) {
  using namespace std::chrono;
  auto since_epoch = time.time_since_epoch();
  auto secs = duration_cast<seconds>(since_epoch);
  auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
  std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 40> text{};
  int n = std::snprintf(text.data(), text.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, static_cast<int>(millis));
  if (n > 0) {
    out.append(text.data(), text.data() + n);
  }
}

// Escapes for a double-quoted string; JSON and logfmt share the rules that matter:
// quote, backslash and control characters.
void AppendQuoted(std::string_view text, spdlog::memory_buf_t& out) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          std::array<char, 8> hex{};
          int n = std::snprintf(hex.data(), hex.size(), "\\u%04x", c);
          out.append(hex.data(), hex.data() + n);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

class StructuredFormatter final : public spdlog::formatter {
 public:
  explicit StructuredFormatter(Format format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string_view level = LevelName(msg.level);
    if (format_ == Format::kJson) {
      dest.append(std::string_view("{\"ts\":\""));
      AppendTimestamp(msg.time, dest);
      dest.append(std::string_view("\",\"level\":\""));
      dest.append(level);
      dest.append(std::string_view("\",\"msg\":"));
      AppendQuoted(payload, dest);
      dest.append(std::string_view("}\n"));
      return;
    }
    dest.append(std::string_view("ts="));
    AppendTimestamp(msg.time, dest);
    dest.append(std::string_view(" level="));
    dest.append(level);
    dest.append(std::string_view(" msg="));
    AppendQuoted(payload, dest);
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<StructuredFormatter>(format_);
  }

 private:
  Format format_;
};

}  // namespace

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "logfmt") {
    return Format::kLogfmt;
  }
  if (name == "json") {
    return Format::kJson;
  }
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> ParseLevel(std::string_view name) {
  if (name == "debug") {
    return spdlog::level::debug;
  }
  if (name == "info") {
    return spdlog::level::info;
  }
  if (name == "warn") {
    return spdlog::level::warn;
  }
  if (name == "error") {
    return spdlog::level::err;
  }
  return std::nullopt;
}

std::unique_ptr<spdlog::formatter> MakeFormatter(Format format) {
  return std::make_unique<StructuredFormatter>(format);
}

void Setup(spdlog::level::level_enum level, Format format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("nines", std::move(sink));
  logger->set_formatter(MakeFormatter(format));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace nines::logging
