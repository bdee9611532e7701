#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <zlib.h>

#include "exporter/metrics/gatherer.h"
#include "exporter/web/gzip.h"
#include "exporter/web/handlers.h"
#include "exporter/web/server.h"

namespace nines::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;

std::string Gunzip(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 15 + 16), Z_OK);
  std::string out(data.size() * 20 + 1024, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return out;
}

Request Get(std::string path, std::string accept_encoding = "") {
  return Request{"GET", std::move(path), "", std::move(accept_encoding)};
}

TEST(AcceptsGzip, Header) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("GZIP"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_TRUE(AcceptsGzip("gzip;q=0.001"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip; q=0.000, br"));
  EXPECT_FALSE(AcceptsGzip("x-gzip2"));
}

TEST(Gzip, RoundTrip) {
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    text += "metric_" + std::to_string(i) + " 1\n";
  }
  std::string compressed = Gzip(text);
  EXPECT_LT(compressed.size(), text.size() / 3);
  EXPECT_EQ(Gunzip(compressed), text);
  EXPECT_EQ(Gunzip(Gzip("")), "");
}

TEST(Gatherer, MergesSourcesAndSortsFamilies) {
  auto a = std::make_shared<prometheus::Registry>();
  auto b = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("zeta").Help("z").Register(*a).Add({}).Set(1);
  prometheus::BuildGauge().Name("shared").Help("s").Register(*a).Add({{"from", "a"}}).Set(2);
  prometheus::BuildGauge().Name("shared").Help("s").Register(*b).Add({{"from", "b"}}).Set(3);
  prometheus::BuildCounter().Name("zeta").Help("z").Register(*b).Add({}).Increment();
  metrics::Gatherer gatherer;
  gatherer.Add(a);
  gatherer.Add(b);
  auto families = gatherer.Gather();
  ASSERT_EQ(families.size(), 2U);
  EXPECT_EQ(families[0].name, "shared");
  EXPECT_EQ(families[0].metric.size(), 2U);
  EXPECT_EQ(families[1].name, "zeta");
  EXPECT_EQ(families[1].type, prometheus::MetricType::Gauge);  // the conflicting counter dropped
  EXPECT_EQ(families[1].metric.size(), 1U);
  std::string page = gatherer.Render();
  EXPECT_THAT(page, HasSubstr("shared{from=\"a\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("shared{from=\"b\"} 3\n"));
}

class HandlersTest : public ::testing::Test {
 protected:
  HandlersTest() {
    auto registry = std::make_shared<prometheus::Registry>();
    prometheus::BuildGauge().Name("test_value").Help("A test.").Register(*registry).Add({}).Set(7);
    gatherer_.Add(registry);
    server_.Route("/", LandingPageHandler("/metrics"));
    server_.Route("/metrics", MetricsHandler(gatherer_));
    server_.Route("/-/healthy", HealthyHandler());
    server_.Route("/-/ready", ReadyHandler(ready_));
    server_.Route("/-/reload", ReloadHandler([this] { return reload_errors_; }));
  }

  metrics::Gatherer gatherer_;
  std::atomic<bool> ready_{false};
  std::vector<std::string> reload_errors_;
  Server server_{ServerOptions{}};
};

TEST_F(HandlersTest, Metrics) {
  Response response = server_.Dispatch(Get("/metrics"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(response.body, HasSubstr("# TYPE test_value gauge\ntest_value 7\n"));
  EXPECT_THAT(response.headers,
              ::testing::Not(::testing::Contains(Pair("Content-Encoding", "gzip"))));
}

TEST_F(HandlersTest, MetricsGzip) {
  Response plain = server_.Dispatch(Get("/metrics"));
  Response response = server_.Dispatch(Get("/metrics", "gzip, deflate"));
  EXPECT_THAT(response.headers, ::testing::Contains(Pair("Content-Encoding", "gzip")));
  EXPECT_EQ(Gunzip(response.body), plain.body);
}

TEST_F(HandlersTest, MethodsAndPaths) {
  EXPECT_EQ(server_.Dispatch(Get("/nope")).status, 404);
  EXPECT_EQ(server_.Dispatch(Get("/metrics/")).status, 404);
  Response post = server_.Dispatch(Request{"POST", "/metrics", "", ""});
  EXPECT_EQ(post.status, 405);
  EXPECT_THAT(post.headers, ::testing::Contains(Pair("Allow", "GET, HEAD")));
  EXPECT_EQ(server_.Dispatch(Request{"HEAD", "/metrics", "", ""}).status, 200);
  EXPECT_EQ(server_.Dispatch(Get("/-/healthy")).status, 200);
  Response landing = server_.Dispatch(Get("/"));
  EXPECT_EQ(landing.status, 200);
  EXPECT_EQ(landing.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(landing.body, HasSubstr("<a href=\"/metrics\">"));
}

TEST_F(HandlersTest, Ready) {
  EXPECT_EQ(server_.Dispatch(Get("/-/ready")).status, 503);
  ready_ = true;
  EXPECT_EQ(server_.Dispatch(Get("/-/ready")).status, 200);
}

TEST_F(HandlersTest, Reload) {
  Response get = server_.Dispatch(Get("/-/reload"));
  EXPECT_EQ(get.status, 405);
  EXPECT_THAT(get.headers, ::testing::Contains(Pair("Allow", "POST")));
  EXPECT_EQ(server_.Dispatch(Request{"PUT", "/-/reload", "", ""}).status, 405);
  EXPECT_EQ(server_.Dispatch(Request{"POST", "/-/reload", "", ""}).status, 200);
  reload_errors_ = {"nines.yml:1:1: prob: unknown key"};
  Response failed = server_.Dispatch(Request{"POST", "/-/reload", "", ""});
  EXPECT_EQ(failed.status, 500);
  EXPECT_THAT(failed.body, HasSubstr("nines.yml:1:1: prob: unknown key\n"));
}

TEST(HtmlEscape, Specials) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

TEST(LandingPage, EscapesTelemetryPath) {
  Response response = LandingPageHandler("/m<script>")(Get("/"));
  EXPECT_THAT(response.body, HasSubstr("/m&lt;script&gt;"));
  EXPECT_THAT(response.body, ::testing::Not(HasSubstr("<script>")));
}

}  // namespace
}  // namespace nines::web
