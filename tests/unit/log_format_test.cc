// Tests of collectors/log_format.h: compiling nginx log_format strings and parsing the
// lines nginx writes with them, including the lines nginx writes when things go wrong
// (no upstream, internal redirects, 400s without a request line) and lines that are not
// nginx's at all.
#include "collectors/log_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exporter/config/config.h"

namespace nines::collectors {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::StartsWith;

constexpr std::string_view kCombined =
    R"($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent )"
    R"("$http_referer" "$http_user_agent")";

constexpr std::string_view kMain = R"($remote_addr - $remote_user [$time_local] "$request" )"
                                   R"($status $body_bytes_sent "$http_referer" )"
                                   R"("$http_user_agent" "$http_x_forwarded_for")";

// A default-format line with the given middle parts.
std::string DefaultLine(std::string_view request, std::string_view status,
                        std::string_view tail = R"(1234 "-" "curl/8.0" 0.123 0.120)") {
  return std::string(R"(203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] ")") + std::string(request) +
         "\" " + std::string(status) + " " + std::string(tail);
}

LogFormat MustCompile(std::string_view format, Escape escape = Escape::kDefault) {
  std::string error;
  std::optional<LogFormat> compiled = LogFormat::Compile(format, escape, &error);
  EXPECT_TRUE(compiled.has_value()) << format << ": " << error;
  if (!compiled) {
    return *LogFormat::Compile("$status", Escape::kDefault, nullptr);
  }
  return *compiled;
}

std::string CompileError(std::string_view format, Escape escape = Escape::kDefault) {
  std::string error;
  EXPECT_FALSE(LogFormat::Compile(format, escape, &error).has_value()) << format;
  return error;
}

LogRecord MustParse(const LogFormat& format, std::string_view line) {
  LogRecord record;
  std::string error;
  EXPECT_TRUE(format.Parse(line, &record, &error)) << line << "\n" << error;
  return record;
}

std::string ParseError(const LogFormat& format, std::string_view line) {
  LogRecord record;
  std::string error;
  EXPECT_FALSE(format.Parse(line, &record, &error)) << line;
  return error;
}

// --- Compile ---------------------------------------------------------------------------

TEST(LogFormatCompileTest, DefaultFormatCompiles) {
  const LogFormat format = MustCompile(config::kDefaultAccessLogFormat);
  EXPECT_EQ(format.format(), config::kDefaultAccessLogFormat);
  EXPECT_EQ(format.escape(), Escape::kDefault);
}

TEST(LogFormatCompileTest, CommonFormatsCompile) {
  for (const std::string_view format : {
           kCombined,
           kMain,
           std::string_view(R"({"status":"$status","rt":"$request_time"})"),
           std::string_view("${remote_addr}|${status}|${request_time}s"),
           std::string_view("[$time_iso8601] {$status} <$request_method> $msec $pid"),
           std::string_view("$scheme://$host$request_uri $status"),
           std::string_view("$status $http_x_custom_header $sent_http_content_type $cookie_sid "
                            "$arg_page $upstream_http_x_cache $upstream_cookie_a "
                            "$sent_trailer_b $upstream_trailer_c $proxy_protocol_tlv_0x01"),
           std::string_view("$status $ssl_protocol/$ssl_cipher $upstream_cache_status "
                            "$request_id $gzip_ratio $connection_requests $pipe "
                            "$upstream_addr $upstream_status $upstream_connect_time "
                            "$upstream_header_time $server_name:$server_port $hostname "
                            "$nginx_version $args $query_string $server_protocol "
                            "$remote_port $request_length $uri $bytes_sent"),
           std::string_view("$status $geoip_country_code $geoip_city $ssl_client_verify "
                            "$ssl_client_s_dn $uid_set $date_gmt $connections_active "
                            "$realip_remote_addr $limit_req_status $http2 $http3 "
                            "$proxy_add_x_forwarded_for $fastcgi_script_name $msie "
                            "$secure_link_expires $slice_range $tcpinfo_rtt "
                            "$upstream_queue_time $upstream_bytes_received $connection_time"),
       }) {
    MustCompile(format);
  }
}

TEST(LogFormatCompileTest, EmptyFormat) { EXPECT_EQ(CompileError(""), "empty format"); }

TEST(LogFormatCompileTest, UnknownVariableIsNamedWithItsColumn) {
  EXPECT_EQ(CompileError("$remote_addr $foo $status"), "column 14: unknown variable $foo");
  // A name ends at the first character that cannot be in one, as in nginx.
  EXPECT_EQ(CompileError("$status_code"), "column 1: unknown variable $status_code");
  // A `map` variable is unknown: nines cannot know its shape.
  EXPECT_EQ(CompileError("$status ${loggable}"), "column 9: unknown variable $loggable");
  // A prefix alone names no header.
  EXPECT_EQ(CompileError("$status $http_"), "column 9: unknown variable $http_");
}

TEST(LogFormatCompileTest, DollarWithoutName) {
  EXPECT_EQ(CompileError("$status $"), "column 9: \"$\" is not followed by a variable name");
  EXPECT_EQ(CompileError("$status $ x"), "column 9: \"$\" is not followed by a variable name");
  EXPECT_EQ(CompileError("$status ${}"), "column 9: \"$\" is not followed by a variable name");
}

TEST(LogFormatCompileTest, UnterminatedBrace) {
  EXPECT_EQ(CompileError("${status"), "column 1: \"${\" is not closed by \"}\"");
  EXPECT_EQ(CompileError("$status ${"), "column 9: \"${\" is not closed by \"}\"");
  EXPECT_EQ(CompileError("$status ${request-time}"), "column 9: \"${\" is not closed by \"}\"");
}

TEST(LogFormatCompileTest, StatusIsRequired) {
  EXPECT_EQ(CompileError("$remote_addr \"$request\""),
            "the format has no $status, which nines counts requests by");
  EXPECT_EQ(CompileError("no variables at all"),
            "the format has no $status, which nines counts requests by");
}

TEST(LogFormatCompileTest, AdjacentVariablesMustNotHideWhatNinesReads) {
  EXPECT_EQ(CompileError("$host$status"),
            "column 6: no literal text between $host and $status, which nines reads");
  EXPECT_EQ(CompileError("$status ${request_time}${upstream_response_time}"),
            "column 24: no literal text between $request_time and $upstream_response_time, "
            "which nines reads");
  EXPECT_EQ(CompileError("$status $host$uri$request"),
            "column 18: no literal text between $host$uri and $request, which nines reads");
}

TEST(LogFormatCompileTest, NamesAreCaseInsensitive) {
  const LogFormat format = MustCompile("$STATUS ${Request_Time}");
  const LogRecord record = MustParse(format, "404 0.250");
  EXPECT_EQ(record.status, 404);
  EXPECT_THAT(record.request_time, Optional(0.25));
}

TEST(LogFormatCompileTest, TooManyVariables) {
  std::string format = "$status";
  for (std::size_t i = 0; i < kMaxLogFormatVariables; ++i) {
    format += " $remote_addr";
  }
  EXPECT_EQ(CompileError(format), "too many variables: 129, at most 128");
}

TEST(LogFormatCompileTest, ErrorMayBeNull) {
  EXPECT_FALSE(LogFormat::Compile("$nope", Escape::kDefault, nullptr).has_value());
}

TEST(LogFormatCompileTest, EscapeNames) {
  EXPECT_EQ(ParseEscape("default"), Escape::kDefault);
  EXPECT_EQ(ParseEscape("json"), Escape::kJson);
  EXPECT_EQ(ParseEscape("none"), Escape::kNone);
  EXPECT_EQ(ParseEscape("JSON"), std::nullopt);
  EXPECT_EQ(ParseEscape(""), std::nullopt);
  EXPECT_EQ(EscapeName(Escape::kDefault), "default");
  EXPECT_EQ(EscapeName(Escape::kJson), "json");
  EXPECT_EQ(EscapeName(Escape::kNone), "none");
}

// --- Parse: the default format -----------------------------------------------------------

class DefaultFormatTest : public ::testing::Test {
 protected:
  LogFormat format_ = MustCompile(kDefaultAccessLogFormat);
};

TEST_F(DefaultFormatTest, TypicalLine) {
  const LogRecord record = MustParse(
      format_,
      R"(203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /api/v1/users?id=7 HTTP/1.1" 200 )"
      R"x(1234 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)" 0.123 0.120)x");
  EXPECT_EQ(record.method, "GET");
  EXPECT_EQ(record.status, 200);
  EXPECT_THAT(record.request_time, Optional(0.123));
  EXPECT_THAT(record.upstream_response_time, Optional(0.120));
  EXPECT_THAT(record.body_bytes_sent, Optional(1234u));
  EXPECT_EQ(record.bytes_sent, std::nullopt);
}

TEST_F(DefaultFormatTest, TrailingNewlineIsIgnored) {
  const std::string line = DefaultLine("HEAD / HTTP/1.0", "301") + "\n";
  const LogRecord record = MustParse(format_, line);
  EXPECT_EQ(record.method, "HEAD");
  EXPECT_EQ(record.status, 301);
  EXPECT_THAT(record.upstream_response_time, Optional(0.120));
}

TEST_F(DefaultFormatTest, NoUpstream) {
  const LogRecord record =
      MustParse(format_, DefaultLine("GET /static.css HTTP/2.0", "200", R"(52 "-" "-" 0.000 -)"));
  EXPECT_THAT(record.request_time, Optional(0.0));
  EXPECT_EQ(record.upstream_response_time, std::nullopt);
}

TEST_F(DefaultFormatTest, UpstreamListsAreSummed) {
  struct Case {
    std::string_view list;
    std::optional<double> sum;
  };
  for (const Case& c : {
           Case{"0.002, 0.004", 0.006},
           Case{"0.002 : 0.010", 0.012},
           Case{"0.001, 0.002 : 0.003", 0.006},
           Case{"-, 0.004", 0.004},
           Case{"0.005, -", 0.005},
           Case{"- : -", std::nullopt},
           Case{"-, -, -", std::nullopt},
           // nginx ends the list so when the last redirect went to no upstream.
           Case{"0.002 : ", 0.002},
           Case{"12.345", 12.345},
       }) {
    const LogRecord record = MustParse(
        format_,
        DefaultLine("GET / HTTP/1.1", "502", "0 \"-\" \"-\" 1.000 " + std::string(c.list)));
    if (c.sum) {
      EXPECT_THAT(record.upstream_response_time, Optional(DoubleNear(*c.sum, 1e-12))) << c.list;
    } else {
      EXPECT_EQ(record.upstream_response_time, std::nullopt) << c.list;
    }
  }
}

TEST_F(DefaultFormatTest, BadUpstreamLists) {
  for (const std::string_view list : {"0.002,0.004", "0.002, ", "0.002 :: 0.003", "x", "0.002 ,",
                                      "-0.002", "1.", ".5", "0.002 : : 0.003"}) {
    EXPECT_THAT(ParseError(format_, DefaultLine("GET / HTTP/1.1", "200",
                                                "0 \"-\" \"-\" 1.000 " + std::string(list))),
                HasSubstr("is not a list of upstream times"))
        << list;
  }
}

TEST_F(DefaultFormatTest, EscapedValues) {
  const LogRecord record = MustParse(
      format_, R"(203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /a\x22b\x5C HTTP/1.1" 200 5 )"
               R"("-" "Agent \x22quoted\x22 \xE2\x98\x83" 0.001 0.001)");
  EXPECT_EQ(record.method, "GET");
  EXPECT_EQ(record.status, 200);
}

TEST_F(DefaultFormatTest, RemoteUserWithSpace) {
  const LogRecord record = MustParse(
      format_,
      R"(10.0.0.1 - john doe [10/Oct/2023:13:55:36 +0000] "PUT /x HTTP/1.1" 201 0 "-" "-" 0.010 0.009)");
  EXPECT_EQ(record.method, "PUT");
  EXPECT_EQ(record.status, 201);
}

TEST_F(DefaultFormatTest, BadRequestsWithoutARequestLine) {
  // nginx logs a connection closed before a request line as "" (or "-" in old versions),
  // and a garbage request line as it came, escaped.
  for (const std::string_view request : {"", "-"}) {
    const LogRecord record =
        MustParse(format_, DefaultLine(request, "400", R"(0 "-" "-" 0.001 -)"));
    EXPECT_EQ(record.method, "") << request;
    EXPECT_EQ(record.status, 400);
  }
  // The record's views point into the line, which must outlive it.
  const std::string line = DefaultLine(R"(\x16\x03\x01\x00\xF1\x01\x00\x00\xED\x03\x03)", "400",
                                       R"(157 "-" "-" 0.050 -)");
  const LogRecord record = MustParse(format_, line);
  EXPECT_EQ(record.method, R"(\x16\x03\x01\x00\xF1\x01\x00\x00\xED\x03\x03)");
}

TEST_F(DefaultFormatTest, StatusCodes) {
  for (const auto& [text, code] : std::vector<std::pair<std::string_view, int>>{
           {"499", 499}, {"000", 0}, {"009", 9}, {"503", 503}}) {
    EXPECT_EQ(MustParse(format_, DefaultLine("GET / HTTP/1.1", text)).status, code);
  }
}

TEST_F(DefaultFormatTest, WrongTypes) {
  const std::string bad_status = DefaultLine("GET / HTTP/1.1", "abc");
  EXPECT_EQ(ParseError(format_, bad_status),
            "column 63: $status \"abc\" is not an HTTP status code");
  EXPECT_EQ(ParseError(format_, DefaultLine("GET / HTTP/1.1", "2000")),
            "column 63: $status \"2000\" is not an HTTP status code");
  EXPECT_EQ(ParseError(format_, DefaultLine("GET / HTTP/1.1", "200", R"(12x "-" "-" 0.1 -)")),
            "column 67: $body_bytes_sent \"12x\" is not a non-negative integer");
  EXPECT_EQ(ParseError(format_, DefaultLine("GET / HTTP/1.1", "200", R"(1 "-" "-" soon -)")),
            "column 77: $request_time \"soon\" is not a number of seconds");
  EXPECT_EQ(ParseError(format_, DefaultLine("GET / HTTP/1.1", "200", R"(1 "-" "-" 1e3 -)")),
            "column 77: $request_time \"1e3\" is not a number of seconds");
}

TEST_F(DefaultFormatTest, TruncatedLines) {
  EXPECT_EQ(ParseError(format_, R"(203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /a HTT)"),
            "column 47: expected \"\\\" \" after $request \"GET /a HTT\", "
            "found the end of the line");
  EXPECT_EQ(ParseError(format_, "203.0.113.9 - - [10/Oct/20"),
            "column 18: expected \"] \\\"\" after $time_local \"10/Oct/20\", "
            "found the end of the line");
  EXPECT_EQ(ParseError(format_, ""),
            "column 1: expected \" - \" after $remote_addr \"\", found the end of the line");
  // Every prefix of a good line fails cleanly (the last variable's value runs to the end of
  // the line, so a line cut inside it may still parse).
  const std::string line = DefaultLine("GET /index.html HTTP/1.1", "200");
  LogRecord record;
  std::string error;
  for (std::size_t size = 0; size + 6 < line.size(); ++size) {
    EXPECT_FALSE(format_.Parse(line.substr(0, size), &record, &error)) << size;
    EXPECT_THAT(error, StartsWith("column ")) << size;
  }
}

TEST_F(DefaultFormatTest, ExtraText) {
  EXPECT_EQ(ParseError(format_, DefaultLine("GET / HTTP/1.1", "200") + " extra"),
            "column 93: $upstream_response_time \"0.120 extra\" is not a list of upstream "
            "times");
}

TEST_F(DefaultFormatTest, UnescapedBytesAreNotNginxs) {
  EXPECT_EQ(ParseError(format_, DefaultLine("GET / HTTP/1.1", "200", "1 \"-\" \"curl\x01\" 0.1 -")),
            "column 78: byte 0x01 in $http_user_agent, which nginx writes escaped with "
            "escape=default");
  // Invalid UTF-8 (nginx writes every byte from 0x7f up as \xXX).
  EXPECT_EQ(
      ParseError(format_, DefaultLine("GET / HTTP/1.1", "200", "1 \"-\" \"a\xff\xfe\" 0.1 -")),
      "column 75: byte 0xff in $http_user_agent, which nginx writes escaped with "
      "escape=default");
  // A raw quote inside a quoted value.
  EXPECT_EQ(
      ParseError(format_, DefaultLine("GET / HTTP/1.1", "200", R"(1 "-" "say "hi" now" 0.1 -)")),
      "column 78: byte 0x22 in $http_user_agent, which nginx writes escaped with "
      "escape=default");
}

TEST_F(DefaultFormatTest, NulBytes) {
  std::string line = DefaultLine("GET / HTTP/1.1", "200");
  line[20] = '\0';
  EXPECT_EQ(ParseError(format_, line), "column 21: NUL byte");
  EXPECT_EQ(ParseError(format_, std::string(300, '\0')), "column 1: NUL byte");
}

TEST_F(DefaultFormatTest, HugeLines) {
  // A long User-Agent that still fits.
  const std::string head =
      R"(203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" ")";
  const std::string tail = R"(" 0.001 -)";
  const std::string fits =
      head + std::string(kMaxLogLineBytes - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(fits.size(), kMaxLogLineBytes);
  EXPECT_EQ(MustParse(format_, fits).status, 200);
  const std::string over = head + std::string(kMaxLogLineBytes, 'a') + tail;
  EXPECT_EQ(ParseError(format_, over),
            "line is " + std::to_string(over.size()) + " bytes long, over the 65536-byte limit");
  EXPECT_THAT(ParseError(format_, std::string(1 << 20, ' ')), HasSubstr("over the 65536-byte"));
}

TEST_F(DefaultFormatTest, ErrorMayBeNull) {
  LogRecord record;
  EXPECT_FALSE(format_.Parse("garbage", &record, nullptr));
  EXPECT_TRUE(format_.Parse(DefaultLine("GET / HTTP/1.1", "200"), &record, nullptr));
}

TEST_F(DefaultFormatTest, RecordIsResetBetweenLines) {
  LogRecord record = MustParse(format_, DefaultLine("GET / HTTP/1.1", "200"));
  ASSERT_TRUE(record.upstream_response_time.has_value());
  record = MustParse(format_, DefaultLine("GET / HTTP/1.1", "200", R"(1 "-" "-" 0.1 -)"));
  EXPECT_EQ(record.upstream_response_time, std::nullopt);
}

TEST_F(DefaultFormatTest, GarbageNeverCrashes) {
  std::vector<std::string> seeds = {
      DefaultLine("GET /index.html HTTP/1.1", "200"),
      DefaultLine("POST /api HTTP/2.0", "502", R"(0 "-" "-" 30.001 10.000, 10.001 : 10.000)"),
      std::string(200, '"'),
      std::string(200, ' '),
  };
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  LogRecord record;
  std::string error;
  std::size_t parsed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string line = seeds[static_cast<std::size_t>(round) % seeds.size()];
    const int mutations = 1 + round % 8;
    for (int m = 0; m < mutations; ++m) {
      const std::size_t at = static_cast<std::size_t>(random()) % line.size();
      switch (random() % 3) {
        case 0:
          line[at] = static_cast<char>(byte(random));
          break;
        case 1:
          line.insert(at, 1, " -\"[]:,"[random() % 7]);
          break;
        default:
          line.erase(at, 1 + random() % 3);
          if (line.empty()) {
            line.push_back('x');  // not `= "x"`: GCC 12 warns falsely (-Wrestrict) at -O2
          }
      }
    }
    if (format_.Parse(line, &record, &error)) {
      ++parsed;
      EXPECT_LE(record.status, 999);
    } else {
      EXPECT_FALSE(error.empty());
    }
  }
  // Some mutations (in the referer, say) leave a good line.
  EXPECT_GT(parsed, 0u);
}

// --- Parse: other formats ----------------------------------------------------------------

TEST(LogFormatParseTest, Combined) {
  const LogFormat format = MustCompile(kCombined);
  const LogRecord record = MustParse(
      format,
      R"(127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 )"
      R"x("http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)")x");
  EXPECT_EQ(record.method, "GET");
  EXPECT_EQ(record.status, 200);
  EXPECT_THAT(record.body_bytes_sent, Optional(2326u));
  EXPECT_EQ(record.request_time, std::nullopt);
  EXPECT_EQ(record.upstream_response_time, std::nullopt);
  // The closing quote ends the line.
  EXPECT_EQ(
      ParseError(format,
                 R"(127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "x" y)"),
      "column 76: expected \"\\\"\" after $http_user_agent at the end of the line");
}

TEST(LogFormatParseTest, MainWithForwardedFor) {
  const LogFormat format = MustCompile(kMain);
  const LogRecord record = MustParse(
      format, R"(10.0.0.7 - - [10/Oct/2023:13:55:36 +0000] "DELETE /items/9 HTTP/1.1" 204 0 "-" )"
              R"("python-requests/2.31" "203.0.113.1, 198.51.100.2")");
  EXPECT_EQ(record.method, "DELETE");
  EXPECT_EQ(record.status, 204);
  EXPECT_THAT(record.body_bytes_sent, Optional(0u));
}

TEST(LogFormatParseTest, JsonFormat) {
  const LogFormat format =
      MustCompile(R"({"time":"$time_iso8601","addr":"$remote_addr","request":"$request",)"
                  R"("status":"$status","rt":"$request_time","urt":"$upstream_response_time",)"
                  R"("ua":"$http_user_agent"})",
                  Escape::kJson);
  const LogRecord record = MustParse(
      format,
      R"({"time":"2023-10-10T13:55:36+00:00","addr":"203.0.113.9","request":"GET /q?a=\"b\" HTTP/1.1",)"
      R"("status":"200","rt":"0.042","urt":"0.040, 0.001","ua":"Agent \"x\",\"status\":\"500\"}\\"})");
  EXPECT_EQ(record.method, "GET");
  EXPECT_EQ(record.status, 200);
  EXPECT_THAT(record.request_time, Optional(0.042));
  EXPECT_THAT(record.upstream_response_time, Optional(DoubleNear(0.041, 1e-12)));

  // escape=json writes a variable without a value as nothing.
  const LogRecord no_upstream =
      MustParse(format, R"({"time":"2023-10-10T13:55:36+00:00","addr":"::1","request":"",)"
                        R"("status":"400","rt":"0.000","urt":"","ua":""})");
  EXPECT_EQ(no_upstream.method, "");
  EXPECT_EQ(no_upstream.upstream_response_time, std::nullopt);

  // JSON escapes control bytes, so a raw one is not nginx's; UTF-8 is written as it is.
  EXPECT_THAT(
      ParseError(format,
                 R"({"time":"2023-10-10T13:55:36+00:00","addr":"::1","request":"GET / HTTP/1.1",)"
                 "\"status\":\"200\",\"rt\":\"0.000\",\"urt\":\"\",\"ua\":\"a\tb\"}"),
      HasSubstr("byte 0x09 in $http_user_agent, which nginx writes escaped with "
                "escape=json"));
  EXPECT_EQ(
      MustParse(format,
                R"({"time":"2023-10-10T13:55:36+00:00","addr":"::1","request":"GET / HTTP/1.1",)"
                "\"status\":\"200\",\"rt\":\"0.000\",\"urt\":\"\",\"ua\":\"\xe2\x98\x83\xff\"}")
          .status,
      200);
}

TEST(LogFormatParseTest, JsonEscapedQuoteDoesNotEndAValue) {
  // Were the escaped quotes taken for the end of the value, this line would split into a
  // good-looking record with status 503.
  const LogFormat format =
      MustCompile(R"("$http_user_agent" $status "$http_referer")", Escape::kJson);
  EXPECT_EQ(MustParse(format, R"("x\" 503 \"y" 200 "-")").status, 200);
  // An escaped backslash before a quote does not escape the quote.
  EXPECT_EQ(MustParse(format, R"("C:\\" 201 "-")").status, 201);
}

TEST(LogFormatParseTest, JsonNumbersUnquoted) {
  const LogFormat format = MustCompile(
      R"({"status":$status,"bytes":$body_bytes_sent,"sent":$bytes_sent,"rt":$request_time})",
      Escape::kJson);
  const LogRecord record = MustParse(format, R"({"status":301,"bytes":0,"sent":312,"rt":0.003})");
  EXPECT_EQ(record.status, 301);
  EXPECT_THAT(record.body_bytes_sent, Optional(0u));
  EXPECT_THAT(record.bytes_sent, Optional(312u));
  EXPECT_THAT(record.request_time, Optional(0.003));
}

TEST(LogFormatParseTest, BracedVariables) {
  const LogFormat format =
      MustCompile("${remote_addr}|${status}|${request_time}s|${request_method}");
  const LogRecord record = MustParse(format, "192.0.2.1|200|0.500s|POST");
  EXPECT_EQ(record.status, 200);
  EXPECT_THAT(record.request_time, Optional(0.5));
  EXPECT_EQ(record.method, "POST");
}

TEST(LogFormatParseTest, LiteralBrackets) {
  const LogFormat format = MustCompile("[$time_local] {$status} <$request_method> ($msec)");
  const LogRecord record =
      MustParse(format, "[10/Oct/2023:13:55:36 +0200] {418} <BREW> (1696938936.123)");
  EXPECT_EQ(record.status, 418);
  EXPECT_EQ(record.method, "BREW");
  EXPECT_EQ(ParseError(format, "10/Oct/2023:13:55:36 +0200] {418} <BREW> (1.0)"),
            "column 1: expected \"[\" at the start of the line");
  EXPECT_EQ(ParseError(format, "[10/Oct/2023:13:55:36 +0200] {418} <BREW> (soon)"),
            "column 44: $msec \"soon\" is not a number of seconds");
}

TEST(LogFormatParseTest, UnquotedValuesWithSpaces) {
  // The first space is not where $request or $time_local ends; later ones are tried.
  const LogFormat request = MustCompile("$request $status");
  const LogRecord record = MustParse(request, "GET /a b HTTP/1.1 200");
  EXPECT_EQ(record.method, "GET");
  EXPECT_EQ(record.status, 200);

  const LogFormat time = MustCompile("$time_local $status $request_time");
  EXPECT_EQ(MustParse(time, "10/Oct/2023:13:55:36 +0000 302 0.001").status, 302);

  const LogFormat upstream = MustCompile("$upstream_response_time $request_time $status");
  const LogRecord summed = MustParse(upstream, "0.001, 0.002 : 0.004 0.010 200");
  EXPECT_THAT(summed.upstream_response_time, Optional(DoubleNear(0.007, 1e-12)));
  EXPECT_THAT(summed.request_time, Optional(0.010));
  // The error is the one of the furthest variable reached, not of a wrong guess before it.
  EXPECT_EQ(ParseError(upstream, "0.001, 0.002 x 200"),
            "column 14: $request_time \"x\" is not a number of seconds");
}

TEST(LogFormatParseTest, AdjacentVariablesAreOneValue) {
  const LogFormat format = MustCompile("$status $scheme://$host$request_uri $request_time");
  const LogRecord record = MustParse(format, "200 https://example.com/a?b=c 0.002");
  EXPECT_EQ(record.status, 200);
  EXPECT_THAT(record.request_time, Optional(0.002));
}

TEST(LogFormatParseTest, TabSeparated) {
  const LogFormat format = MustCompile("$status\t$request_time\t$request\t$http_user_agent");
  const LogRecord record = MustParse(format, "200\t0.003\tGET / HTTP/1.1\tcurl/8.0 (x)");
  EXPECT_EQ(record.status, 200);
  EXPECT_EQ(record.method, "GET");
}

TEST(LogFormatParseTest, RequestMethodWinsOverRequest) {
  const LogFormat format = MustCompile(R"($request_method "$request" $status)");
  EXPECT_EQ(MustParse(format, R"(POST "GET / HTTP/1.1" 200)").method, "POST");
  const LogFormat reversed = MustCompile(R"("$request" $request_method $status)");
  EXPECT_EQ(MustParse(reversed, R"("GET / HTTP/1.1" POST 200)").method, "POST");
}

TEST(LogFormatParseTest, EscapeNoneTakesRawBytes) {
  const LogFormat format = MustCompile(R"($status "$request" "$http_user_agent")", Escape::kNone);
  const LogRecord record = MustParse(format, "200 \"GET / HTTP/1.1\" \"say \"hi\"\x01\xff\"");
  EXPECT_EQ(record.status, 200);
  EXPECT_EQ(record.method, "GET");
  EXPECT_EQ(ParseError(format, std::string("200 \"GET / HTTP/1.1\" \"a\0b\"", 25)),
            "column 24: NUL byte");
}

TEST(LogFormatParseTest, OtherTypedVariablesAreChecked) {
  const LogFormat format = MustCompile(
      "$status $request_length $time_iso8601 $upstream_connect_time $upstream_status "
      "$upstream_addr|");
  MustParse(format,
            "200 512 2023-10-10T13:55:36+02:00 0.001, - 502, 200 10.0.0.1:80, 10.0.0.2:80|");
  EXPECT_EQ(ParseError(format, "200 x 2023-10-10T13:55:36+02:00 0.001 200 10.0.0.1:80|"),
            "column 5: $request_length \"x\" is not a non-negative integer");
  EXPECT_EQ(ParseError(format, "200 1 2023-10-10 13:55:36+02:00 0.001 200 10.0.0.1:80|"),
            "column 7: $time_iso8601 \"2023-10-10 13:55:36+02:00\" is not a time like "
            "2000-10-10T13:55:36-07:00");
}

TEST(LogFormatParseTest, BytesSent) {
  const LogFormat format = MustCompile("$status $bytes_sent $body_bytes_sent");
  const LogRecord record = MustParse(format, "200 18446744073709551615 -");
  EXPECT_THAT(record.bytes_sent, Optional(18446744073709551615u));
  EXPECT_EQ(record.body_bytes_sent, std::nullopt);
  EXPECT_EQ(ParseError(format, "200 18446744073709551616 1"),
            "column 5: $bytes_sent \"18446744073709551616\" is not a non-negative integer");
}

TEST(LogFormatParseTest, LongSecondsAreExact) {
  const LogFormat format = MustCompile("$status $request_time");
  EXPECT_THAT(MustParse(format, "200 123456789012.345678").request_time,
              Optional(123456789012.345678));
  EXPECT_THAT(MustParse(format, "200 7").request_time, Optional(7.0));
}

}  // namespace
}  // namespace nines::collectors
