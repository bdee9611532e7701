#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// Text helpers shared by the host collectors: reading procfs and sysfs files that may be
/// absent, splitting what the kernel prints into lines and fields, parsing its counters,
/// checking label values, and quoting bad values for error messages. Every function is
/// stateless and may be called from any number of threads at once.
namespace nines::collectors {

/// How many bytes of a value Quote() keeps.
inline constexpr std::size_t kMaxQuotedBytes = 64;

/// `value` in double quotes, for error messages and logs. '"' and '\' get a backslash;
/// control bytes, DEL and bytes above 0x7f become `\xNN` (lowercase hex), so a garbage file
/// cannot put control bytes into a terminal; only the first kMaxQuotedBytes bytes are kept,
/// followed by "..." when there were more (a garbage file may be one long line).
/// Quote("a\"b\n") is `"a\"b\x0a"`.
std::string Quote(std::string_view value);

/// Whether `c` is whitespace in the C locale (std::isspace): ' ', '\t', '\n', '\v', '\f' or
/// '\r'. ASCII only: Go's strings.Fields, which node_exporter uses, also splits at Unicode
/// spaces such as U+00A0, which the kernel prints unescaped (in mount points, say); nines
/// keeps such a name whole.
constexpr bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/// Removes the first line from `text` and returns it without its '\n'. The last line need
/// not end in '\n'. Loop `while (!text.empty())`: "a\n" is one line, "a\n\n" two (the
/// second empty), "" none.
std::string_view NextLine(std::string_view& text);

/// Removes the next field (a run of non-IsSpace characters) and the whitespace before it
/// from the front of `rest` and returns the field; "" when only whitespace is left.
std::string_view NextField(std::string_view& rest);

/// Splits `text` at runs of whitespace (IsSpace) into `out`, which is cleared first, and
/// returns how many fields `text` holds. At most `max` fields are stored, so a garbage line
/// cannot make it allocate without bound; the count includes those not stored.
std::size_t SplitFields(std::string_view text, std::size_t max, std::vector<std::string_view>& out);

/// `text` without leading and trailing whitespace (IsSpace).
std::string_view Trim(std::string_view text);

/// Whether `text` is valid UTF-8 by the rules of Go's utf8.ValidString, which the exposition
/// format and client_golang require of label values: shortest forms only, no surrogates
/// (U+D800 to U+DFFF), nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

/// The value of `token` when it is an unsigned decimal in the uint64 range, as the kernel
/// prints counters: ASCII digits only, so no sign, whitespace, fraction, exponent or base
/// prefix; nullopt otherwise (also for "").
std::optional<std::uint64_t> TryParseUint64(std::string_view token);

/// Throws the std::runtime_error that says why `token` is not a uint64 (TryParseUint64
/// returned nullopt): `<what>: <problem> (got <Quote(token)>)`, where the problem is
/// "out of range" (digits beyond the uint64 range, even with junk after them), "negative"
/// ('-' followed by digits only) or "not a number" (anything else). Without `<what>: `
/// when `what` is empty.
[[noreturn]] void ThrowBadUint64(std::string_view token, std::string_view what);

/// Parses `token` as TryParseUint64 does. Throws std::runtime_error naming the value as
/// `what`, as ThrowBadUint64 describes, e.g. `stat: btime: negative (got "-17")`.
std::uint64_t ParseUint64(std::string_view token, std::string_view what);

/// ParseUint64 for hot loops: `what()` returns the name of the value and is only called on
/// failure, so that a good token costs no string, e.g.
/// `ParseUint64(field, [&] { return "line " + std::to_string(n) + ": " + name; })`.
template <std::invocable What>
std::uint64_t ParseUint64(std::string_view token, What&& what) {
  if (const std::optional<std::uint64_t> value = TryParseUint64(token)) {
    return *value;
  }
  ThrowBadUint64(token, what());
}

/// ReadOptionalFile's `max_bytes` when any size will do.
inline constexpr std::size_t kNoSizeLimit = std::numeric_limits<std::size_t>::max();

/// Reads the whole file at `path` until EOF (procfs and sysfs files report a size of 0), or
/// returns nullopt when it does not exist: open(2) fails with ENOENT. A path through a
/// file (ENOTDIR) is an error, not absence. Throws std::system_error `cannot read <path>:
/// <strerror>` on any other failure, with the errno in code() (pressure tells a kernel that
/// disabled PSI by EOPNOTSUPP), and std::runtime_error `cannot read <path>: larger than
/// <max_bytes> bytes` when the file holds more than `max_bytes`, having read at most one
/// byte more. ReadFile (collector.h) is the same for a file that must exist.
std::optional<std::string> ReadOptionalFile(const std::string& path,
                                            std::size_t max_bytes = kNoSizeLimit);

}  // namespace nines::collectors
