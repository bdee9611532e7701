#include "collectors/nginx_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"
#include "tests/unit/log_test_support.h"

namespace nines::collectors {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// A page as nginx 1.22 prints it, trailing spaces and the leading space of line 3 included.
constexpr std::string_view kRealPage =
    "Active connections: 291 \n"
    "server accepts handled requests\n"
    " 16630948 16630948 31070465 \n"
    "Reading: 6 Writing: 179 Waiting: 106 \n";

constexpr StubStatus kRealStatus{.active = 291,
                                 .accepted = 16630948,
                                 .handled = 16630948,
                                 .requests = 31070465,
                                 .reading = 6,
                                 .writing = 179,
                                 .waiting = 106};

TEST(ParseStubStatusTest, RealPage) {
  const StubStatusParse parsed = ParseStubStatus(kRealPage);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(*parsed.status, kRealStatus);
  EXPECT_EQ(parsed.error, "");
}

TEST(ParseStubStatusTest, ToleratedVariations) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"no final newline",
       "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 "
       "\nReading: 6 Writing: 179 Waiting: 106 "},
      {"no trailing spaces",
       "Active connections: 291\nserver accepts handled requests\n16630948 16630948 31070465\n"
       "Reading: 6 Writing: 179 Waiting: 106"},
      {"CRLF line ends",
       "Active connections: 291 \r\nserver accepts handled requests\r\n 16630948 16630948 "
       "31070465 \r\nReading: 6 Writing: 179 Waiting: 106 \r\n"},
      {"tabs and runs of spaces",
       "Active\tconnections:   291 \nserver  accepts handled\trequests\n\t16630948  16630948 "
       "31070465\t\nReading:  6 Writing:\t179 Waiting: 106 \n"},
      // Like nginx-prometheus-exporter, which never reads past the fourth line.
      {"lines after the fourth",
       "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 "
       "\nReading: 6 Writing: 179 Waiting: 106 \nSomething new: 7 \n"},
      {"leading zeros",
       "Active connections: 0291 \nserver accepts handled requests\n 016630948 16630948 "
       "31070465 \nReading: 06 Writing: 179 Waiting: 106 \n"},
  };
  for (const auto& [name, text] : cases) {
    const StubStatusParse parsed = ParseStubStatus(text);
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error;
    EXPECT_EQ(*parsed.status, kRealStatus) << name;
  }
}

TEST(ParseStubStatusTest, Uint64Range) {
  const StubStatusParse parsed = ParseStubStatus(
      "Active connections: 0 \nserver accepts handled requests\n 18446744073709551615 0 0 \n"
      "Reading: 0 Writing: 0 Waiting: 0 \n");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.status->accepted, 18446744073709551615U);
  EXPECT_EQ(parsed.status->active, 0U);
}

TEST(ParseStubStatusTest, BadPagesSayWhereAndWhy) {
  struct Case {
    std::string_view name;
    std::string_view text;
    std::string_view error;
  };
  const std::vector<Case> cases = {
      {"empty", "", "line 1: missing: the page is empty"},
      {"only a newline", "\n", "line 1: expected \"Active connections: <number>\", got \"\""},
      {"blank line first", "\nActive connections: 291 \n",
       "line 1: expected \"Active connections: <number>\", got \"\""},
      {"truncated after line 1", "Active connections: 291 \n",
       "line 2: missing: the page ends after line 1"},
      {"truncated after line 2", "Active connections: 291 \nserver accepts handled requests\n",
       "line 3: missing: the page ends after line 2"},
      {"truncated after line 3",
       "Active connections: 291 \nserver accepts handled requests\n 1 2 3 \n",
       "line 4: missing: the page ends after line 3"},
      {"truncated inside line 3", "Active connections: 291 \nserver accepts handled requests\n 1 2",
       "line 3: expected 3 numbers, got \" 1 2\""},
      {"truncated inside line 4",
       "Active connections: 291 \nserver accepts handled requests\n 1 2 3 \nReading: 6 Writing: ",
       "line 4: expected \"Reading: <number> Writing: <number> Waiting: <number>\", got "
       "\"Reading: 6 Writing: \""},
      {"reordered lines",
       "server accepts handled requests\nActive connections: 291 \n 1 2 3 \n"
       "Reading: 6 Writing: 179 Waiting: 106 \n",
       "line 1: expected \"Active connections: <number>\", got \"server accepts handled "
       "requests\""},
      {"reordered fields in line 4",
       "Active connections: 291 \nserver accepts handled requests\n 1 2 3 \n"
       "Writing: 179 Reading: 6 Waiting: 106 \n",
       "line 4: expected \"Reading: <number> Writing: <number> Waiting: <number>\", got "
       "\"Writing: 179 Reading: 6 Waiting: 106 \""},
      {"reordered header",
       "Active connections: 291 \nserver handled accepts requests\n 1 2 3 \n"
       "Reading: 6 Writing: 179 Waiting: 106 \n",
       "line 2: expected \"server accepts handled requests\", got \"server handled accepts "
       "requests\""},
      {"letters in line 3",
       "Active connections: 291 \nserver accepts handled requests\nabc\n"
       "Reading: 6 Writing: 179 Waiting: 106 \n",
       "line 3: expected 3 numbers, got \"abc\""},
      {"a word among the numbers",
       "Active connections: 291 \nserver accepts handled requests\n 1 two 3 \n"
       "Reading: 6 Writing: 179 Waiting: 106 \n",
       "line 3: handled: not a number (got \"two\")"},
      {"four numbers",
       "Active connections: 291 \nserver accepts handled requests\n 1 2 3 4 \n"
       "Reading: 6 Writing: 179 Waiting: 106 \n",
       "line 3: expected 3 numbers, got \" 1 2 3 4 \""},
      {"negative", "Active connections: -1 \n",
       "line 1: active connections: negative (got \"-1\")"},
      {"plus sign", "Active connections: +1 \n",
       "line 1: active connections: not a number (got \"+1\")"},
      {"fraction",
       "Active connections: 1 \nserver accepts handled requests\n 1 2 3 \n"
       "Reading: 0.5 Writing: 179 Waiting: 106 \n",
       "line 4: reading: not a number (got \"0.5\")"},
      {"hex", "Active connections: 0x1f \n",
       "line 1: active connections: not a number (got \"0x1f\")"},
      {"beyond uint64",
       "Active connections: 291 \nserver accepts handled requests\n 1 2 18446744073709551616 \n"
       "Reading: 6 Writing: 179 Waiting: 106 \n",
       "line 3: requests: out of range (got \"18446744073709551616\")"},
      {"far beyond uint64",
       "Active connections: 291 \nserver accepts handled requests\n 1 2 3 \n"
       "Reading: 6 Writing: 179 Waiting: 99999999999999999999999999 \n",
       "line 4: waiting: out of range (got \"99999999999999999999999999\")"},
      {"no space after the colon", "Active connections:291 \n",
       "line 1: expected \"Active connections: <number>\", got \"Active connections:291 \""},
      {"lower case", "active connections: 291 \n",
       "line 1: expected \"Active connections: <number>\", got \"active connections: 291 \""},
      {"a word after the numbers",
       "Active connections: 291 \nserver accepts handled requests\n 1 2 3 \n"
       "Reading: 6 Writing: 179 Waiting: 106 extra\n",
       "line 4: expected \"Reading: <number> Writing: <number> Waiting: <number>\", got "
       "\"Reading: 6 Writing: 179 Waiting: 106 extra\""},
      {"an HTML page", "<html><body>ok</body></html>\n",
       "line 1: expected \"Active connections: <number>\", got "
       "\"<html><body>ok</body></html>\""},
      {"control bytes", "Active connections: 1\x01 \n",
       "line 1: active connections: not a number (got \"1\\x01\")"},
  };
  for (const Case& c : cases) {
    const StubStatusParse parsed = ParseStubStatus(c.text);
    EXPECT_FALSE(parsed.ok()) << c.name;
    EXPECT_FALSE(parsed.status.has_value()) << c.name;
    EXPECT_EQ(parsed.error, c.error) << c.name;
  }
}

TEST(ParseStubStatusTest, LongGarbageLineIsQuotedShort) {
  const std::string line(100000, 'x');
  const StubStatusParse parsed = ParseStubStatus(line);
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.error.size(), 200U) << parsed.error;
  EXPECT_THAT(parsed.error, HasSubstr("...\""));
}

TEST(ParseStubStatusAddressTest, Forms) {
  std::string error;
  auto http = ParseStubStatusAddress("http://127.0.0.1:8081/stub_status", &error);
  ASSERT_TRUE(http) << error;
  EXPECT_EQ(http->url, "http://127.0.0.1:8081/stub_status");
  EXPECT_EQ(http->unix_socket, "");

  auto https = ParseStubStatusAddress("HTTPS://[::1]:8443/status", &error);
  ASSERT_TRUE(https) << error;
  EXPECT_EQ(https->url, "HTTPS://[::1]:8443/status");

  auto bare_socket = ParseStubStatusAddress("unix:/run/nginx/status.sock", &error);
  ASSERT_TRUE(bare_socket) << error;
  EXPECT_EQ(bare_socket->unix_socket, "/run/nginx/status.sock");
  EXPECT_EQ(bare_socket->url, "http://localhost/");

  auto socket_path = ParseStubStatusAddress("unix:/run/nginx/status.sock:/stub_status", &error);
  ASSERT_TRUE(socket_path) << error;
  EXPECT_EQ(socket_path->unix_socket, "/run/nginx/status.sock");
  EXPECT_EQ(socket_path->url, "http://localhost/stub_status");
}

TEST(ParseStubStatusAddressTest, Rejects) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", "unsupported stub_status address \"\""},
      {"ftp://127.0.0.1/stub_status", "unsupported stub_status address \"ftp://"},
      {"127.0.0.1:8080/stub_status", "unsupported stub_status address"},
      {"unix:relative.sock", "unix socket path in \"unix:relative.sock\" is not absolute"},
      {"unix:", "is not absolute"},
      {"unix:/run/n.sock:stub_status", "request path in \"unix:/run/n.sock:stub_status\""},
      {"unix:/run/n.sock:", "does not start with '/'"},
      {"http://exa mple/", "invalid URL \"http://exa mple/\""},
  };
  for (const auto& [address, error] : cases) {
    std::string why;
    EXPECT_FALSE(ParseStubStatusAddress(address, &why)) << address;
    EXPECT_THAT(why, HasSubstr(error)) << address;
  }
  EXPECT_FALSE(ParseStubStatusAddress("gopher://x/"));  // a null error pointer is fine
}

// Helpers over the families Collect() returns.
const prometheus::MetricFamily* FindFamily(const std::vector<prometheus::MetricFamily>& families,
                                           std::string_view name) {
  auto it = std::find_if(families.begin(), families.end(),
                         [&](const prometheus::MetricFamily& f) { return f.name == name; });
  return it == families.end() ? nullptr : &*it;
}

// The value of `name{server="<server>"}`, or nullopt when there is no such sample.
std::optional<double> Sample(const std::vector<prometheus::MetricFamily>& families,
                             std::string_view name, std::string_view server) {
  const prometheus::MetricFamily* family = FindFamily(families, name);
  if (family == nullptr) {
    return std::nullopt;
  }
  for (const prometheus::ClientMetric& metric : family->metric) {
    if (metric.label.size() == 1 && metric.label[0].name == "server" &&
        metric.label[0].value == server) {
      return family->type == prometheus::MetricType::Counter ? metric.counter.value
                                                             : metric.gauge.value;
    }
  }
  return std::nullopt;
}

constexpr std::string_view kValueFamilies[] = {
    "nginx_connections_active",  "nginx_connections_accepted", "nginx_connections_handled",
    "nginx_connections_reading", "nginx_connections_writing",  "nginx_connections_waiting",
    "nginx_http_requests_total",
};

// Only nginx_up, for `server`.
void ExpectDown(const std::vector<prometheus::MetricFamily>& families, std::string_view server) {
  EXPECT_EQ(Sample(families, "nginx_up", server), 0.0) << server;
  for (std::string_view name : kValueFamilies) {
    EXPECT_EQ(Sample(families, name, server), std::nullopt) << name << " for " << server;
  }
}

// Answers one connection on 127.0.0.1 with a canned response, then closes it: for
// answers nginx cannot give, such as a body without Content-Length. Gives up waiting for a
// client after five seconds.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    // The sockets API takes every address family through a generic sockaddr.
    auto* generic = reinterpret_cast<sockaddr*>(&address);
    if (fd_ < 0 || ::bind(fd_, generic, length) != 0 || ::listen(fd_, 4) != 0 ||
        ::getsockname(fd_, generic, &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotServer() {
    if (thread_.joinable()) {
      thread_.join();
    }
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  OneShotServer(const OneShotServer&) = delete;
  OneShotServer& operator=(const OneShotServer&) = delete;

  int port() const { return port_; }

 private:
  void Serve() const {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, 5000) != 1) {
      return;
    }
    const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      return;
    }
    std::string request;
    std::array<char, 4096> buffer{};
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      pollfd readable{client, POLLIN, 0};
      if (::poll(&readable, 1, 5000) != 1) {
        break;
      }
      const ssize_t n = ::recv(client, buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        break;
      }
      request.append(buffer.data(), static_cast<std::size_t>(n));
    }
    std::size_t sent = 0;
    while (sent < response_.size()) {
      // MSG_NOSIGNAL: a client that hangs up early must not kill the test with SIGPIPE.
      const ssize_t n =
          ::send(client, response_.data() + sent, response_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        break;
      }
      sent += static_cast<std::size_t>(n);
    }
    ::close(client);
  }

  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Somewhere to put unix sockets: sun_path holds at most 107 bytes.
std::string SocketPath(const testing::TempDir& dir) {
  std::string path = (dir.path() / "nginx.sock").string();
  return path.size() < 100 ? path : "";
}

// More than kMaxStubStatusBytes from a `return`: nginx config tokens must stay short, so
// one 2,000-byte variable is repeated.
std::string BigLocation() {
  std::string location =
      "location = /big { set $chunk \"" + std::string(2000, 'x') + "\"; return 200 \"";
  for (std::size_t i = 0; i * 2000 <= kMaxStubStatusBytes; ++i) {
    location += "$chunk";
  }
  return location + "\"; }\n";
}

// One nginx for the suite: a stub_status page, an ordinary page, pages that are not
// stub_status, and the same stub_status over a unix socket.
struct SuiteNginx {
  testing::TempDir socket_dir{"nines-ngx"};
  std::string socket_path = SocketPath(socket_dir);  // "" when the path is too long
  std::unique_ptr<testing::Nginx> nginx;
};

SuiteNginx* suite_nginx = nullptr;

class NginxStatusCollectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_nginx = new SuiteNginx();
    std::string locations =
        "location = /stub_status { stub_status; }\n"
        "location = / { return 200 \"ok\\n\"; }\n"
        "location = /hello { return 200 \"hello\"; }\n"
        "location = /truncated { return 200 \"Active connections: 1 \\nserver accepts handled "
        "requests\\n\"; }\n"
        "location = /missing { return 404; }\n"
        "location = /moved { return 302 /stub_status; }\n" +
        BigLocation();
    if (!suite_nginx->socket_path.empty()) {
      // The locations go inside nginx's `server` block, so a second listener fits too.
      locations += "listen unix:" + suite_nginx->socket_path + ";\n";
    }
    suite_nginx->nginx = testing::Nginx::Start(locations);
  }

  static void TearDownTestSuite() {
    delete suite_nginx;
    suite_nginx = nullptr;
  }

  void SetUp() override {
    if (suite_nginx->nginx == nullptr) {
      GTEST_SKIP() << "nginx did not start";
    }
  }

  static std::string Url(std::string_view path) { return suite_nginx->nginx->Url(path); }
  static const std::string& UnixSocket() { return suite_nginx->socket_path; }
};

TEST_F(NginxStatusCollectorTest, RealNginxIsUpWithTheExportersFamilies) {
  NginxStatusCollector collector;
  collector.SetServers({{"web", Url("/stub_status")}});
  const std::vector<prometheus::MetricFamily> first = collector.Collect();

  struct Expected {
    std::string_view name;
    prometheus::MetricType type;
    std::string_view help;
  };
  const Expected expected[] = {
      {"nginx_up", prometheus::MetricType::Gauge, "Status of the last metric scrape"},
      {"nginx_connections_active", prometheus::MetricType::Gauge, "Active client connections"},
      {"nginx_connections_accepted", prometheus::MetricType::Counter,
       "Accepted client connections"},
      {"nginx_connections_handled", prometheus::MetricType::Counter, "Handled client connections"},
      {"nginx_connections_reading", prometheus::MetricType::Gauge,
       "Connections where NGINX is reading the request header"},
      {"nginx_connections_writing", prometheus::MetricType::Gauge,
       "Connections where NGINX is writing the response back to the client"},
      {"nginx_connections_waiting", prometheus::MetricType::Gauge, "Idle client connections"},
      {"nginx_http_requests_total", prometheus::MetricType::Counter, "Total http requests"},
  };
  ASSERT_THAT(first, SizeIs(std::size(expected)));
  for (const Expected& e : expected) {
    const prometheus::MetricFamily* family = FindFamily(first, e.name);
    ASSERT_NE(family, nullptr) << e.name;
    EXPECT_EQ(family->type, e.type) << e.name;
    EXPECT_EQ(family->help, e.help) << e.name;
    ASSERT_THAT(family->metric, SizeIs(1)) << e.name;
    ASSERT_THAT(family->metric[0].label, SizeIs(1)) << e.name;
    EXPECT_EQ(family->metric[0].label[0].name, "server");
    EXPECT_EQ(family->metric[0].label[0].value, "web");
  }

  EXPECT_EQ(Sample(first, "nginx_up", "web"), 1.0);
  // The scrape's own connection is active and being written to.
  EXPECT_GE(*Sample(first, "nginx_connections_active", "web"), 1.0);
  EXPECT_GE(*Sample(first, "nginx_connections_writing", "web"), 1.0);
  EXPECT_LE(*Sample(first, "nginx_connections_handled", "web"),
            *Sample(first, "nginx_connections_accepted", "web"));
  EXPECT_GE(*Sample(first, "nginx_http_requests_total", "web"), 1.0);

  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(testing::Fetch("GET", Url("/")).status, 200);
  }
  const std::vector<prometheus::MetricFamily> second = collector.Collect();
  EXPECT_EQ(Sample(second, "nginx_up", "web"), 1.0);
  // Three pages and the second scrape itself; nothing else knows this nginx's port.
  EXPECT_EQ(*Sample(second, "nginx_http_requests_total", "web") -
                *Sample(first, "nginx_http_requests_total", "web"),
            4.0);
  EXPECT_GE(*Sample(second, "nginx_connections_accepted", "web") -
                *Sample(first, "nginx_connections_accepted", "web"),
            4.0);
}

TEST_F(NginxStatusCollectorTest, UnixSocketForms) {
  if (UnixSocket().empty()) {
    GTEST_SKIP() << "the temporary directory's path is too long for a unix socket";
  }
  NginxStatusCollector collector;
  collector.SetServers({
      {"with-path", "unix:" + UnixSocket() + ":/stub_status"},
      {"root", "unix:" + UnixSocket()},  // GET /, which answers "ok"
  });
  const std::vector<prometheus::MetricFamily> families = collector.Collect();
  EXPECT_EQ(Sample(families, "nginx_up", "with-path"), 1.0);
  EXPECT_GE(*Sample(families, "nginx_http_requests_total", "with-path"), 1.0);
  ExpectDown(families, "root");
}

TEST_F(NginxStatusCollectorTest, FailuresLeaveOnlyNginxUpZero) {
  const testing::SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  const int refused_port = testing::FreePort();
  ASSERT_NE(refused_port, 0);
  const std::string silent_url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/";

  NginxStatusCollector collector(std::chrono::milliseconds(300));
  collector.SetServers({
      {"good", Url("/stub_status")},
      {"refused", "http://127.0.0.1:" + std::to_string(refused_port) + "/stub_status"},
      {"silent", silent_url},
      {"garbage", Url("/hello")},
      {"truncated", Url("/truncated")},
      {"not-found", Url("/missing")},
      {"too-big", Url("/big")},
      {"bad-address", "ftp://127.0.0.1/stub_status"},
      {"redirected", Url("/moved")},
  });
  testing::LogCapture log;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<prometheus::MetricFamily> families = collector.Collect();
  const auto took = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(Sample(families, "nginx_up", "good"), 1.0);
  EXPECT_EQ(Sample(families, "nginx_up", "redirected"), 1.0);
  EXPECT_TRUE(Sample(families, "nginx_http_requests_total", "redirected").has_value());
  for (std::string_view server :
       {"refused", "silent", "garbage", "truncated", "not-found", "too-big", "bad-address"}) {
    ExpectDown(families, server);
  }
  // Only the silent server waits for the timeout.
  EXPECT_LT(took, std::chrono::seconds(2));

  // One warning for each failing server, naming it, its URL and the reason.
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(log.Count("warning"), 7U) << ::testing::PrintToString(lines);
  auto warning_for = [&](std::string_view server) -> std::string {
    const std::string prefix = "warning nginx " + std::string(server) + ": ";
    for (const std::string& line : lines) {
      if (line.starts_with(prefix)) {
        return line;
      }
    }
    return "";
  };
  EXPECT_THAT(warning_for("refused"), HasSubstr(std::to_string(refused_port)));
  EXPECT_THAT(warning_for("refused"), HasSubstr("(Connection refused)"));
  EXPECT_THAT(warning_for("silent"), HasSubstr(silent_url));
  EXPECT_THAT(warning_for("silent"), HasSubstr("timed out"));
  EXPECT_THAT(warning_for("garbage"), HasSubstr(Url("/hello")));
  EXPECT_THAT(warning_for("garbage"),
              HasSubstr("not a stub_status page: line 1: expected \"Active connections: "
                        "<number>\", got \"hello\""));
  EXPECT_THAT(warning_for("truncated"), HasSubstr("line 3: missing"));
  EXPECT_THAT(warning_for("not-found"), HasSubstr("expected HTTP status 200, got 404"));
  EXPECT_THAT(warning_for("too-big"), HasSubstr("larger than 65536 bytes"));
  EXPECT_THAT(warning_for("bad-address"), HasSubstr("unsupported stub_status address"));
}

TEST_F(NginxStatusCollectorTest, OneWarningPerFailureEpisode) {
  const int refused_port = testing::FreePort();
  ASSERT_NE(refused_port, 0);
  const std::vector<NginxStatusTarget> servers = {
      {"down", "http://user:secret@127.0.0.1:" + std::to_string(refused_port) + "/stub_status"},
      {"up", Url("/stub_status")},
  };
  NginxStatusCollector collector;
  collector.SetServers(servers);
  testing::LogCapture log;
  for (int i = 0; i < 3; ++i) {
    ExpectDown(collector.Collect(), "down");
  }
  EXPECT_EQ(log.Count("warning"), 1U);
  EXPECT_EQ(log.Count("debug"), 2U);
  // The password stays out of the log.
  for (const std::string& line : log.Lines()) {
    EXPECT_THAT(line, Not(HasSubstr("secret"))) << line;
    EXPECT_THAT(line, HasSubstr("user:xxxxx@127.0.0.1")) << line;
  }

  // A reload that keeps the server keeps its episode: no second warning.
  collector.SetServers(servers);
  ExpectDown(collector.Collect(), "down");
  EXPECT_EQ(log.Count("warning"), 1U);
  EXPECT_EQ(log.Count("debug"), 3U);
  EXPECT_EQ(collector.servers(), servers);

  // A server that is replaced starts afresh.
  collector.SetServers({{"down", "http://127.0.0.1:" + std::to_string(refused_port) + "/other"}});
  ExpectDown(collector.Collect(), "down");
  EXPECT_EQ(log.Count("warning"), 2U);
  EXPECT_EQ(log.Count("info"), 0U);
}

TEST(NginxStatusRecoveryTest, InfoWhenAServerComesBack) {
  const testing::TempDir dir("nines-ngx");
  const std::string socket = SocketPath(dir);
  if (socket.empty()) {
    GTEST_SKIP() << "the temporary directory's path is too long for a unix socket";
  }
  NginxStatusCollector collector;
  collector.SetServers({{"late", "unix:" + socket + ":/stub_status"}});
  testing::LogCapture log;
  ExpectDown(collector.Collect(), "late");
  ASSERT_EQ(log.Count("warning"), 1U);
  EXPECT_THAT(log.Lines().back(), HasSubstr("unix:" + socket + ":/stub_status"));

  const std::unique_ptr<testing::Nginx> nginx = testing::Nginx::Start(
      "location = /stub_status { stub_status; }\n"
      "location = / { return 200 \"ok\\n\"; }\n"
      "listen unix:" +
      socket + ";\n");
  ASSERT_NE(nginx, nullptr);
  const std::vector<prometheus::MetricFamily> families = collector.Collect();
  EXPECT_EQ(Sample(families, "nginx_up", "late"), 1.0);
  EXPECT_GE(*Sample(families, "nginx_connections_active", "late"), 1.0);
  EXPECT_EQ(log.Count("info"), 1U);
  EXPECT_THAT(log.Lines().back(), HasSubstr("info nginx late: stub_status"));
  EXPECT_EQ(log.Count("warning"), 1U);
}

TEST_F(NginxStatusCollectorTest, ConcurrentScrapesAndReloads) {
  NginxStatusCollector collector;
  const std::vector<NginxStatusTarget> one = {{"a", Url("/stub_status")}};
  const std::vector<NginxStatusTarget> two = {{"a", Url("/stub_status")},
                                              {"b", Url("/stub_status")}};
  collector.SetServers(one);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> scrapers;
  scrapers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    scrapers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        const std::vector<prometheus::MetricFamily> families = collector.Collect();
        const prometheus::MetricFamily* up = FindFamily(families, "nginx_up");
        if (up == nullptr || up->metric.empty() || up->metric.size() > 2 ||
            Sample(families, "nginx_up", "a") != 1.0) {
          ++bad;
        }
      }
    });
  }
  std::thread reloader([&] {
    for (int i = 0; !stop; ++i) {
      collector.SetServers(i % 2 == 0 ? two : one);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (std::thread& t : scrapers) {
    t.join();
  }
  stop = true;
  reloader.join();
  EXPECT_EQ(bad, 0);
}

TEST(NginxStatusBodyTest, BodyWithoutLengthIsReadToTheEnd) {
  const OneShotServer server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
                             std::string(kRealPage));
  ASSERT_NE(server.port(), 0);
  NginxStatusCollector collector;
  collector.SetServers({{"raw", "http://127.0.0.1:" + std::to_string(server.port()) + "/"}});
  const std::vector<prometheus::MetricFamily> families = collector.Collect();
  EXPECT_EQ(Sample(families, "nginx_up", "raw"), 1.0);
  EXPECT_EQ(Sample(families, "nginx_connections_active", "raw"), 291.0);
  EXPECT_EQ(Sample(families, "nginx_connections_accepted", "raw"), 16630948.0);
  EXPECT_EQ(Sample(families, "nginx_connections_handled", "raw"), 16630948.0);
  EXPECT_EQ(Sample(families, "nginx_http_requests_total", "raw"), 31070465.0);
  EXPECT_EQ(Sample(families, "nginx_connections_reading", "raw"), 6.0);
  EXPECT_EQ(Sample(families, "nginx_connections_writing", "raw"), 179.0);
  EXPECT_EQ(Sample(families, "nginx_connections_waiting", "raw"), 106.0);
}

TEST(NginxStatusBodyTest, EndlessBodyWithoutLengthStopsAtTheLimit) {
  // A valid page first: what counts is the size, not the content.
  const OneShotServer server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
                             std::string(kRealPage) + std::string(kMaxStubStatusBytes, '\n'));
  ASSERT_NE(server.port(), 0);
  NginxStatusCollector collector;
  collector.SetServers({{"raw", "http://127.0.0.1:" + std::to_string(server.port()) + "/"}});
  testing::LogCapture log;
  ExpectDown(collector.Collect(), "raw");
  ASSERT_EQ(log.Count("warning"), 1U);
  EXPECT_THAT(log.Lines().back(), HasSubstr("the page is larger than 65536 bytes"));
}

TEST(NginxStatusCollectorBasicsTest, NoServersNoFamilies) {
  const NginxStatusCollector collector;
  EXPECT_THAT(collector.Collect(), IsEmpty());
  EXPECT_THAT(collector.servers(), IsEmpty());
}

TEST(NginxStatusCollectorBasicsTest, RejectsANonPositiveTimeout) {
  EXPECT_THROW(NginxStatusCollector(std::chrono::milliseconds(0)), std::invalid_argument);
}

}  // namespace
}  // namespace nines::collectors
