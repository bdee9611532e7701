#include "exporter/config/duration.h"

#include <gtest/gtest.h>

namespace nines::config {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, Valid) {
  struct Case {
    const char* text;
    Duration want;
  };
  const Case cases[] = {
      {"0", 0s},
      {"0s", 0s},
      {"15s", 15s},
      {"1m30s", 90s},
      {"250ms", 250ms},
      {"1.5s", 1500ms},
      {"2h", 2h},
      {"1d", 24h},
      {"1w", 168h},
      {"1y", 8760h},
      {"30d", 720h},
      {"100us", 100us},
      {"100\xC2\xB5s", 100us},
      {"7ns", 7ns},
      {"1h0m0.5s", 3600500ms},
  };
  for (const Case& c : cases) {
    std::string error;
    auto got = ParseDuration(c.text, &error);
    ASSERT_TRUE(got.has_value()) << c.text << ": " << error;
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(ParseDuration, Invalid) {
  struct Case {
    const char* text;
    const char* why;
  };
  const Case cases[] = {
      {"", "empty duration"},       {"-5s", "negative duration"},
      {"5", "missing unit"},        {"5x", "unknown unit"},
      {"s", "expected a number"},   {"1.s", "not a number: 1."},
      {".5s", "not a number: .5"},  {"1..5s", "not a number: 1..5"},
      {"5s ", "expected a number"}, {"1000000y", "duration too long"},
      {"5 s", "unknown unit"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_FALSE(ParseDuration(c.text, &error).has_value()) << c.text;
    EXPECT_EQ(error, c.why) << c.text;
  }
}

TEST(FormatDuration, Shortest) {
  EXPECT_EQ(FormatDuration(0s), "0s");
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatDuration(250ms), "250ms");
  EXPECT_EQ(FormatDuration(1500ms), "1s500ms");
  EXPECT_EQ(FormatDuration(720h), "4w2d");
  EXPECT_EQ(FormatDuration(8760h + 1h), "1y1h");
  EXPECT_EQ(FormatDuration(1500ns), "1us500ns");
}

TEST(FormatDuration, RoundTrips) {
  for (Duration d : {Duration(1ms), Duration(90s), Duration(49h), Duration(1234567890ns)}) {
    std::string error;
    auto back = ParseDuration(FormatDuration(d), &error);
    ASSERT_TRUE(back.has_value()) << error;
    EXPECT_EQ(*back, d);
  }
}

TEST(ToSeconds, Fractions) {
  EXPECT_DOUBLE_EQ(ToSeconds(250ms), 0.25);
  EXPECT_DOUBLE_EQ(ToSeconds(2h), 7200.0);
}

}  // namespace
}  // namespace nines::config

namespace nines::config {
namespace {

TEST(FormatDuration, Negative) {
  EXPECT_EQ(FormatDuration(std::chrono::seconds(-90)), "-1m30s");
  EXPECT_EQ(FormatDuration(Duration::min()), "-292y24w3d23h47m16s854ms775us808ns");
}

}  // namespace
}  // namespace nines::config
