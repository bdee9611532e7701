#include "exporter/state/state_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "exporter/slo/window.h"
#include "exporter/state/codec.h"

namespace nines::state {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Status = LoadedState::Status;

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();
constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();

// ---------------------------------------------------------------------------------------
// Codec primitives

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (const int b : bytes) {
    out.push_back(static_cast<char>(b));
  }
  return out;
}

std::string EncodedU64(std::uint64_t value) {
  Encoder e;
  e.U64(value);
  return e.Take();
}

TEST(Codec, U64RoundTripsEdgeValues) {
  const std::uint64_t values[] = {0,
                                  1,
                                  127,
                                  128,
                                  255,
                                  300,
                                  16'383,
                                  16'384,
                                  std::uint64_t{1} << 32,
                                  (std::uint64_t{1} << 63) - 1,
                                  std::uint64_t{1} << 63,
                                  kU64Max - 1,
                                  kU64Max};
  Encoder e;
  for (const std::uint64_t v : values) {
    e.U64(v);
  }
  Decoder d(e.data());
  for (const std::uint64_t v : values) {
    std::uint64_t got = 1;
    ASSERT_TRUE(d.U64(&got)) << v << ": " << d.error();
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(d.AtEnd());
  EXPECT_EQ(d.offset(), e.data().size());
  EXPECT_EQ(d.error(), "");
}

TEST(Codec, U64Bytes) {
  EXPECT_EQ(EncodedU64(0), Bytes({0x00}));
  EXPECT_EQ(EncodedU64(127), Bytes({0x7f}));
  EXPECT_EQ(EncodedU64(128), Bytes({0x80, 0x01}));
  EXPECT_EQ(EncodedU64(300), Bytes({0xac, 0x02}));
  EXPECT_EQ(EncodedU64(std::uint64_t{1} << 63),
            Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}));
  EXPECT_EQ(EncodedU64(kU64Max),
            Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST(Codec, I64RoundTripsEdgeValuesZigzag) {
  const std::int64_t values[] = {0, -1, 1, -64, 63, 64, -65, kI64Min, kI64Min + 1, kI64Max};
  Encoder e;
  for (const std::int64_t v : values) {
    e.I64(v);
  }
  Decoder d(e.data());
  for (const std::int64_t v : values) {
    std::int64_t got = 1;
    ASSERT_TRUE(d.I64(&got)) << v << ": " << d.error();
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(d.AtEnd());

  Encoder small;
  small.I64(0);
  small.I64(-1);
  small.I64(1);
  small.I64(-64);
  EXPECT_EQ(small.data(), Bytes({0x00, 0x01, 0x02, 0x7f}));
  Encoder min;
  min.I64(kI64Min);
  EXPECT_EQ(min.data(), EncodedU64(kU64Max));
}

TEST(Codec, F64RoundTripsBitExact) {
  const std::uint64_t bits[] = {
      std::bit_cast<std::uint64_t>(0.0),
      std::bit_cast<std::uint64_t>(-0.0),
      std::bit_cast<std::uint64_t>(1.5),
      std::bit_cast<std::uint64_t>(-1e300),
      std::bit_cast<std::uint64_t>(std::numeric_limits<double>::infinity()),
      std::bit_cast<std::uint64_t>(-std::numeric_limits<double>::infinity()),
      std::bit_cast<std::uint64_t>(std::numeric_limits<double>::quiet_NaN()),
      std::bit_cast<std::uint64_t>(std::numeric_limits<double>::denorm_min()),
      std::bit_cast<std::uint64_t>(std::numeric_limits<double>::max()),
      0x7ff0'0000'0000'0001,  // a signalling NaN with a payload
      0xfff8'0000'0000'0123,  // a negative quiet NaN with a payload
  };
  Encoder e;
  for (const std::uint64_t b : bits) {
    e.F64(std::bit_cast<double>(b));
  }
  ASSERT_EQ(e.data().size(), 8 * std::size(bits));
  Decoder d(e.data());
  for (const std::uint64_t b : bits) {
    double got = 0;
    ASSERT_TRUE(d.F64(&got)) << d.error();
    EXPECT_EQ(std::bit_cast<std::uint64_t>(got), b);
  }
  EXPECT_TRUE(d.AtEnd());

  Encoder one;
  one.F64(1.0);
  EXPECT_EQ(one.data(), Bytes({0, 0, 0, 0, 0, 0, 0xf0, 0x3f}));
}

TEST(Codec, StrRoundTrips) {
  const std::string long_binary = [] {
    std::string s;
    for (int i = 0; i < 300; ++i) {
      s.push_back(static_cast<char>(i % 256));
    }
    return s;
  }();
  const std::string values[] = {"", "a", std::string("\0\0x\0", 4), long_binary, ""};
  Encoder e;
  for (const std::string& v : values) {
    e.Str(v);
  }
  EXPECT_EQ(e.data().substr(0, 3), Bytes({0x00, 0x01, 'a'}));
  Decoder d(e.data());
  for (const std::string& v : values) {
    std::string got = "junk";
    ASSERT_TRUE(d.Str(&got)) << d.error();
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(d.AtEnd());
}

TEST(Codec, MixedSequenceAndTake) {
  Encoder e;
  e.U64(7);
  e.Str("name");
  e.I64(-3);
  e.F64(0.25);
  const std::string bytes = e.Take();
  EXPECT_EQ(e.data(), "");
  Decoder d(bytes);
  std::uint64_t u = 0;
  std::string s;
  std::int64_t i = 0;
  double f = 0;
  ASSERT_TRUE(d.U64(&u) && d.Str(&s) && d.I64(&i) && d.F64(&f)) << d.error();
  EXPECT_EQ(u, 7u);
  EXPECT_EQ(s, "name");
  EXPECT_EQ(i, -3);
  EXPECT_EQ(f, 0.25);
  EXPECT_TRUE(d.AtEnd());
  EXPECT_FALSE(d.U64(&u));
  EXPECT_EQ(d.error(), "truncated varint at byte 15");
}

TEST(Codec, DecoderFailures) {
  struct Case {
    std::string input;
    std::string want_error;
  };
  const std::string ten_continuations(10, '\x80');
  const Case u64_cases[] = {
      {"", "truncated varint at byte 0"},
      {Bytes({0x80}), "truncated varint at byte 0"},
      {Bytes({0xff, 0xff, 0xff}), "truncated varint at byte 0"},
      {std::string(9, '\xff'), "truncated varint at byte 0"},
      {std::string(11, '\xff'), "varint longer than 10 bytes at byte 0"},
      {ten_continuations + Bytes({0x00}), "varint longer than 10 bytes at byte 0"},
      {std::string(9, '\xff') + Bytes({0x02}), "varint overflows 64 bits at byte 0"},
      {std::string(9, '\xff') + Bytes({0x7f}), "varint overflows 64 bits at byte 0"},
  };
  for (const Case& c : u64_cases) {
    Decoder d(c.input);
    std::uint64_t v = 42;
    EXPECT_FALSE(d.U64(&v)) << c.want_error;
    EXPECT_EQ(v, 42u);
    EXPECT_EQ(d.error(), c.want_error);
    EXPECT_EQ(d.offset(), 0u);
    EXPECT_FALSE(d.AtEnd());
    EXPECT_FALSE(d.ok());

    Decoder signed_d(c.input);
    std::int64_t s = 42;
    EXPECT_FALSE(signed_d.I64(&s));
    EXPECT_EQ(s, 42);
    EXPECT_EQ(signed_d.error(), c.want_error);
  }

  // Offsets count from the start of the input.
  {
    const std::string input = Bytes({0x05, 0x81, 0x01, 0x80});
    Decoder d(input);
    std::uint64_t v = 0;
    ASSERT_TRUE(d.U64(&v));
    ASSERT_TRUE(d.U64(&v));
    EXPECT_EQ(v, 129u);
    EXPECT_FALSE(d.U64(&v));
    EXPECT_EQ(d.error(), "truncated varint at byte 3");
    EXPECT_EQ(d.offset(), 3u);
  }
  {
    Decoder d(std::string(7, 'x'));
    double f = 1;
    EXPECT_FALSE(d.F64(&f));
    EXPECT_EQ(f, 1);
    EXPECT_EQ(d.error(), "truncated double at byte 0 (8 bytes needed, 7 left)");
  }
  {
    const std::string input = Bytes({0x05, 'a', 'b', 'c'});
    Decoder d(input);
    std::string s = "unchanged";
    EXPECT_FALSE(d.Str(&s));
    EXPECT_EQ(s, "unchanged");
    EXPECT_EQ(d.error(), "string length 5 at byte 0 is more than the 3 bytes left");
    EXPECT_EQ(d.offset(), 0u);
  }
  {
    // A huge length is refused before anything is allocated.
    const std::string input = EncodedU64(kU64Max) + "abc";
    Decoder d(input);
    std::string s;
    EXPECT_FALSE(d.Str(&s));
    EXPECT_EQ(d.error(),
              "string length 18446744073709551615 at byte 0 is more than the 3 bytes left");
  }
  {
    const std::string input = Bytes({0x01, 'a', 0x80});
    Decoder d(input);
    std::string s;
    ASSERT_TRUE(d.Str(&s));
    EXPECT_FALSE(d.Str(&s));
    EXPECT_EQ(d.error(), "truncated varint at byte 2");
    EXPECT_EQ(s, "a");
  }
}

TEST(Codec, FailureIsSticky) {
  // 0x05 alone would decode as a varint, but the failed F64 before it stops every read.
  const std::string input = Bytes({0x05, 0x01, 'a', 0x00, 0x00});
  Decoder d(input);
  std::uint64_t u = 0;
  ASSERT_TRUE(d.U64(&u));
  double f = 0;
  EXPECT_FALSE(d.F64(&f));
  const std::string first = d.error();
  EXPECT_EQ(first, "truncated double at byte 1 (8 bytes needed, 4 left)");
  std::string s;
  std::int64_t i = 0;
  EXPECT_FALSE(d.Str(&s));
  EXPECT_FALSE(d.U64(&u));
  EXPECT_FALSE(d.I64(&i));
  EXPECT_FALSE(d.F64(&f));
  EXPECT_EQ(d.error(), first);
  EXPECT_EQ(d.offset(), 1u);
  d.Fail("another reason");
  EXPECT_EQ(d.error(), first);
}

TEST(Codec, FailSetsTheErrorOnce) {
  Decoder d(Bytes({0x01}));
  d.Fail("window count 5 is bad");
  std::uint64_t u = 0;
  EXPECT_FALSE(d.U64(&u));
  EXPECT_FALSE(d.AtEnd());
  EXPECT_EQ(d.error(), "window count 5 is bad");
}

TEST(Codec, QuotedEscapes) {
  EXPECT_EQ(Quoted("5m"), "\"5m\"");
  EXPECT_EQ(Quoted(std::string("a\"\\\n\0\xff", 6)), "\"a\\\"\\\\\\x0a\\x00\\xff\"");
}

// ---------------------------------------------------------------------------------------
// Window codec

// 2024-01-01T00:00:00Z.
constexpr slo::TimePoint kT0{std::chrono::seconds(1'704'067'200)};

void ExpectSameWindows(const std::vector<slo::NamedSnapshot>& got,
                       const std::vector<slo::NamedSnapshot>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_TRUE(got[i].snapshot == want[i].snapshot) << want[i].name;
  }
}

TEST(WindowCodec, WindowSetRoundTrip) {
  slo::WindowSet original(slo::WindowSet::ProbeWindows());
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const auto at = kT0 + std::chrono::seconds(rng() % (std::uint64_t{40} * 24 * 3600));
    const std::uint64_t total = rng() % 5;
    original.Add(at, total == 0 ? 0 : rng() % (total + 1), total);
  }
  const slo::TimePoint last = kT0 + std::chrono::hours(40 * 24);
  original.Add(last, 3, 4);
  const std::vector<slo::NamedSnapshot> exported = original.Export();

  Encoder e;
  EncodeWindows(exported, e);
  Decoder d(e.data());
  std::vector<slo::NamedSnapshot> decoded;
  ASSERT_TRUE(DecodeWindows(d, &decoded)) << d.error();
  EXPECT_TRUE(d.AtEnd());
  ExpectSameWindows(decoded, exported);

  slo::WindowSet restored(slo::WindowSet::ProbeWindows());
  std::string error;
  ASSERT_TRUE(restored.Restore(decoded, &error)) << error;
  for (const auto at : {last, last + 1s, last + 3min, last + 2h, last + 36h, last + 10 * 24h}) {
    const auto want = original.Totals(at);
    const auto got = restored.Totals(at);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].good, want[i].good) << i;
      EXPECT_EQ(got[i].total, want[i].total) << i;
    }
  }
  ExpectSameWindows(restored.Export(), exported);
}

TEST(WindowCodec, EdgeSnapshotsRoundTripExactly) {
  std::vector<slo::NamedSnapshot> windows = {
      {"", {}},
      {"before the epoch",
       {slo::Duration(-5),
        std::numeric_limits<std::uint32_t>::max(),
        slo::TimePoint(slo::Duration(kI64Min)),
        {{0, 0}, {kU64Max, kU64Max}, {1, 2}}}},
      {"far future", {slo::Duration(kI64Max), 1, slo::TimePoint(slo::Duration(kI64Max)), {}}},
      {std::string("\0bin\xff", 5), {5min, 240, kT0, std::vector<slo::BucketCounts>(241)}},
  };
  Encoder e;
  EncodeWindows(windows, e);
  e.U64(99);  // whatever follows is the caller's
  Decoder d(e.data());
  std::vector<slo::NamedSnapshot> decoded;
  ASSERT_TRUE(DecodeWindows(d, &decoded)) << d.error();
  ExpectSameWindows(decoded, windows);
  std::uint64_t tail = 0;
  ASSERT_TRUE(d.U64(&tail));
  EXPECT_EQ(tail, 99u);
  EXPECT_TRUE(d.AtEnd());

  Encoder empty;
  EncodeWindows({}, empty);
  EXPECT_EQ(empty.data(), Bytes({0x00}));
  Decoder empty_d(empty.data());
  decoded = windows;
  ASSERT_TRUE(DecodeWindows(empty_d, &decoded));
  EXPECT_TRUE(decoded.empty());
}

// One window's header fields, for hand-made inputs.
std::string WindowHeader(std::string_view name, std::uint64_t bucket_count, std::uint64_t buckets) {
  Encoder e;
  e.Str(name);
  e.I64(300'000'000'000);
  e.U64(bucket_count);
  e.I64(0);
  e.U64(buckets);
  return e.Take();
}

TEST(WindowCodec, DecodeFailures) {
  struct Case {
    std::string input;
    std::string want_error;
  };
  const Case cases[] = {
      {"", "truncated varint at byte 0"},
      {EncodedU64(1001), "window count 1001 at byte 0 is above the limit of 1000"},
      {EncodedU64(kU64Max),
       "window count 18446744073709551615 at byte 0 is above the limit of 1000"},
      {EncodedU64(1), "truncated varint at byte 1"},
      {EncodedU64(1) + Bytes({0x09, 'a'}),
       "string length 9 at byte 1 is more than the 1 bytes left"},
      {EncodedU64(1) + WindowHeader("5m", std::uint64_t{1} << 32, 0),
       "window 0 (\"5m\") at byte 1: bucket count 4294967296 does not fit 32 bits"},
      {EncodedU64(1) + WindowHeader("5m", 1, 1'000'002),
       "window 0 (\"5m\") at byte 1: 1000002 buckets is above the limit of 1000001"},
      {EncodedU64(1) + WindowHeader("5m", 1, 10) + std::string(4, '\x01'),
       "window 0 (\"5m\") at byte 1: 10 buckets need at least 20 bytes, 4 left"},
      {EncodedU64(1) + WindowHeader("5m", 1, kU64Max),
       "window 0 (\"5m\") at byte 1: 18446744073709551615 buckets is above the limit of "
       "1000001"},
      {EncodedU64(2) + WindowHeader("5m", 1, 0) + WindowHeader("1\n", 1, 3) + std::string(5, '\0'),
       "window 1 (\"1\\x0a\") at byte 13: 3 buckets need at least 6 bytes, 5 left"},
      {EncodedU64(1) + WindowHeader("5m", 1, 1) + Bytes({0x01, 0x80}),
       "truncated varint at byte 14"},
  };
  for (const Case& c : cases) {
    Decoder d(c.input);
    std::vector<slo::NamedSnapshot> out = {{"kept", {}}};
    EXPECT_FALSE(DecodeWindows(d, &out)) << c.want_error;
    EXPECT_EQ(d.error(), c.want_error);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].name, "kept");
  }
}

TEST(WindowCodec, EveryTruncationFails) {
  slo::WindowSet set(slo::WindowSet::SloWindows("30d", 30 * 24h));
  set.Add(kT0, 9, 10);
  set.Add(kT0 + 2h, 0, 1);
  Encoder e;
  EncodeWindows(set.Export(), e);
  const std::string& full = e.data();
  for (std::size_t n = 0; n < full.size(); ++n) {
    Decoder d(std::string_view(full).substr(0, n));
    std::vector<slo::NamedSnapshot> out;
    EXPECT_FALSE(DecodeWindows(d, &out)) << n;
    EXPECT_NE(d.error(), "") << n;
    EXPECT_TRUE(out.empty()) << n;
  }
}

TEST(WindowCodec, MutatedInputsNeverCrash) {
  slo::WindowSet set(slo::WindowSet::ProbeWindows());
  set.Add(kT0, 1, 2);
  Encoder e;
  EncodeWindows(set.Export(), e);
  const std::string valid = e.Take();
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = valid.substr(0, rng() % (valid.size() + 1));
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0 && !bytes.empty(); --flips) {
      bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
    }
    Decoder d(bytes);
    std::vector<slo::NamedSnapshot> out;
    if (!DecodeWindows(d, &out)) {
      EXPECT_NE(d.error(), "") << i;
      EXPECT_TRUE(out.empty()) << i;
    }
  }
}

// ---------------------------------------------------------------------------------------
// State file

// "nines.state.corrupt-20261125T101500Z", optionally with "-<n>" after it.
bool IsSetAsideName(std::string_view name) {
  constexpr std::string_view kPrefix = "nines.state.corrupt-";
  if (!name.starts_with(kPrefix)) {
    return false;
  }
  name.remove_prefix(kPrefix.size());
  constexpr std::string_view kShape = "ddddddddTddddddZ";  // d: a digit
  if (name.size() < kShape.size()) {
    return false;
  }
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const char want = kShape[i];
    const bool digit = name[i] >= '0' && name[i] <= '9';
    if (want == 'd' ? !digit : name[i] != want) {
      return false;
    }
  }
  name.remove_prefix(kShape.size());
  return name.empty() || (name.size() >= 2 && name[0] == '-' &&
                          name.find_first_not_of("0123456789", 1) == std::string_view::npos);
}

// A fresh directory under the temporary directory, removed with everything in it.
class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "nines-state-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    file_ = dir_ / "nines.state";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Every `<file>.corrupt-*` in the directory.
  std::vector<fs::path> CorruptFiles() const {
    std::vector<fs::path> found;
    const std::string prefix = file_.filename().string() + ".corrupt-";
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().filename().string().rfind(prefix, 0) == 0) {
        found.push_back(entry.path());
      }
    }
    return found;
  }

  void Put(std::string_view bytes) const {
    std::ofstream out(file_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good());
  }

  std::string Get() const {
    std::ifstream in(file_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  // Reads file_, expects it set aside with `reason` in the message, and removes the
  // set-aside copy, so that loops start over.
  void ExpectSetAside(const std::string& reason) const {
    const LoadedState state = ReadStateFile(file_);
    ASSERT_EQ(state.status, Status::kSetAside) << state.message;
    EXPECT_TRUE(state.sections.empty());
    EXPECT_FALSE(fs::exists(fs::symlink_status(file_)));
    ASSERT_FALSE(state.set_aside.empty()) << state.message;
    EXPECT_TRUE(fs::exists(fs::symlink_status(state.set_aside)));
    EXPECT_EQ(state.set_aside.parent_path(), dir_);
    EXPECT_TRUE(IsSetAsideName(state.set_aside.filename().string())) << state.set_aside;
    std::string tail = "; set aside as ";
    tail += state.set_aside.string();
    if (reason.empty()) {
      // Only the shape: "<file>: <some reason>; set aside as <set_aside>".
      EXPECT_EQ(state.message.rfind(file_.string() + ": ", 0), 0u) << state.message;
      EXPECT_GT(state.message.size(), file_.string().size() + 2 + tail.size()) << state.message;
      EXPECT_TRUE(state.message.ends_with(tail)) << state.message;
    } else {
      std::string want = file_.string();
      want += ": ";
      want += reason;
      want += tail;
      EXPECT_EQ(state.message, want);
    }
    std::error_code ignored;
    fs::remove_all(state.set_aside, ignored);
  }

  fs::path dir_;
  fs::path file_;
};

// A file with `payload` and a header that says so, or says what is given.
std::string RawFile(std::string_view payload, std::uint32_t version = kFormatVersion,
                    std::optional<std::uint64_t> length = std::nullopt,
                    std::optional<std::uint32_t> crc = std::nullopt) {
  std::string out = "NINESST\n";
  const auto put = [&out](std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
      out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
  };
  put(version, 4);
  put(length.value_or(payload.size()), 8);
  put(crc.value_or(static_cast<std::uint32_t>(::crc32(
          0, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())))),
      4);
  out.append(payload);
  return out;
}

std::string Hex(std::uint32_t v) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

// A few sections of the kinds the daemon saves, with awkward names and bytes.
Sections Sample() {
  return {
      {"probe/web", std::string("\x01\x02\0\xff", 4)},
      {"slo/web-availability", std::string(1000, 'x')},
      {"log/web", ""},
      {"", "an empty name is a name"},
  };
}

TEST_F(StateFileTest, RoundTrip) {
  ASSERT_EQ(WriteStateFile(file_, Sample()), std::nullopt);
  const LoadedState state = ReadStateFile(file_);
  EXPECT_EQ(state.status, Status::kLoaded);
  EXPECT_EQ(state.sections, Sample());
  EXPECT_EQ(state.message, "");
  EXPECT_TRUE(state.set_aside.empty());
  // Reading does not consume the file, and the save left nothing else behind.
  EXPECT_EQ(ReadStateFile(file_).sections, Sample());
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    entries.push_back(entry.path());
  }
  EXPECT_EQ(entries, std::vector<fs::path>{file_});
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(StateFileTest, EmptyAndOverwritten) {
  ASSERT_EQ(WriteStateFile(file_, {}), std::nullopt);
  EXPECT_EQ(Get(), RawFile(Bytes({0x00})));
  LoadedState state = ReadStateFile(file_);
  EXPECT_EQ(state.status, Status::kLoaded);
  EXPECT_TRUE(state.sections.empty());

  ASSERT_EQ(WriteStateFile(file_, Sample()), std::nullopt);
  const Sections second = {{"probe/web", "v2"}};
  ASSERT_EQ(WriteStateFile(file_, second), std::nullopt);
  state = ReadStateFile(file_);
  EXPECT_EQ(state.status, Status::kLoaded);
  EXPECT_EQ(state.sections, second);
}

TEST_F(StateFileTest, ExactBytes) {
  ASSERT_EQ(WriteStateFile(file_, {{"a", "bc"}, {"", ""}}), std::nullopt);
  // Sections in name order: "" first.
  const std::string payload = Bytes({0x02, 0x00, 0x00, 0x01, 'a', 0x02, 'b', 'c'});
  const std::string want = RawFile(payload);
  EXPECT_EQ(Get(), want);
  EXPECT_EQ(want.substr(0, 24).substr(0, 20),
            std::string("NINESST\n\x01\0\0\0\x08\0\0\0\0\0\0\0", 20));
  EXPECT_EQ(want.size(), kHeaderBytes + payload.size());
}

TEST_F(StateFileTest, Missing) {
  const LoadedState state = ReadStateFile(file_);
  EXPECT_EQ(state.status, Status::kMissing);
  EXPECT_TRUE(state.sections.empty());
  EXPECT_EQ(state.message, file_.string() + ": no saved state yet");
  EXPECT_TRUE(CorruptFiles().empty());
}

TEST_F(StateFileTest, StaleTempFileIsIgnoredAndReplaced) {
  ASSERT_EQ(WriteStateFile(file_, Sample()), std::nullopt);
  fs::path temp = file_;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::binary);
    out << "half a save";
  }
  const LoadedState state = ReadStateFile(file_);
  EXPECT_EQ(state.status, Status::kLoaded) << state.message;
  EXPECT_EQ(state.sections, Sample());
  EXPECT_TRUE(CorruptFiles().empty());

  // A stale temporary that is a symlink is replaced, not followed.
  const fs::path victim = dir_ / "victim";
  {
    std::ofstream out(victim, std::ios::binary);
    out << "keep me";
  }
  fs::remove(temp);
  fs::create_symlink(victim, temp);
  const Sections next = {{"log/web", "offset 12"}};
  ASSERT_EQ(WriteStateFile(file_, next), std::nullopt);
  EXPECT_FALSE(fs::exists(fs::symlink_status(temp)));
  EXPECT_EQ(ReadStateFile(file_).sections, next);
  std::ifstream in(victim);
  std::string victim_text;
  std::getline(in, victim_text);
  EXPECT_EQ(victim_text, "keep me");
}

TEST_F(StateFileTest, WriteErrorsNameThePath) {
  const fs::path nowhere = dir_ / "no-such-dir" / "nines.state";
  const auto error = WriteStateFile(nowhere, Sample());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(*error, "cannot create " + nowhere.string() + ".tmp: No such file or directory");

  // `file` is a non-empty directory: the rename fails and the temporary file goes.
  fs::create_directories(file_ / "inside");
  const auto rename_error = WriteStateFile(file_, Sample());
  ASSERT_TRUE(rename_error.has_value());
  EXPECT_EQ(rename_error->rfind(
                "cannot rename " + file_.string() + ".tmp to " + file_.string() + ": ", 0),
            0u)
      << *rename_error;
  fs::path temp = file_;
  temp += ".tmp";
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_TRUE(fs::is_directory(file_ / "inside"));
}

TEST_F(StateFileTest, ChecksumMismatch) {
  ASSERT_EQ(WriteStateFile(file_, Sample()), std::nullopt);
  std::string bytes = Get();
  const std::string stored = Hex(static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(bytes.data() + kHeaderBytes),
              static_cast<uInt>(bytes.size() - kHeaderBytes))));
  bytes[kHeaderBytes + 40] = static_cast<char>(bytes[kHeaderBytes + 40] ^ 0x04);
  const std::string computed = Hex(static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(bytes.data() + kHeaderBytes),
              static_cast<uInt>(bytes.size() - kHeaderBytes))));
  Put(bytes);
  ExpectSetAside("checksum mismatch (stored " + stored + ", computed " + computed + ")");
}

TEST_F(StateFileTest, EveryTruncationIsSetAside) {
  ASSERT_EQ(WriteStateFile(file_, {{"probe/web", "abcdef"}, {"log/web", "12"}}), std::nullopt);
  const std::string full = Get();
  const std::size_t payload = full.size() - kHeaderBytes;
  for (std::size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    Put(std::string_view(full).substr(0, n));
    if (n == 0) {
      ExpectSetAside("empty file");
    } else if (n < kHeaderBytes) {
      ExpectSetAside("truncated header (" + std::to_string(n) + " of 24 bytes)");
    } else {
      ExpectSetAside("truncated payload (header says " + std::to_string(payload) +
                     " bytes, the file has " + std::to_string(n - kHeaderBytes) + ")");
    }
  }
  EXPECT_TRUE(CorruptFiles().empty());
}

TEST_F(StateFileTest, EveryFlippedByteIsSetAside) {
  ASSERT_EQ(WriteStateFile(file_, {{"probe/web", "abcdef"}, {"log/web", "12"}}), std::nullopt);
  const std::string full = Get();
  for (const int mask : {0x01, 0x80, 0xff}) {
    for (std::size_t i = 0; i < full.size(); ++i) {
      SCOPED_TRACE(testing::Message() << "byte " << i << " mask " << mask);
      std::string bytes = full;
      bytes[i] = static_cast<char>(bytes[i] ^ mask);
      Put(bytes);
      // The reason depends on the field; each is tested on its own elsewhere.
      ExpectSetAside("");
    }
  }
}

TEST_F(StateFileTest, Versions) {
  const std::string payload = Bytes({0x00});
  Put(RawFile(payload, 7));
  ExpectSetAside("written by format version 7; this nines reads version 1");
  Put(RawFile(payload, 0xffffffff));
  ExpectSetAside("written by format version 4294967295; this nines reads version 1");
  Put(RawFile(payload, 0));
  ExpectSetAside("unknown format version 0; this nines reads version 1");
}

TEST_F(StateFileTest, BadMagic) {
  std::string bytes = RawFile(Bytes({0x00}));
  bytes[0] = 'n';
  Put(bytes);
  ExpectSetAside("not a nines state file (bad magic, first bytes 6e 49 4e 45 53 53 54 0a)");
  Put("{\"json\": true}\n");
  ExpectSetAside("not a nines state file (bad magic, first bytes 7b 22 6a 73 6f 6e 22 3a)");
  Put("NI");
  ExpectSetAside("truncated header (2 of 24 bytes)");
  Put("X");
  ExpectSetAside("not a nines state file (bad magic, first bytes 58)");
}

TEST_F(StateFileTest, LengthAndTrailingBytes) {
  ASSERT_EQ(WriteStateFile(file_, Sample()), std::nullopt);
  const std::string full = Get();
  const std::size_t payload = full.size() - kHeaderBytes;
  Put(full + "xyz");
  ExpectSetAside("3 trailing bytes after the " + std::to_string(payload) + "-byte payload");
  Put(full + std::string(1, '\0'));
  ExpectSetAside("1 trailing bytes after the " + std::to_string(payload) + "-byte payload");

  Put(RawFile("", kFormatVersion, std::uint64_t{1} << 40));
  ExpectSetAside("payload length 1099511627776 is above the limit of 1073741824 bytes");
  Put(RawFile("", kFormatVersion, kU64Max));
  ExpectSetAside("payload length 18446744073709551615 is above the limit of 1073741824 bytes");
  Put(RawFile("", kFormatVersion, kMaxPayloadBytes));
  ExpectSetAside("truncated payload (header says 1073741824 bytes, the file has 0)");
}

TEST_F(StateFileTest, UndecodablePayloadWithAGoodChecksum) {
  struct Case {
    std::string payload;
    std::string reason;
  };
  const std::string prefix = "undecodable payload (byte offsets within the payload): ";
  const Case cases[] = {
      {"", prefix + "truncated varint at byte 0"},
      {Bytes({0x05}),
       prefix + "section count 5 at byte 0 is more than the 0 bytes left could hold"},
      {Bytes({0x01, 0x01, 'a', 0x05, 'b'}),
       prefix + "string length 5 at byte 3 is more than the 1 bytes left"},
      {Bytes({0x02, 0x01, 'a', 0x01, 'x', 0x01, 'a', 0x01, 'y'}),
       prefix + "section \"a\" at byte 5 given twice"},
      {Bytes({0x00, 'z', 'z'}), prefix + "2 unread bytes after the last section at byte 1"},
      {std::string(11, '\xff'), prefix + "varint longer than 10 bytes at byte 0"},
  };
  for (const Case& c : cases) {
    Put(RawFile(c.payload));
    ExpectSetAside(c.reason);
  }
}

TEST_F(StateFileTest, RandomBytesAreSetAside) {
  std::mt19937 rng(1234);
  const std::string good_header = RawFile("").substr(0, 12);
  for (int i = 0; i < 300; ++i) {
    std::string bytes;
    const std::size_t size = rng() % 600;
    for (std::size_t j = 0; j < size; ++j) {
      bytes.push_back(static_cast<char>(rng() & 0xff));
    }
    // A third pure noise, a third with the magic, a third with magic and version.
    if (i % 3 == 1) {
      bytes.insert(0, good_header, 0, 8);
    } else if (i % 3 == 2) {
      bytes.insert(0, good_header);
    }
    SCOPED_TRACE(i);
    Put(bytes);
    ExpectSetAside("");
  }
}

TEST_F(StateFileTest, RandomPayloadsWithAGoodChecksumLoadOrAreSetAside) {
  std::mt19937 rng(77);
  Encoder valid;
  valid.U64(3);
  for (const char* name : {"probe/web", "slo/x", "log/web"}) {
    valid.Str(name);
    valid.Str("some blob bytes");
  }
  int loaded = 0;
  for (int i = 0; i < 300; ++i) {
    std::string payload = valid.data().substr(0, rng() % (valid.data().size() + 1));
    for (int flips = static_cast<int>(rng() % 3); flips > 0 && !payload.empty(); --flips) {
      payload[rng() % payload.size()] = static_cast<char>(rng() & 0xff);
    }
    SCOPED_TRACE(i);
    Put(RawFile(payload));
    const LoadedState state = ReadStateFile(file_);
    if (state.status == Status::kLoaded) {
      ++loaded;
      EXPECT_TRUE(fs::exists(file_));
      // What loads re-encodes to a file that loads the same.
      ASSERT_EQ(WriteStateFile(file_, state.sections), std::nullopt);
      EXPECT_EQ(ReadStateFile(file_).sections, state.sections);
    } else {
      ASSERT_EQ(state.status, Status::kSetAside) << state.message;
      EXPECT_NE(state.message.find(": undecodable payload"), std::string::npos) << state.message;
      fs::remove(state.set_aside);
    }
  }
  EXPECT_GT(loaded, 0);
  EXPECT_LT(loaded, 300);
}

TEST_F(StateFileTest, UnreadableThingsAreSetAside) {
  fs::create_directories(file_ / "sub");
  ExpectSetAside("is a directory, not a state file");

  ASSERT_EQ(::mkfifo(file_.c_str(), 0600), 0);
  ExpectSetAside("not a regular file");
}

TEST_F(StateFileTest, SetAsideNeverOverwritesAnEarlierOne) {
  std::vector<fs::path> aside;
  for (int i = 0; i < 3; ++i) {
    Put("garbage " + std::to_string(i));
    const LoadedState state = ReadStateFile(file_);
    ASSERT_EQ(state.status, Status::kSetAside);
    aside.push_back(state.set_aside);
  }
  EXPECT_NE(aside[0], aside[1]);
  EXPECT_NE(aside[1], aside[2]);
  EXPECT_NE(aside[0], aside[2]);
  EXPECT_EQ(CorruptFiles().size(), 3u);

  // The next save starts clean.
  ASSERT_EQ(WriteStateFile(file_, Sample()), std::nullopt);
  EXPECT_EQ(ReadStateFile(file_).sections, Sample());
}

// ---------------------------------------------------------------------------------------
// A save killed at a random moment

// Generation `gen`'s sections: every byte depends on gen, so a mix of two saves shows.
Sections Generation(std::uint64_t gen) {
  std::string pattern;
  for (int i = 0; i < 8; ++i) {
    pattern.push_back(static_cast<char>((gen >> (8 * i)) & 0xff));
  }
  Sections sections;
  sections["gen"] = std::to_string(gen);
  for (const char* name : {"probe/a", "slo/b", "log/c"}) {
    std::string blob;
    blob.reserve(1 << 20);
    while (blob.size() < (1 << 20)) {
      blob += pattern;
      blob += name;
    }
    sections[name] = std::move(blob);
  }
  return sections;
}

TEST_F(StateFileTest, KillDuringSaveLosesAtMostTheSaveInProgress) {
  std::mt19937 rng(99);
  std::optional<std::uint64_t> loaded;  // the generation the file held after the last kill
  int loaded_count = 0;
  int killed_mid_save = 0;  // rounds that left a partial `<file>.tmp` behind
  for (std::uint64_t round = 1; round <= 10; ++round) {
    SCOPED_TRACE(round);
    const std::uint64_t first_gen = round * 1'000'000;
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      for (std::uint64_t gen = first_gen;; ++gen) {
        if (WriteStateFile(file_, Generation(gen)).has_value()) {
          ::_exit(2);
        }
        // Reported only once the save is complete, rename and directory fsync included.
        if (::write(pipe_fds[1], &gen, sizeof gen) != sizeof gen) {
          ::_exit(3);
        }
      }
    }
    ::close(pipe_fds[1]);
    // The first round kills right away, usually before the first save ends.
    const auto delay = round == 1 ? 0ms : std::chrono::milliseconds(rng() % 120);
    std::this_thread::sleep_for(delay);
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

    fs::path temp = file_;
    temp += ".tmp";
    if (fs::exists(temp)) {
      ++killed_mid_save;
    }

    std::vector<std::uint64_t> reported;
    std::uint64_t gen = 0;
    while (::read(pipe_fds[0], &gen, sizeof gen) == sizeof gen) {
      reported.push_back(gen);
    }
    ::close(pipe_fds[0]);

    const LoadedState state = ReadStateFile(file_);
    ASSERT_NE(state.status, Status::kSetAside) << state.message;
    if (state.status == Status::kMissing) {
      // Only before any save ever finished.
      EXPECT_FALSE(loaded.has_value());
      EXPECT_TRUE(reported.empty());
      continue;
    }
    const auto found = state.sections.find("gen");
    ASSERT_NE(found, state.sections.end());
    const std::uint64_t got = std::stoull(found->second);
    // Whole and self-consistent: exactly one generation's sections.
    EXPECT_TRUE(state.sections == Generation(got)) << "generation " << got;
    // Nothing completed was lost: the last reported save, or the one after it whose report
    // the kill cut off (or, with no report, the previous round's file or this round's
    // first save).
    if (!reported.empty()) {
      EXPECT_TRUE(got == reported.back() || got == reported.back() + 1)
          << got << " after reported " << reported.back();
    } else if (loaded.has_value()) {
      EXPECT_TRUE(got == *loaded || got == first_gen) << got;
    } else {
      EXPECT_EQ(got, first_gen);
    }
    loaded = got;
    ++loaded_count;
    EXPECT_TRUE(CorruptFiles().empty());
  }
  // Informational (timing dependent, so not asserted): how many rounds had a file to load,
  // and how many kills cut a save short.
  RecordProperty("rounds_loaded", loaded_count);
  RecordProperty("rounds_killed_mid_save", killed_mid_save);
}

}  // namespace
}  // namespace nines::state
