// Tests of the helpers the host collectors share: collectors/text.h (quoting, splitting,
// UTF-8, uint64 parsing, reading files that may be absent) and collectors/options.h (flag
// regexes, node_exporter's device filter). The collectors' own tests pin the messages these
// produce in context; these pin the helpers' edge cases once.
#include "collectors/text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "collectors/collector.h"
#include "collectors/options.h"

namespace nines::collectors {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

// The message of the exception `fn()` throws, or "(no error)".
template <typename Fn>
std::string ErrorFrom(Fn fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::string Uint64Error(std::string_view token, std::string_view what = "x") {
  return ErrorFrom([&] { ParseUint64(token, what); });
}

// Quote

TEST(QuoteTest, EscapesQuotesBackslashesAndNonPrintableBytes) {
  EXPECT_EQ(Quote(""), R"("")");
  EXPECT_EQ(Quote("eth0"), R"("eth0")");
  EXPECT_EQ(Quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Quote(std::string_view("\x00\x1f\x7f\x80\xff", 5)), R"("\x00\x1f\x7f\x80\xff")");
  EXPECT_EQ(Quote("tab\there\n"), R"("tab\x09here\x0a")");
  // UTF-8 is escaped byte by byte too: messages stay ASCII.
  EXPECT_EQ(Quote("\xc3\xa9"), R"("\xc3\xa9")");
}

TEST(QuoteTest, CutsLongValues) {
  EXPECT_EQ(Quote(std::string(kMaxQuotedBytes, 'x')),
            "\"" + std::string(kMaxQuotedBytes, 'x') + "\"");
  EXPECT_EQ(Quote(std::string(kMaxQuotedBytes + 1, 'x')),
            "\"" + std::string(kMaxQuotedBytes, 'x') + "...\"");
  // The cut counts input bytes, not escaped output.
  std::string escaped;
  for (std::size_t i = 0; i < kMaxQuotedBytes; ++i) {
    escaped += "\\x0a";
  }
  EXPECT_EQ(Quote(std::string(100, '\n')), "\"" + escaped + "...\"");
}

// IsSpace, NextLine, NextField, SplitFields, Trim

TEST(IsSpaceTest, IsTheCLocaleSet) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool want = c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
    EXPECT_EQ(IsSpace(ch), want) << c;
  }
  // No Unicode spaces: the bytes of U+00A0 and U+0085 are not spaces.
  EXPECT_FALSE(IsSpace('\xa0'));
  EXPECT_FALSE(IsSpace('\x85'));
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    lines.push_back(NextLine(text));
  }
  return lines;
}

TEST(NextLineTest, SplitsAtNewlines) {
  EXPECT_THAT(Lines(""), IsEmpty());
  EXPECT_THAT(Lines("a"), ElementsAre("a"));
  EXPECT_THAT(Lines("a\n"), ElementsAre("a"));
  EXPECT_THAT(Lines("a\n\n"), ElementsAre("a", ""));
  EXPECT_THAT(Lines("\na\r\nb"), ElementsAre("", "a\r", "b"));
}

TEST(NextFieldTest, ConsumesOneFieldAtATime) {
  std::string_view rest = " \tMemTotal:\v 16 \f kB \r\n";
  EXPECT_EQ(NextField(rest), "MemTotal:");
  EXPECT_EQ(NextField(rest), "16");
  EXPECT_EQ(NextField(rest), "kB");
  EXPECT_EQ(rest, " \r\n");
  EXPECT_EQ(NextField(rest), "");
  EXPECT_EQ(rest, "");
  EXPECT_EQ(NextField(rest), "");
}

TEST(SplitFieldsTest, StoresAtMostMaxAndCountsAll) {
  std::vector<std::string_view> fields = {"stale"};
  EXPECT_EQ(SplitFields("  a bb\tccc\n", 10, fields), 3u);
  EXPECT_THAT(fields, ElementsAre("a", "bb", "ccc"));
  EXPECT_EQ(SplitFields("a b c d e", 2, fields), 5u);
  EXPECT_THAT(fields, ElementsAre("a", "b"));
  EXPECT_EQ(SplitFields(" \t\n", 2, fields), 0u);
  EXPECT_THAT(fields, IsEmpty());
  EXPECT_EQ(SplitFields("x", 0, fields), 1u);
  EXPECT_THAT(fields, IsEmpty());
}

TEST(TrimTest, RemovesWhitespaceAtBothEnds) {
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim(" \t\n"), "");
  EXPECT_EQ(Trim("\v tsc \f\r\n"), "tsc");
  EXPECT_EQ(Trim("a b"), "a b");
}

// IsValidUtf8

TEST(IsValidUtf8Test, AcceptsShortestFormsUpToU10FFFF) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));
  EXPECT_TRUE(IsValidUtf8("\xc2\x80"));          // U+0080
  EXPECT_TRUE(IsValidUtf8("\xdf\xbf"));          // U+07FF
  EXPECT_TRUE(IsValidUtf8("\xe0\xa0\x80"));      // U+0800
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));      // U+D7FF
  EXPECT_TRUE(IsValidUtf8("\xee\x80\x80"));      // U+E000
  EXPECT_TRUE(IsValidUtf8("\xef\xbf\xbf"));      // U+FFFF
  EXPECT_TRUE(IsValidUtf8("\xf0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac"));
}

TEST(IsValidUtf8Test, RejectsWhatGoRejects) {
  for (const std::string_view text : {
           "\x80",              // continuation byte without a lead
           "\xbf",              //
           "\xc0\x80",          // overlong U+0000
           "\xc1\xbf",          // overlong U+007F
           "\xe0\x9f\xbf",      // overlong U+07FF
           "\xf0\x8f\xbf\xbf",  // overlong U+FFFF
           "\xed\xa0\x80",      // surrogate U+D800
           "\xed\xbf\xbf",      // surrogate U+DFFF
           "\xf4\x90\x80\x80",  // U+110000
           "\xf5\x80\x80\x80",  // lead byte above 0xf4
           "\xff",              //
           "\xc3",              // cut short
           "\xe2\x82",          //
           "\xf0\x90\x80",      //
           "\xc3\x28",          // bad continuation
           "\xe2\x28\xa1",      //
           "\xe2\x82\x28",      //
           "\xf0\x90\x28\xbc",  //
           "a\xc3",             // valid, then cut short
       }) {
    EXPECT_FALSE(IsValidUtf8(text)) << Quote(text);
  }
}

// TryParseUint64, ParseUint64

TEST(ParseUint64Test, AcceptsUnsignedDecimalsInRange) {
  EXPECT_THAT(TryParseUint64("0"), Optional(0u));
  EXPECT_THAT(TryParseUint64("007"), Optional(7u));
  EXPECT_THAT(TryParseUint64("18446744073709551615"),
              Optional(std::numeric_limits<std::uint64_t>::max()));
  EXPECT_EQ(ParseUint64("42", "x"), 42u);
  EXPECT_EQ(ParseUint64("42", [] { return std::string("x"); }), 42u);
}

TEST(ParseUint64Test, RejectsEverythingElse) {
  for (const std::string_view token :
       {"", " 1", "1 ", "+1", "-1", "1.5", "1e3", "0x10", "12abc", "18446744073709551616"}) {
    EXPECT_EQ(TryParseUint64(token), std::nullopt) << token;
  }
}

TEST(ParseUint64Test, MessageNamesTheValueAndTheProblem) {
  EXPECT_EQ(Uint64Error("abc", "line 3: MemFree"), R"(line 3: MemFree: not a number (got "abc"))");
  EXPECT_EQ(Uint64Error(""), R"(x: not a number (got ""))");
  EXPECT_EQ(Uint64Error("1.5"), R"(x: not a number (got "1.5"))");
  EXPECT_EQ(Uint64Error("+5"), R"(x: not a number (got "+5"))");
  EXPECT_EQ(Uint64Error("0x10"), R"(x: not a number (got "0x10"))");
  EXPECT_EQ(Uint64Error("12\n"), R"(x: not a number (got "12\x0a"))");
  // "negative" only for a minus sign before digits alone.
  EXPECT_EQ(Uint64Error("-5"), R"(x: negative (got "-5"))");
  EXPECT_EQ(Uint64Error("-99999999999999999999"), R"(x: negative (got "-99999999999999999999"))");
  EXPECT_EQ(Uint64Error("-"), R"(x: not a number (got "-"))");
  EXPECT_EQ(Uint64Error("--5"), R"(x: not a number (got "--5"))");
  EXPECT_EQ(Uint64Error("-x"), R"(x: not a number (got "-x"))");
  EXPECT_EQ(Uint64Error("-5x"), R"(x: not a number (got "-5x"))");
  // Digits past the range are out of range, whatever follows them.
  EXPECT_EQ(Uint64Error("18446744073709551616"), R"(x: out of range (got "18446744073709551616"))");
  EXPECT_EQ(Uint64Error("99999999999999999999x"),
            R"(x: out of range (got "99999999999999999999x"))");
  EXPECT_EQ(Uint64Error(std::string(100, '9')),
            "x: out of range (got \"" + std::string(kMaxQuotedBytes, '9') + "...\")");
}

TEST(ParseUint64Test, EmptyNameLeavesOnlyTheProblem) {
  EXPECT_EQ(Uint64Error("abc", ""), R"(not a number (got "abc"))");
  EXPECT_EQ(Uint64Error("-1", ""), R"(negative (got "-1"))");
}

TEST(ParseUint64Test, NameCallableRunsOnlyOnFailure) {
  int calls = 0;
  const auto what = [&calls] {
    ++calls;
    return std::string("line 2: cpu0 idle");
  };
  EXPECT_EQ(ParseUint64("5", what), 5u);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(ErrorFrom([&] { ParseUint64("x", what); }),
            R"(line 2: cpu0 idle: not a number (got "x"))");
  EXPECT_EQ(calls, 1);
}

// ReadOptionalFile, ReadFile

class ReadFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("text_test_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) const {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

TEST_F(ReadFileTest, ReadsWholeFiles) {
  EXPECT_THAT(ReadOptionalFile(Write("empty", "")), Optional(std::string()));
  const std::string big(100000, 'x');  // more than one read
  EXPECT_THAT(ReadOptionalFile(Write("big", big)), Optional(big));
  EXPECT_EQ(ReadFile(Write("nul", std::string("a\0b", 3))), std::string("a\0b", 3));
}

TEST_F(ReadFileTest, ReadsProcfsFilesThatReportSizeZero) {
  const std::optional<std::string> text = ReadOptionalFile("/proc/self/stat");
  ASSERT_TRUE(text.has_value());
  EXPECT_FALSE(text->empty());
}

TEST_F(ReadFileTest, AbsentOnlyWhenTheFileDoesNotExist) {
  EXPECT_EQ(ReadOptionalFile(Path("missing")), std::nullopt);
  EXPECT_EQ(ReadOptionalFile(Path("missing/dir/file")), std::nullopt);
  EXPECT_EQ(ErrorFrom([&] { ReadFile(Path("missing")); }),
            "cannot read " + Path("missing") + ": No such file or directory");
  // A path through a file is an error: the tree is not what it should be.
  const std::string file = Write("file", "x");
  EXPECT_EQ(ErrorFrom([&] { ReadOptionalFile(file + "/cpu"); }),
            "cannot read " + file + "/cpu: Not a directory");
  EXPECT_EQ(ErrorFrom([&] { ReadOptionalFile(dir_.string()); }),
            "cannot read " + dir_.string() + ": Is a directory");
}

TEST_F(ReadFileTest, ErrorsCarryTheErrno) {
  try {
    ReadOptionalFile(dir_.string());
    FAIL() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::is_a_directory);
  }
  try {
    ReadFile(Path("missing"));
    FAIL() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  }
}

TEST_F(ReadFileTest, MaxBytes) {
  const std::string path = Write("counter", "12345\n");
  EXPECT_THAT(ReadOptionalFile(path, 6), Optional(std::string("12345\n")));
  EXPECT_EQ(ErrorFrom([&] { ReadOptionalFile(path, 5); }),
            "cannot read " + path + ": larger than 5 bytes");
  EXPECT_EQ(ErrorFrom([&] { ReadOptionalFile(path, 0); }),
            "cannot read " + path + ": larger than 0 bytes");
  EXPECT_THAT(ReadOptionalFile(Write("empty", ""), 0), Optional(std::string()));
  const std::string big = Write("big", std::string(100000, '7'));
  EXPECT_EQ(ErrorFrom([&] { ReadOptionalFile(big, 64); }),
            "cannot read " + big + ": larger than 64 bytes");
}

// CompileRegexp, DeviceFilter

TEST(CompileRegexpTest, CompilesOrNamesTheFlag) {
  EXPECT_TRUE(RE2::PartialMatch("/dev/shm", *CompileRegexp("^/dev($|/)", "--flag")));
  EXPECT_EQ(ErrorFrom([] { CompileRegexp("(", "--collector.x.exclude"); }),
            R"(--collector.x.exclude: invalid regular expression: missing ): ( (got "("))");
  // An empty pattern is a pattern like any other: it matches everything.
  EXPECT_TRUE(RE2::PartialMatch("anything", *CompileRegexp("", "--flag")));
}

TEST(DeviceFilterTest, ExcludeOrIncludeUnanchored) {
  const DeviceFilter none("", "--exclude", "", "--include");
  EXPECT_FALSE(none.Ignored("eth0"));
  EXPECT_FALSE(none.Ignored(""));

  const DeviceFilter exclude("^(lo|veth)", "--exclude", "", "--include");
  EXPECT_TRUE(exclude.Ignored("lo"));
  EXPECT_TRUE(exclude.Ignored("veth1234"));
  EXPECT_FALSE(exclude.Ignored("eth0"));

  const DeviceFilter include("", "--exclude", "eth", "--include");
  EXPECT_FALSE(include.Ignored("eth0"));
  EXPECT_FALSE(include.Ignored("vetha"));  // unanchored
  EXPECT_TRUE(include.Ignored("lo"));
}

// The message of the std::invalid_argument DeviceFilter throws, or "(no error)".
std::string FilterError(const std::string& exclude, const std::string& include) {
  try {
    const DeviceFilter filter(exclude, "--a.exclude", include, "--a.include");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DeviceFilterTest, RejectsBothPatternsThenBadOnes) {
  EXPECT_EQ(FilterError("(", "x"), "--a.exclude and --a.include are mutually exclusive");
  EXPECT_EQ(FilterError("(", ""),
            R"(--a.exclude: invalid regular expression: missing ): ( (got "("))");
  EXPECT_EQ(FilterError("", "a**"),
            R"(--a.include: invalid regular expression: bad repetition operator: ** (got "a**"))");
  EXPECT_EQ(FilterError("x", ""), "(no error)");
}

}  // namespace
}  // namespace nines::collectors
