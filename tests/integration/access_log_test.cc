// The access-log pipeline end to end: a real nginx logs to a file and over syslog, a known
// number of requests with known statuses is sent, the file is rotated in the middle (rename,
// then nginx reopens its logs), and nines' counters must equal exactly what was sent.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace nines::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kCombined =
    R"($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent )"
    R"("$http_referer" "$http_user_agent")";

double Value(const std::map<std::string, Family>& page, const std::string& family,
             const std::map<std::string, std::string>& labels) {
  const Sample* sample = FindSample(page, family, labels);
  return sample == nullptr ? -1 : sample->value;
}

// Sends `count` GETs of `path` to nginx.
void Send(const Nginx& nginx, const std::string& path, int count) {
  for (int i = 0; i < count; ++i) {
    ASSERT_NE(Fetch("GET", nginx.Url(path)).status, 0);
  }
}

TEST(AccessLogTest, CountsEveryRequestExactlyOnceAcrossRotation) {
  TempDir dir("nines-access-log");
  std::filesystem::path log = dir.path() / "access.log";
  int syslog_port = FreePort();
  auto nginx = Nginx::Start("access_log " + log.string() + " combined;\n" +
                            "access_log syslog:server=127.0.0.1:" + std::to_string(syslog_port) +
                            ",tag=nginx,nohostname combined;\n"
                            "location = / { return 200 \"ok\\n\"; }\n"
                            "location = /missing { return 404; }\n"
                            "location = /broken { return 500; }\n");
  ASSERT_NE(nginx, nullptr);
  std::string format = "'" + std::string(kCombined) + "'";
  auto daemon = Daemon::Start(
      "nginx:\n"
      "  - name: file\n"
      "    access_log: {path: " +
      log.string() + ", format: " + format +
      "}\n"
      "  - name: udp\n"
      "    access_log: {syslog: '127.0.0.1:" +
      std::to_string(syslog_port) + "', format: " + format + "}\n");
  ASSERT_NE(daemon, nullptr);
  auto scrape = [&] {
    HttpResponse response = Fetch("GET", daemon->Url("/metrics"));
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(PromtoolAccepts(response.body));
    return ParseExposition(response.body);
  };
  // Both sources are up before any request is sent (the file is followed from its end).
  for (int i = 0; i < 50; ++i) {
    auto page = scrape();
    if (Value(page, "nines_log_up", {{"server", "file"}}) == 1 &&
        Value(page, "nines_log_up", {{"server", "udp"}}) == 1) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }

  // nginx's syslog socket is a connected UDP socket: the datagram of nginx's readiness check
  // found no listener, and the ICMP error that came back fails nginx's next send. Warm up
  // with OPTIONS requests until a line arrives; only GETs are counted below.
  bool warm = false;
  for (int i = 0; i < 50 && !warm; ++i) {
    ASSERT_NE(Fetch("OPTIONS", nginx->Url("/warmup")).status, 0);
    warm = Value(scrape(), "nines_log_lines_total", {{"server", "udp"}}) > 0;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(warm) << "no syslog line arrived";

  Send(*nginx, "/", 10);
  Send(*nginx, "/missing", 5);
  std::filesystem::rename(log, dir.path() / "access.log.1");
  Send(*nginx, "/", 3);  // still written to the renamed file
  nginx->ReopenLogs();
  for (int i = 0; i < 50 && !std::filesystem::exists(log); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(std::filesystem::exists(log));
  Send(*nginx, "/broken", 7);
  Send(*nginx, "/", 2);

  const std::map<std::string, double> want = {{"200", 15}, {"404", 5}, {"500", 7}};
  std::map<std::string, Family> page;
  for (int i = 0; i < 100; ++i) {
    page = scrape();
    bool done = true;
    for (const std::string server : {"file", "udp"}) {
      done = done && Value(page, "nines_http_requests_total",
                           {{"server", server}, {"method", "GET"}, {"status", "500"}}) >= 7;
    }
    if (done) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(600ms);  // a double count would show up by now
  page = scrape();
  for (const std::string server : {"file", "udp"}) {
    EXPECT_EQ(Value(page, "nines_log_parse_errors_total", {{"server", server}}), 0) << server;
    for (const auto& [status, count] : want) {
      EXPECT_EQ(Value(page, "nines_http_requests_total",
                      {{"server", server}, {"method", "GET"}, {"status", status}}),
                count)
          << server << " " << status;
    }
  }
}

}  // namespace
}  // namespace nines::testing
