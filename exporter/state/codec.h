#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/slo/window.h"

/// The binary encoding of the blobs in the state file (state_file.h): a few primitives and
/// the window snapshot codec built on them. Pure data, no I/O.
///
/// Primitives, as written by Encoder and read by Decoder:
///   - U64: unsigned LEB128 varint, 7 bits a byte, least significant group first, the high
///     bit set on every byte but the last; 1 to 10 bytes.
///   - I64: zigzag (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...), then U64.
///   - F64: the 8 bytes of the IEEE 754 binary64 bits, little-endian (NaN payloads and the
///     sign of zero survive).
///   - Str: U64 byte length, then the bytes as they are (not NUL-terminated, any bytes).
namespace nines::state {

/// Appends primitives to a byte string. Not thread safe; cheap to create.
class Encoder {
 public:
  /// Appends `value` as a varint (1 to 10 bytes).
  void U64(std::uint64_t value);
  /// Appends `value` zigzag-encoded as a varint (1 to 10 bytes).
  void I64(std::int64_t value);
  /// Appends the 8 bytes of `value`'s bits, little-endian.
  void F64(double value);
  /// Appends the length of `value` as a varint, then its bytes.
  void Str(std::string_view value);

  /// The bytes written so far.
  const std::string& data() const { return data_; }
  /// Moves the bytes out, leaving the encoder empty.
  std::string Take();

 private:
  std::string data_;
};

/// Reads primitives from a byte string it does not own (the bytes must outlive it). Not
/// thread safe.
///
/// Every read returns true and advances, or returns false, leaves the offset at the start of
/// the item it could not read, and sets error() to why with the byte offset, e.g.
/// "truncated varint at byte 17". Failure is sticky: once a read failed, every later read
/// fails too and error() keeps the first reason, so a caller may check only at the end.
class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}

  /// Reads a varint. Fails when the bytes end inside it, when it is longer than 10 bytes,
  /// or when its value does not fit in 64 bits.
  bool U64(std::uint64_t* value);
  /// Reads a zigzag varint; fails like U64.
  bool I64(std::int64_t* value);
  /// Reads 8 little-endian bytes as a double's bits. Fails when fewer than 8 are left.
  bool F64(double* value);
  /// Reads a length and that many bytes. Fails like U64, or when the length is larger than
  /// the bytes left (checked before anything is allocated).
  bool Str(std::string* value);

  /// Fails the decoder with `message` (kept as given; include the offset() where useful)
  /// unless it has already failed, for checks by higher-level codecs. Later reads fail.
  void Fail(std::string message);

  /// True when every byte has been read (and no read failed).
  bool AtEnd() const { return ok() && offset_ == data_.size(); }
  /// Bytes not read yet.
  std::size_t remaining() const { return data_.size() - offset_; }
  /// The offset of the next byte to read (after a failure, of the item that failed).
  std::size_t offset() const { return offset_; }
  /// False once a read failed.
  bool ok() const { return !failed_; }
  /// Why the first failed read failed; empty while none has.
  const std::string& error() const { return error_; }

 private:
  std::string_view data_;
  std::size_t offset_ = 0;
  bool failed_ = false;
  std::string error_;
};

/// `text` in double quotes for an error message, with quotes, backslashes and bytes outside
/// printable ASCII escaped ("\"", "\\", "\x0a"), since decoded names may be any bytes.
std::string Quoted(std::string_view text);

/// The most windows DecodeWindows accepts in one list.
inline constexpr std::uint64_t kMaxWindows = 1000;
/// The most buckets DecodeWindows accepts in one window (RollingCounter's limit of 1,000,000
/// buckets, plus the ring's extra one).
inline constexpr std::uint64_t kMaxSnapshotBuckets = 1'000'001;

/// Appends `windows` (e.g. WindowSet::Export()) to `out`:
///   U64 window count, then for each window:
///     Str name, I64 window length in nanoseconds, U64 bucket_count,
///     I64 newest_bucket_start in nanoseconds since the Unix epoch,
///     U64 number of buckets, then U64 good and U64 total of each bucket, oldest first.
void EncodeWindows(const std::vector<slo::NamedSnapshot>& windows, Encoder& out);

/// Reads what EncodeWindows wrote into `*windows` and returns true; the result is equal to
/// what was encoded. Does not check that each snapshot fits a counter (RollingCounter::Restore
/// and WindowSet::Restore do), only what decoding needs: at most kMaxWindows windows, a
/// bucket_count that fits 32 bits, at most kMaxSnapshotBuckets buckets, and no count larger
/// than the bytes left could hold (so nothing is allocated from a corrupt length). On
/// failure returns false, leaves `*windows` unchanged and sets in.error(), e.g.
/// "window 2 (\"1h\") at byte 40: 5000000 buckets is above the limit of 1000001".
/// Reads from the decoder's offset and leaves it after the list; bytes after it are the
/// caller's (check in.AtEnd() when the list is the whole blob).
bool DecodeWindows(Decoder& in, std::vector<slo::NamedSnapshot>* windows);

}  // namespace nines::state
