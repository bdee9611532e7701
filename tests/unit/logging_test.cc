#include "exporter/logging.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

#include <regex>

namespace nines::logging {
namespace {

std::string FormatOne(Format format, spdlog::level::level_enum level, std::string_view text) {
  auto formatter = MakeFormatter(format);
  spdlog::details::log_msg msg(spdlog::source_loc{}, "nines", level,
                               spdlog::string_view_t(text.data(), text.size()));
  msg.time = spdlog::log_clock::time_point(std::chrono::milliseconds(1795549653375));
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  return std::string(out.data(), out.size());
}

TEST(Logfmt, Line) {
  EXPECT_EQ(FormatOne(Format::kLogfmt, spdlog::level::info, "listening on :9469"),
            "ts=2026-11-24T19:47:33.375Z level=info msg=\"listening on :9469\"\n");
  EXPECT_EQ(FormatOne(Format::kLogfmt, spdlog::level::warn, "x"),
            "ts=2026-11-24T19:47:33.375Z level=warn msg=\"x\"\n");
  EXPECT_EQ(FormatOne(Format::kLogfmt, spdlog::level::err, "x"),
            "ts=2026-11-24T19:47:33.375Z level=error msg=\"x\"\n");
}

TEST(Logfmt, EscapesSoOneEventIsOneLine) {
  EXPECT_EQ(FormatOne(Format::kLogfmt, spdlog::level::debug, "a \"b\"\nc\\d\x01"),
            "ts=2026-11-24T19:47:33.375Z level=debug msg=\"a \\\"b\\\"\\nc\\\\d\\u0001\"\n");
}

TEST(Json, Line) {
  EXPECT_EQ(FormatOne(Format::kJson, spdlog::level::err, "bad \"x\"\t"),
            "{\"ts\":\"2026-11-24T19:47:33.375Z\",\"level\":\"error\",\"msg\":\"bad "
            "\\\"x\\\"\\t\"}\n");
}

TEST(Parse, LevelsAndFormats) {
  EXPECT_EQ(ParseLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(ParseLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(ParseLevel("error"), spdlog::level::err);
  EXPECT_FALSE(ParseLevel("warning").has_value());
  EXPECT_EQ(ParseFormat("json"), Format::kJson);
  EXPECT_EQ(ParseFormat("logfmt"), Format::kLogfmt);
  EXPECT_FALSE(ParseFormat("text").has_value());
}

}  // namespace
}  // namespace nines::logging
