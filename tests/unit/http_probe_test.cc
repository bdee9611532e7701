#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <re2/re2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "probes/http.h"
#include "tests/probes/test_server.h"

namespace nines::probes {
namespace {

namespace nt = nines::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

// An event loop on its own thread with a probe engine living on it.
class Harness {
 public:
  Harness() : thread_([this] { loop_.Run(); }) {
    Sync([this] { engine_ = std::make_unique<ProbeEngine>(loop_); });
  }
  ~Harness() {
    Sync([this] { engine_.reset(); });
    loop_.Stop();
    thread_.join();
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Starts one probe; the future gets its result.
  std::future<ProbeResult> Start(ProbeRequest request) {
    auto promise = std::make_shared<std::promise<ProbeResult>>();
    std::future<ProbeResult> future = promise->get_future();
    loop_.Post([this, promise, request = std::move(request)]() mutable {
      engine_->Start(std::move(request),
                     [promise](ProbeResult result) { promise->set_value(std::move(result)); });
    });
    return future;
  }

  // Runs one probe and waits (bounded) for its result.
  ProbeResult Run(ProbeRequest request) {
    SteadyClock::duration limit = request.timeout + seconds(3);
    std::future<ProbeResult> future = Start(std::move(request));
    if (future.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "the probe did not finish in time";
      return {};
    }
    return future.get();
  }

 private:
  void Sync(const std::function<void()>& f) {
    std::promise<void> done;
    loop_.Post([&] {
      f();
      done.set_value();
    });
    ASSERT_EQ(done.get_future().wait_for(seconds(5)), std::future_status::ready);
  }

  EventLoop loop_;
  std::unique_ptr<ProbeEngine> engine_;
  std::thread thread_;
};

config::Regexp Re(const std::string& pattern) {
  return {pattern, std::make_shared<const re2::RE2>(pattern)};
}

config::HeaderMatch HeaderRule(const std::string& header, const std::string& pattern,
                               bool allow_missing = false) {
  return {header, Re(pattern), allow_missing};
}

// 1000 times 'a', gzip-compressed.
constexpr std::string_view kGzipBody(
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\x4b\x4c\x1c\x05\xa3\x60\x14\x0c\x77\x00\x00\x03"
    "\xda\x38\x9a\xe8\x03\x00\x00",
    29);
constexpr double kLastModified = 1445412480;  // Wed, 21 Oct 2015 07:28:00 GMT

std::string PathOf(const std::string& request) {
  std::size_t start = request.find(' ');
  std::size_t end = request.find(' ', start + 1);
  if (start == std::string::npos || end == std::string::npos) {
    return "";
  }
  return request.substr(start + 1, end - start - 1);
}

// The requests the servers saw, by path, so tests can check what reached them.
class Requests {
 public:
  void Record(const std::string& request) {
    std::lock_guard lock(mutex_);
    last_[PathOf(request)] = request;
  }
  std::string Last(const std::string& path) {
    std::lock_guard lock(mutex_);
    return last_[path];
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::string> last_;
};

// One routing HTTP handler for every scripted response the tests need.
std::string Respond(Requests& requests, const std::string& request) {
  requests.Record(request);
  std::string path = PathOf(request);
  using nt::TestServer;
  if (path.rfind("/status/", 0) == 0) {
    return TestServer::Response(std::stoi(path.substr(8)), "status");
  }
  if (path.rfind("/redirect/", 0) == 0) {
    int left = std::stoi(path.substr(10));
    if (left == 0) {
      return TestServer::Response(200, "done");
    }
    return TestServer::Response(302, "", {{"Location", "/redirect/" + std::to_string(left - 1)}});
  }
  if (path.rfind("/slow-redirect/", 0) == 0) {
    // Each hop answers after 50 ms, so processing summed over hops shows every hop.
    std::this_thread::sleep_for(milliseconds(50));
    int left = std::stoi(path.substr(15));
    if (left == 0) {
      return TestServer::Response(200, "done");
    }
    return TestServer::Response(302, "",
                                {{"Location", "/slow-redirect/" + std::to_string(left - 1)}});
  }
  if (path.rfind("/goto?", 0) == 0) {
    return TestServer::Response(302, "", {{"Location", path.substr(6)}});
  }
  if (path == "/loop") {
    return TestServer::Response(302, "", {{"Location", "/loop"}});
  }
  if (path == "/see-other") {
    return TestServer::Response(303, "", {{"Location", "/echo"}});
  }
  if (path == "/set-cookie") {
    return TestServer::Response(302, "",
                                {{"Location", "/need-cookie"}, {"Set-Cookie", "session=abc"}});
  }
  if (path == "/need-cookie") {
    bool has = request.find("Cookie: session=abc") != std::string::npos;
    return TestServer::Response(has ? 200 : 400, "cookie");
  }
  if (path == "/body") {
    return TestServer::Response(200, "hello nines world");
  }
  if (path == "/large") {
    return TestServer::Response(200, std::string(1000, 'x'));
  }
  if (path == "/gzip") {
    return TestServer::Response(200, kGzipBody, {{"Content-Encoding", "gzip"}});
  }
  if (path == "/headers") {
    return "HTTP/1.1 200 OK\r\nX-Test: alpha\r\nX-Test: beta\r\nContent-Length: 2\r\n\r\nok";
  }
  if (path == "/last-modified") {
    return TestServer::Response(200, "ok", {{"Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"}});
  }
  if (path == "/http10") {
    return "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  }
  if (path == "/basic") {
    // "user:pass" in base64.
    bool ok = request.find("Authorization: Basic dXNlcjpwYXNz\r\n") != std::string::npos;
    return TestServer::Response(ok ? 200 : 401, "basic");
  }
  if (path == "/bearer") {
    bool ok = request.find("Authorization: Bearer s3cret\r\n") != std::string::npos;
    return TestServer::Response(ok ? 200 : 401, "bearer");
  }
  return TestServer::Response(200, "echo");
}

nt::TestServer::Handler Router(Requests* requests) {
  return nt::TestServer::Http(
      [requests](const std::string& request) { return Respond(*requests, request); });
}

nt::TestServer::Options TlsWith(const nt::CertFiles& cert) {
  nt::TestServer::Options options;
  options.cert = cert;
  options.tls = true;
  return options;
}

// The servers every test shares: plain HTTP, and HTTPS with one certificate each.
struct Servers {
  Requests requests;
  nt::TestPki pki;
  nt::TempDir dir;
  nt::TestServer http{Router(&requests)};
  nt::TestServer valid{Router(&requests), TlsWith(pki.Issue("valid", {"localhost", "127.0.0.1"}))};
  nt::TestServer expired{Router(&requests),
                         TlsWith(pki.Issue("expired", {"127.0.0.1"}, std::chrono::hours(-48),
                                           std::chrono::hours(-24)))};
  nt::TestServer wrong_host{Router(&requests), TlsWith(pki.Issue("wrong", {"other.example"}))};
  nt::TestServer named{Router(&requests), TlsWith(pki.Issue("named", {"probe.test"}))};
  nt::TestServer self_signed{Router(&requests), TlsWith(pki.SelfSigned("self", {"127.0.0.1"}))};
};

Servers* servers = nullptr;

class HttpProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { servers = new Servers(); }
  static void TearDownTestSuite() {
    delete servers;
    servers = nullptr;
  }

  static config::Module Module() {
    config::Module module;
    module.prober = ProbeKind::kHttp;
    // The test servers listen on 127.0.0.1 only.
    module.http.preferred_ip_protocol = config::IpProtocol::kIp4;
    return module;
  }

  static ProbeRequest Request(const std::string& target, const config::Module& module,
                              SteadyClock::duration timeout = seconds(5), std::string pinned = "") {
    ProbeRequest request;
    request.target = target;
    request.module = std::make_shared<const config::Module>(module);
    request.timeout = timeout;
    request.pinned_address = std::move(pinned);
    request.debug = true;
    return request;
  }

  ProbeResult Probe(const std::string& target, const config::Module& module,
                    SteadyClock::duration timeout = seconds(5), std::string pinned = "") {
    return harness_.Run(Request(target, module, timeout, std::move(pinned)));
  }

  static std::string LogOf(const ProbeResult& result) {
    std::string joined;
    for (const std::string& line : result.log) {
      joined += line + "\n";
    }
    return joined;
  }

  Harness harness_;
};

struct Case {
  std::string name;
  std::string path;
  std::function<void(config::HttpModule&)> configure;
  FailureReason reason;  // kNone: success
  std::optional<int> status_code;
};

// Like blackbox's TestHTTPStatusCodes: one row per module option and response.
TEST_F(HttpProbeTest, OutcomesByModuleAndResponse) {
  auto none = [](config::HttpModule&) {};
  std::vector<Case> cases = {
      {"200 is 2xx", "/status/200", none, FailureReason::kNone, 200},
      {"404 is not 2xx", "/status/404", none, FailureReason::kHttpStatus, 404},
      {"404 allowed", "/status/404", [](config::HttpModule& h) { h.valid_status_codes = {404}; },
       FailureReason::kNone, 404},
      {"200 not in the list", "/status/200",
       [](config::HttpModule& h) { h.valid_status_codes = {404}; }, FailureReason::kHttpStatus,
       200},
      {"500", "/status/500", none, FailureReason::kHttpStatus, 500},
      {"redirect not followed", "/redirect/1",
       [](config::HttpModule& h) { h.follow_redirects = false; }, FailureReason::kHttpStatus, 302},
      {"redirect not followed but allowed", "/redirect/1",
       [](config::HttpModule& h) {
         h.follow_redirects = false;
         h.valid_status_codes = {302};
       },
       FailureReason::kNone, 302},
      {"redirect loop", "/loop", none, FailureReason::kTooManyRedirects, 302},
      {"ten redirects are fine", "/redirect/10", none, FailureReason::kNone, 200},
      {"body matches a failing regexp", "/body",
       [](config::HttpModule& h) { h.fail_if_body_matches_regexp = {Re("nines")}; },
       FailureReason::kBodyMismatch, 200},
      {"body lacks a required regexp", "/body",
       [](config::HttpModule& h) { h.fail_if_body_not_matches_regexp = {Re("absent")}; },
       FailureReason::kBodyMismatch, 200},
      {"body has the required regexp", "/body",
       [](config::HttpModule& h) {
         h.fail_if_body_not_matches_regexp = {Re("^hello"), Re("world$")};
         h.fail_if_body_matches_regexp = {Re("error")};
       },
       FailureReason::kNone, 200},
      {"a header value matches", "/headers",
       [](config::HttpModule& h) { h.fail_if_header_matches = {HeaderRule("x-test", "^beta$")}; },
       FailureReason::kHeaderMismatch, 200},
      {"one of the header values matches", "/headers",
       [](config::HttpModule& h) {
         h.fail_if_header_not_matches = {HeaderRule("X-Test", "^beta$")};
       },
       FailureReason::kNone, 200},
      {"no header value matches", "/headers",
       [](config::HttpModule& h) {
         h.fail_if_header_not_matches = {HeaderRule("X-Test", "^gamma$")};
       },
       FailureReason::kHeaderMismatch, 200},
      {"missing header", "/headers",
       [](config::HttpModule& h) { h.fail_if_header_not_matches = {HeaderRule("X-Gone", ".")}; },
       FailureReason::kHeaderMismatch, 200},
      {"missing header allowed", "/headers",
       [](config::HttpModule& h) {
         h.fail_if_header_not_matches = {HeaderRule("X-Gone", ".", true)};
         h.fail_if_header_matches = {HeaderRule("X-Gone", ".", true)};
       },
       FailureReason::kNone, 200},
      {"body over the limit", "/large", [](config::HttpModule& h) { h.body_size_limit = 999; },
       FailureReason::kBodyTooLarge, 200},
      {"body at the limit", "/large", [](config::HttpModule& h) { h.body_size_limit = 1000; },
       FailureReason::kNone, 200},
      {"HTTP/1.1 not valid", "/body",
       [](config::HttpModule& h) { h.valid_http_versions = {"HTTP/2.0"}; },
       FailureReason::kHttpStatus, 200},
      {"HTTP/1.0 valid", "/http10",
       [](config::HttpModule& h) {
         h.valid_http_versions = {"HTTP/1.0", "HTTP/2.0"};
       },
       FailureReason::kNone, 200},
      {"plain HTTP with fail_if_not_ssl", "/body",
       [](config::HttpModule& h) { h.fail_if_not_ssl = true; }, FailureReason::kTlsPolicy, 200},
      {"plain HTTP with fail_if_ssl", "/body", [](config::HttpModule& h) { h.fail_if_ssl = true; },
       FailureReason::kNone, 200},
      {"cookies carried over redirects", "/set-cookie", none, FailureReason::kNone, 200},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    config::Module module = Module();
    c.configure(module.http);
    ProbeResult result = Probe(servers->http.Url(c.path), module);
    EXPECT_EQ(result.success, c.reason == FailureReason::kNone) << result.detail;
    EXPECT_EQ(result.reason, c.reason) << result.detail << "\n" << LogOf(result);
    EXPECT_EQ(result.status_code, c.status_code);
    EXPECT_FALSE(result.ssl);
    bool regexp_failed =
        c.reason == FailureReason::kBodyMismatch || c.reason == FailureReason::kHeaderMismatch;
    EXPECT_EQ(result.failed_due_to_regex, std::optional<bool>(regexp_failed));
  }
}

TEST_F(HttpProbeTest, SuccessReportsResponseFacts) {
  ProbeResult result = Probe(servers->http.Url("/last-modified"), Module());
  ASSERT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.http_version, 1.1);
  EXPECT_EQ(result.content_length, 2);
  EXPECT_EQ(result.uncompressed_body_length, 2);
  EXPECT_EQ(result.last_modified_seconds, kLastModified);
  EXPECT_EQ(result.ip_address, "127.0.0.1");
  EXPECT_EQ(result.ip_protocol, 4);
  EXPECT_EQ(result.redirects, 0);
  EXPECT_FALSE(result.ssl);
  EXPECT_FALSE(result.tls_version.has_value());
  for (const char* phase : {"resolve", "connect", "processing", "transfer"}) {
    EXPECT_EQ(result.phases.count(phase), 1U) << phase;
  }
  EXPECT_EQ(result.phases.count("tls"), 0U);
  EXPECT_FALSE(result.log.empty());

  ProbeResult http10 = Probe(servers->http.Url("/http10"), Module());
  EXPECT_EQ(http10.http_version, 1.0);
}

TEST_F(HttpProbeTest, RedirectsAreCountedAndPhasesSummedOverHops) {
  ProbeResult result = Probe(servers->http.Url("/slow-redirect/2"), Module());
  ASSERT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.redirects, 2);
  EXPECT_EQ(result.status_code, 200);
  // Three hops that each take 50 ms to answer.
  EXPECT_GE(result.phases.at("processing"), milliseconds(150));
  ProbeResult::Seconds sum{0};
  for (const auto& [phase, duration] : result.phases) {
    EXPECT_GE(duration.count(), 0) << phase;
    sum += duration;
  }
  EXPECT_LE(sum, result.duration);

  ProbeResult loop = Probe(servers->http.Url("/loop"), Module());
  EXPECT_EQ(loop.reason, FailureReason::kTooManyRedirects);
  EXPECT_EQ(loop.redirects, 10);
}

TEST_F(HttpProbeTest, MethodBodyAndHeadersReachTheServer) {
  config::Module module = Module();
  module.http.method = "POST";
  module.http.body = R"({"a":1})";
  module.http.headers = {{"X-Probe", "yes"}, {"host", "virtual.example"}};
  ProbeResult result = Probe(servers->http.Url("/echo"), module);
  ASSERT_TRUE(result.success) << result.detail;
  std::string seen = servers->requests.Last("/echo");
  EXPECT_THAT(seen, HasSubstr("POST /echo HTTP/1.1\r\n"));
  EXPECT_THAT(seen, HasSubstr("\r\nHost: virtual.example\r\n"));
  EXPECT_THAT(seen, HasSubstr("\r\nX-Probe: yes\r\n"));
  EXPECT_THAT(seen, HasSubstr("\r\nContent-Length: 7\r\n"));
  EXPECT_THAT(seen, Not(HasSubstr("Content-Type")));
  EXPECT_THAT(seen, Not(HasSubstr("Expect")));
  EXPECT_THAT(seen, HasSubstr("\r\n\r\n{\"a\":1}"));

  // A 303 turns the POST into a GET without a body, as Go's client does.
  ProbeResult redirected = Probe(servers->http.Url("/see-other"), module);
  ASSERT_TRUE(redirected.success) << redirected.detail;
  seen = servers->requests.Last("/echo");
  EXPECT_THAT(seen, HasSubstr("GET /echo HTTP/1.1\r\n"));
  EXPECT_THAT(seen, Not(HasSubstr("{\"a\":1}")));

  config::Module head = Module();
  head.http.method = "HEAD";
  ProbeResult head_result = Probe(servers->http.Url("/large"), head);
  ASSERT_TRUE(head_result.success) << head_result.detail;
  EXPECT_EQ(head_result.content_length, 1000);
  EXPECT_EQ(head_result.uncompressed_body_length, 0);
  EXPECT_THAT(servers->requests.Last("/large"), HasSubstr("HEAD /large HTTP/1.1\r\n"));
}

TEST_F(HttpProbeTest, BasicAuthAndBearerCredentials) {
  config::Module basic = Module();
  basic.http.basic_auth = config::BasicAuth{"user", "pass", ""};
  ProbeResult result = Probe(servers->http.Url("/basic"), basic);
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_THAT(LogOf(result), Not(HasSubstr("pass")));

  basic.http.basic_auth =
      config::BasicAuth{"user", "", servers->dir.WriteFile("password", "pass\n").string()};
  EXPECT_TRUE(Probe(servers->http.Url("/basic"), basic).success);

  // Credentials in the URL work too and stay out of the log.
  std::string in_url = "http://user:pass@" + servers->http.HostPort() + "/basic";
  ProbeResult from_url = Probe(in_url, Module());
  EXPECT_TRUE(from_url.success) << from_url.detail;
  EXPECT_THAT(LogOf(from_url), Not(HasSubstr("pass")));

  basic.http.basic_auth = config::BasicAuth{"user", "wrong", ""};
  EXPECT_EQ(Probe(servers->http.Url("/basic"), basic).status_code, 401);

  basic.http.basic_auth = config::BasicAuth{"user", "", (servers->dir.path() / "missing").string()};
  ProbeResult missing = Probe(servers->http.Url("/basic"), basic);
  EXPECT_EQ(missing.reason, FailureReason::kOther);
  EXPECT_THAT(missing.detail, HasSubstr("missing"));

  config::Module bearer = Module();
  bearer.http.authorization =
      config::Authorization{"Bearer", "", servers->dir.WriteFile("token", "s3cret\n").string()};
  ProbeResult bearer_result = Probe(servers->http.Url("/bearer"), bearer);
  EXPECT_TRUE(bearer_result.success) << bearer_result.detail;
  EXPECT_THAT(LogOf(bearer_result), Not(HasSubstr("s3cret")));
}

TEST_F(HttpProbeTest, GzipIsRequestedAndDecoded) {
  config::Module module = Module();
  module.http.compression = "gzip";
  module.http.fail_if_body_not_matches_regexp = {Re("^a{1000}$")};
  ProbeResult result = Probe(servers->http.Url("/gzip"), module);
  ASSERT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.content_length, static_cast<std::int64_t>(kGzipBody.size()));
  EXPECT_EQ(result.uncompressed_body_length, 1000);
  EXPECT_THAT(servers->requests.Last("/gzip"), HasSubstr("\r\nAccept-Encoding: gzip\r\n"));

  // The limit applies to the decoded body, as blackbox's.
  module.http.body_size_limit = 500;
  EXPECT_EQ(Probe(servers->http.Url("/gzip"), module).reason, FailureReason::kBodyTooLarge);

  // blackbox fails a body it cannot decode with the configured algorithm.
  config::Module plain = Module();
  plain.http.compression = "gzip";
  EXPECT_EQ(Probe(servers->http.Url("/body"), plain).reason, FailureReason::kBodyMismatch);
}

TEST_F(HttpProbeTest, HttpsWithAValidCertificateReportsTlsFacts) {
  config::Module module = Module();
  module.http.tls_config.ca_file = servers->pki.ca_file();
  module.http.fail_if_not_ssl = true;
  ProbeResult result = Probe(servers->valid.Url("/body"), module);
  ASSERT_TRUE(result.success) << result.detail << "\n" << LogOf(result);
  EXPECT_TRUE(result.ssl);
  EXPECT_TRUE(result.tls_version.has_value());
  auto now = static_cast<double>(std::time(nullptr));
  ASSERT_TRUE(result.leaf_cert_expiry_seconds.has_value());
  EXPECT_NEAR(*result.leaf_cert_expiry_seconds, now + 90 * 86400, 3600);
  EXPECT_TRUE(result.earliest_cert_expiry_seconds.has_value());
  EXPECT_TRUE(result.last_chain_expiry_seconds.has_value());
  EXPECT_TRUE(result.leaf.has_value());
  EXPECT_EQ(result.phases.count("tls"), 1U);

  config::Module no_ssl = module;
  no_ssl.http.fail_if_not_ssl = false;
  no_ssl.http.fail_if_ssl = true;
  EXPECT_EQ(Probe(servers->valid.Url("/body"), no_ssl).reason, FailureReason::kTlsPolicy);
}

TEST_F(HttpProbeTest, CertificateFailuresAreClassifiedAndStillReported) {
  config::Module module = Module();
  module.http.tls_config.ca_file = servers->pki.ca_file();

  ProbeResult expired = Probe(servers->expired.Url("/body"), module);
  EXPECT_EQ(expired.reason, FailureReason::kTlsCertExpired) << expired.detail;
  ASSERT_TRUE(expired.leaf_cert_expiry_seconds.has_value());
  EXPECT_NEAR(*expired.leaf_cert_expiry_seconds, static_cast<double>(std::time(nullptr)) - 86400,
              3600);

  ProbeResult wrong = Probe(servers->wrong_host.Url("/body"), module);
  EXPECT_EQ(wrong.reason, FailureReason::kTlsCertInvalid) << wrong.detail;

  ProbeResult untrusted = Probe(servers->self_signed.Url("/body"), module);
  EXPECT_EQ(untrusted.reason, FailureReason::kTlsCertInvalid) << untrusted.detail;

  config::Module insecure = module;
  insecure.http.tls_config.insecure_skip_verify = true;
  ProbeResult skipped = Probe(servers->self_signed.Url("/body"), insecure);
  EXPECT_TRUE(skipped.success) << skipped.detail;
  EXPECT_TRUE(skipped.leaf_cert_expiry_seconds.has_value());
}

TEST_F(HttpProbeTest, ServerNameIsSentAndVerifiedWhileConnectingToTheTarget) {
  config::Module module = Module();
  module.http.tls_config.ca_file = servers->pki.ca_file();
  module.http.tls_config.server_name = "probe.test";
  ProbeResult result = Probe(servers->named.Url("/echo"), module);
  ASSERT_TRUE(result.success) << result.detail << "\n" << LogOf(result);
  EXPECT_EQ(result.ip_address, "127.0.0.1");
  // The Host header still names the target, as blackbox's.
  EXPECT_THAT(servers->requests.Last("/echo"),
              HasSubstr("\r\nHost: " + servers->named.HostPort() + "\r\n"));

  // Without server_name, a Host header names the certificate to expect.
  config::Module by_host = Module();
  by_host.http.tls_config.ca_file = servers->pki.ca_file();
  by_host.http.headers = {{"Host", "probe.test"}};
  ProbeResult host_result = Probe(servers->named.Url("/echo"), by_host);
  EXPECT_TRUE(host_result.success) << host_result.detail;

  module.http.tls_config.server_name = "other.test";
  EXPECT_EQ(Probe(servers->named.Url("/echo"), module).reason, FailureReason::kTlsCertInvalid);
}

TEST_F(HttpProbeTest, PinnedAddressReplacesTheLookup) {
  std::string target = "http://pinned.invalid:" + std::to_string(servers->http.port()) + "/pinned";
  ProbeResult result = Probe(target, Module(), seconds(5), "127.0.0.1");
  ASSERT_TRUE(result.success) << result.detail << "\n" << LogOf(result);
  EXPECT_EQ(result.ip_address, "127.0.0.1");
  EXPECT_THAT(
      servers->requests.Last("/pinned"),
      HasSubstr("\r\nHost: pinned.invalid:" + std::to_string(servers->http.port()) + "\r\n"));
}

TEST_F(HttpProbeTest, RefusedConnection) {
  ProbeResult result =
      Probe("http://127.0.0.1:" + std::to_string(nt::UnusedPort()) + "/", Module());
  EXPECT_EQ(result.reason, FailureReason::kConnectRefused) << result.detail;
  EXPECT_FALSE(result.status_code.has_value());
}

TEST_F(HttpProbeTest, SilentServerTimesOutWithinTheTimeout) {
  nt::TestServer silent([](nt::Connection& connection) { connection.Hang(); });
  auto timeout = milliseconds(500);
  auto started = SteadyClock::now();
  ProbeResult result = Probe(silent.Url("/"), Module(), timeout);
  auto took = SteadyClock::now() - started;
  EXPECT_EQ(result.reason, FailureReason::kTimeout) << result.detail;
  EXPECT_GE(took, timeout - milliseconds(20));
  EXPECT_LT(took, timeout + milliseconds(300));
  EXPECT_EQ(result.phases.count("connect"), 1U);
  EXPECT_EQ(result.phases.count("transfer"), 0U);
}

TEST_F(HttpProbeTest, SilentTlsServerTimesOutAfterConnecting) {
  nt::TestServer silent([](nt::Connection& connection) { connection.Hang(); });
  ProbeResult result = Probe("https://" + silent.HostPort() + "/", Module(), milliseconds(300));
  EXPECT_EQ(result.reason, FailureReason::kTimeout) << result.detail;
  EXPECT_EQ(result.ip_address, "127.0.0.1");
}

TEST_F(HttpProbeTest, SlowDripTimesOut) {
  nt::TestServer drip([](nt::Connection& connection) {
    connection.ReadHttpRequest();
    if (!connection.Write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")) {
      return;
    }
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(milliseconds(100));
      if (!connection.Write("x")) {
        return;
      }
    }
  });
  auto timeout = milliseconds(600);
  auto started = SteadyClock::now();
  ProbeResult result = Probe(drip.Url("/"), Module(), timeout);
  auto took = SteadyClock::now() - started;
  EXPECT_EQ(result.reason, FailureReason::kTimeout) << result.detail;
  EXPECT_LT(took, timeout + milliseconds(300));
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.phases.count("processing"), 1U);
}

TEST_F(HttpProbeTest, RedirectsAcrossSchemesAndHosts) {
  // http to https: the final response is over TLS, so the tls phase and facts appear.
  config::Module module = Module();
  module.http.tls_config.ca_file = servers->pki.ca_file();
  ProbeResult secure = Probe(servers->http.Url("/goto?" + servers->valid.Url("/body")), module);
  ASSERT_TRUE(secure.success) << secure.detail << "\n" << LogOf(secure);
  EXPECT_EQ(secure.redirects, 1);
  EXPECT_TRUE(secure.ssl);
  EXPECT_EQ(secure.phases.count("tls"), 1U);
  EXPECT_TRUE(secure.leaf_cert_expiry_seconds.has_value());

  // Credentials stay with the target's host: a redirect elsewhere does not get them.
  config::Module basic = Module();
  basic.http.basic_auth = config::BasicAuth{"user", "pass", ""};
  std::string elsewhere = "http://localhost:" + std::to_string(servers->http.port()) + "/basic";
  ProbeResult away = Probe(servers->http.Url("/goto?" + elsewhere), basic);
  EXPECT_EQ(away.status_code, 401) << away.detail << "\n" << LogOf(away);
  EXPECT_EQ(Probe(servers->http.Url("/goto?/basic"), basic).status_code, 200);
}

TEST_F(HttpProbeTest, AddressCheckRefusesARedirectToADeniedHost) {
  std::vector<std::string> checked;
  ProbeRequest request = Request(
      servers->http.Url("/goto?http://localhost:" + std::to_string(servers->http.port()) + "/"),
      Module());
  request.check_address = [&checked](const std::string& host, const std::string& address) {
    checked.push_back(host + " " + address);
    return host == "localhost" ? std::optional<std::string>("denied by policy") : std::nullopt;
  };
  ProbeResult result = harness_.Run(std::move(request));
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.reason, FailureReason::kOther);
  EXPECT_NE(result.detail.find("denied by policy"), std::string::npos) << result.detail;
  ASSERT_GE(checked.size(), 2U);
  EXPECT_EQ(checked[0], "127.0.0.1 127.0.0.1");
  EXPECT_EQ(checked[1].rfind("localhost ", 0), 0U) << checked[1];
}

TEST_F(HttpProbeTest, Ipv6Target) {
  nt::TestServer::Options options;
  options.ipv6 = true;
  nt::TestServer server(Router(&servers->requests), options);
  ProbeResult result = Probe(server.Url("/body"), Module());
  ASSERT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.ip_protocol, 6);
  EXPECT_EQ(result.ip_address, "::1");
}

TEST_F(HttpProbeTest, UnansweredConnectIsAConnectTimeout) {
  // A listener that never accepts, its one-slot queue taken: the kernel drops later SYNs,
  // so connecting hangs.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    static_cast<void>(connect(filler, reinterpret_cast<sockaddr*>(&address), length));
    fillers.push_back(filler);
  }
  std::string target = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/";
  ProbeResult result = Probe(target, Module(), milliseconds(400));
  EXPECT_EQ(result.reason, FailureReason::kConnectTimeout) << result.detail;
  EXPECT_EQ(result.phases.count("connect"), 0U);
  for (int fd : fillers) {
    close(fd);
  }
  close(listener);
}

TEST_F(HttpProbeTest, CancellingARunningProbeReleasesIt) {
  nt::TestServer silent([](nt::Connection& connection) { connection.Hang(); });
  auto harness = std::make_unique<Harness>();
  std::future<ProbeResult> future = harness->Start(Request(silent.Url("/"), Module(), seconds(30)));
  auto until = SteadyClock::now() + seconds(5);
  while (silent.accepted() == 0 && SteadyClock::now() < until) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(silent.accepted(), 1);
  harness.reset();  // the engine cancels the run on the loop thread
  // The callback was dropped without being called.
  ASSERT_EQ(future.wait_for(seconds(1)), std::future_status::ready);
  EXPECT_THROW(future.get(), std::future_error);
}

}  // namespace
}  // namespace nines::probes
