#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// nginx access-log lines: an nginx `log_format` string is compiled once, when the config
/// is loaded, into a LogFormat, which then splits lines of that format and converts the
/// values nines needs (method, status, request and upstream times, byte counts).
///
/// Semantics, following nginx's ngx_http_log_module:
/// - A variable is `$name` or `${name}`; a name is made of ASCII letters, digits and '_',
///   and is case-insensitive ($Status is $status). Everything else is literal text; nginx
///   has no way to write a literal '$', so a '$' without a name after it is an error.
/// - nginx writes a variable that has no value as "-" (escape=default) or as nothing
///   (escape=json and escape=none); both read as "absent". The values nginx's log module
///   writes itself ($status, $request_time, $body_bytes_sent, $bytes_sent, $msec,
///   $request_length, $time_local, $time_iso8601, $pipe) are never escaped and never absent;
///   nines still reads "-" or "" as absent for $request_time and the byte counts.
/// - A value ends where the literal text after it next occurs in the line. When the line
///   does not match that way (a typed value does not convert, or a later literal is
///   missing), later occurrences are tried, a bounded number of times, so an unquoted
///   `$request $status` or `$time_local $status` still splits right. The value of the last
///   variable runs to the end of the line, less the format's closing literal text.
/// - Variables with no literal text between them (`$host$request_uri`) are read as one
///   opaque value; none of them may be one nines reads (see Compile).
namespace nines::collectors {

/// The `log_format ... escape=` parameter: how nginx wrote the variables' values.
enum class Escape {
  /// `\xXX` (uppercase hex) for '"', '\', bytes below 0x20 and bytes from 0x7f up; a value
  /// that holds such a byte unescaped is not nginx's and is an error.
  kDefault,
  /// As in a JSON string: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, `\u00XX` for other bytes
  /// below 0x20; bytes from 0x7f up as they are. A value holding a byte below 0x20 is an
  /// error. Inside a quoted value, an escaped quote (`\"`) does not end it.
  kJson,
  /// Values as they are. Only NUL bytes are errors; a quote inside a quoted value can make
  /// a line ambiguous (later occurrences of the literal are tried, as for any value).
  kNone,
};

/// The escape named `name` ("default", "json" or "none", as nginx spells them), or nullopt.
std::optional<Escape> ParseEscape(std::string_view name);

/// nginx's spelling of `escape`: "default", "json" or "none".
std::string_view EscapeName(Escape escape);

/// The format nines assumes when the config names none: nginx's `combined` followed by
/// ` $request_time $upstream_response_time`. The same text as the config's default.
inline constexpr std::string_view kDefaultAccessLogFormat =
    R"($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent )"
    R"("$http_referer" "$http_user_agent" $request_time $upstream_response_time)";

/// Lines longer than this many bytes (without the newline) are errors, not parsed. nginx's
/// default header buffers (8 KiB a line) keep real lines far shorter; a longer one is
/// garbage or an attack, and not worth the time.
inline constexpr std::size_t kMaxLogLineBytes = std::size_t{64} * 1024;

/// The most variables a format may hold (after joining adjacent ones).
inline constexpr std::size_t kMaxLogFormatVariables = 128;

/// What nines reads from one access-log line. The string views point into the line that
/// was parsed: a record must not outlive its line.
struct LogRecord {
  /// The request method: $request_method, or else the first word of $request; "" when
  /// the format has neither or the value is absent. Not checked: a garbage request line
  /// (a TLS handshake sent to a plain-HTTP port, say) gives a garbage word, escaped as
  /// nginx wrote it, so it must be mapped to a bounded set before it becomes a label.
  std::string_view method;
  /// $status: the HTTP status code nginx sent, 0 to 999 (nginx writes 000 when it sent
  /// none, 009 for HTTP/0.9).
  int status = 0;
  /// $request_time in seconds; nullopt when the format has none or it is absent.
  std::optional<double> request_time;
  /// $upstream_response_time in seconds, summed over every upstream the request went to
  /// ("0.002, 0.004" when nginx tried a second server, "0.002 : 0.010" after an internal
  /// redirect to another upstream group); nullopt when the format has none or no upstream
  /// answered ("-", or "" with escape=json or none).
  std::optional<double> upstream_response_time;
  /// $body_bytes_sent; nullopt when the format has none or it is absent.
  std::optional<std::uint64_t> body_bytes_sent;
  /// $bytes_sent; nullopt when the format has none or it is absent.
  std::optional<std::uint64_t> bytes_sent;
};

namespace internal {

/// How a variable's value is checked and converted (defined in log_format.cc).
enum class LogValueKind : std::uint8_t;

/// One value of a line and the literal text that follows it.
struct LogElement {
  LogValueKind kind;
  /// What follows the value; "" only for the last element, whose value then runs to the
  /// end of the line.
  std::string literal;
  /// How messages name it: "$status", or "$host$request_uri" for adjacent variables.
  std::string name;
};

/// Why a line did not match (defined in log_format.cc).
struct LogFailure;

}  // namespace internal

/// A compiled nginx `log_format`. Immutable after Compile; Parse may be called from any
/// number of threads at once. Copyable and movable.
class LogFormat {
 public:
  /// Compiles `format` (the text of a `log_format`, without its name and escape
  /// parameter) or returns nullopt and sets `*error` (when not null) to what is wrong and
  /// where, with a 1-based column in `format`:
  /// - `empty format`;
  /// - `column 5: "$" is not followed by a variable name`;
  /// - `column 5: "${" is not closed by "}"` (also when a character that cannot be in a
  ///   name comes before the "}");
  /// - `column 12: unknown variable $foo` for a name that is not one of nginx's (the
  ///   core, upstream, SSL, realip, geoip... variables and the prefixes $http_,
  ///   $sent_http_, $sent_trailer_, $cookie_, $arg_, $upstream_http_,
  ///   $upstream_cookie_, $upstream_trailer_ and $proxy_protocol_tlv_): variables made by
  ///   `map` or `set` are rejected too, as nines cannot know their values' shape;
  /// - `column 6: no literal text between $host and $status, which nines reads` when a
  ///   variable nines reads is one of several adjacent variables;
  /// - `the format has no $status, which nines counts requests by`;
  /// - `too many variables: 129, at most 128`.
  static std::optional<LogFormat> Compile(std::string_view format, Escape escape,
                                          std::string* error);

  /// Splits `line` (one line of the log, with or without its trailing '\n') and fills
  /// `*out`, which is reset first. Returns false and sets `*error` (when not null) on a
  /// line that does not match, e.g. `column 57: expected "\" " after $request "GET /a",
  /// found the end of the line`, `column 40: $status "abc" is not an HTTP status code`,
  /// `column 80: byte 0x01 in $http_user_agent, which nginx writes escaped with
  /// escape=default`, `column 1: expected "[" at the start of the line`, `column 76:
  /// expected "\"" after $http_user_agent at the end of the line`, `column 3: NUL byte` or
  /// `line is 70000 bytes long, over the 65536-byte limit`. When later occurrences of
  /// literals were tried, the error is that of the furthest variable reached. `*out` is
  /// then unspecified. Allocates nothing unless it writes an error.
  bool Parse(std::string_view line, LogRecord* out, std::string* error) const;

  /// The format text Compile was given.
  const std::string& format() const { return format_; }
  /// The escape Compile was given.
  Escape escape() const { return escape_; }

 private:
  LogFormat() = default;

  // Matches `line` (which starts with prefix_) against elements_, trying later
  // occurrences of a literal when an earlier one leads nowhere.
  bool Match(std::string_view line, LogRecord* out, internal::LogFailure* failure) const;
  // The message for `failure`.
  std::string Describe(const internal::LogFailure& failure, std::string_view line) const;

  std::string format_;
  Escape escape_ = Escape::kDefault;
  // Literal text before the first variable.
  std::string prefix_;
  std::vector<internal::LogElement> elements_;
  // The method comes from $request_method rather than from $request.
  bool has_request_method_ = false;
};

}  // namespace nines::collectors
