#include "exporter/metrics/text_format.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>

#include <cmath>
#include <limits>

namespace nines::metrics {
namespace {

std::string Value(double value) {
  std::string out;
  AppendValue(value, out);
  return out;
}

// Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints, as
// client_golang (and so node_exporter) writes them.
TEST(AppendValue, MatchesGo) {
  EXPECT_EQ(Value(0), "0");
  EXPECT_EQ(Value(-0.0), "-0");
  EXPECT_EQ(Value(1), "1");
  EXPECT_EQ(Value(0.94), "0.94");
  EXPECT_EQ(Value(-0.5), "-0.5");
  EXPECT_EQ(Value(1634 * 0.001), "1.6340000000000001");
  EXPECT_EQ(Value(123456), "123456");
  EXPECT_EQ(Value(123456.7), "123456.7");
  EXPECT_EQ(Value(1234567), "1.234567e+06");
  EXPECT_EQ(Value(1700000000), "1.7e+09");
  EXPECT_EQ(Value(2.70553174016e+11), "2.70553174016e+11");
  EXPECT_EQ(Value(18446744073709551616.0), "1.8446744073709552e+19");
  EXPECT_EQ(Value(1e21), "1e+21");
  EXPECT_EQ(Value(0.0001), "0.0001");
  EXPECT_EQ(Value(0.00001), "1e-05");
  EXPECT_EQ(Value(0.000122672), "0.000122672");
  EXPECT_EQ(Value(5e-324), "5e-324");
  EXPECT_EQ(Value(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(Value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(Value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(Value(std::nan("")), "NaN");
}

TEST(AppendValue, RoundTrips) {
  for (double v : {0.1, 1.0 / 3, 2.0 / 3 * 1e10, 1795549653.375241, 6.02214076e23, 1e-300}) {
    std::string text = Value(v);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
  }
}

TEST(RenderText, CountersGaugesAndEscaping) {
  prometheus::Registry registry;
  prometheus::BuildCounter()
      .Name("requests_total")
      .Help("Requests.\nSecond line with \\ backslash and \"quotes\".")
      .Register(registry)
      .Add({{"path", "a\"b\\c\nd"}, {"code", "200"}})
      .Increment(3);
  prometheus::BuildGauge().Name("empty").Help("No samples.").Register(registry);
  std::string text = RenderText(registry.Collect());
  EXPECT_EQ(text,
            "# HELP requests_total Requests.\\nSecond line with \\\\ backslash and \"quotes\".\n"
            "# TYPE requests_total counter\n"
            "requests_total{code=\"200\",path=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(RenderText, Histogram) {
  prometheus::Registry registry;
  auto& histogram = prometheus::BuildHistogram()
                        .Name("latency_seconds")
                        .Help("Latency.")
                        .Register(registry)
                        .Add({{"probe", "web"}}, prometheus::Histogram::BucketBoundaries{0.1, 0.3});
  histogram.Observe(0.05);
  histogram.Observe(0.2);
  histogram.Observe(7);
  EXPECT_EQ(RenderText(registry.Collect()),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{probe=\"web\",le=\"0.1\"} 1\n"
            "latency_seconds_bucket{probe=\"web\",le=\"0.3\"} 2\n"
            "latency_seconds_bucket{probe=\"web\",le=\"+Inf\"} 3\n"
            "latency_seconds_sum{probe=\"web\"} 7.25\n"
            "latency_seconds_count{probe=\"web\"} 3\n");
}

TEST(RenderText, Summary) {
  prometheus::Registry registry;
  auto& summary = prometheus::BuildSummary()
                      .Name("size_bytes")
                      .Help("Sizes.")
                      .Register(registry)
                      .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}});
  summary.Observe(10);
  EXPECT_EQ(RenderText(registry.Collect()),
            "# HELP size_bytes Sizes.\n"
            "# TYPE size_bytes summary\n"
            "size_bytes{quantile=\"0.5\"} 10\n"
            "size_bytes_sum 10\n"
            "size_bytes_count 1\n");
}

}  // namespace
}  // namespace nines::metrics
