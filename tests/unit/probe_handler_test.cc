#include "exporter/web/probe_handler.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "exporter/web/server.h"

namespace nines::web {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

// Records the requests the handler makes and answers with a canned result.
struct FakeRunner {
  std::vector<probes::ProbeRequest> requests;
  probes::ProbeResult result;

  ProbeRunner runner() {
    return [this](probes::ProbeRequest request) {
      requests.push_back(std::move(request));
      return result;
    };
  }
};

probes::ProbeResult SuccessfulHttpResult() {
  probes::ProbeResult result;
  result.success = true;
  result.reason = probes::FailureReason::kNone;
  result.duration = std::chrono::duration<double>(0.25);
  result.phases["connect"] = std::chrono::duration<double>(0.01);
  result.ip_protocol = 4;
  result.ip_address = "127.0.0.1";
  result.status_code = 200;
  result.http_version = 1.1;
  result.content_length = 2;
  result.uncompressed_body_length = 2;
  result.failed_due_to_regex = false;
  result.log = {"connecting to pinned address 127.0.0.1", "received HTTP response: status 200"};
  return result;
}

std::shared_ptr<config::Config> TestConfig() {
  auto config = std::make_shared<config::Config>();
  config::Module http_2xx;
  config->modules["http_2xx"] = http_2xx;
  config::Module short_http;
  short_http.timeout = std::chrono::seconds(5);
  config->modules["short_http"] = short_http;
  config::Module tcp_connect;
  tcp_connect.prober = probes::ProbeKind::kTcp;
  tcp_connect.tcp.preferred_ip_protocol = config::IpProtocol::kIp4;
  config->modules["tcp_connect"] = tcp_connect;
  config::Module secret;
  secret.http.basic_auth = config::BasicAuth{"alice", "hunter2", ""};
  secret.http.headers["X-Api-Key"] = "k3y-value";
  secret.http.headers["Accept"] = "text/html";
  secret.http.proxy_url = "http://proxyuser:proxypass@127.0.0.1:3128";
  config->modules["secret_http"] = secret;
  config::Module bearer;
  bearer.http.authorization = config::Authorization{"Bearer", "t0ken-value", ""};
  config->modules["bearer_http"] = bearer;
  return config;
}

Request Get(std::string query, std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request request;
  request.method = "GET";
  request.path = "/probe";
  request.query = std::move(query);
  request.headers = std::move(headers);
  return request;
}

class ProbeHandlerTest : public ::testing::Test {
 protected:
  ProbeHandlerTest() {
    fake_.result = SuccessfulHttpResult();
    options_.resolver = [this](const std::string& host, std::chrono::nanoseconds) {
      ++lookups_;
      if (host == "web.test") {
        return Resolution{{"203.0.113.7"}, ""};
      }
      if (host == "metadata.test") {
        return Resolution{{"169.254.169.254"}, ""};
      }
      if (host == "slow.test") {
        std::this_thread::sleep_for(milliseconds(30));
        return Resolution{{"203.0.113.8"}, ""};
      }
      return Resolution{{}, "Name or service not known"};
    };
  }

  Response Serve(const Request& request) {
    Handler handler = ProbeHandler([this] { return config_; }, fake_.runner(), options_);
    return handler(request);
  }

  std::shared_ptr<config::Config> config_ = TestConfig();
  FakeRunner fake_;
  ProbeHandlerOptions options_;
  int lookups_ = 0;
};

TEST_F(ProbeHandlerTest, AnswersBlackboxMetricsWithoutLabels) {
  Response response = Serve(Get("target=http://127.0.0.1:8080/&module=http_2xx"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, kMetricsType);
  EXPECT_THAT(response.body, HasSubstr("\nprobe_success 1\n"));
  EXPECT_THAT(response.body, HasSubstr("\nprobe_http_status_code 200\n"));
  EXPECT_THAT(response.body, HasSubstr("# TYPE probe_duration_seconds gauge\n"));
  // No labels but the metrics' own (phase, version...).
  EXPECT_THAT(response.body, Not(HasSubstr("probe_success{")));
  EXPECT_THAT(response.body, Not(HasSubstr("target=")));
  EXPECT_THAT(response.body, Not(HasSubstr("Logs for the probe")));

  ASSERT_EQ(fake_.requests.size(), 1u);
  const probes::ProbeRequest& request = fake_.requests[0];
  EXPECT_EQ(request.target, "http://127.0.0.1:8080/");
  EXPECT_EQ(request.pinned_address, "127.0.0.1");
  EXPECT_FALSE(request.debug);
  // The module is the config's own, kept alive by the request.
  EXPECT_EQ(request.module.get(), &config_->modules.at("http_2xx"));
  EXPECT_EQ(lookups_, 0);
}

TEST_F(ProbeHandlerTest, ModuleDefaultsToHttp2xx) {
  Serve(Get("target=127.0.0.1:9"));
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_EQ(fake_.requests[0].module.get(), &config_->modules.at("http_2xx"));
  EXPECT_EQ(fake_.requests[0].target, "http://127.0.0.1:9");

  Serve(Get("module=tcp_connect&target=127.0.0.1:22"));
  ASSERT_EQ(fake_.requests.size(), 2u);
  EXPECT_EQ(fake_.requests[1].module.get(), &config_->modules.at("tcp_connect"));
  EXPECT_EQ(fake_.requests[1].target, "127.0.0.1:22");
}

TEST_F(ProbeHandlerTest, ErrorsLikeBlackbox) {
  Response missing = Serve(Get("module=http_2xx"));
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.body, "Target parameter is missing\n");
  EXPECT_EQ(missing.content_type, "text/plain; charset=utf-8");

  EXPECT_EQ(Serve(Get("target=")).body, "Target parameter is missing\n");

  Response unknown = Serve(Get("target=127.0.0.1&module=nope"));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body, "Unknown module \"nope\"\n");

  // blackbox checks the module first, then the timeout header, then the target.
  EXPECT_EQ(Serve(Get("module=a%22b%0A")).body, "Unknown module \"a\\\"b\\n\"\n");
  Response bad_header = Serve(Get("", {{"X-Prometheus-Scrape-Timeout-Seconds", "abc"}}));
  EXPECT_EQ(bad_header.status, 500);
  EXPECT_EQ(bad_header.body,
            "Failed to parse timeout from Prometheus header: strconv.ParseFloat: parsing "
            "\"abc\": invalid syntax\n");

  Response range =
      Serve(Get("target=127.0.0.1", {{"X-Prometheus-Scrape-Timeout-Seconds", "1e400"}}));
  EXPECT_EQ(range.status, 500);
  EXPECT_THAT(range.body, HasSubstr("parsing \"1e400\": value out of range"));
  EXPECT_TRUE(fake_.requests.empty());
}

TEST_F(ProbeHandlerTest, MethodsAndDisabledEndpoint) {
  Request post = Get("target=127.0.0.1");
  post.method = "POST";
  Response refused = Serve(post);
  EXPECT_EQ(refused.status, 405);
  ASSERT_EQ(refused.headers.size(), 1u);
  EXPECT_EQ(refused.headers[0], std::make_pair(std::string("Allow"), std::string("GET, HEAD")));

  Request head = Get("target=127.0.0.1");
  head.method = "HEAD";
  EXPECT_EQ(Serve(head).status, 200);

  config_->probe_endpoint.enabled = false;
  Response disabled = Serve(Get("target=127.0.0.1"));
  EXPECT_EQ(disabled.status, 404);
  EXPECT_THAT(disabled.body, HasSubstr("disabled"));
  EXPECT_EQ(fake_.requests.size(), 1u);  // only the HEAD
}

TEST_F(ProbeHandlerTest, TimeoutFromThePrometheusHeader) {
  auto timeout_of = [this](const std::string& module, const std::string& header) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!header.empty()) {
      headers.emplace_back("x-prometheus-scrape-timeout-seconds", header);
    }
    fake_.requests.clear();
    Serve(Get("target=127.0.0.1&module=" + module, headers));
    EXPECT_EQ(fake_.requests.size(), 1u);
    return fake_.requests.empty() ? std::chrono::nanoseconds(-1) : fake_.requests[0].timeout;
  };
  EXPECT_EQ(timeout_of("http_2xx", ""), milliseconds(119'500));
  EXPECT_EQ(timeout_of("http_2xx", "10"), milliseconds(9'500));
  EXPECT_EQ(timeout_of("http_2xx", "0"), milliseconds(119'500));
  EXPECT_EQ(timeout_of("short_http", "15"), milliseconds(5'000));
  EXPECT_EQ(timeout_of("short_http", "5.2"), milliseconds(4'700));
  // Less than the offset: the module's timeout, or none left when it has none.
  EXPECT_EQ(timeout_of("short_http", "0.3"), milliseconds(5'000));
  EXPECT_EQ(timeout_of("http_2xx", "0.3"), milliseconds(0));
  EXPECT_EQ(timeout_of("http_2xx", "NaN"), milliseconds(0));

  options_.timeout_offset_seconds = 0;
  EXPECT_EQ(timeout_of("http_2xx", "10"), milliseconds(10'000));
}

// Sends `request` to 127.0.0.1:`port` and returns everything the server answers.
std::string Exchange(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  std::string answer;
  // The sockets API takes a sockaddr_in as a sockaddr.
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    std::array<char, 4096> buffer{};
    for (ssize_t n; (n = ::recv(fd, buffer.data(), buffer.size(), 0)) > 0;) {
      answer.append(buffer.data(), static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

TEST_F(ProbeHandlerTest, ServerPassesHeadersAndQuery) {
  ServerOptions server_options;
  server_options.address.host = "127.0.0.1";
  server_options.threads = 2;
  Server server(server_options);
  server.Route("/probe", ProbeHandler([this] { return config_; }, fake_.runner(), options_));
  server.Start();
  std::string answer =
      Exchange(server.port(),
               "GET /probe?module=tcp_connect&target=127.0.0.1%3A22 HTTP/1.1\r\nHost: x\r\n"
               "x-prometheus-scrape-timeout-seconds: 3\r\nConnection: close\r\n\r\n");
  server.Stop();
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(answer, HasSubstr("\nprobe_success 1\n"));
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_EQ(fake_.requests[0].target, "127.0.0.1:22");
  EXPECT_EQ(fake_.requests[0].timeout, milliseconds(2'500));
}

// blackbox_exporter's TestTimeoutIsSetCorrectly table (prober/handler_test.go).
TEST(ProbeTimeoutSecondsTest, BlackboxTable) {
  struct Case {
    std::optional<config::Duration> module;
    const char* header;
    double offset;
    double want;
  };
  const std::optional<config::Duration> none;
  for (const Case& c : {
           Case{none, "15", 0.5, 14.5},
           Case{none, "15", 0, 15},
           Case{std::chrono::seconds(20), "15", 0.5, 14.5},
           Case{std::chrono::seconds(20), "15", 0, 15},
           Case{std::chrono::seconds(5), "15", 0, 5},
           Case{std::chrono::seconds(5), "15", 0.5, 5},
           Case{std::chrono::seconds(10), "", 0.5, 10},
           Case{std::chrono::seconds(10), "10", 0.5, 9.5},
           Case{milliseconds(9500), "", 0.5, 9.5},
           Case{milliseconds(9500), "", 1, 9.5},
           Case{none, "", 0.5, 119.5},
           Case{none, "", 0, 120},
       }) {
    std::string error;
    std::optional<double> got = ProbeTimeoutSeconds(c.header, c.module, c.offset, &error);
    ASSERT_TRUE(got.has_value()) << c.header << ": " << error;
    EXPECT_DOUBLE_EQ(*got, c.want) << "header " << c.header << " offset " << c.offset;
  }
}

TEST(ProbeTimeoutSecondsTest, ParsesLikeGoParseFloat) {
  const std::optional<config::Duration> none;
  auto parse = [&](const char* header) {
    std::string error;
    std::optional<double> got = ProbeTimeoutSeconds(header, none, 0, &error);
    return got ? std::to_string(*got) : error;
  };
  EXPECT_EQ(parse("+7"), std::to_string(7.0));
  EXPECT_EQ(parse(".5"), std::to_string(0.5));
  EXPECT_EQ(parse("5."), std::to_string(5.0));
  EXPECT_EQ(parse("1e1"), std::to_string(10.0));
  EXPECT_EQ(parse("0x1p-1"), std::to_string(0.5));
  EXPECT_EQ(parse("1e-400"), std::to_string(120.0));  // underflows to 0: no header
  // Negative: less than the offset, so the (unset) module timeout of 0 wins.
  EXPECT_EQ(parse("-1"), std::to_string(0.0));
  EXPECT_EQ(parse("Inf"), std::to_string(std::numeric_limits<double>::infinity()));
  for (const char* bad : {" 1", "1 ", "1s", "", "0x1", "+nan", "1e", ".", "--1", "1_0", "١"}) {
    if (*bad == '\0') {
      continue;  // "" means no header
    }
    EXPECT_THAT(parse(bad), HasSubstr(": invalid syntax")) << bad;
  }
  EXPECT_EQ(parse("1s"), "strconv.ParseFloat: parsing \"1s\": invalid syntax");
  EXPECT_EQ(parse("-1e999"), "strconv.ParseFloat: parsing \"-1e999\": value out of range");
}

TEST_F(ProbeHandlerTest, DeniedTargetsAre403AndNeverProbed) {
  for (const char* query :
       {"target=http://169.254.169.254/latest/meta-data/", "target=http://metadata.test/",
        "target=%5Bfe80::1%5D:22&module=tcp_connect", "target=http://[::ffff:169.254.169.254]/"}) {
    Response response = Serve(Get(query));
    EXPECT_EQ(response.status, 403) << query;
    EXPECT_THAT(response.body, HasSubstr("is denied by probe_endpoint: ")) << query;
    EXPECT_THAT(response.body, HasSubstr("in denied network")) << query;
  }
  EXPECT_TRUE(fake_.requests.empty());

  config_->probe_endpoint.allow = {"*.example.com"};
  Response response = Serve(Get("target=http://web.test/"));
  EXPECT_EQ(response.status, 403);
  EXPECT_EQ(response.body,
            "target \"http://web.test/\" is denied by probe_endpoint: host \"web.test\" matches no "
            "allowed pattern\n");
  EXPECT_TRUE(fake_.requests.empty());
}

TEST_F(ProbeHandlerTest, MalformedTargetsAre400) {
  Response response = Serve(Get("module=tcp_connect&target=web.test"));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body,
            "invalid target \"web.test\" for prober tcp: missing port (want host:port)\n");
  EXPECT_EQ(Serve(Get("target=ftp://web.test/")).status, 400);
  EXPECT_TRUE(fake_.requests.empty());
  EXPECT_EQ(lookups_, 0);
}

TEST_F(ProbeHandlerTest, PinsTheCheckedAddress) {
  Serve(Get("module=tcp_connect&target=web.test:443"));
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_EQ(fake_.requests[0].target, "web.test:443");
  EXPECT_EQ(fake_.requests[0].pinned_address, "203.0.113.7");
  EXPECT_EQ(lookups_, 1);
  // Connections the target did not name (redirects) are held to the same policy.
  const probes::ProbeRequest::AddressCheck& check = fake_.requests[0].check_address;
  ASSERT_TRUE(check);
  EXPECT_EQ(check("web.test", "203.0.113.7"), std::nullopt);
  EXPECT_NE(check("metadata.test", "169.254.169.254"), std::nullopt);
}

TEST_F(ProbeHandlerTest, ResolutionTimeCountsAgainstTheProbe) {
  Response response =
      Serve(Get("target=http://slow.test/", {{"X-Prometheus-Scrape-Timeout-Seconds", "10"}}));
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_LE(fake_.requests[0].timeout, milliseconds(9'470));
  EXPECT_GT(fake_.requests[0].timeout, milliseconds(0));
  // probe_duration_seconds is the canned 0.25 s plus the lookup.
  auto start = response.body.find("\nprobe_duration_seconds ");
  ASSERT_NE(start, std::string::npos);
  double duration = std::stod(response.body.substr(start + 24));
  EXPECT_GE(duration, 0.28);
  EXPECT_LT(duration, 10);
}

TEST_F(ProbeHandlerTest, HostnameParameterSetsTheHostHeader) {
  Response response = Serve(Get("target=http://127.0.0.1/&hostname=www.example.com&debug=true"));
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_EQ(fake_.requests[0].module->http.headers.at("Host"), "www.example.com");
  EXPECT_THAT(response.body, HasSubstr("    Host: www.example.com\n"));
  // The config's module is left as it was.
  EXPECT_TRUE(config_->modules.at("http_2xx").http.headers.empty());

  config_->modules.at("http_2xx").http.headers["host"] = "other.example.com";
  Response conflict = Serve(Get("target=http://127.0.0.1/&hostname=www.example.com"));
  EXPECT_EQ(conflict.status, 400);
  EXPECT_EQ(conflict.body,
            "host header defined both in module configuration (other.example.com) and with "
            "URL-parameter 'hostname' (www.example.com)\n");
  EXPECT_EQ(Serve(Get("target=http://127.0.0.1/&hostname=a%0D%0AX-Evil:%201")).status, 400);
  // Other probers ignore it, as blackbox 0.23 does.
  EXPECT_EQ(Serve(Get("module=tcp_connect&target=127.0.0.1:22&hostname=x")).status, 200);
  EXPECT_EQ(fake_.requests.size(), 2u);
}

TEST_F(ProbeHandlerTest, UnresolvedNamesFailAsDnsWithoutProbing) {
  Response response = Serve(Get("target=http://nowhere.test/&debug=true"));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(fake_.requests.empty());
  EXPECT_THAT(response.body, HasSubstr("\nprobe_success 0\n"));
  EXPECT_THAT(response.body,
              HasSubstr("level=error msg=\"Error resolving address\" err=\"resolving "
                        "\\\"nowhere.test\\\": Name or service not known\""));
  EXPECT_THAT(response.body, HasSubstr("level=error msg=\"Probe failed\" reason=dns"));
}

TEST_F(ProbeHandlerTest, DnsModuleWithResolverLooksTheTargetUpThere) {
  config::Module split;
  split.prober = probes::ProbeKind::kDns;
  split.dns.query_name = "www.corp.test";
  split.dns.resolver = "192.0.2.53:5353";
  split.dns.preferred_ip_protocol = config::IpProtocol::kIp4;
  config_->modules["dns_split"] = split;
  config::Module plain = split;
  plain.dns.resolver.clear();
  config_->modules["dns_plain"] = plain;
  config_->probe_endpoint.deny = {"10.0.0.0/8"};
  std::vector<std::pair<std::string, std::string>> asked;
  options_.resolve_at = [&](const std::string& server, const std::string& host,
                            std::chrono::nanoseconds) {
    asked.emplace_back(server, host);
    if (host == "ns1.corp.test") {
      return Resolution{{"127.0.0.53"}, ""};
    }
    if (host == "web.test") {
      return Resolution{{"10.1.2.3"}, ""};  // the system resolver says 203.0.113.7
    }
    return Resolution{{}, "Domain name not found"};
  };

  // A name only the module's resolver knows: resolved there, pinned, probed.
  Response known = Serve(Get("module=dns_split&target=ns1.corp.test:53&debug=true"));
  EXPECT_EQ(known.status, 200) << known.body;
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_EQ(fake_.requests[0].pinned_address, "127.0.0.53");
  EXPECT_EQ(lookups_, 0);  // the system resolver was not asked
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], std::make_pair(std::string("192.0.2.53:5353"), std::string("ns1.corp.test")));
  EXPECT_THAT(known.body, HasSubstr("\n  resolver: 192.0.2.53:5353\n"));

  // The policy judges what the resolver answered, not what the system would.
  Response denied = Serve(Get("module=dns_split&target=web.test"));
  EXPECT_EQ(denied.status, 403);
  EXPECT_THAT(denied.body, HasSubstr("10.1.2.3"));
  EXPECT_EQ(Serve(Get("module=dns_plain&target=web.test")).status, 200);
  EXPECT_EQ(lookups_, 1);

  Response unknown = Serve(Get("module=dns_split&target=nope.corp.test&debug=true"));
  EXPECT_EQ(unknown.status, 200);
  EXPECT_THAT(unknown.body, HasSubstr("Domain name not found"));
  EXPECT_THAT(unknown.body, HasSubstr("reason=dns"));
  EXPECT_EQ(fake_.requests.size(), 2u);
}

TEST_F(ProbeHandlerTest, TooManyAtOnceAre429) {
  std::mutex mutex;
  std::condition_variable changed;
  int running = 0;
  bool release = false;
  ProbeRunner blocking = [&](const probes::ProbeRequest&) {
    std::unique_lock lock(mutex);
    ++running;
    changed.notify_all();
    changed.wait(lock, [&] { return release; });
    return SuccessfulHttpResult();
  };
  options_.max_concurrent = 2;
  int rejected = 0;
  options_.on_rejected = [&] { ++rejected; };
  Handler handler = ProbeHandler([this] { return config_; }, blocking, options_);
  const Request request = Get("target=http://127.0.0.1:8080/");

  std::vector<Response> answers(2);
  std::vector<std::thread> clients;
  clients.reserve(answers.size());
  for (Response& answer : answers) {
    clients.emplace_back([&handler, &request, &answer] { answer = handler(request); });
  }
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return running == 2; }));
  }
  Response busy = handler(request);
  EXPECT_EQ(busy.status, 429);
  EXPECT_THAT(busy.body, HasSubstr("too many /probe requests at once (2 in flight"));
  ASSERT_FALSE(busy.headers.empty());
  EXPECT_THAT(busy.headers,
              ::testing::Contains(std::make_pair(std::string("Retry-After"), std::string("1"))));
  EXPECT_EQ(rejected, 1);
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  for (std::thread& client : clients) {
    client.join();
  }
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[1].status, 200);
  // The slots are free again.
  EXPECT_EQ(handler(request).status, 200);
  EXPECT_EQ(rejected, 1);
}

TEST_F(ProbeHandlerTest, DebugPageHasBlackboxLayout) {
  Response response = Serve(Get("target=http://127.0.0.1:8080/&module=short_http&debug=true",
                                {{"X-Prometheus-Scrape-Timeout-Seconds", "10"}}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; charset=utf-8");
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_TRUE(fake_.requests[0].debug);

  const std::string& body = response.body;
  EXPECT_THAT(body, StartsWith("Logs for the probe:\nts="));
  EXPECT_THAT(body, HasSubstr(" module=short_http target=http://127.0.0.1:8080/ level=info "
                              "msg=\"Beginning probe\" probe=http timeout_seconds=5\n"));
  EXPECT_THAT(body, HasSubstr("\nconnecting to pinned address 127.0.0.1\n"
                              "received HTTP response: status 200\nts="));
  EXPECT_THAT(body, HasSubstr("level=info msg=\"Probe succeeded\" duration_seconds=0.25\n"));

  auto metrics = body.find("\n\n\n\nMetrics that would have been returned:\n# HELP ");
  auto module = body.find("\n\n\nModule configuration:\nprober: http\ntimeout: 5s\nhttp:\n");
  ASSERT_NE(metrics, std::string::npos) << body;
  ASSERT_NE(module, std::string::npos) << body;
  EXPECT_LT(metrics, module);
  std::string metrics_part = body.substr(metrics, module - metrics);
  EXPECT_THAT(metrics_part, HasSubstr("\nprobe_success 1\n"));
  EXPECT_THAT(body.substr(module), HasSubstr("  method: GET\n"));
  EXPECT_THAT(body.substr(module), HasSubstr("  preferred_ip_protocol: ip6\n"));
  EXPECT_EQ(body.back(), '\n');
}

TEST_F(ProbeHandlerTest, DebugPageHidesSecrets) {
  std::string body =
      Serve(Get("target=http://user:pa55word@127.0.0.1/&module=secret_http&debug=true")).body;
  for (const char* secret : {"hunter2", "k3y-value", "proxypass", "pa55word"}) {
    EXPECT_THAT(body, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(body, HasSubstr("password: <secret>"));
  EXPECT_THAT(body, HasSubstr("X-Api-Key: <secret>"));
  EXPECT_THAT(body, HasSubstr("Accept: text/html"));
  EXPECT_THAT(body, HasSubstr("proxy_url: http://proxyuser:xxxxx@127.0.0.1:3128"));
  EXPECT_THAT(body, HasSubstr("target=http://user:xxxxx@127.0.0.1/"));
  // The prober still gets the password it needs.
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_EQ(fake_.requests[0].target, "http://user:pa55word@127.0.0.1/");

  body = Serve(Get("target=http://127.0.0.1/&module=bearer_http&debug=true")).body;
  EXPECT_THAT(body, Not(HasSubstr("t0ken-value")));
  EXPECT_THAT(body, HasSubstr("credentials: <secret>"));
  EXPECT_THAT(body, HasSubstr("type: Bearer"));
}

TEST_F(ProbeHandlerTest, QueryValuesArePercentDecoded) {
  Serve(Get("module=http_2xx&target=http%3A%2F%2F127.0.0.1%3A8080%2Fpath%3Fa%3D1%26b%3D2"));
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_EQ(fake_.requests[0].target, "http://127.0.0.1:8080/path?a=1&b=2");
}

TEST_F(ProbeHandlerTest, GzipWhenAccepted) {
  Request request = Get("target=127.0.0.1");
  request.accept_encoding = "gzip, deflate";
  Response response = Serve(request);
  EXPECT_EQ(response.status, 200);
  ASSERT_GE(response.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(response.body[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(response.body[1]), 0x8b);
  EXPECT_THAT(response.headers, ::testing::Contains(std::make_pair(std::string("Content-Encoding"),
                                                                   std::string("gzip"))));
  EXPECT_THAT(response.headers, ::testing::Contains(std::make_pair(
                                    std::string("Vary"), std::string("Accept-Encoding"))));
}

TEST(ParseQueryTest, LikeGoUrlParseQuery) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(ParseQuery("a=1&b=x+y&c=%41%2b&d&=e"),
            (Pairs{{"a", "1"}, {"b", "x y"}, {"c", "A+"}, {"d", ""}, {"", "e"}}));
  // A raw ';' or a bad escape drops that pair only.
  EXPECT_EQ(ParseQuery("a=1;b=2&c=%zz&d=%4&e=5&&f=6"), (Pairs{{"e", "5"}, {"f", "6"}}));
  Pairs params = ParseQuery("target=first&target=second");
  EXPECT_EQ(QueryValue(params, "target"), "first");
  EXPECT_EQ(QueryValue(params, "module"), "");
}

TEST(RedactTargetTest, HidesOnlyThePassword) {
  EXPECT_EQ(RedactTarget("http://user:secret@host:80/p?q=user:x@y"),
            "http://user:xxxxx@host:80/p?q=user:x@y");
  EXPECT_EQ(RedactTarget("http://user@host/"), "http://user@host/");
  EXPECT_EQ(RedactTarget("http://host/a:b@c"), "http://host/a:b@c");
  EXPECT_EQ(RedactTarget("host:80"), "host:80");
}

TEST(ModuleYamlTest, TcpModule) {
  config::Module module;
  module.prober = probes::ProbeKind::kTcp;
  module.tcp.tls = true;
  config::QueryResponse step;
  step.send = "PING";
  module.tcp.query_response.push_back(step);
  std::string yaml = ModuleYaml(module);
  EXPECT_THAT(yaml, StartsWith("prober: tcp\ntcp:\n"));
  EXPECT_THAT(yaml, HasSubstr("  tls: true\n"));
  EXPECT_THAT(yaml, HasSubstr("send: PING"));
  EXPECT_THAT(yaml, Not(HasSubstr("http:")));
}

TEST(RequestTest, HeaderLookupIgnoresCase) {
  Request request;
  request.headers = {{"Accept", "a"}, {"X-Thing", "first"}, {"x-thing", "second"}};
  EXPECT_EQ(request.Header("x-THING"), "first");
  EXPECT_EQ(request.Header("Missing"), "");
}

}  // namespace
}  // namespace nines::web
