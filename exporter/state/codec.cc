#include "exporter/state/codec.h"

#include <bit>
#include <chrono>
#include <limits>
#include <ratio>
#include <type_traits>
#include <utility>

namespace nines::state {
namespace {

constexpr std::size_t kMaxVarintBytes = 10;

// Windows are stored as nanoseconds. system_clock counts nanoseconds with libstdc++ and
// libc++ on Linux; with a coarser clock decoding would have to round, and round trips
// would no longer be exact.
static_assert(std::is_same_v<slo::Duration::period, std::nano>,
              "the window codec assumes system_clock counts nanoseconds");

std::string At(std::size_t offset) { return " at byte " + std::to_string(offset); }

}  // namespace

std::string Quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string quoted = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      quoted += "\\x";
      quoted += kHex[byte >> 4];
      quoted += kHex[byte & 0xf];
    } else {
      quoted += c;
    }
  }
  quoted += '"';
  return quoted;
}

void Encoder::U64(std::uint64_t value) {
  while (value >= 0x80) {
    data_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  data_.push_back(static_cast<char>(value));
}

void Encoder::I64(std::int64_t value) {
  // C++20 defines both the conversion and the arithmetic right shift of a negative value.
  U64((static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63));
}

void Encoder::F64(double value) {
  const auto bits = std::bit_cast<std::uint64_t>(value);
  for (int i = 0; i < 8; ++i) {
    data_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
}

void Encoder::Str(std::string_view value) {
  U64(value.size());
  data_.append(value);
}

std::string Encoder::Take() { return std::exchange(data_, std::string()); }

void Decoder::Fail(std::string message) {
  if (failed_) {
    return;
  }
  failed_ = true;
  error_ = std::move(message);
}

bool Decoder::U64(std::uint64_t* value) {
  if (failed_) {
    return false;
  }
  std::uint64_t result = 0;
  for (std::size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (offset_ + i >= data_.size()) {
      Fail("truncated varint" + At(offset_));
      return false;
    }
    const auto byte = static_cast<std::uint8_t>(data_[offset_ + i]);
    // The tenth byte carries bit 63 only; anything more does not fit in 64 bits.
    if (i == kMaxVarintBytes - 1 && byte > 1) {
      Fail(byte & 0x80 ? "varint longer than 10 bytes" + At(offset_)
                       : "varint overflows 64 bits" + At(offset_));
      return false;
    }
    result |= std::uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80) == 0) {
      offset_ += i + 1;
      *value = result;
      return true;
    }
  }
  // Not reached: the tenth byte either ends the varint or fails above.
  Fail("varint longer than 10 bytes" + At(offset_));
  return false;
}

bool Decoder::I64(std::int64_t* value) {
  std::uint64_t zigzag = 0;
  if (!U64(&zigzag)) {
    return false;
  }
  *value = static_cast<std::int64_t>((zigzag >> 1) ^ (std::uint64_t{0} - (zigzag & 1)));
  return true;
}

bool Decoder::F64(double* value) {
  if (failed_) {
    return false;
  }
  if (remaining() < 8) {
    Fail("truncated double" + At(offset_) + " (8 bytes needed, " + std::to_string(remaining()) +
         " left)");
    return false;
  }
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    bits |= std::uint64_t{static_cast<std::uint8_t>(data_[offset_ + i])} << (8 * i);
  }
  offset_ += 8;
  *value = std::bit_cast<double>(bits);
  return true;
}

bool Decoder::Str(std::string* value) {
  const std::size_t start = offset_;
  std::uint64_t length = 0;
  if (!U64(&length)) {
    return false;
  }
  if (length > remaining()) {
    const std::size_t left = remaining();
    offset_ = start;
    Fail("string length " + std::to_string(length) + At(start) + " is more than the " +
         std::to_string(left) + " bytes left");
    return false;
  }
  value->assign(data_.substr(offset_, static_cast<std::size_t>(length)));
  offset_ += static_cast<std::size_t>(length);
  return true;
}

void EncodeWindows(const std::vector<slo::NamedSnapshot>& windows, Encoder& out) {
  out.U64(windows.size());
  for (const slo::NamedSnapshot& window : windows) {
    const slo::RollingSnapshot& snapshot = window.snapshot;
    out.Str(window.name);
    out.I64(snapshot.window.count());
    out.U64(snapshot.bucket_count);
    out.I64(snapshot.newest_bucket_start.time_since_epoch().count());
    out.U64(snapshot.buckets.size());
    for (const slo::BucketCounts& bucket : snapshot.buckets) {
      out.U64(bucket.good);
      out.U64(bucket.total);
    }
  }
}

bool DecodeWindows(Decoder& in, std::vector<slo::NamedSnapshot>* windows) {
  const std::size_t list_start = in.offset();
  std::uint64_t count = 0;
  if (!in.U64(&count)) {
    return false;
  }
  if (count > kMaxWindows) {
    in.Fail("window count " + std::to_string(count) + At(list_start) + " is above the limit of " +
            std::to_string(kMaxWindows));
    return false;
  }
  std::vector<slo::NamedSnapshot> result;
  result.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::size_t start = in.offset();
    slo::NamedSnapshot window;
    if (!in.Str(&window.name)) {
      return false;
    }
    // Every later failure names the window: "window 2 (\"1h\") at byte 40: ...".
    const std::string where =
        "window " + std::to_string(i) + " (" + Quoted(window.name) + ")" + At(start) + ": ";
    std::int64_t window_ns = 0;
    std::uint64_t bucket_count = 0;
    std::int64_t newest_start_ns = 0;
    std::uint64_t buckets = 0;
    if (!in.I64(&window_ns) || !in.U64(&bucket_count) || !in.I64(&newest_start_ns) ||
        !in.U64(&buckets)) {
      return false;
    }
    if (bucket_count > std::numeric_limits<std::uint32_t>::max()) {
      in.Fail(where + "bucket count " + std::to_string(bucket_count) + " does not fit 32 bits");
      return false;
    }
    if (buckets > kMaxSnapshotBuckets) {
      in.Fail(where + std::to_string(buckets) + " buckets is above the limit of " +
              std::to_string(kMaxSnapshotBuckets));
      return false;
    }
    // A bucket takes at least two bytes (two one-byte varints).
    if (buckets > in.remaining() / 2) {
      in.Fail(where + std::to_string(buckets) + " buckets need at least " +
              std::to_string(2 * buckets) + " bytes, " + std::to_string(in.remaining()) + " left");
      return false;
    }
    window.snapshot.window = slo::Duration(window_ns);
    window.snapshot.bucket_count = static_cast<std::uint32_t>(bucket_count);
    window.snapshot.newest_bucket_start = slo::TimePoint(slo::Duration(newest_start_ns));
    window.snapshot.buckets.resize(static_cast<std::size_t>(buckets));
    for (slo::BucketCounts& bucket : window.snapshot.buckets) {
      if (!in.U64(&bucket.good) || !in.U64(&bucket.total)) {
        return false;
      }
    }
    result.push_back(std::move(window));
  }
  *windows = std::move(result);
  return true;
}

}  // namespace nines::state
