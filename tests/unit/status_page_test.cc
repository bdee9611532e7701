#include "exporter/web/status_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exporter/web/handlers.h"
#include "tests/unit/golden.h"

namespace nines::web {
namespace {

using status::DayRecord;
using status::LatencyRecord;
using status::NginxView;
using status::ProbeState;
using status::ProbeView;
using status::RunRecord;
using status::SloView;
using status::StatusView;
using status::TimePoint;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::string_view kHostile = "<script>alert(\"x\")</script>&'";

// 2026-11-24T12:00:00Z
TimePoint Now() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 24} + hours(12);
}

double Seconds(TimePoint time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

std::int64_t DayOf(TimePoint time) {
  return std::chrono::floor<std::chrono::days>(time).time_since_epoch().count();
}

RunRecord MakeRun(TimePoint time, bool success, probes::FailureReason reason, std::string detail,
                  double duration) {
  RunRecord run;
  run.time = time;
  run.success = success;
  run.reason = success ? probes::FailureReason::kNone : reason;
  run.detail = std::move(detail);
  run.duration_seconds = duration;
  return run;
}

std::vector<status::UptimeWindow> Uptime(std::array<double, 5> ratios) {
  const std::array<const char*, 5> names = {"1h", "24h", "7d", "30d", "90d"};
  std::vector<status::UptimeWindow> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    out.push_back({names[i], ratios[i]});
  }
  return out;
}

// 30 days of a probe every 15 s: one degraded day, one bad day, one day without runs.
std::vector<DayRecord> Days() {
  std::vector<DayRecord> days;
  const std::int64_t today = DayOf(Now());
  for (std::int64_t day = today - 29; day <= today; ++day) {
    DayRecord record;
    record.day = day;
    record.runs = day == today ? 2880 : 5760;
    if (day == today - 4) {
      record.failures = 20;  // 99.65%
      record.worst_reason = "timeout";
    } else if (day == today - 11) {
      record.failures = 576;  // 90%
      record.worst_reason = "connect_refused";
    } else if (day == today - 20) {
      record.runs = 0;
    }
    days.push_back(record);
  }
  return days;
}

// The last 24 hours of 5-minute slots but for a gap of an hour and a lone slot.
std::vector<LatencyRecord> Latency() {
  std::vector<LatencyRecord> slots;
  const TimePoint first = Now() - hours(24) + minutes(5);
  for (int i = 0; i < 288; ++i) {
    if (i >= 100 && i < 112 && i != 106) {
      continue;
    }
    LatencyRecord record;
    record.start = first + minutes(5) * i;
    record.runs = 20;
    record.p50_seconds = 0.010 + 0.002 * (i % 7);
    record.p99_seconds = 0.040 + 0.005 * (i % 11) + (i == 200 ? 0.5 : 0);
    slots.push_back(record);
  }
  return slots;
}

ProbeView WebProbe() {
  ProbeView probe;
  probe.name = "web";
  probe.kind = "http";
  probe.target = "https://example.com/health?full=1&verbose=yes";
  probe.state = ProbeState::kUp;
  probe.uptime = Uptime({1, 0.9995, 0.99984, 0.99912, 0.99912});
  probe.days = Days();
  probe.latency = Latency();
  probe.last_run = MakeRun(Now() - seconds(7), true, probes::FailureReason::kNone, "", 0.0123);
  probe.last_failure =
      MakeRun(Now() - hours(98) - seconds(13), false, probes::FailureReason::kTimeout,
              "no response within 5s (connect 3ms, tls 12ms)", 5.0);
  probe.cert_expiry_seconds = Seconds(Now() + hours(24 * 10) + hours(3));
  return probe;
}

ProbeView DbProbe() {
  ProbeView probe;
  probe.name = "db";
  probe.kind = "tcp";
  probe.target = "10.0.0.5:5432";
  probe.state = ProbeState::kDown;
  probe.uptime = Uptime({0, 0.75, 0.964, 0.99, kNaN});
  DayRecord yesterday{DayOf(Now()) - 1, 5760, 0, ""};
  DayRecord today{DayOf(Now()), 2880, 720, "connect_refused"};
  probe.days = {yesterday, today};
  LatencyRecord slot;
  slot.start = Now() - minutes(4);
  slot.runs = 20;
  slot.p50_seconds = 0.0004;
  slot.p99_seconds = 0.0009;
  probe.latency = {slot};
  probe.last_run = MakeRun(Now() - seconds(3), false, probes::FailureReason::kConnectRefused,
                           "connect 10.0.0.5:5432: connection refused", 0.0004);
  probe.last_failure = probe.last_run;
  return probe;
}

ProbeView NewProbe() {
  ProbeView probe;
  probe.name = "resolver";
  probe.kind = "dns";
  probe.target = "1.1.1.1:53";
  probe.uptime = Uptime({kNaN, kNaN, kNaN, kNaN, kNaN});
  return probe;
}

StatusView RealisticView() {
  StatusView view;
  view.version = "0.1.0";
  view.now_seconds = Seconds(Now());
  view.started_seconds = Seconds(Now() - hours(76) - minutes(5));
  view.last_reload_seconds = Seconds(Now() - hours(2));
  view.probes = {WebProbe(), DbProbe(), NewProbe()};
  view.slos = {
      SloView{"web-availability", "30d", 0.999, 0.99952, 0.52, 0.8},
      SloView{"web-latency", "30d", 0.99, 0.985, -0.5, 3.2},
      SloView{"web-errors", "7d", 0.9999, kNaN, kNaN, kNaN},
  };
  view.nginx = {NginxView{"frontend", 12.345, 0.0012}, NginxView{"idle", kNaN, kNaN}};
  return view;
}

// --- a strict JSON parser, so the test does not trust the writer it checks ---

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> items;
  std::vector<std::string> keys;  // an object's keys, in order
  std::vector<Json> values;       // and their values

  const Json& operator[](std::string_view key) const {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) {
        return values[i];
      }
    }
    ADD_FAILURE() << "no key " << key;
    static const Json kMissing;
    return kMissing;
  }
  const Json& operator[](std::size_t index) const { return items.at(index); }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  // The value, or nullopt with error() set when `text` is not exactly one JSON value.
  std::optional<Json> Parse() {
    Json value;
    if (!Value(value)) {
      return std::nullopt;
    }
    SkipSpace();
    if (pos_ != text_.size()) {
      return Fail("trailing data");
    }
    return value;
  }
  const std::string& error() const { return error_; }

 private:
  std::nullopt_t Fail(const std::string& what) {
    error_ = what + " at offset " + std::to_string(pos_);
    return std::nullopt;
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      Fail("bad literal");
      return false;
    }
    pos_ += word.size();
    return true;
  }
  bool Value(Json& out) {
    SkipSpace();
    if (pos_ >= text_.size()) {
      Fail("unexpected end");
      return false;
    }
    const char c = text_[pos_];
    if (c == '{') {
      out.type = Json::Type::kObject;
      ++pos_;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      while (true) {
        SkipSpace();
        std::string key;
        if (!String(key)) {
          return false;
        }
        SkipSpace();
        if (pos_ >= text_.size() || text_[pos_] != ':') {
          Fail("expected ':'");
          return false;
        }
        ++pos_;
        Json value;
        if (!Value(value)) {
          return false;
        }
        out.keys.push_back(std::move(key));
        out.values.push_back(std::move(value));
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == '}') {
          ++pos_;
          return true;
        }
        Fail("expected ',' or '}'");
        return false;
      }
    }
    if (c == '[') {
      out.type = Json::Type::kArray;
      ++pos_;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      while (true) {
        Json value;
        if (!Value(value)) {
          return false;
        }
        out.items.push_back(std::move(value));
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ']') {
          ++pos_;
          return true;
        }
        Fail("expected ',' or ']'");
        return false;
      }
    }
    if (c == '"') {
      out.type = Json::Type::kString;
      return String(out.string);
    }
    if (c == 't' || c == 'f') {
      out.type = Json::Type::kBool;
      out.boolean = c == 't';
      return Literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') {
      out.type = Json::Type::kNull;
      return Literal("null");
    }
    out.type = Json::Type::kNumber;
    return Number(out.number);
  }
  bool Digits() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      ++pos_;
    }
    return pos_ > start;
  }
  bool Number(double& out) {
    const std::size_t start = pos_;
    if (text_[pos_] == '-') {
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!Digits()) {
      Fail("bad number");
      return false;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!Digits()) {
        Fail("bad fraction");
        return false;
      }
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      if (!Digits()) {
        Fail("bad exponent");
        return false;
      }
    }
    out = std::stod(std::string(text_.substr(start, pos_ - start)));
    return true;
  }
  static void AppendUtf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }
  bool Hex4(unsigned& out) {
    if (pos_ + 4 > text_.size()) {
      Fail("short \\u escape");
      return false;
    }
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') {
        out |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        out |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        out |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        Fail("bad hex digit");
        return false;
      }
    }
    return true;
  }
  bool String(std::string& out) {
    if (pos_ >= text_.size() || text_[pos_] != '"') {
      Fail("expected a string");
      return false;
    }
    ++pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') {
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        Fail("raw control character in a string");
        return false;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) {
        break;
      }
      const char escape = text_[pos_++];
      switch (escape) {
        case '"':
        case '\\':
        case '/':
          out += escape;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned code = 0;
          if (!Hex4(code)) {
            return false;
          }
          if (code >= 0xD800 && code <= 0xDBFF) {
            unsigned low = 0;
            if (text_.substr(pos_, 2) != "\\u" || (pos_ += 2, !Hex4(low)) || low < 0xDC00 ||
                low > 0xDFFF) {
              Fail("lone surrogate");
              return false;
            }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            Fail("lone surrogate");
            return false;
          }
          AppendUtf8(out, code);
          break;
        }
        default:
          Fail("bad escape");
          return false;
      }
    }
    Fail("unterminated string");
    return false;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

Json ParseJson(const std::string& text) {
  EXPECT_EQ(internal::SanitizeUtf8(text, false), text) << "not valid UTF-8";
  JsonParser parser(text);
  std::optional<Json> value = parser.Parse();
  EXPECT_TRUE(value.has_value()) << parser.error() << "\n" << text;
  return value.value_or(Json{});
}

// --- external tools, when installed ---

struct CommandResult {
  int status = -1;
  std::string output;
};

bool HaveTool(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir();
  path += "/status_page_test_";
  path += name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  const std::string with_stderr = command + " 2>&1";
  FILE* pipe = popen(with_stderr.c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), read);
  }
  result.status = pclose(pipe);
  return result;
}

// Checks that `document` is well-formed XML (the pages are polyglot markup) and that
// libxml2's HTML parser reports nothing but the HTML5 tags it does not know.
void ExpectWellFormed(const std::string& document, const std::string& name, bool html) {
  if (!HaveTool("xmllint")) {
    GTEST_SKIP() << "xmllint is not installed";
  }
  const std::string path = WriteTemp(name, document);
  const CommandResult xml = RunCommand("xmllint --noout '" + path + "'");
  EXPECT_EQ(xml.status, 0) << xml.output;
  EXPECT_EQ(xml.output, "");
  if (!html) {
    return;
  }
  const CommandResult result = RunCommand("xmllint --html --noout '" + path + "'");
  EXPECT_EQ(result.status, 0) << result.output;
  // libxml2 2.9 knows HTML 4 only: "Tag svg invalid" for header, main, section, svg, meter...
  // Its messages are three lines: the error, the source line, a caret.
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < result.output.size()) {
    const std::size_t end = result.output.find('\n', start);
    lines.push_back(result.output.substr(start, end - start));
    start = end == std::string::npos ? result.output.size() : end + 1;
  }
  for (std::size_t i = 0; i < lines.size(); i += 3) {
    const bool unknown_tag = lines[i].find("HTML parser error : Tag ") != std::string::npos &&
                             lines[i].find(" invalid") != std::string::npos;
    EXPECT_TRUE(unknown_tag) << lines[i];
  }
}

// The text of the page's <style> element.
std::string StyleElement(const std::string& page) {
  const std::size_t open = page.find("<style>");
  const std::size_t close = page.find("</style>");
  if (open == std::string::npos || close == std::string::npos) {
    return {};
  }
  return page.substr(open + 7, close - open - 7);
}

std::string Sha256Base64(const std::string& text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  std::array<unsigned char, 128> base64{};
  const int written = EVP_EncodeBlock(base64.data(), digest.data(), static_cast<int>(length));
  return std::string(reinterpret_cast<const char*>(base64.data()),
                     static_cast<std::size_t>(written));
}

std::size_t Count(const std::string& text, std::string_view needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// Whether `markup` has an attribute like onclick= (text content is escaped, so in the pages
// under test " on<letters>=" can only be an attribute).
bool HasEventHandler(const std::string& markup) {
  for (std::size_t at = markup.find(" on"); at != std::string::npos;
       at = markup.find(" on", at + 1)) {
    std::size_t end = at + 3;
    while (end < markup.size() && markup[end] >= 'a' && markup[end] <= 'z') {
      ++end;
    }
    if (end > at + 3 && end < markup.size() && markup[end] == '=') {
      return true;
    }
  }
  return false;
}

std::string Lower(std::string text) {
  for (char& c : text) {
    c = internal::AsciiLower(c);
  }
  return text;
}

// --- golden files ---

TEST(StatusPageGolden, Page) {
  nines::testing::ExpectGoldenText(RenderStatusPage(RealisticView(), {}), "status/page.html");
}

TEST(StatusPageGolden, Json) {
  nines::testing::ExpectGoldenText(RenderStatusJson(RealisticView()), "status/status.json");
}

TEST(StatusPageGolden, Badge) {
  nines::testing::ExpectGoldenText(RenderBadge(WebProbe(), "30d"), "status/badge.svg");
}

TEST(StatusPageGolden, Logs) {
  const ProbeView probe = DbProbe();
  const std::vector<RunRecord> recent = {
      *probe.last_run,
      MakeRun(Now() - seconds(18), true, probes::FailureReason::kNone, "", 0.0005),
      MakeRun(Now() - seconds(33), false, probes::FailureReason::kConnectTimeout,
              "connect 10.0.0.5:5432: timed out after 2s", 2.0),
  };
  const std::vector<RunRecord> failures = {recent[0], recent[2]};
  nines::testing::ExpectGoldenText(RenderLogs(probe, recent, failures), "status/logs.html");
}

// --- the page ---

TEST(StatusPage, WellFormed) {
  ExpectWellFormed(RenderStatusPage(RealisticView(), {}), "page.html", true);
}

TEST(StatusPage, EmptyViewWellFormed) {
  ExpectWellFormed(RenderStatusPage(StatusView{}, {}), "empty.html", true);
}

TEST(StatusPage, LogsWellFormed) {
  const ProbeView probe = WebProbe();
  ExpectWellFormed(RenderLogs(probe, {*probe.last_run, *probe.last_failure}, {*probe.last_failure}),
                   "logs.html", true);
}

TEST(StatusPage, BadgeWellFormed) {
  ExpectWellFormed(RenderBadge(WebProbe(), "30d"), "badge.svg", false);
  ExpectWellFormed(RenderBadge(NewProbe(), "7d"), "badge-nodata.svg", false);
}

TEST(StatusPage, DocumentShape) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  EXPECT_THAT(page, ::testing::StartsWith("<!DOCTYPE html>\n<html lang=\"en\">"));
  EXPECT_THAT(page, HasSubstr("<meta name=\"viewport\" content=\"width=device-width"));
  EXPECT_EQ(Count(page, "<style>"), 1U);
  EXPECT_THAT(page, HasSubstr("@media (prefers-color-scheme: dark)"));
  // Nothing a strict CSP would block, nothing loaded from elsewhere.
  EXPECT_THAT(Lower(page), Not(HasSubstr("<script")));
  EXPECT_THAT(page, Not(HasSubstr(" style=")));
  EXPECT_THAT(page, Not(HasSubstr(" src=")));
  EXPECT_THAT(page, Not(HasSubstr("href=\"http")));
  EXPECT_FALSE(HasEventHandler(page));
  // A section per probe, headed by its name.
  EXPECT_EQ(Count(page, "<section class=\"probe\""), 3U);
  EXPECT_THAT(page, HasSubstr("<h2 id=\"probe-0\">web</h2>"));
  EXPECT_THAT(page, HasSubstr("<th scope=\"col\" class=\"num\">30d</th>"));
  EXPECT_THAT(page, HasSubstr("nines 0.1.0 "));
  EXPECT_THAT(page, HasSubstr("up 3d 4h "));
  EXPECT_THAT(page, HasSubstr("Config loaded OK at <time datetime=\"2026-11-24T10:00:00Z\">"));
  EXPECT_THAT(page, HasSubstr("3 probes: 1 up, 1 confirmed down, 1 without data."));
  // The key to the daily bars, once for the page.
  EXPECT_EQ(Count(page, "Daily bars, UTC days:"), 1U);
}

TEST(StatusPage, StatesHaveTextAndSymbol) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  EXPECT_THAT(page, HasSubstr(R"(<span class="state up">Up <span aria-hidden="true">)"
                              "\u2713</span></span>"));
  EXPECT_THAT(page, HasSubstr(R"(<span class="state down">Confirmed down <span aria-hidden="true">)"
                              "\u2715</span></span>"));
  EXPECT_THAT(page, HasSubstr(R"(<span class="state none">No data</span>)"));
  StatusView view = RealisticView();
  view.probes[0].state = ProbeState::kFailing;
  EXPECT_THAT(RenderStatusPage(view, {}),
              HasSubstr(R"(<span class="state warn">Down <span aria-hidden="true">!</span>)"));
}

TEST(StatusPage, DailyBars) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  EXPECT_THAT(page, HasSubstr("<title>2026-11-20: 99.65% available, 20 of 5760 runs failed, "
                              "worst failure: timeout</title>"));
  EXPECT_THAT(page, HasSubstr("<title>2026-11-04: no runs</title>"));
  EXPECT_THAT(page, HasSubstr("<title>2026-11-24: 100% available, 2880 runs</title>"));
  EXPECT_THAT(page, HasSubstr("role=\"img\" aria-label=\"Daily availability, last 30 days: 27 "
                              "without failures, 2 with failures, 1 without runs; lowest 90% on "
                              "2026-11-13.\""));
  // Newest day at the right edge of a 90-day axis.
  EXPECT_THAT(page, HasSubstr("viewBox=\"0 0 720 40\""));
  EXPECT_THAT(page,
              HasSubstr("<rect class=\"day-ok\" x=\"713\" y=\"0\" width=\"6\" height=\"40\"/>"));
  EXPECT_THAT(page, HasSubstr("<span>2026-08-27</span><span>2026-11-24 (today, UTC)</span>"));
}

TEST(StatusPage, LatencySparkline) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  EXPECT_THAT(page, HasSubstr("<svg class=\"spark\" viewBox=\"0 0 288 50\""));
  EXPECT_THAT(page, HasSubstr("<title>Latency over the last 24 hours, p50 and p99 per 5 minutes; "
                              "p99 peaked at 550 ms</title>"));
  // The last slot of web: i = 287, p50 = 10 + 2 * (287 % 7) ms, p99 = 40 + 5 * (287 % 11) ms.
  EXPECT_THAT(page, HasSubstr("p50 <strong>10 ms</strong>"));
  EXPECT_THAT(page, HasSubstr("p99 <strong>45 ms</strong>"));
  // db's sub-millisecond latencies.
  EXPECT_THAT(page, HasSubstr("p50 <strong>0.40 ms</strong>"));
  // The hour without runs breaks the line in three pieces (before, the lone slot, after).
  const std::size_t p50 = page.find("<path class=\"p50\" d=\"");
  ASSERT_NE(p50, std::string::npos);
  const std::string d = page.substr(p50, page.find('"', p50 + 21) - p50);
  EXPECT_EQ(Count(d, "M"), 3U) << d;
}

TEST(StatusPage, LastFailureKeptAfterSuccesses) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  // web is up and its last run succeeded, yet its last failure is shown.
  EXPECT_THAT(page, HasSubstr("<dt>Last failure</dt><dd><time datetime=\"2026-11-20T09:59:47Z\">"
                              "2026-11-20T09:59:47Z</time> \u00b7 <span class=\"down\">"));
  EXPECT_THAT(page, HasSubstr("failed: timeout</span> in 5.00 s<br/><code>no response within 5s "
                              "(connect 3ms, tls 12ms)</code>"));
}

TEST(StatusPage, CertificateExpiry) {
  StatusView view = RealisticView();
  view.probes.resize(1);
  EXPECT_THAT(RenderStatusPage(view, {}),
              HasSubstr("<span class=\"warn\"><span aria-hidden=\"true\">!</span> expires soon: "
                        "<time datetime=\"2026-12-04T15:00:00Z\">2026-12-04</time>, in 10 days"));
  view.probes[0].cert_expiry_seconds = view.now_seconds + 40 * 86400;
  EXPECT_THAT(RenderStatusPage(view, {}),
              HasSubstr("<dd>expires <time datetime=\"2027-01-03T12:00:00Z\">2027-01-03</time>, "
                        "in 40 days</dd>"));
  view.probes[0].cert_expiry_seconds = view.now_seconds - 3 * 86400 - 1;
  EXPECT_THAT(RenderStatusPage(view, {}),
              HasSubstr("expired on <time datetime=\"2026-11-21T11:59:59Z"
                        "\">2026-11-21</time> (3 days ago)"));
  view.probes[0].cert_expiry_seconds.reset();
  EXPECT_THAT(RenderStatusPage(view, {}), Not(HasSubstr("Certificate")));
}

TEST(StatusPage, Slos) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  EXPECT_THAT(page, HasSubstr("<tr><th scope=\"row\">web-availability</th><td class=\"num\" "
                              "data-label=\"Objective\">99.9% over 30d</td><td class=\"num\" "
                              "data-label=\"Actual\">99.95% <span class=\"up\">"));
  EXPECT_THAT(page, HasSubstr(R"(<meter min="0" max="1" low="0.25" high="0.5" optimum="1" )"
                              R"(value="0.52">52%</meter> 52% left)"));
  EXPECT_THAT(page, HasSubstr(R"(value="0">0%</meter> <span class="down"><span )"
                              "aria-hidden=\"true\">\u2715</span> overspent by 50%</span>"));
  EXPECT_THAT(page, HasSubstr("<td class=\"num\" data-label=\"Burn rate (1h)\">0.80\u00d7</td>"));
  EXPECT_THAT(page, HasSubstr("<span aria-hidden=\"true\">!</span> 3.20\u00d7"));
  EXPECT_THAT(page, HasSubstr("99.99% over 7d"));
}

TEST(StatusPage, Nginx) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  EXPECT_THAT(page, HasSubstr("<tr><th scope=\"row\">frontend</th><td class=\"num\">12.3/s</td>"
                              "<td class=\"num\">0.12%</td></tr>"));
}

TEST(StatusPage, NaNRendersAsNoData) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  const std::string lower = Lower(page);
  EXPECT_THAT(lower, Not(HasSubstr("nan")));
  EXPECT_THAT(lower, Not(HasSubstr("inf")));
  // resolver's uptimes, db's 90d uptime, the 7d SLO, idle nginx.
  EXPECT_EQ(Count(page, "<span class=\"vh\">no data</span>"), 5U + 1U + 3U + 2U);
  StatusView view = RealisticView();
  view.now_seconds = kNaN;
  view.last_reload_seconds = std::numeric_limits<double>::infinity();
  const std::string broken = Lower(RenderStatusPage(view, {}));
  EXPECT_THAT(broken, Not(HasSubstr("nan")));
  EXPECT_THAT(broken, Not(HasSubstr("inf")));
}

TEST(StatusPage, EmptyView) {
  StatusView view;
  view.version = "0.1.0";
  const std::string page = RenderStatusPage(view, {});
  EXPECT_THAT(page, HasSubstr("<p>No probes are configured.</p>"));
  EXPECT_THAT(page, HasSubstr("<p>No SLOs are configured.</p>"));
  EXPECT_THAT(page, HasSubstr("<p>No nginx servers are configured.</p>"));
  EXPECT_THAT(page, Not(HasSubstr("<table")));
  const Json json = ParseJson(RenderStatusJson(view));
  EXPECT_TRUE(json["probes"].items.empty());
  EXPECT_TRUE(json["slos"].items.empty());
  EXPECT_TRUE(json["nginx"].items.empty());
}

TEST(StatusPage, ProbeWithoutHistory) {
  StatusView view = RealisticView();
  view.probes = {NewProbe()};
  view.probes[0].uptime.clear();
  view.slos.clear();
  view.nginx.clear();
  const std::string page = RenderStatusPage(view, {});
  EXPECT_THAT(page, HasSubstr("Daily availability: no runs recorded yet."));
  EXPECT_THAT(page, HasSubstr("Latency: no runs in the last 24 hours."));
  EXPECT_THAT(page, HasSubstr("<dt>Last check</dt><dd>no runs yet</dd>"));
  EXPECT_THAT(page, HasSubstr("<dt>Last failure</dt><dd>none recorded</dd>"));
  EXPECT_THAT(page, Not(HasSubstr("<svg class=\"days\"")));
  EXPECT_THAT(page, Not(HasSubstr("Daily bars")));
  EXPECT_THAT(page, Not(HasSubstr("<svg class=\"spark\"")));
  EXPECT_THAT(page, Not(HasSubstr("<table")));
  EXPECT_THAT(page, HasSubstr("<p>No SLOs are configured.</p>"));
  EXPECT_THAT(page, HasSubstr("<p>No nginx servers are configured.</p>"));
  ExpectWellFormed(page, "no-history.html", true);
}

TEST(StatusPage, ProbeRemovedByReloadIsGone) {
  StatusView before = RealisticView();
  before.probes[1].name = "retired-db";
  const std::string page_before = RenderStatusPage(before, {});
  EXPECT_THAT(page_before, HasSubstr("retired-db"));
  EXPECT_THAT(RenderStatusJson(before), HasSubstr("retired-db"));

  // After the reload the view simply does not list it; nothing else refers to it.
  StatusView after = before;
  after.probes.erase(after.probes.begin() + 1);
  const std::string page = RenderStatusPage(after, {});
  EXPECT_THAT(page, Not(HasSubstr("retired-db")));
  EXPECT_THAT(page, Not(HasSubstr("probe-2")));
  EXPECT_THAT(page, HasSubstr("2 probes: 1 up, 1 without data."));
  EXPECT_THAT(RenderStatusJson(after), Not(HasSubstr("retired-db")));
  EXPECT_EQ(ParseJson(RenderStatusJson(after))["probes"].items.size(), 2U);
}

TEST(StatusPage, ReloadFailureIsProminent) {
  StatusView view = RealisticView();
  view.last_reload_successful = false;
  const std::string page = RenderStatusPage(view, {});
  EXPECT_THAT(page, HasSubstr("<div class=\"alert\" role=\"alert\"><p><strong><span "
                              "aria-hidden=\"true\">\u2715</span> The last config reload failed."
                              "</strong> nines is running the previous config"));
  EXPECT_THAT(page, Not(HasSubstr("Config loaded OK")));
  EXPECT_FALSE(ParseJson(RenderStatusJson(view))["config"]["last_reload_successful"].boolean);
}

TEST(StatusPage, Refresh) {
  EXPECT_THAT(RenderStatusPage(RealisticView(), {}), Not(HasSubstr("http-equiv")));
  StatusPageOptions options;
  options.refresh_seconds = 30;
  const std::string page = RenderStatusPage(RealisticView(), options);
  EXPECT_THAT(page, HasSubstr("<meta http-equiv=\"refresh\" content=\"30\"/>"));
  EXPECT_THAT(page, HasSubstr("This page reloads every 30 s."));
  EXPECT_THAT(RenderLogs(WebProbe(), {}, {}, options), HasSubstr("content=\"30\""));
}

TEST(StatusPage, TelemetryLinkIsRelative) {
  StatusPageOptions options;
  options.telemetry_path = "/custom/metrics";
  const std::string page = RenderStatusPage(RealisticView(), options);
  EXPECT_THAT(page, HasSubstr("<a href=\"custom/metrics\">Metrics</a>"));
  EXPECT_THAT(page, HasSubstr("<a href=\"api/v1/status\">"));
  EXPECT_THAT(page, HasSubstr("<a href=\"logs?probe=web\">"));
  EXPECT_THAT(page, HasSubstr("<a href=\"badge/web.svg?window=30d\">"));
}

TEST(StatusPage, ContentSecurityPolicyHashesTheStyle) {
  const std::string page = RenderStatusPage(RealisticView(), {});
  const std::string style = StyleElement(page);
  ASSERT_FALSE(style.empty());
  EXPECT_EQ(style, StatusPageStyle());
  const std::string hash = "sha256-" + Sha256Base64(style);
  EXPECT_EQ(StatusPageStyleHash(), hash);
  EXPECT_EQ(StatusPageContentSecurityPolicy(),
            "default-src 'none'; style-src '" + hash +
                "'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  // The logs page uses the same stylesheet, so the same policy.
  EXPECT_EQ(StyleElement(RenderLogs(WebProbe(), {}, {})), style);
  // Nothing in the stylesheet that would need escaping inside an XML/HTML text node.
  EXPECT_EQ(style.find('<'), std::string::npos);
  EXPECT_EQ(style.find('&'), std::string::npos);
}

// --- escaping ---

StatusView HostileView() {
  StatusView view = RealisticView();
  view.version = kHostile;
  ProbeView& probe = view.probes[0];
  probe.name = kHostile;
  probe.kind = "<kind>";
  probe.target = "http://x/?a=1&b=\"<b>\"";
  probe.days[25].worst_reason = "<reason>";
  probe.last_failure->detail = std::string("</code><script>evil()</script>\x01\xff end");
  view.slos[0].name = kHostile;
  view.slos[0].period = "<p>";
  view.nginx[0].name = kHostile;
  return view;
}

TEST(StatusPageEscaping, Html) {
  const std::string page = RenderStatusPage(HostileView(), {});
  EXPECT_THAT(Lower(page), Not(HasSubstr("<script")));
  EXPECT_THAT(page, Not(HasSubstr("<b>")));
  EXPECT_THAT(page, Not(HasSubstr("<kind>")));
  EXPECT_THAT(page, Not(HasSubstr("<reason>")));
  EXPECT_THAT(page, Not(HasSubstr("<p>\"")));
  const std::string escaped = HtmlEscape(kHostile);
  EXPECT_EQ(escaped, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;");
  EXPECT_THAT(page, HasSubstr("<h2 id=\"probe-0\">" + escaped + "</h2>"));
  EXPECT_THAT(page, HasSubstr("<th scope=\"row\">" + escaped + "</th>"));  // SLO and nginx
  EXPECT_THAT(page, HasSubstr("<code>http://x/?a=1&amp;b=&quot;&lt;b&gt;&quot;</code>"));
  // In an SVG <title>.
  EXPECT_THAT(page, HasSubstr("failed, worst failure: &lt;reason&gt;</title>"));
  // The control character and the invalid byte become U+FFFD.
  EXPECT_THAT(page, HasSubstr("<code>&lt;/code&gt;&lt;script&gt;evil()&lt;/script&gt;"
                              "\xEF\xBF\xBD\xEF\xBF\xBD end</code>"));
  // In URLs: percent-encoded (and so nothing left to HTML-escape).
  EXPECT_THAT(page,
              HasSubstr("href=\"logs?probe=%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E%26%27\""));
  ExpectWellFormed(page, "hostile.html", true);
}

TEST(StatusPageEscaping, Json) {
  const StatusView view = HostileView();
  const Json json = ParseJson(RenderStatusJson(view));
  EXPECT_EQ(json["version"].string, kHostile);
  EXPECT_EQ(json["probes"][0]["name"].string, kHostile);
  EXPECT_EQ(json["probes"][0]["target"].string, view.probes[0].target);
  EXPECT_EQ(json["probes"][0]["last_failure"]["detail"].string,
            "</code><script>evil()</script>\x01\xEF\xBF\xBD end");
  EXPECT_EQ(json["slos"][0]["period"].string, "<p>");
}

TEST(StatusPageEscaping, Logs) {
  ProbeView probe = WebProbe();
  probe.name = kHostile;
  RunRecord failure = *probe.last_failure;
  failure.detail = "<img src=x onerror=alert(1)>";
  const std::string page = RenderLogs(probe, {failure}, {failure});
  EXPECT_THAT(Lower(page), Not(HasSubstr("<script")));
  EXPECT_THAT(page, Not(HasSubstr("<img")));
  EXPECT_EQ(Count(page, "<code>&lt;img src=x onerror=alert(1)&gt;</code>"), 2U);
  EXPECT_THAT(page, HasSubstr("<h1>Logs of " + HtmlEscape(kHostile) + "</h1>"));
  ExpectWellFormed(page, "hostile-logs.html", true);
}

TEST(StatusPageEscaping, BadgeTitle) {
  ProbeView probe = WebProbe();
  probe.name = kHostile;
  const std::string badge = RenderBadge(probe, "30d");
  EXPECT_THAT(Lower(badge), Not(HasSubstr("<script")));
  EXPECT_THAT(badge, HasSubstr("<title>" + HtmlEscape(kHostile) + ": uptime 30d 99.91%</title>"));
  const std::string odd_window = RenderBadge(probe, "<x>\"");
  EXPECT_THAT(odd_window, HasSubstr("uptime &lt;x&gt;&quot;"));
  EXPECT_THAT(odd_window, HasSubstr(">no data</text>"));
}

TEST(StatusPageEscaping, JsonQuote) {
  EXPECT_EQ(internal::JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(internal::JsonQuote("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
  EXPECT_EQ(internal::JsonQuote(std::string("\b\f\n\r\t\x01\x1f\x7f", 8)),
            "\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
  EXPECT_EQ(internal::JsonQuote(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(internal::JsonQuote("\xff"), "\"\xEF\xBF\xBD\"");
  EXPECT_EQ(internal::JsonQuote("caf\xC3\xA9 \xE2\x9C\x93"), "\"caf\xC3\xA9 \xE2\x9C\x93\"");
  EXPECT_EQ(internal::JsonQuote("a\u2028b\u2029c"), "\"a\\u2028b\\u2029c\"");
}

TEST(StatusPageEscaping, SanitizeUtf8) {
  const std::string fffd = "\xEF\xBF\xBD";
  using internal::SanitizeUtf8;
  EXPECT_EQ(SanitizeUtf8("ok \xF0\x9F\x98\x80", true), "ok \xF0\x9F\x98\x80");
  // One U+FFFD per maximal subpart: a truncated sequence is one, stray bytes one each.
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"
                         "A",
                         false),
            fffd + "A");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF", false), fffd + fffd);
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80", false), fffd + fffd + fffd);  // a surrogate
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80", false), fffd + fffd + fffd + fffd);
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98", false), fffd);
  // Markup also loses controls (but keeps tab, LF, CR).
  EXPECT_EQ(SanitizeUtf8("a\x01\tb\nc\x7f\xC2\x85", true), "a" + fffd + "\tb\nc" + fffd + fffd);
  EXPECT_EQ(SanitizeUtf8("a\x01", false), "a\x01");
}

// --- JSON ---

TEST(StatusJson, Parses) {
  const std::string text = RenderStatusJson(RealisticView());
  const Json json = ParseJson(text);
  EXPECT_EQ(json["version"].string, "0.1.0");
  EXPECT_EQ(json["time"].string, "2026-11-24T12:00:00Z");
  EXPECT_EQ(json["time_seconds"].number, Seconds(Now()));
  EXPECT_EQ(json["uptime_seconds"].number, 76 * 3600 + 300);
  EXPECT_TRUE(json["config"]["last_reload_successful"].boolean);
  EXPECT_EQ(json["config"]["last_reload"].string, "2026-11-24T10:00:00Z");
  const Json& web = json["probes"][0];
  EXPECT_EQ(web["state"].string, "up");
  EXPECT_EQ(web["uptime"]["24h"].number, 0.9995);
  EXPECT_EQ(web["days"].items.size(), 30U);
  EXPECT_EQ(web["days"][25]["date"].string, "2026-11-20");
  EXPECT_EQ(web["days"][25]["worst_reason"].string, "timeout");
  EXPECT_EQ(web["days"][9]["availability"].type, Json::Type::kNull);  // no runs
  EXPECT_EQ(web["days"][9]["worst_reason"].type, Json::Type::kNull);
  EXPECT_EQ(web["latency"].items.size(), 288U - 11U);
  EXPECT_EQ(web["last_run"]["reason"].type, Json::Type::kNull);
  EXPECT_EQ(web["last_failure"]["reason"].string, "timeout");
  EXPECT_EQ(web["cert_expiry"].string, "2026-12-04T15:00:00Z");
  const Json& db = json["probes"][1];
  EXPECT_EQ(db["state"].string, "confirmed_down");
  EXPECT_EQ(db["uptime"]["90d"].type, Json::Type::kNull);
  const Json& resolver = json["probes"][2];
  EXPECT_EQ(resolver["state"].string, "unknown");
  EXPECT_EQ(resolver["last_run"].type, Json::Type::kNull);
  EXPECT_EQ(resolver["cert_expiry"].type, Json::Type::kNull);
  EXPECT_EQ(resolver["cert_expiry_seconds"].type, Json::Type::kNull);
  EXPECT_EQ(json["slos"][1]["error_budget_remaining"].number, -0.5);
  EXPECT_EQ(json["slos"][2]["sli"].type, Json::Type::kNull);
  EXPECT_EQ(json["nginx"][1]["requests_per_second"].type, Json::Type::kNull);
}

TEST(StatusJson, StableKeyOrder) {
  const Json json = ParseJson(RenderStatusJson(RealisticView()));
  EXPECT_THAT(json.keys, ::testing::ElementsAre("version", "time", "time_seconds", "started",
                                                "started_seconds", "uptime_seconds", "config",
                                                "probes", "slos", "nginx"));
  EXPECT_THAT(
      json["probes"][0].keys,
      ::testing::ElementsAre("name", "kind", "target", "state", "uptime", "days", "latency",
                             "last_run", "last_failure", "cert_expiry", "cert_expiry_seconds"));
  EXPECT_THAT(json["probes"][0]["last_failure"].keys,
              ::testing::ElementsAre("time", "time_seconds", "success", "reason", "detail",
                                     "duration_seconds"));
  EXPECT_THAT(json["slos"][0].keys,
              ::testing::ElementsAre("name", "period", "objective", "sli", "error_budget_remaining",
                                     "burn_rate_1h"));
}

TEST(StatusJson, PythonAgrees) {
  if (!HaveTool("python3")) {
    GTEST_SKIP() << "python3 is not installed";
  }
  for (const StatusView& view : {RealisticView(), HostileView(), StatusView{}}) {
    const std::string path = WriteTemp("status.json", RenderStatusJson(view));
    const CommandResult result = RunCommand("python3 -m json.tool '" + path + "' >/dev/null");
    EXPECT_EQ(result.status, 0) << result.output;
  }
}

TEST(StatusJson, NonFiniteIsNull) {
  StatusView view;
  view.now_seconds = kNaN;
  view.started_seconds = -std::numeric_limits<double>::infinity();
  const std::string text = RenderStatusJson(view);
  const Json json = ParseJson(text);
  EXPECT_EQ(json["time"].type, Json::Type::kNull);
  EXPECT_EQ(json["time_seconds"].type, Json::Type::kNull);
  EXPECT_EQ(json["uptime_seconds"].type, Json::Type::kNull);
  EXPECT_THAT(Lower(text), Not(HasSubstr("nan")));
  EXPECT_THAT(Lower(text), Not(HasSubstr("inf")));
}

// --- badge ---

std::string BadgeWithRatio(double ratio, std::string_view window = "30d") {
  ProbeView probe;
  probe.name = "web";
  probe.uptime = Uptime({ratio, ratio, ratio, ratio, ratio});
  return RenderBadge(probe, window);
}

TEST(StatusBadge, ColoursByThreshold) {
  EXPECT_THAT(BadgeWithRatio(1), HasSubstr("fill=\"#1a7f37\""));
  EXPECT_THAT(BadgeWithRatio(0.999), HasSubstr("fill=\"#1a7f37\""));
  EXPECT_THAT(BadgeWithRatio(0.9989), HasSubstr("fill=\"#4d7a00\""));
  EXPECT_THAT(BadgeWithRatio(0.99), HasSubstr("fill=\"#4d7a00\""));
  EXPECT_THAT(BadgeWithRatio(0.97), HasSubstr("fill=\"#9a6700\""));
  EXPECT_THAT(BadgeWithRatio(0.5), HasSubstr("fill=\"#cf222e\""));
  EXPECT_THAT(BadgeWithRatio(0), HasSubstr("fill=\"#cf222e\""));
  const std::string no_data = BadgeWithRatio(kNaN);
  EXPECT_THAT(no_data, HasSubstr("fill=\"#59636e\""));
  EXPECT_THAT(no_data, HasSubstr(">no data</text>"));
  // A window the probe does not have is "no data" too (the handler answers 400 before).
  EXPECT_THAT(BadgeWithRatio(1, "2d"), HasSubstr(">no data</text>"));
}

TEST(StatusBadge, Accessible) {
  const std::string badge = BadgeWithRatio(0.9995);
  EXPECT_THAT(badge, ::testing::StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\" "));
  EXPECT_THAT(badge, HasSubstr("role=\"img\" aria-label=\"web: uptime 30d 99.95%\""));
  EXPECT_THAT(badge, HasSubstr("<title>web: uptime 30d 99.95%</title>"));
}

TEST(StatusBadge, WidthsFollowTheText) {
  // Verdana 11px: a digit is 1423/2048 em.
  EXPECT_DOUBLE_EQ(internal::BadgeTextWidth("0"), 1423 * 11.0 / 2048);
  EXPECT_DOUBLE_EQ(internal::BadgeTextWidth("00"), 2 * 1423 * 11.0 / 2048);
  EXPECT_GT(internal::BadgeTextWidth("W"), internal::BadgeTextWidth("i"));
  // "uptime 30d" is 64.36 px -> 64 + 10, "99.95%" 47.51 px -> 48 + 10.
  const std::string badge = BadgeWithRatio(0.9995);
  EXPECT_THAT(badge, HasSubstr("width=\"132\" height=\"20\""));
  EXPECT_THAT(badge, HasSubstr("<rect width=\"74\" height=\"20\" fill=\"#555\"/>"));
  EXPECT_THAT(badge, HasSubstr("<rect x=\"74\" width=\"58\" height=\"20\" fill=\"#1a7f37\"/>"));
  EXPECT_THAT(badge, HasSubstr("<text x=\"37\" y=\"14\" textLength=\"64\">uptime 30d</text>"));
  EXPECT_THAT(badge, HasSubstr("<text x=\"103\" y=\"14\" textLength=\"48\">99.95%</text>"));
  // Longer text, wider badge.
  const std::string wide = BadgeWithRatio(0.999991);
  EXPECT_THAT(wide, HasSubstr(">99.9991%</text>"));
  EXPECT_THAT(wide, HasSubstr("width=\"147\" height=\"20\""));
}

TEST(StatusBadge, Windows) {
  for (std::string_view window : {"1h", "24h", "7d", "30d", "90d"}) {
    EXPECT_TRUE(IsUptimeWindow(window)) << window;
  }
  for (std::string_view window : {"", "1d", "30D", "30d ", "all"}) {
    EXPECT_FALSE(IsUptimeWindow(window)) << window;
  }
  EXPECT_TRUE(IsUptimeWindow(kDefaultBadgeWindow));
}

// --- logs ---

TEST(StatusLogs, TwoTablesNewestFirst) {
  const ProbeView probe = WebProbe();
  const RunRecord newest =
      MakeRun(Now() - seconds(1), true, probes::FailureReason::kNone, "", 0.01);
  const RunRecord older =
      MakeRun(Now() - seconds(16), false, probes::FailureReason::kHttpStatus, "status 503", 0.02);
  const RunRecord oldest_failure = *probe.last_failure;
  const std::string page = RenderLogs(probe, {newest, older}, {older, oldest_failure});
  EXPECT_EQ(Count(page, "<table>"), 2U);
  EXPECT_THAT(page, HasSubstr("<div class=\"scroll\" tabindex=\"0\" role=\"region\" "
                              "aria-labelledby=\"failures\"><table>"));
  const std::size_t recent = page.find("<h2 id=\"recent\">Last results</h2>");
  const std::size_t failures = page.find("<h2 id=\"failures\">Last failures</h2>");
  ASSERT_NE(recent, std::string::npos);
  ASSERT_NE(failures, std::string::npos);
  EXPECT_LT(recent, failures);
  const std::size_t first = page.find("2026-11-24T11:59:59Z", recent);
  const std::size_t second = page.find("2026-11-24T11:59:44Z", recent);
  EXPECT_LT(first, second);
  EXPECT_LT(second, failures);
  // The failures table holds the old timeout even though it is not among the recent results.
  EXPECT_NE(page.find("2026-11-20T09:59:47Z", failures), std::string::npos);
  EXPECT_THAT(page, HasSubstr("<td class=\"up\"><span aria-hidden=\"true\">\u2713</span> success"
                              "</td><td></td><td class=\"num\">10 ms</td><td></td>"));
  EXPECT_THAT(page, HasSubstr("failure</td><td>http_status</td><td class=\"num\">20 ms</td>"
                              "<td><code>status 503</code></td>"));
  EXPECT_THAT(page, HasSubstr("<a href=\"./\">All probes</a>"));
}

TEST(StatusLogs, Empty) {
  const std::string page = RenderLogs(NewProbe(), {}, {});
  EXPECT_THAT(page, HasSubstr("<p>No runs yet.</p>"));
  EXPECT_THAT(page, HasSubstr("<p>No failures recorded.</p>"));
  EXPECT_THAT(page, Not(HasSubstr("<table")));
}

// --- formatting helpers ---

TEST(StatusFormat, Percent) {
  EXPECT_EQ(FormatPercent(1), "100%");
  EXPECT_EQ(FormatPercent(0), "0%");
  EXPECT_EQ(FormatPercent(0.5), "50%");
  EXPECT_EQ(FormatPercent(0.973), "97.3%");
  EXPECT_EQ(FormatPercent(0.999), "99.9%");
  EXPECT_EQ(FormatPercent(0.9995), "99.95%");
  EXPECT_EQ(FormatPercent(0.99949), "99.94%");  // truncated, not rounded up to a nine
  EXPECT_EQ(FormatPercent(0.9999), "99.99%");
  EXPECT_EQ(FormatPercent(0.99999), "99.999%");
  EXPECT_EQ(FormatPercent(0.999999), "99.9999%");
  EXPECT_EQ(FormatPercent(0.99999999), "99.9999%");  // never 100% below 1
  EXPECT_EQ(FormatPercent(0.0012), "0.12%");
  EXPECT_EQ(FormatPercent(-0.125), "-12.5%");
  EXPECT_EQ(FormatPercent(kNaN), "\u2013");
  EXPECT_EQ(FormatPercent(std::numeric_limits<double>::infinity()), "\u2013");
}

TEST(StatusFormat, DurationShort) {
  EXPECT_EQ(FormatDurationShort(0), "0s");
  EXPECT_EQ(FormatDurationShort(0.9), "0s");
  EXPECT_EQ(FormatDurationShort(42), "42s");
  EXPECT_EQ(FormatDurationShort(60), "1m");
  EXPECT_EQ(FormatDurationShort(303), "5m 3s");
  EXPECT_EQ(FormatDurationShort(4 * 3600), "4h");
  EXPECT_EQ(FormatDurationShort(4 * 3600 + 5 * 60 + 9), "4h 5m");
  EXPECT_EQ(FormatDurationShort(3 * 86400 + 4 * 3600 + 59), "3d 4h");
  EXPECT_EQ(FormatDurationShort(400 * 86400), "400d");
  EXPECT_EQ(FormatDurationShort(-1), "\u2013");
  EXPECT_EQ(FormatDurationShort(kNaN), "\u2013");
}

TEST(StatusFormat, Latency) {
  EXPECT_EQ(FormatLatency(0.00042), "0.42 ms");
  EXPECT_EQ(FormatLatency(0.0042), "4.2 ms");
  EXPECT_EQ(FormatLatency(0.0123), "12 ms");
  EXPECT_EQ(FormatLatency(0.999), "999 ms");
  EXPECT_EQ(FormatLatency(0.9996), "1.00 s");
  EXPECT_EQ(FormatLatency(1.234), "1.23 s");
  EXPECT_EQ(FormatLatency(12.34), "12.3 s");
  EXPECT_EQ(FormatLatency(kNaN), "\u2013");
}

TEST(StatusFormat, Refresh) {
  EXPECT_EQ(ParseRefreshSeconds("30"), 30);
  EXPECT_EQ(ParseRefreshSeconds("5"), 5);
  EXPECT_EQ(ParseRefreshSeconds("3600"), 3600);
  EXPECT_EQ(ParseRefreshSeconds("4"), std::nullopt);
  EXPECT_EQ(ParseRefreshSeconds("3601"), std::nullopt);
  EXPECT_EQ(ParseRefreshSeconds(""), std::nullopt);
  EXPECT_EQ(ParseRefreshSeconds("-5"), std::nullopt);
  EXPECT_EQ(ParseRefreshSeconds("+30"), std::nullopt);
  EXPECT_EQ(ParseRefreshSeconds("30s"), std::nullopt);
  EXPECT_EQ(ParseRefreshSeconds("99999999999"), std::nullopt);
}

TEST(StatusFormat, Rfc3339) {
  EXPECT_EQ(internal::Rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(internal::Rfc3339(Seconds(Now()) + 0.75), "2026-11-24T12:00:00Z");
  EXPECT_EQ(internal::Rfc3339(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(internal::Rfc3339(253402300799), "9999-12-31T23:59:59Z");
  EXPECT_EQ(internal::Rfc3339(253402300800), std::nullopt);
  EXPECT_EQ(internal::Rfc3339(-1), std::nullopt);
  EXPECT_EQ(internal::Rfc3339(kNaN), std::nullopt);
}

}  // namespace
}  // namespace nines::web
