// Tests of collectors/access_log.h: access-log lines of nginx's formats turned into request
// counters and histograms, reloads that keep or reset them, and a follower on real files
// that are appended to, rotated, missing and created.
#include "collectors/access_log.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/integration/process_runner.h"
#include "tests/unit/log_test_support.h"

namespace nines::collectors {
namespace {

// Writes lines `first` to `last` (NumberedLine), one write() each.
void WriteLines(const testing::AppendWriter& writer, int first, int last);

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

using Families = std::vector<prometheus::MetricFamily>;
using LabelList = std::vector<std::pair<std::string, std::string>>;

std::shared_ptr<const LogFormat> Compile(std::string_view text, Escape escape = Escape::kDefault) {
  std::string error;
  std::optional<LogFormat> format = LogFormat::Compile(text, escape, &error);
  if (!format) {
    throw std::invalid_argument(error);
  }
  return std::make_shared<const LogFormat>(*std::move(format));
}

// A line of the default format (combined + $request_time $upstream_response_time).
std::string Line(std::string_view request, std::string_view status, std::string_view bytes,
                 std::string_view request_time, std::string_view upstream) {
  return std::string(R"(203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] ")") + std::string(request) +
         "\" " + std::string(status) + " " + std::string(bytes) + R"( "-" "curl/8.0" )" +
         std::string(request_time) + " " + std::string(upstream);
}

// A GET line numbered `n`, for the follower tests.
std::string NumberedLine(int n) {
  return Line("GET /item/" + std::to_string(n) + " HTTP/1.1", "200", "100", "0.010", "-");
}

AccessLogSettings Settings(std::string server, std::vector<double> buckets = {0.1, 0.5, 1},
                           std::vector<int> codes = {200, 404}) {
  return AccessLogSettings{.server = std::move(server),
                           .format = Compile(kDefaultAccessLogFormat),
                           .buckets = std::move(buckets),
                           .status_codes = std::move(codes)};
}

std::vector<AccessLogSettings> One(AccessLogSettings settings) {
  std::vector<AccessLogSettings> out;
  out.push_back(std::move(settings));
  return out;
}

void Record(AccessLogMetrics& metrics, const std::string& server,
            const std::vector<std::string>& lines) {
  const std::vector<std::string_view> views(lines.begin(), lines.end());
  metrics.RecordLines(server, views);
}

const prometheus::MetricFamily* FindFamily(const Families& families, std::string_view name) {
  const auto it = std::find_if(families.begin(), families.end(),
                               [&](const auto& family) { return family.name == name; });
  return it == families.end() ? nullptr : &*it;
}

LabelList LabelsOf(const prometheus::ClientMetric& metric) {
  LabelList out;
  for (const auto& label : metric.label) {
    out.emplace_back(label.name, label.value);
  }
  return out;
}

// The sample of `name` with exactly `labels`, or nullptr.
const prometheus::ClientMetric* FindSample(const Families& families, std::string_view name,
                                           const LabelList& labels) {
  const prometheus::MetricFamily* family = FindFamily(families, name);
  if (family == nullptr) {
    return nullptr;
  }
  for (const prometheus::ClientMetric& metric : family->metric) {
    if (LabelsOf(metric) == labels) {
      return &metric;
    }
  }
  return nullptr;
}

// The value of a counter or gauge sample, or nullopt when there is none.
std::optional<double> Value(const Families& families, std::string_view name,
                            const LabelList& labels) {
  const prometheus::MetricFamily* family = FindFamily(families, name);
  const prometheus::ClientMetric* metric = FindSample(families, name, labels);
  if (family == nullptr || metric == nullptr) {
    return std::nullopt;
  }
  return family->type == prometheus::MetricType::Gauge ? metric->gauge.value
                                                       : metric->counter.value;
}

std::optional<double> Value(const AccessLogMetrics& metrics, std::string_view name,
                            const std::string& server) {
  return Value(metrics.Collect(), name, {{"server", server}});
}

// The request counter's series of `server` as (method, status, value), in output order.
std::vector<std::tuple<std::string, std::string, double>> Requests(const Families& families,
                                                                   std::string_view server) {
  std::vector<std::tuple<std::string, std::string, double>> out;
  const prometheus::MetricFamily* family = FindFamily(families, "nines_http_requests_total");
  if (family == nullptr) {
    return out;
  }
  EXPECT_EQ(family->type, prometheus::MetricType::Counter);
  for (const prometheus::ClientMetric& metric : family->metric) {
    const LabelList labels = LabelsOf(metric);
    EXPECT_THAT(labels, SizeIs(3));
    if (labels.size() == 3 && labels[0].second == server) {
      EXPECT_EQ(labels[0].first, "server");
      EXPECT_EQ(labels[1].first, "method");
      EXPECT_EQ(labels[2].first, "status");
      out.emplace_back(labels[1].second, labels[2].second, metric.counter.value);
    }
  }
  return out;
}

// A histogram sample as plain numbers: cumulative bucket counts (+Inf last), count, sum.
struct HistogramValue {
  std::vector<double> bounds;
  std::vector<std::uint64_t> cumulative;
  std::uint64_t count = 0;
  double sum = 0;
};

std::optional<HistogramValue> HistogramOf(const Families& families, std::string_view name,
                                          const std::string& server) {
  const prometheus::MetricFamily* family = FindFamily(families, name);
  const prometheus::ClientMetric* metric = FindSample(families, name, {{"server", server}});
  if (family == nullptr || metric == nullptr) {
    return std::nullopt;
  }
  EXPECT_EQ(family->type, prometheus::MetricType::Histogram);
  HistogramValue out;
  for (const auto& bucket : metric->histogram.bucket) {
    out.bounds.push_back(bucket.upper_bound);
    out.cumulative.push_back(bucket.cumulative_count);
  }
  out.count = metric->histogram.sample_count;
  out.sum = metric->histogram.sample_sum;
  return out;
}

// Waits, at most 5 s, for `done` to hold; returns whether it did.
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// --- Labels ------------------------------------------------------------------------------

TEST(AccessLogLabelsTest, Methods) {
  for (std::string_view method :
       {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}) {
    EXPECT_EQ(AccessLogMethodLabel(method), method);
  }
  for (std::string_view method : {"get", "PROPFIND", "", "\\x16\\x03\\x01", "GETS", "GE"}) {
    EXPECT_EQ(AccessLogMethodLabel(method), "other") << method;
  }
}

TEST(AccessLogLabelsTest, Statuses) {
  const std::vector<int> codes = {200, 404, 499};
  EXPECT_EQ(AccessLogStatusLabel(200, codes), "200");
  EXPECT_EQ(AccessLogStatusLabel(404, codes), "404");
  EXPECT_EQ(AccessLogStatusLabel(499, codes), "499");
  EXPECT_EQ(AccessLogStatusLabel(101, codes), "1xx");
  EXPECT_EQ(AccessLogStatusLabel(204, codes), "2xx");
  EXPECT_EQ(AccessLogStatusLabel(301, codes), "3xx");
  EXPECT_EQ(AccessLogStatusLabel(400, codes), "4xx");
  EXPECT_EQ(AccessLogStatusLabel(599, codes), "5xx");
  EXPECT_EQ(AccessLogStatusLabel(0, codes), "other");
  EXPECT_EQ(AccessLogStatusLabel(9, codes), "other");
  EXPECT_EQ(AccessLogStatusLabel(99, codes), "other");
  EXPECT_EQ(AccessLogStatusLabel(600, codes), "other");
  EXPECT_EQ(AccessLogStatusLabel(999, {}), "other");
}

TEST(AccessLogLabelsTest, DefaultBuckets) {
  EXPECT_THAT(DefaultAccessLogBuckets(),
              ElementsAre(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10));
}

// --- AccessLogMetrics --------------------------------------------------------------------

TEST(AccessLogMetricsTest, SeriesExistAtZeroFromSetServers) {
  AccessLogMetrics metrics;
  metrics.SetServers(One(Settings("web")));
  const Families families = metrics.Collect();
  EXPECT_EQ(Value(families, "nines_log_lines_total", {{"server", "web"}}), 0);
  EXPECT_EQ(Value(families, "nines_log_parse_errors_total", {{"server", "web"}}), 0);
  EXPECT_EQ(Value(families, "nines_http_response_bytes_total", {{"server", "web"}}), 0);
  EXPECT_EQ(Value(families, "nines_log_up", {{"server", "web"}}), 0);
  for (std::string_view name :
       {"nines_http_request_duration_seconds", "nines_http_upstream_duration_seconds"}) {
    const std::optional<HistogramValue> histogram = HistogramOf(families, name, "web");
    ASSERT_TRUE(histogram.has_value()) << name;
    EXPECT_THAT(histogram->bounds,
                ElementsAre(0.1, 0.5, 1, std::numeric_limits<double>::infinity()));
    EXPECT_THAT(histogram->cumulative, ElementsAre(0U, 0U, 0U, 0U));
    EXPECT_EQ(histogram->count, 0U);
    EXPECT_EQ(histogram->sum, 0);
  }
  EXPECT_THAT(Requests(families, "web"), IsEmpty());

  std::vector<std::string> names;
  for (const auto& family : families) {
    names.push_back(family.name);
  }
  EXPECT_THAT(names,
              ElementsAre("nines_http_request_duration_seconds", "nines_http_response_bytes_total",
                          "nines_http_upstream_duration_seconds", "nines_log_lines_total",
                          "nines_log_parse_errors_total", "nines_log_up"));
}

TEST(AccessLogMetricsTest, NoServersNoFamilies) {
  AccessLogMetrics metrics;
  EXPECT_THAT(metrics.Collect(), IsEmpty());
  metrics.SetServers({});
  EXPECT_THAT(metrics.Collect(), IsEmpty());
}

TEST(AccessLogMetricsTest, CountsDefaultFormatLinesExactly) {
  AccessLogMetrics metrics;
  metrics.SetServers(One(Settings("web")));
  Record(metrics, "web",
         {
             Line("GET / HTTP/1.1", "200", "1000", "0.050", "0.040"),
             Line("GET /a HTTP/1.1", "200", "500", "0.200", "0.100, 0.150"),
             Line("POST /form HTTP/1.1", "201", "10", "0.700", "-"),
             Line("get /lower HTTP/1.1", "404", "20", "1.000", "0.002 : 0.010"),
             Line("PROPFIND /dav HTTP/1.1", "207", "30", "2.500", "-"),
             Line("HEAD / HTTP/1.1", "499", "0", "0.000", "-"),
             Line("DELETE /x HTTP/1.1", "503", "40", "0.100", "0.100"),
             Line("OPTIONS * HTTP/1.1", "204", "0", "0.001", "-"),
             Line("-", "400", "150", "0.000", "-"),
             Line("GET / HTTP/1.1", "000", "0", "0.000", "-"),
             Line("PATCH /p HTTP/1.1", "404", "5", "0.300", "- : -"),
             Line("CONNECT example.com:443 HTTP/1.1", "405", "0", "0.000", "-"),
             Line("PUT /u HTTP/1.1", "200", "1", "0.400", "0.050"),
             Line("TRACE / HTTP/1.1", "405", "0", "0.000", "-"),
             Line("GET / HTTP/1.1", "200", "4", "0.020", "0.010"),
         });
  const Families families = metrics.Collect();
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(Requests(families, "web"),
              ElementsAre(Row{"CONNECT", "4xx", 1}, Row{"DELETE", "5xx", 1}, Row{"GET", "200", 3},
                          Row{"GET", "other", 1}, Row{"HEAD", "4xx", 1}, Row{"OPTIONS", "2xx", 1},
                          Row{"PATCH", "404", 1}, Row{"POST", "2xx", 1}, Row{"PUT", "200", 1},
                          Row{"TRACE", "4xx", 1}, Row{"other", "2xx", 1}, Row{"other", "404", 1},
                          Row{"other", "4xx", 1}));
  EXPECT_EQ(Value(families, "nines_log_lines_total", {{"server", "web"}}), 15);
  EXPECT_EQ(Value(families, "nines_log_parse_errors_total", {{"server", "web"}}), 0);
  EXPECT_EQ(Value(families, "nines_http_response_bytes_total", {{"server", "web"}}),
            1000 + 500 + 10 + 20 + 30 + 0 + 40 + 0 + 150 + 0 + 5 + 0 + 1 + 0 + 4);

  const std::optional<HistogramValue> request =
      HistogramOf(families, "nines_http_request_duration_seconds", "web");
  ASSERT_TRUE(request.has_value());
  // <= 0.1: 0.05 0 0.1 0.001 0 0 0 0 0.02 (9); <= 0.5: + 0.2 0.3 0.4 (12); <= 1: + 0.7 1.0
  // (14); +Inf: + 2.5 (15).
  EXPECT_THAT(request->cumulative, ElementsAre(9U, 12U, 14U, 15U));
  EXPECT_EQ(request->count, 15U);
  EXPECT_NEAR(request->sum, 0.05 + 0.2 + 0.7 + 1.0 + 2.5 + 0.1 + 0.001 + 0.3 + 0.4 + 0.02, 1e-9);

  const std::optional<HistogramValue> upstream =
      HistogramOf(families, "nines_http_upstream_duration_seconds", "web");
  ASSERT_TRUE(upstream.has_value());
  // Observed: 0.04, 0.25 (0.1 + 0.15), 0.012 (0.002 + 0.010), 0.1, 0.05, 0.01; "-" and
  // "- : -" are not observed.
  EXPECT_THAT(upstream->cumulative, ElementsAre(5U, 6U, 6U, 6U));
  EXPECT_EQ(upstream->count, 6U);
  EXPECT_NEAR(upstream->sum, 0.04 + 0.25 + 0.012 + 0.1 + 0.05 + 0.01, 1e-9);
}

TEST(AccessLogMetricsTest, StatusZeroOfAKnownMethodIsOther) {
  AccessLogMetrics metrics;
  metrics.SetServers(One(Settings("web")));
  Record(metrics, "web", {Line("GET / HTTP/1.1", "000", "0", "0.000", "-")});
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(Requests(metrics.Collect(), "web"), ElementsAre(Row{"GET", "other", 1}));
}

TEST(AccessLogMetricsTest, StatusLabelsAreBoundedWhateverTheTraffic) {
  AccessLogMetrics metrics;
  metrics.SetServers(One(Settings("web", {}, {})));
  std::vector<std::string> lines;
  for (int status = 0; status < 1000; ++status) {
    std::string text = std::to_string(status);
    text.insert(0, 3 - text.size(), '0');
    // Built piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string at -O2.
    std::string request = "M";
    request += std::to_string(status);
    request += " / HTTP/1.1";
    lines.push_back(Line(request, text, "1", "0.1", "-"));
  }
  Record(metrics, "web", lines);
  const Families families = metrics.Collect();
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(
      Requests(families, "web"),
      ElementsAre(Row{"other", "1xx", 100}, Row{"other", "2xx", 100}, Row{"other", "3xx", 100},
                  Row{"other", "4xx", 100}, Row{"other", "5xx", 100}, Row{"other", "other", 500}));
  EXPECT_EQ(Value(families, "nines_log_lines_total", {{"server", "web"}}), 1000);
}

TEST(AccessLogMetricsTest, BytesSentWhenNoBodyBytesSent) {
  AccessLogMetrics metrics;
  metrics.SetServers(One(AccessLogSettings{
      .server = "web",
      .format = Compile(R"($remote_addr "$request" $status $bytes_sent $request_time)"),
      .buckets = {1},
      .status_codes = {}}));
  Record(metrics, "web",
         {R"(10.0.0.1 "GET / HTTP/1.1" 200 612 0.004)", R"(10.0.0.1 "GET / HTTP/1.1" 200 388 -)"});
  const Families families = metrics.Collect();
  EXPECT_EQ(Value(families, "nines_http_response_bytes_total", {{"server", "web"}}), 1000);
  const std::optional<HistogramValue> request =
      HistogramOf(families, "nines_http_request_duration_seconds", "web");
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->count, 1U);  // the line with "-" is not observed
  const std::optional<HistogramValue> upstream =
      HistogramOf(families, "nines_http_upstream_duration_seconds", "web");
  ASSERT_TRUE(upstream.has_value());
  EXPECT_EQ(upstream->count, 0U);
}

TEST(AccessLogMetricsTest, BodyBytesWinOverBytesSent) {
  AccessLogMetrics metrics;
  metrics.SetServers(
      One(AccessLogSettings{.server = "web",
                            .format = Compile(R"($status $bytes_sent $body_bytes_sent)"),
                            .buckets = {1},
                            .status_codes = {}}));
  Record(metrics, "web", {"200 612 400", "200 300 -"});
  // The first line counts its body; the second has no body count and falls back.
  EXPECT_EQ(Value(metrics, "nines_http_response_bytes_total", "web"), 700);
}

TEST(AccessLogMetricsTest, ParseErrorsAreCountedAndRateLimitedInTheLog) {
  std::chrono::steady_clock::time_point now{};
  AccessLogMetrics metrics([&now] { return now; });
  metrics.SetServers(One(Settings("web")));
  const std::string huge = "garbage " + std::string(1000, 'x');
  testing::LogCapture log;
  Record(metrics, "web",
         {NumberedLine(1), huge, NumberedLine(2), "another bad line", NumberedLine(3)});
  EXPECT_EQ(Value(metrics, "nines_log_lines_total", "web"), 5);
  EXPECT_EQ(Value(metrics, "nines_log_parse_errors_total", "web"), 2);
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(Requests(metrics.Collect(), "web"), ElementsAre(Row{"GET", "200", 3}));

  const std::vector<std::string> warnings = log.At("warning");
  ASSERT_THAT(warnings, SizeIs(1));
  EXPECT_THAT(warnings[0], HasSubstr("access log of server \"web\": line 2 does not match"));
  EXPECT_THAT(warnings[0], HasSubstr("column 1: "));
  // The line is quoted and cut at 200 bytes.
  EXPECT_THAT(warnings[0], HasSubstr("\"garbage " + std::string(192, 'x') + "\"..."));
  EXPECT_THAT(warnings[0], Not(HasSubstr(std::string(193, 'x'))));
  const std::vector<std::string> debugs = log.At("debug");
  ASSERT_THAT(debugs, SizeIs(1));
  EXPECT_THAT(debugs[0], HasSubstr("line 4 does not match"));
  EXPECT_THAT(debugs[0], HasSubstr("\"another bad line\""));

  // Within the minute: debug only.
  now += std::chrono::seconds(59);
  Record(metrics, "web", {"bad 5"});
  EXPECT_THAT(log.At("warning"), SizeIs(1));
  EXPECT_THAT(log.At("debug"), SizeIs(2));

  // A minute after the warning: the next one, counting those logged at debug.
  now += std::chrono::seconds(1);
  Record(metrics, "web", {"bad 6"});
  ASSERT_THAT(log.At("warning"), SizeIs(2));
  EXPECT_THAT(log.At("warning")[1], AllOf(HasSubstr("line 7 does not match"),
                                          HasSubstr("2 more lines failed since the last")));
  EXPECT_EQ(Value(metrics, "nines_log_parse_errors_total", "web"), 4);
}

TEST(AccessLogMetricsTest, OversizeLinesAreLinesAndParseErrors) {
  std::chrono::steady_clock::time_point now{};
  AccessLogMetrics metrics([&now] { return now; });
  metrics.SetServers(One(Settings("web")));
  testing::LogCapture log;
  metrics.RecordOversizeLines("web", 0, 65536);
  metrics.RecordOversizeLines("web", 2, 65536);
  EXPECT_EQ(Value(metrics, "nines_log_lines_total", "web"), 2);
  EXPECT_EQ(Value(metrics, "nines_log_parse_errors_total", "web"), 2);
  ASSERT_THAT(log.At("warning"), SizeIs(1));
  EXPECT_THAT(log.At("warning")[0], HasSubstr("skipped 2 lines longer than 65536 bytes"));
}

TEST(AccessLogMetricsTest, UnknownServersAreIgnored) {
  AccessLogMetrics metrics;
  metrics.SetServers(One(Settings("web")));
  Record(metrics, "gone", {NumberedLine(1)});
  metrics.RecordOversizeLines("gone", 3, 10);
  metrics.SetSourceState("gone", true, "");
  EXPECT_EQ(metrics.SourceStatus("gone"), std::nullopt);
  const Families families = metrics.Collect();
  EXPECT_EQ(Value(families, "nines_log_lines_total", {{"server", "gone"}}), std::nullopt);
  EXPECT_EQ(Value(families, "nines_log_lines_total", {{"server", "web"}}), 0);
}

TEST(AccessLogMetricsTest, SourceState) {
  AccessLogMetrics metrics;
  metrics.SetServers(One(Settings("web")));
  ASSERT_TRUE(metrics.SourceStatus("web").has_value());
  EXPECT_FALSE(metrics.SourceStatus("web")->up);
  metrics.SetSourceState("web", true, "");
  EXPECT_EQ(Value(metrics, "nines_log_up", "web"), 1);
  metrics.SetSourceState("web", false, "waiting for /x");
  EXPECT_EQ(Value(metrics, "nines_log_up", "web"), 0);
  EXPECT_EQ(metrics.SourceStatus("web")->message, "waiting for /x");
}

TEST(AccessLogMetricsTest, NullFormatThrowsAndChangesNothing) {
  AccessLogMetrics metrics;
  metrics.SetServers(One(Settings("web")));
  std::vector<AccessLogSettings> servers;
  servers.push_back(Settings("other"));
  servers.push_back(
      AccessLogSettings{.server = "bad", .format = nullptr, .buckets = {}, .status_codes = {}});
  EXPECT_THROW(metrics.SetServers(std::move(servers)), std::invalid_argument);
  EXPECT_TRUE(metrics.SourceStatus("web").has_value());
  EXPECT_FALSE(metrics.SourceStatus("other").has_value());
}

TEST(AccessLogMetricsTest, ReloadKeepsReplacesAndRemoves) {
  AccessLogMetrics metrics;
  {
    std::vector<AccessLogSettings> servers;
    servers.push_back(Settings("same"));
    servers.push_back(Settings("codes-reordered", {0.1, 0.5, 1}, {404, 200}));
    servers.push_back(Settings("new-buckets"));
    servers.push_back(Settings("new-codes"));
    servers.push_back(Settings("new-format"));
    servers.push_back(Settings("new-escape"));
    servers.push_back(Settings("removed"));
    metrics.SetServers(std::move(servers));
  }
  for (const std::string server : {"same", "codes-reordered", "new-buckets", "new-codes",
                                   "new-format", "new-escape", "removed"}) {
    Record(metrics, server, {NumberedLine(1), NumberedLine(2), "bad"});
    metrics.SetSourceState(server, true, "");
  }
  {
    std::vector<AccessLogSettings> servers;
    // A format compiled again from the same text is the same format.
    servers.push_back(Settings("same"));
    servers.push_back(Settings("codes-reordered", {1, 0.5, 0.1, 0.5}, {200, 404, 200}));
    servers.push_back(Settings("new-buckets", {0.1, 0.5, 2}));
    servers.push_back(Settings("new-codes", {0.1, 0.5, 1}, {200}));
    AccessLogSettings format = Settings("new-format");
    format.format = Compile(std::string(kDefaultAccessLogFormat) + " $host");
    servers.push_back(std::move(format));
    AccessLogSettings escape = Settings("new-escape");
    escape.format = Compile(kDefaultAccessLogFormat, Escape::kNone);
    servers.push_back(std::move(escape));
    servers.push_back(Settings("added"));
    servers.push_back(Settings("same", {5}));  // a repeated name: the first entry counts
    metrics.SetServers(std::move(servers));
  }
  const Families families = metrics.Collect();
  for (const std::string server : {"same", "codes-reordered"}) {
    EXPECT_EQ(Value(families, "nines_log_lines_total", {{"server", server}}), 3) << server;
    EXPECT_EQ(Value(families, "nines_log_parse_errors_total", {{"server", server}}), 1) << server;
    EXPECT_THAT(Requests(families, server), SizeIs(1)) << server;
    const std::optional<HistogramValue> request =
        HistogramOf(families, "nines_http_request_duration_seconds", server);
    ASSERT_TRUE(request.has_value());
    EXPECT_EQ(request->count, 2U) << server;
  }
  for (const std::string server :
       {"new-buckets", "new-codes", "new-format", "new-escape", "added"}) {
    EXPECT_EQ(Value(families, "nines_log_lines_total", {{"server", server}}), 0) << server;
    EXPECT_EQ(Value(families, "nines_log_parse_errors_total", {{"server", server}}), 0) << server;
    EXPECT_THAT(Requests(families, server), IsEmpty()) << server;
  }
  const std::optional<HistogramValue> rebucketed =
      HistogramOf(families, "nines_http_request_duration_seconds", "new-buckets");
  ASSERT_TRUE(rebucketed.has_value());
  EXPECT_THAT(rebucketed->bounds,
              ElementsAre(0.1, 0.5, 2, std::numeric_limits<double>::infinity()));
  // The source state belongs to the reader, which a reload does not restart.
  for (const std::string server : {"same", "new-buckets", "new-format"}) {
    EXPECT_EQ(Value(families, "nines_log_up", {{"server", server}}), 1) << server;
  }
  EXPECT_EQ(Value(families, "nines_log_up", {{"server", "added"}}), 0);
  EXPECT_EQ(Value(families, "nines_log_lines_total", {{"server", "removed"}}), std::nullopt);
  EXPECT_EQ(Value(families, "nines_log_up", {{"server", "removed"}}), std::nullopt);
  EXPECT_EQ(metrics.SourceStatus("removed"), std::nullopt);

  // The new codes are in effect: 404 is a class now for new-codes.
  Record(metrics, "new-codes", {Line("GET / HTTP/1.1", "404", "1", "0.1", "-")});
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(Requests(metrics.Collect(), "new-codes"), ElementsAre(Row{"GET", "4xx", 1}));
}

// --- AccessLogFollower -------------------------------------------------------------------

class AccessLogFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override { metrics_.SetServers(One(Settings("web"))); }

  AccessLogFollowerOptions Options() {
    AccessLogFollowerOptions options;
    options.poll_interval = std::chrono::milliseconds(10);
    return options;
  }

  double Lines() { return Value(metrics_, "nines_log_lines_total", "web").value_or(-1); }
  double Up() { return Value(metrics_, "nines_log_up", "web").value_or(-1); }

  // Waits until `expected` lines are counted, then for a few more reads, and checks that
  // the count stayed exact (nothing counted twice).
  void ExpectLines(double expected) {
    EXPECT_TRUE(WaitFor([&] { return Lines() >= expected; }))
        << "counted " << Lines() << " of " << expected;
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    EXPECT_EQ(Lines(), expected);
  }

  nines::testing::TempDir dir_{"access-log-test"};
  std::filesystem::path log_ = dir_.path() / "access.log";
  AccessLogMetrics metrics_;
};

TEST_F(AccessLogFollowerTest, StartsAtTheEndAndCountsAppendedLines) {
  testing::AppendWriter writer(log_);
  WriteLines(writer, 1, 3);
  AccessLogFollower follower(metrics_, "web", log_.string(), Options());
  EXPECT_EQ(follower.server(), "web");
  EXPECT_EQ(follower.path(), log_.string());
  EXPECT_EQ(Up(), 1);
  WriteLines(writer, 4, 8);
  ExpectLines(5);
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(Requests(metrics_.Collect(), "web"), ElementsAre(Row{"GET", "200", 5}));
  EXPECT_EQ(Value(metrics_, "nines_http_response_bytes_total", "web"), 500);
}

TEST_F(AccessLogFollowerTest, ManyLinesAreHandedOverInSeveralBatches) {
  testing::AppendWriter writer(log_);
  AccessLogFollower follower(metrics_, "web", log_.string(), Options());
  WriteLines(writer, 1, 5000);
  ExpectLines(5000);
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(Requests(metrics_.Collect(), "web"), ElementsAre(Row{"GET", "200", 5000}));
  EXPECT_EQ(Value(metrics_, "nines_log_parse_errors_total", "web"), 0);
}

TEST_F(AccessLogFollowerTest, RotationByRenameLosesAndDoublesNothing) {
  testing::AppendWriter writer(log_);
  AccessLogFollower follower(metrics_, "web", log_.string(), Options());
  WriteLines(writer, 1, 10);
  ExpectLines(10);
  // logrotate's `create`: rename, create; nginx keeps writing to the old file until it
  // reopens its log.
  std::filesystem::rename(log_, dir_.path() / "access.log.1");
  WriteLines(writer, 11, 13);
  { testing::AppendWriter created(log_); }
  WriteLines(writer, 14, 15);
  writer.Reopen();
  WriteLines(writer, 16, 25);
  ExpectLines(25);
  EXPECT_EQ(Value(metrics_, "nines_log_parse_errors_total", "web"), 0);
  EXPECT_EQ(Up(), 1);
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(Requests(metrics_.Collect(), "web"), ElementsAre(Row{"GET", "200", 25}));
}

TEST_F(AccessLogFollowerTest, RotationWhileReadingLosesAndDoublesNothing) {
  testing::AppendWriter writer(log_);
  AccessLogFollower follower(metrics_, "web", log_.string(), Options());
  // No waiting in between: the follower meets the rotation wherever its reads are.
  WriteLines(writer, 1, 1000);
  std::filesystem::rename(log_, dir_.path() / "access.log.1");
  WriteLines(writer, 1001, 1100);
  { testing::AppendWriter created(log_); }
  WriteLines(writer, 1101, 1200);
  writer.Reopen();
  WriteLines(writer, 1201, 2000);
  ExpectLines(2000);
  EXPECT_EQ(Value(metrics_, "nines_log_parse_errors_total", "web"), 0);
  using Row = std::tuple<std::string, std::string, double>;
  EXPECT_THAT(Requests(metrics_.Collect(), "web"), ElementsAre(Row{"GET", "200", 2000}));
}

TEST_F(AccessLogFollowerTest, MissingFileIsDownUntilCreated) {
  testing::LogCapture log;
  std::optional<AccessLogFollower> follower;
  follower.emplace(metrics_, "web", log_.string(), Options());
  // Reported by the constructor already.
  EXPECT_EQ(Up(), 0);
  ASSERT_TRUE(metrics_.SourceStatus("web").has_value());
  EXPECT_THAT(metrics_.SourceStatus("web")->message, HasSubstr(log_.string()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Up(), 0);

  // A file that appears is read from its start.
  testing::AppendWriter writer(log_);
  WriteLines(writer, 1, 4);
  EXPECT_TRUE(WaitFor([&] { return Up() == 1; }));
  ExpectLines(4);
  EXPECT_EQ(metrics_.SourceStatus("web")->message, "");
  follower.reset();

  // One warning for the whole episode, one message for the recovery.
  const std::vector<std::string> warnings = log.At("warning");
  ASSERT_THAT(warnings, SizeIs(1));
  EXPECT_THAT(warnings[0], AllOf(HasSubstr("server \"web\""), HasSubstr(log_.string())));
  ASSERT_THAT(log.At("info"), SizeIs(1));
  EXPECT_THAT(log.At("info")[0], HasSubstr("following " + log_.string() + " again"));
}

TEST_F(AccessLogFollowerTest, DeletedFileIsDown) {
  testing::AppendWriter writer(log_);
  AccessLogFollower follower(metrics_, "web", log_.string(), Options());
  WriteLines(writer, 1, 2);
  ExpectLines(2);
  std::filesystem::remove(log_);
  EXPECT_TRUE(WaitFor([&] { return Up() == 0; }));
  writer.Reopen();
  WriteLines(writer, 3, 5);
  EXPECT_TRUE(WaitFor([&] { return Up() == 1; }));
  ExpectLines(5);
}

TEST_F(AccessLogFollowerTest, PositionResumesWhereItStopped) {
  testing::AppendWriter writer(log_);
  LogPosition position;
  {
    AccessLogFollower follower(metrics_, "web", log_.string(), Options());
    WriteLines(writer, 1, 3);
    ExpectLines(3);
    position = follower.Position();
    EXPECT_EQ(position.offset, std::filesystem::file_size(log_));
  }
  WriteLines(writer, 4, 6);  // while nothing follows the file
  AccessLogFollowerOptions options = Options();
  options.start_position = position;
  AccessLogFollower follower(metrics_, "web", log_.string(), options);
  ExpectLines(6);
  EXPECT_EQ(follower.Position().offset, std::filesystem::file_size(log_));
}

TEST_F(AccessLogFollowerTest, LinesOfARemovedServerAreDropped) {
  testing::AppendWriter writer(log_);
  AccessLogFollower follower(metrics_, "web", log_.string(), Options());
  WriteLines(writer, 1, 2);
  ExpectLines(2);
  metrics_.SetServers({});
  WriteLines(writer, 3, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_THAT(metrics_.Collect(), IsEmpty());
}

TEST_F(AccessLogFollowerTest, DestructorReturnsPromptly) {
  testing::AppendWriter writer(log_);
  AccessLogFollowerOptions options = Options();
  options.poll_interval = std::chrono::seconds(10);
  std::optional<AccessLogFollower> follower;
  follower.emplace(metrics_, "web", log_.string(), options);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the thread is waiting now
  const auto start = std::chrono::steady_clock::now();
  follower.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

TEST_F(AccessLogFollowerTest, RejectsANonPositiveInterval) {
  AccessLogFollowerOptions options;
  options.poll_interval = std::chrono::milliseconds(0);
  EXPECT_THROW(AccessLogFollower(metrics_, "web", log_.string(), options), std::invalid_argument);
}

void WriteLines(const testing::AppendWriter& writer, int first, int last) {
  for (int n = first; n <= last; ++n) {
    writer.Write(NumberedLine(n) + "\n");
  }
}

}  // namespace
}  // namespace nines::collectors
