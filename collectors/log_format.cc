#include "collectors/log_format.h"

#include <array>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "collectors/text.h"

namespace nines::collectors {

namespace internal {

enum class LogValueKind : std::uint8_t {
  kText,                  // anything (checked for bytes nginx would have escaped)
  kRequest,               // $request: the method is its first word
  kRequestMethod,         // $request_method
  kStatus,                // $status: 1 to 3 digits
  kRequestTime,           // $request_time: seconds with a fraction, or absent
  kUpstreamResponseTime,  // $upstream_response_time: a list of seconds, summed
  kBodyBytesSent,         // $body_bytes_sent: an integer, or absent
  kBytesSent,             // $bytes_sent: an integer, or absent
  kTimeList,              // the other $upstream_*_time lists
  kList,                  // the other $upstream_* lists ("10.0.0.1:80, 10.0.0.2:80")
  kUnsigned,              // an integer nginx always writes ($request_length, $pid...)
  kDecimal,               // seconds nginx always writes ($msec, $connection_time)
  kTimeLocal,             // 10/Oct/2000:13:55:36 -0700
  kTimeIso8601,           // 2000-10-10T13:55:36-07:00
};

struct LogFailure {
  enum class Code : std::uint8_t {
    kNone,
    kNoLiteral,      // the literal after `element` does not occur after its value's start
    kNoEndLiteral,   // the line does not end with the last element's literal
    kBadValue,       // the value [begin, end) does not convert
    kUnescapedByte,  // the byte at `begin` should have been escaped
  };
  Code code = Code::kNone;
  std::size_t element = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
};

}  // namespace internal

namespace {

using internal::LogElement;
using Kind = internal::LogValueKind;

// nginx's variables whose values nines checks or converts.
struct TypedVariable {
  std::string_view name;
  Kind kind;
};
constexpr std::array kTypedVariables = {
    TypedVariable{"status", Kind::kStatus},
    TypedVariable{"request", Kind::kRequest},
    TypedVariable{"request_method", Kind::kRequestMethod},
    TypedVariable{"request_time", Kind::kRequestTime},
    TypedVariable{"upstream_response_time", Kind::kUpstreamResponseTime},
    TypedVariable{"body_bytes_sent", Kind::kBodyBytesSent},
    TypedVariable{"bytes_sent", Kind::kBytesSent},
    TypedVariable{"upstream_connect_time", Kind::kTimeList},
    TypedVariable{"upstream_header_time", Kind::kTimeList},
    TypedVariable{"upstream_queue_time", Kind::kTimeList},
    TypedVariable{"upstream_addr", Kind::kList},
    TypedVariable{"upstream_status", Kind::kList},
    TypedVariable{"upstream_response_length", Kind::kList},
    TypedVariable{"upstream_bytes_received", Kind::kList},
    TypedVariable{"upstream_bytes_sent", Kind::kList},
    TypedVariable{"request_length", Kind::kUnsigned},
    TypedVariable{"connection", Kind::kUnsigned},
    TypedVariable{"connection_requests", Kind::kUnsigned},
    TypedVariable{"pid", Kind::kUnsigned},
    TypedVariable{"msec", Kind::kDecimal},
    TypedVariable{"connection_time", Kind::kDecimal},
    TypedVariable{"time_local", Kind::kTimeLocal},
    TypedVariable{"time_iso8601", Kind::kTimeIso8601},
};

// nginx's other variables, whose values nines passes over, by module.
constexpr std::string_view kTextVariables =
    // http core
    "args binary_remote_addr content_length content_type document_root "
    "document_uri host hostname https is_args limit_rate nginx_version pipe "
    "proxy_protocol_addr proxy_protocol_port proxy_protocol_server_addr "
    "proxy_protocol_server_port query_string realpath_root remote_addr remote_port "
    "remote_user request_body request_body_file request_completion request_filename "
    "request_id request_uri scheme server_addr server_name server_port server_protocol "
    "tcpinfo_rcv_space tcpinfo_rtt tcpinfo_rttvar tcpinfo_snd_cwnd uri "
    // upstream, proxy, fastcgi, memcached
    "upstream_cache_status proxy_add_x_forwarded_for proxy_host proxy_port "
    "fastcgi_path_info fastcgi_script_name memcached_key "
    // ssl, http2, http3
    "ssl_alpn_protocol ssl_cipher ssl_ciphers ssl_client_cert ssl_client_escaped_cert "
    "ssl_client_fingerprint ssl_client_i_dn ssl_client_i_dn_legacy ssl_client_raw_cert "
    "ssl_client_s_dn ssl_client_s_dn_legacy ssl_client_serial ssl_client_v_end "
    "ssl_client_v_remain ssl_client_v_start ssl_client_verify ssl_curve ssl_curves "
    "ssl_early_data ssl_protocol ssl_server_name ssl_session_id ssl_session_reused http2 "
    "http3 "
    // realip, gzip, limit_conn, limit_req, stub_status
    "realip_remote_addr realip_remote_port gzip_ratio limit_conn_status limit_req_status "
    "connections_active connections_reading connections_waiting connections_writing "
    // geoip
    "geoip_area_code geoip_city geoip_city_continent_code geoip_city_country_code "
    "geoip_city_country_code3 geoip_city_country_name geoip_country_code "
    "geoip_country_code3 geoip_country_name geoip_dma_code geoip_latitude geoip_longitude "
    "geoip_org geoip_postal_code geoip_region geoip_region_name "
    // userid, referer, browser, secure_link, slice, ssi
    "uid_got uid_reset uid_set invalid_referer ancient_browser modern_browser msie "
    "secure_link secure_link_expires slice_range date_gmt date_local";

// nginx's variable families: `$http_user_agent` is the request header User-Agent.
constexpr auto kVariablePrefixes = std::to_array<std::string_view>(
    {"http_", "sent_http_", "sent_trailer_", "cookie_", "arg_", "upstream_http_",
     "upstream_cookie_", "upstream_trailer_", "proxy_protocol_tlv_"});

std::optional<Kind> LookUpVariable(std::string_view name) {
  for (const TypedVariable& variable : kTypedVariables) {
    if (variable.name == name) {
      return variable.kind;
    }
  }
  std::string_view names = kTextVariables;
  while (!names.empty()) {
    const std::size_t space = names.find(' ');
    if (names.substr(0, space) == name) {
      return Kind::kText;
    }
    names.remove_prefix(space == std::string_view::npos ? names.size() : space + 1);
  }
  for (const std::string_view prefix : kVariablePrefixes) {
    if (name.size() > prefix.size() && name.starts_with(prefix)) {
      return Kind::kText;
    }
  }
  return std::nullopt;
}

// The kinds whose values end up in a LogRecord.
bool IsRead(Kind kind) {
  switch (kind) {
    case Kind::kRequest:
    case Kind::kRequestMethod:
    case Kind::kStatus:
    case Kind::kRequestTime:
    case Kind::kUpstreamResponseTime:
    case Kind::kBodyBytesSent:
    case Kind::kBytesSent:
      return true;
    case Kind::kText:
    case Kind::kTimeList:
    case Kind::kList:
    case Kind::kUnsigned:
    case Kind::kDecimal:
    case Kind::kTimeLocal:
    case Kind::kTimeIso8601:
      return false;
  }
  return false;
}

// The shortest value of `kind`: a search for the literal after a timestamp starts past the
// timestamp's own spaces and colons.
std::size_t MinLength(Kind kind) {
  switch (kind) {
    case Kind::kTimeLocal:
      return sizeof("10/Oct/2000:13:55:36 -0700") - 1;
    case Kind::kTimeIso8601:
      return sizeof("2000-10-10T13:55:36-07:00") - 1;
    case Kind::kText:
    case Kind::kRequest:
    case Kind::kRequestMethod:
    case Kind::kStatus:
    case Kind::kRequestTime:
    case Kind::kUpstreamResponseTime:
    case Kind::kBodyBytesSent:
    case Kind::kBytesSent:
    case Kind::kTimeList:
    case Kind::kList:
    case Kind::kUnsigned:
    case Kind::kDecimal:
      break;
  }
  return 0;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char ToLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Whether nginx wrote nothing for the variable: "-" with escape=default, "" otherwise
// (both are accepted whatever the escape, as a `map` may write either).
bool IsAbsent(std::string_view value) { return value.empty() || value == "-"; }

constexpr std::array<double, 16> kPowersOfTen = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};

// Reads digits, optionally followed by '.' and more digits, from text[*pos]: nginx's
// "%T.%03M" seconds. Up to 15 digits the result is correctly rounded (one division of two
// exact doubles); longer numbers go through from_chars.
bool ScanSeconds(std::string_view text, std::size_t* pos, double* seconds) {
  std::size_t i = *pos;
  const std::size_t start = i;
  std::uint64_t mantissa = 0;
  std::size_t digits = 0;
  std::size_t fraction_digits = 0;
  while (i < text.size() && IsDigit(text[i])) {
    mantissa = mantissa * 10 + static_cast<std::uint64_t>(text[i] - '0');
    ++digits;
    ++i;
  }
  if (digits == 0) {
    return false;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && IsDigit(text[i])) {
      mantissa = mantissa * 10 + static_cast<std::uint64_t>(text[i] - '0');
      ++digits;
      ++fraction_digits;
      ++i;
    }
    if (fraction_digits == 0) {
      return false;
    }
  }
  if (digits < kPowersOfTen.size()) {
    *seconds = static_cast<double>(mantissa) / kPowersOfTen[fraction_digits];
  } else {
    const auto [ptr, ec] =
        std::from_chars(text.data() + start, text.data() + i, *seconds, std::chars_format::fixed);
    if (ec != std::errc() || ptr != text.data() + i) {
      return false;
    }
  }
  *pos = i;
  return true;
}

std::optional<double> ParseSeconds(std::string_view text) {
  std::size_t pos = 0;
  double seconds = 0;
  if (!ScanSeconds(text, &pos, &seconds) || pos != text.size()) {
    return std::nullopt;
  }
  return seconds;
}

// Moves `*pos` past the separator nginx writes between the entries of an upstream list:
// ", " between servers of one upstream group, " : " before the servers of the group an
// internal redirect went to. Returns false when there is none.
bool SkipListSeparator(std::string_view list, std::size_t* pos) {
  const std::string_view rest = list.substr(*pos);
  if (rest.starts_with(", ")) {
    *pos += 2;
    return true;
  }
  if (rest.starts_with(" : ")) {
    *pos += 3;
    return true;
  }
  return false;
}

// An $upstream_*_time list: entries of seconds or "-" (no time for that server),
// separated as SkipListSeparator says. nginx ends the list with " : " when the last
// redirect reached no upstream. `*sum` is the sum of the times, nullopt when there are none.
bool ParseTimeList(std::string_view list, std::optional<double>* sum) {
  *sum = std::nullopt;
  if (IsAbsent(list)) {
    return true;
  }
  double total = 0;
  bool any = false;
  std::size_t pos = 0;
  while (true) {
    if (list[pos] == '-') {
      ++pos;
    } else {
      double seconds = 0;
      if (!ScanSeconds(list, &pos, &seconds)) {
        return false;
      }
      total += seconds;
      any = true;
    }
    if (pos == list.size()) {
      break;
    }
    const bool redirect = list[pos] == ' ';
    if (!SkipListSeparator(list, &pos)) {
      return false;
    }
    if (pos == list.size()) {
      if (!redirect) {
        return false;
      }
      break;
    }
  }
  if (any) {
    *sum = total;
  }
  return true;
}

// Another $upstream_* list: entries without spaces or commas, separated as
// SkipListSeparator says.
bool IsValueList(std::string_view list) {
  std::size_t pos = 0;
  while (pos < list.size()) {
    const std::size_t start = pos;
    while (pos < list.size() && list[pos] != ' ' && list[pos] != ',') {
      ++pos;
    }
    if (pos == start) {
      return false;
    }
    if (pos == list.size()) {
      return true;
    }
    const bool redirect = list[pos] == ' ';
    if (!SkipListSeparator(list, &pos) || (pos == list.size() && !redirect)) {
      return false;
    }
  }
  return true;
}

// Whether `value` has the shape of `pattern`, where '0' is any digit, 'A' any ASCII
// letter, '+' a '+' or '-', and other characters stand for themselves.
bool HasShape(std::string_view value, std::string_view pattern) {
  if (value.size() != pattern.size()) {
    return false;
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    switch (pattern[i]) {
      case '0':
        if (!IsDigit(c)) {
          return false;
        }
        break;
      case 'A':
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
          return false;
        }
        break;
      case '+':
        if (c != '+' && c != '-') {
          return false;
        }
        break;
      default:
        if (c != pattern[i]) {
          return false;
        }
    }
  }
  return true;
}

std::optional<int> ParseStatus(std::string_view value) {
  if (value.empty() || value.size() > 3) {
    return std::nullopt;
  }
  int status = 0;
  for (const char c : value) {
    if (!IsDigit(c)) {
      return std::nullopt;
    }
    status = status * 10 + (c - '0');
  }
  return status;
}

bool ParseOptionalCount(std::string_view value, std::optional<std::uint64_t>* count) {
  if (IsAbsent(value)) {
    *count = std::nullopt;
    return true;
  }
  *count = TryParseUint64(value);
  return count->has_value();
}

// The offset in `value` of the first byte nginx would have escaped, or npos. The common
// case (no such byte) is a branch-free pass the compiler can vectorize.
std::size_t FindUnescapedByte(std::string_view value, Escape escape) {
  switch (escape) {
    case Escape::kDefault: {
      // Bytes below 0x20, from 0x7f up, and '"': nginx writes them all as \xXX.
      bool bad = false;
      for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        bad |= (static_cast<unsigned char>(byte - 0x20) >= 0x5f) | (byte == '"');
      }
      if (!bad) {
        return std::string_view::npos;
      }
      for (std::size_t i = 0; i < value.size(); ++i) {
        const auto byte = static_cast<unsigned char>(value[i]);
        if (byte < 0x20 || byte >= 0x7f || byte == '"') {
          return i;
        }
      }
      return std::string_view::npos;
    }
    case Escape::kJson: {
      bool bad = false;
      for (const char c : value) {
        bad |= static_cast<unsigned char>(c) < 0x20;
      }
      if (!bad) {
        return std::string_view::npos;
      }
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (static_cast<unsigned char>(value[i]) < 0x20) {
          return i;
        }
      }
      return std::string_view::npos;
    }
    case Escape::kNone:
      return std::string_view::npos;
  }
  return std::string_view::npos;
}

enum class Verdict : std::uint8_t { kOk, kBadValue, kUnescapedByte };

// Checks `value` as `kind` and stores what it holds in `*out`.
Verdict Accept(Kind kind, std::string_view value, bool method_from_request, LogRecord* out) {
  switch (kind) {
    case Kind::kText:
    case Kind::kTimeList:
    case Kind::kList:
    case Kind::kUnsigned:
    case Kind::kDecimal:
    case Kind::kTimeLocal:
    case Kind::kTimeIso8601:
      break;
    case Kind::kRequest:
      if (method_from_request) {
        out->method = IsAbsent(value) ? std::string_view() : value.substr(0, value.find(' '));
      }
      return Verdict::kOk;
    case Kind::kRequestMethod:
      out->method = IsAbsent(value) ? std::string_view() : value;
      return Verdict::kOk;
    case Kind::kStatus:
      if (const std::optional<int> status = ParseStatus(value)) {
        out->status = *status;
        return Verdict::kOk;
      }
      return Verdict::kBadValue;
    case Kind::kRequestTime:
      if (IsAbsent(value)) {
        out->request_time = std::nullopt;
        return Verdict::kOk;
      }
      out->request_time = ParseSeconds(value);
      return out->request_time ? Verdict::kOk : Verdict::kBadValue;
    case Kind::kUpstreamResponseTime:
      return ParseTimeList(value, &out->upstream_response_time) ? Verdict::kOk : Verdict::kBadValue;
    case Kind::kBodyBytesSent:
      return ParseOptionalCount(value, &out->body_bytes_sent) ? Verdict::kOk : Verdict::kBadValue;
    case Kind::kBytesSent:
      return ParseOptionalCount(value, &out->bytes_sent) ? Verdict::kOk : Verdict::kBadValue;
  }
  bool ok = true;
  switch (kind) {
    case Kind::kTimeList: {
      std::optional<double> sum;
      ok = ParseTimeList(value, &sum);
      break;
    }
    case Kind::kList:
      ok = IsValueList(value);
      break;
    case Kind::kUnsigned:
      ok = TryParseUint64(value).has_value();
      break;
    case Kind::kDecimal:
      ok = ParseSeconds(value).has_value();
      break;
    case Kind::kTimeLocal:
      ok = HasShape(value, "00/AAA/0000:00:00:00 +0000");
      break;
    case Kind::kTimeIso8601:
      ok = HasShape(value, "0000-00-00T00:00:00+00:00");
      break;
    default:
      break;
  }
  return ok ? Verdict::kOk : Verdict::kBadValue;
}

// Whether the value of `kind` may hold text nginx escaped (the values the log module
// writes itself, and the typed ones, are checked by their syntax instead).
bool IsEscapedText(Kind kind) {
  return kind == Kind::kText || kind == Kind::kRequest || kind == Kind::kRequestMethod ||
         kind == Kind::kList;
}

// What a value of `kind` should have been, for messages.
std::string_view Expectation(Kind kind) {
  switch (kind) {
    case Kind::kStatus:
      return "is not an HTTP status code";
    case Kind::kRequestTime:
    case Kind::kDecimal:
      return "is not a number of seconds";
    case Kind::kUpstreamResponseTime:
    case Kind::kTimeList:
      return "is not a list of upstream times";
    case Kind::kList:
      return "is not a list of upstream values";
    case Kind::kBodyBytesSent:
    case Kind::kBytesSent:
    case Kind::kUnsigned:
      return "is not a non-negative integer";
    case Kind::kTimeLocal:
      return "is not a time like 10/Oct/2000:13:55:36 -0700";
    case Kind::kTimeIso8601:
      return "is not a time like 2000-10-10T13:55:36-07:00";
    case Kind::kText:
    case Kind::kRequest:
    case Kind::kRequestMethod:
      break;
  }
  return "is not valid";
}

std::string Column(std::size_t offset) { return "column " + std::to_string(offset + 1) + ": "; }

// The largest number of candidate values Parse tries for one line. A line of nginx's is
// matched with one per variable, or a few more for unquoted values with spaces; the bound
// keeps a crafted line from making matching exponential.
constexpr std::size_t kMaxAttemptsPerVariable = 4;
constexpr std::size_t kMinAttempts = 64;

}  // namespace

std::optional<Escape> ParseEscape(std::string_view name) {
  if (name == "default") {
    return Escape::kDefault;
  }
  if (name == "json") {
    return Escape::kJson;
  }
  if (name == "none") {
    return Escape::kNone;
  }
  return std::nullopt;
}

std::string_view EscapeName(Escape escape) {
  switch (escape) {
    case Escape::kDefault:
      return "default";
    case Escape::kJson:
      return "json";
    case Escape::kNone:
      return "none";
  }
  return "default";
}

std::optional<LogFormat> LogFormat::Compile(std::string_view format, Escape escape,
                                            std::string* error) {
  const auto fail = [&](std::string message) -> std::optional<LogFormat> {
    if (error != nullptr) {
      *error = std::move(message);
    }
    return std::nullopt;
  };
  if (format.empty()) {
    return fail("empty format");
  }
  LogFormat compiled;
  compiled.format_ = std::string(format);
  compiled.escape_ = escape;
  std::string literal;
  bool has_status = false;
  std::size_t i = 0;
  while (i < format.size()) {
    if (format[i] != '$') {
      literal += format[i];
      ++i;
      continue;
    }
    // nginx's ngx_http_log_compile_format: `$name` ends at the first character that
    // cannot be in a name; `${name}` at the '}', and anything else before it is an error.
    const std::size_t dollar = i;
    ++i;
    const bool braced = i < format.size() && format[i] == '{';
    if (braced) {
      ++i;
    }
    const std::size_t name_begin = i;
    while (i < format.size() && IsNameChar(format[i])) {
      ++i;
    }
    const std::string_view name = format.substr(name_begin, i - name_begin);
    if (braced) {
      if (i == format.size() || format[i] != '}') {
        return fail(Column(dollar) + "\"${\" is not closed by \"}\"");
      }
      ++i;
    }
    if (name.empty()) {
      return fail(Column(dollar) + "\"$\" is not followed by a variable name");
    }
    std::string lower(name);
    for (char& c : lower) {
      c = ToLower(c);
    }
    const std::optional<Kind> kind = LookUpVariable(lower);
    if (!kind) {
      return fail(Column(dollar) + "unknown variable $" + std::string(name));
    }
    has_status = has_status || *kind == Kind::kStatus;
    compiled.has_request_method_ = compiled.has_request_method_ || *kind == Kind::kRequestMethod;
    std::string display(1, '$');
    display += name;
    if (compiled.elements_.empty()) {
      compiled.prefix_ = std::move(literal);
    } else if (literal.empty()) {
      // Adjacent variables: nothing tells where one ends, so they are one opaque value,
      // which must not hold a value nines reads.
      LogElement& previous = compiled.elements_.back();
      if (IsRead(previous.kind) || IsRead(*kind)) {
        return fail(Column(dollar) + "no literal text between " + previous.name + " and " +
                    display + ", which nines reads");
      }
      previous.kind = Kind::kText;
      previous.name += display;
      continue;
    } else {
      compiled.elements_.back().literal = std::move(literal);
    }
    literal.clear();
    compiled.elements_.push_back(LogElement{*kind, "", std::move(display)});
  }
  if (compiled.elements_.empty()) {
    compiled.prefix_ = std::move(literal);
  } else {
    compiled.elements_.back().literal = std::move(literal);
  }
  if (!has_status) {
    return fail("the format has no $status, which nines counts requests by");
  }
  if (compiled.elements_.size() > kMaxLogFormatVariables) {
    return fail("too many variables: " + std::to_string(compiled.elements_.size()) + ", at most " +
                std::to_string(kMaxLogFormatVariables));
  }
  return compiled;
}

bool LogFormat::Parse(std::string_view line, LogRecord* out, std::string* error) const {
  *out = LogRecord{};
  if (!line.empty() && line.back() == '\n') {
    line.remove_suffix(1);
  }
  const auto fail = [&](std::string message) {
    if (error != nullptr) {
      *error = std::move(message);
    }
    return false;
  };
  if (line.size() > kMaxLogLineBytes) {
    return fail("line is " + std::to_string(line.size()) + " bytes long, over the " +
                std::to_string(kMaxLogLineBytes) + "-byte limit");
  }
  if (!line.empty()) {
    if (const void* nul = std::memchr(line.data(), '\0', line.size())) {
      return fail(Column(static_cast<std::size_t>(static_cast<const char*>(nul) - line.data())) +
                  "NUL byte");
    }
  }
  if (!line.starts_with(prefix_)) {
    return fail("column 1: expected " + Quote(prefix_) + " at the start of the line");
  }
  internal::LogFailure failure;
  if (Match(line, out, &failure)) {
    return true;
  }
  if (error != nullptr) {
    *error = Describe(failure, line);
  }
  return false;
}

bool LogFormat::Match(std::string_view line, LogRecord* out, internal::LogFailure* failure) const {
  using Code = internal::LogFailure::Code;
  const std::size_t count = elements_.size();
  // For each element: where its value begins, and where the search for the literal after
  // it resumes when a later element fails.
  std::array<std::size_t, kMaxLogFormatVariables> begin{};
  std::array<std::size_t, kMaxLogFormatVariables> resume{};
  // Keeps the failure of the deepest element reached: an earlier element failing while
  // matching goes on to a later one was a wrong guess, not the line's fault.
  bool failed = false;
  const auto note = [&](Code code, std::size_t element, std::size_t from, std::size_t to) {
    if (!failed || element > failure->element) {
      *failure = internal::LogFailure{code, element, from, to};
      failed = true;
    }
  };
  // Checks the value [from, to) of `element`; true when it is accepted.
  const auto accept = [&](std::size_t element, std::size_t from, std::size_t to) {
    const LogElement& e = elements_[element];
    const std::string_view value = line.substr(from, to - from);
    if (IsEscapedText(e.kind)) {
      const std::size_t bad = FindUnescapedByte(value, escape_);
      if (bad != std::string_view::npos) {
        note(Code::kUnescapedByte, element, from + bad, from + bad + 1);
        return false;
      }
    }
    if (Accept(e.kind, value, !has_request_method_, out) != Verdict::kOk) {
      note(Code::kBadValue, element, from, to);
      return false;
    }
    return true;
  };
  // The next occurrence of `literal` at or after `from` that can end a value starting at
  // `value_begin`. With escape=json, a '"' preceded by an odd number of backslashes is
  // inside the value.
  const auto find = [&](std::string_view literal, std::size_t from, std::size_t value_begin) {
    std::size_t at = line.find(literal, from);
    if (escape_ == Escape::kJson && literal.front() == '"') {
      while (at != std::string_view::npos) {
        std::size_t backslashes = 0;
        while (at - backslashes > value_begin && line[at - backslashes - 1] == '\\') {
          ++backslashes;
        }
        if (backslashes % 2 == 0) {
          break;
        }
        at = line.find(literal, at + 1);
      }
    }
    return at;
  };

  std::size_t attempts = kMinAttempts + kMaxAttemptsPerVariable * count;
  std::size_t i = 0;
  begin[0] = prefix_.size();
  resume[0] = begin[0] + MinLength(elements_[0].kind);
  while (true) {
    const LogElement& element = elements_[i];
    bool placed = false;
    if (i + 1 == count) {
      // The last value runs to the end of the line, less the format's closing text.
      if (resume[i] != std::string_view::npos) {
        resume[i] = std::string_view::npos;
        if (line.size() < begin[i] + element.literal.size() || !line.ends_with(element.literal)) {
          note(Code::kNoEndLiteral, i, begin[i], line.size());
        } else if (accept(i, begin[i], line.size() - element.literal.size())) {
          return true;
        }
      }
    } else if (resume[i] != std::string_view::npos) {
      const bool first = resume[i] == begin[i] + MinLength(element.kind);
      std::size_t at = find(element.literal, resume[i], begin[i]);
      if (at == std::string_view::npos && first) {
        note(Code::kNoLiteral, i, begin[i], line.size());
      }
      while (at != std::string_view::npos) {
        if (attempts == 0) {
          return false;
        }
        --attempts;
        if (accept(i, begin[i], at)) {
          placed = true;
          resume[i] = at + 1;
          begin[i + 1] = at + element.literal.size();
          resume[i + 1] = begin[i + 1] + MinLength(elements_[i + 1].kind);
          break;
        }
        at = find(element.literal, at + 1, begin[i]);
      }
      if (!placed) {
        resume[i] = std::string_view::npos;
      }
    }
    if (placed) {
      ++i;
      continue;
    }
    if (i == 0) {
      return false;
    }
    --i;
  }
}

std::string LogFormat::Describe(const internal::LogFailure& failure, std::string_view line) const {
  using Code = internal::LogFailure::Code;
  const LogElement& element = elements_[failure.element];
  switch (failure.code) {
    case Code::kNone:
      break;
    case Code::kNoLiteral:
      return Column(failure.begin) + "expected " + Quote(element.literal) + " after " +
             element.name + " " + Quote(line.substr(failure.begin, failure.end - failure.begin)) +
             ", found the end of the line";
    case Code::kNoEndLiteral:
      return Column(line.size()) + "expected " + Quote(element.literal) + " after " + element.name +
             " at the end of the line";
    case Code::kBadValue:
      return Column(failure.begin) + element.name + " " +
             Quote(line.substr(failure.begin, failure.end - failure.begin)) + " " +
             std::string(Expectation(element.kind));
    case Code::kUnescapedByte: {
      constexpr char kHex[] = "0123456789abcdef";
      const auto byte = static_cast<unsigned char>(line[failure.begin]);
      std::string hex = "0x";
      hex += kHex[byte >> 4];
      hex += kHex[byte & 0xf];
      return Column(failure.begin) + "byte " + hex + " in " + element.name +
             ", which nginx writes escaped with escape=" + std::string(EscapeName(escape_));
    }
  }
  return "line does not match the format";
}

}  // namespace nines::collectors
