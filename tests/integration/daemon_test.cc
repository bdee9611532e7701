// Runs the real nines binary on an ephemeral loopback port and checks what an operator
// sees: the HTTP endpoints, reloads, signals, startup failures and --config.check.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/process_runner.h"

#ifndef NINES_BINARY
#error "NINES_BINARY must be the absolute path of the nines executable"
#endif
#ifndef PROMTOOL
#error "PROMTOOL must be the absolute path of promtool"
#endif
#ifndef NINES_FIXTURES_DIR
#error "NINES_FIXTURES_DIR must be the absolute path of tests/fixtures"
#endif

namespace nines::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNines = NINES_BINARY;
constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

constexpr std::string_view kValidConfig = "defaults:\n  interval: 15s\n  timeout: 5s\n";
constexpr std::string_view kOtherValidConfig =
    "defaults:\n  interval: 30s\n  timeout: 10s\nmodules:\n  http_get:\n    prober: http\n";
// Rejected by validation, not by the YAML parser: a negative duration.
constexpr std::string_view kInvalidConfig = "defaults: {interval: -5s}\n";

// Enough for the config timestamp, printed with sub-second digits or not, to move.
constexpr auto kTimestampStep = 1100ms;

std::string ConfigFixture(std::string_view name) {
  return std::string(NINES_FIXTURES_DIR) + "/config/" + std::string(name);
}

std::vector<std::string> LinesContaining(std::string_view text, std::string_view needle) {
  std::vector<std::string> found;
  for (std::string& line : Lines(text)) {
    if (line.find(needle) != std::string::npos) {
      found.push_back(std::move(line));
    }
  }
  return found;
}

// The value of the sample without labels named `name` in a text exposition page.
std::optional<double> SampleValue(std::string_view page, std::string_view name) {
  for (const std::string& line : Lines(page)) {
    if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ' ') {
      double value = 0;
      const char* begin = line.data() + name.size() + 1;
      const char* end = line.data() + line.size();
      auto [ptr, ec] = std::from_chars(begin, end, value);
      if (ec == std::errc() && ptr == end) {
        return value;
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// Decodes a complete gzip member with zlib; nullopt when `data` is not exactly one.
std::optional<std::string> Gunzip(std::string_view data) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) {  // 15 + 16: gzip wrapper only
    return std::nullopt;
  }
  // zlib's API is not const-correct; inflate does not write through next_in.
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  std::array<char, 16384> buffer{};
  int result = Z_OK;
  while (result != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
    stream.avail_out = static_cast<uInt>(buffer.size());
    result = inflate(&stream, Z_NO_FLUSH);
    if (result != Z_OK && result != Z_STREAM_END) {
      inflateEnd(&stream);
      return std::nullopt;
    }
    out.append(buffer.data(), buffer.size() - stream.avail_out);
  }
  bool trailing_bytes = stream.avail_in != 0;
  inflateEnd(&stream);
  if (trailing_bytes) {
    return std::nullopt;
  }
  return out;
}

// For failure messages: the body, or when there was no answer at all the transfer error
// and the daemon's status and log, after giving a crashing daemon a moment to end.
std::string Explain(const HttpResponse& response, Daemon& daemon) {
  if (response.status != 0) {
    return response.body;
  }
  daemon.Child().WaitForExit(1s);
  return response.error + "\n" + daemon.Describe();
}

// ---- Endpoints, against one daemon for the whole suite ----

class DaemonTest : public ::testing::Test {
 protected:
  // CivetWeb takes up to 2 s to stop, so the suite shares one daemon (killed, not stopped).
  static void SetUpTestSuite() { shared_daemon = Daemon::Start(kValidConfig); }
  static void TearDownTestSuite() { shared_daemon.reset(); }

  void SetUp() override {
    ASSERT_NE(shared_daemon, nullptr) << "nines did not start";
    ASSERT_TRUE(shared_daemon->Child().Running()) << shared_daemon->Describe();
  }

  static inline std::unique_ptr<Daemon> shared_daemon;
};

TEST_F(DaemonTest, MetricsPageIsCompleteAndValid) {
  HttpResponse response = Fetch("GET", shared_daemon->Url("/metrics"));
  ASSERT_EQ(response.status, 200) << Explain(response, *shared_daemon);
  EXPECT_EQ(response.Header("Content-Type"), kMetricsContentType);
  EXPECT_EQ(response.Header("Content-Encoding"), std::nullopt) << "not asked for";
  for (std::string_view wanted :
       {"nines_build_info{", "nines_config_last_reload_successful 1",
        "nines_config_last_reload_success_timestamp_seconds ", "process_resident_memory_bytes",
        "process_start_time_seconds", "process_open_fds", "process_max_fds",
        "process_cpu_seconds_total", "process_virtual_memory_bytes"}) {
    EXPECT_NE(response.body.find(wanted), std::string::npos) << "no " << wanted << " in\n"
                                                             << response.body;
  }
  EXPECT_TRUE(PromtoolAccepts(response.body));
}

TEST_F(DaemonTest, MetricsPageIsGzippedOnlyWhenAsked) {
  HttpResponse response = Fetch("GET", shared_daemon->Url("/metrics"), {"Accept-Encoding: gzip"});
  ASSERT_EQ(response.status, 200) << Explain(response, *shared_daemon);
  EXPECT_EQ(response.Header("Content-Encoding"), "gzip");
  EXPECT_EQ(response.Header("Content-Type"), kMetricsContentType);
  EXPECT_EQ(response.Header("Vary"), "Accept-Encoding");
  ASSERT_TRUE(response.body.starts_with("\x1f\x8b")) << "not a gzip stream";
  std::optional<std::string> page = Gunzip(response.body);
  ASSERT_TRUE(page) << "the body does not decompress";
  EXPECT_NE(page->find("nines_build_info{"), std::string::npos) << *page;
  EXPECT_NE(page->find("process_start_time_seconds"), std::string::npos) << *page;
  EXPECT_TRUE(PromtoolAccepts(*page));

  // A client that decodes for itself (libcurl here, Prometheus in production) agrees.
  HttpResponse decoded = Fetch("GET", shared_daemon->Url("/metrics"), {}, {.decode_content = true});
  ASSERT_EQ(decoded.status, 200) << Explain(decoded, *shared_daemon);
  EXPECT_EQ(decoded.Header("Content-Encoding"), "gzip");
  EXPECT_NE(decoded.body.find("nines_build_info{"), std::string::npos) << decoded.body;

  HttpResponse refused =
      Fetch("GET", shared_daemon->Url("/metrics"), {"Accept-Encoding: gzip;q=0"});
  ASSERT_EQ(refused.status, 200) << Explain(refused, *shared_daemon);
  EXPECT_EQ(refused.Header("Content-Encoding"), std::nullopt);
  EXPECT_NE(refused.body.find("nines_build_info{"), std::string::npos);
}

struct EndpointCase {
  std::string_view method;
  std::string_view path;
  int status;
  std::optional<std::string_view> allow;  // the Allow header a 405 must carry
};

TEST_F(DaemonTest, EndpointsAnswerWithTheRightStatus) {
  constexpr EndpointCase kCases[] = {
      {"GET", "/-/healthy", 200, std::nullopt},
      {"GET", "/-/ready", 200, std::nullopt},
      {"GET", "/", 200, std::nullopt},
      {"HEAD", "/metrics", 200, std::nullopt},
      {"GET", "/no-such-page", 404, std::nullopt},
      {"GET", "/metrics/", 404, std::nullopt},
      {"POST", "/metrics", 405, "GET, HEAD"},
      {"POST", "/-/healthy", 405, "GET, HEAD"},
      {"GET", "/-/reload", 405, "POST"},
      {"PUT", "/-/reload", 405, "POST"},
  };
  for (const EndpointCase& c : kCases) {
    SCOPED_TRACE(std::string(c.method) + " " + std::string(c.path));
    HttpResponse response = Fetch(c.method, shared_daemon->Url(c.path));
    EXPECT_EQ(response.status, c.status) << Explain(response, *shared_daemon);
    EXPECT_EQ(response.Header("Allow"), c.allow);
  }
}

TEST_F(DaemonTest, StatusPageShowsTheProbesAndLinksToMetrics) {
  HttpResponse response = Fetch("GET", shared_daemon->Url("/"));
  ASSERT_EQ(response.status, 200) << Explain(response, *shared_daemon);
  EXPECT_EQ(response.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_TRUE(
      response.Header("Content-Security-Policy").value_or("").starts_with("default-src 'none'"));
  EXPECT_NE(response.body.find("href=\"metrics\""), std::string::npos) << response.body;
  HttpResponse json = Fetch("GET", shared_daemon->Url("/api/v1/status"));
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.Header("Content-Type"), "application/json");
  EXPECT_EQ(Fetch("GET", shared_daemon->Url("/badge/no-such-probe.svg")).status, 404);
  EXPECT_EQ(Fetch("GET", shared_daemon->Url("/logs")).status, 400);
}

// ---- Reloads, against one daemon for the suite; every test writes the config it needs ----

struct ReloadState {
  double successful = -1;
  double timestamp = -1;
};

// Scrapes the two reload gauges; nullopt when the scrape fails or either is missing.
std::optional<ReloadState> ScrapeReloadState(Daemon& daemon, std::string* page) {
  HttpResponse response = Fetch("GET", daemon.Url("/metrics"));
  *page = Explain(response, daemon);
  std::optional<double> successful =
      SampleValue(response.body, "nines_config_last_reload_successful");
  std::optional<double> timestamp =
      SampleValue(response.body, "nines_config_last_reload_success_timestamp_seconds");
  if (response.status != 200 || !successful || !timestamp) {
    return std::nullopt;
  }
  return ReloadState{*successful, *timestamp};
}

class ReloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_daemon = Daemon::Start(kValidConfig); }
  static void TearDownTestSuite() { shared_daemon.reset(); }

  // Reloads a valid config over HTTP so each test starts from a successful reload,
  // whatever the order the tests run in.
  void SetUp() override {
    ASSERT_NE(shared_daemon, nullptr) << "nines did not start";
    ASSERT_TRUE(shared_daemon->Child().Running()) << shared_daemon->Describe();
    shared_daemon->WriteConfig(kValidConfig);
    HttpResponse response = Fetch("POST", shared_daemon->Url("/-/reload"));
    ASSERT_EQ(response.status, 200) << Explain(response, *shared_daemon);
    std::string page;
    std::optional<ReloadState> state = ScrapeReloadState(*shared_daemon, &page);
    ASSERT_TRUE(state) << page;
    ASSERT_EQ(state->successful, 1) << page;
    initial_ = *state;
  }

  static inline std::unique_ptr<Daemon> shared_daemon;
  ReloadState initial_;
};

TEST_F(ReloadTest, PostAppliesAChangedConfig) {
  std::this_thread::sleep_for(kTimestampStep);
  shared_daemon->WriteConfig(kOtherValidConfig);
  std::size_t log_start = shared_daemon->Child().OutputSize(Stream::kStderr);

  HttpResponse response = Fetch("POST", shared_daemon->Url("/-/reload"));
  EXPECT_EQ(response.status, 200) << Explain(response, *shared_daemon);
  EXPECT_EQ(response.body, "config reloaded\n");

  std::string page;
  std::optional<ReloadState> state = ScrapeReloadState(*shared_daemon, &page);
  ASSERT_TRUE(state) << page;
  EXPECT_EQ(state->successful, 1) << page;
  EXPECT_GT(state->timestamp, initial_.timestamp) << page;
  EXPECT_TRUE(shared_daemon->Child().WaitForLine("config reloaded via /-/reload", 2s,
                                                 Stream::kStderr, log_start))
      << shared_daemon->Describe();
}

TEST_F(ReloadTest, InvalidConfigIsRejectedAndSighupRecovers) {
  Process& process = shared_daemon->Child();
  const std::string config = shared_daemon->ConfigPath().string();
  shared_daemon->WriteConfig(kInvalidConfig);
  std::size_t log_start = process.OutputSize(Stream::kStderr);

  HttpResponse response = Fetch("POST", shared_daemon->Url("/-/reload"));
  EXPECT_EQ(response.status, 500) << Explain(response, *shared_daemon);
  EXPECT_NE(response.body.find(config + ":1:"), std::string::npos)
      << "the body does not name the file and line:\n"
      << response.body;
  EXPECT_NE(response.body.find("defaults.interval"), std::string::npos) << response.body;
  EXPECT_NE(response.body.find("negative duration"), std::string::npos) << response.body;

  std::string page;
  std::optional<ReloadState> state = ScrapeReloadState(*shared_daemon, &page);
  ASSERT_TRUE(state) << "the daemon stopped serving after a bad reload: " << page;
  EXPECT_EQ(state->successful, 0) << page;
  EXPECT_EQ(state->timestamp, initial_.timestamp) << "a failed reload moved the timestamp";
  EXPECT_EQ(Fetch("GET", shared_daemon->Url("/-/healthy")).status, 200);
  EXPECT_EQ(Fetch("GET", shared_daemon->Url("/-/ready")).status, 200);

  std::optional<std::string> logged =
      process.WaitForLine("reload rejected", 2s, Stream::kStderr, log_start);
  ASSERT_TRUE(logged) << process.Describe();
  EXPECT_NE(logged->find("level=error"), std::string::npos) << *logged;
  EXPECT_NE(logged->find(config), std::string::npos) << *logged;
  EXPECT_NE(logged->find("defaults.interval"), std::string::npos) << *logged;

  // SIGHUP with the config still invalid: rejected the same way, and the daemon lives on.
  log_start = process.OutputSize(Stream::kStderr);
  ASSERT_TRUE(process.Signal(SIGHUP));
  logged = process.WaitForLine("reload rejected", 3s, Stream::kStderr, log_start);
  ASSERT_TRUE(logged) << process.Describe();
  EXPECT_NE(logged->find(config), std::string::npos) << *logged;
  EXPECT_TRUE(process.Running()) << process.Describe();
  state = ScrapeReloadState(*shared_daemon, &page);
  ASSERT_TRUE(state) << page;
  EXPECT_EQ(state->successful, 0) << page;
  EXPECT_EQ(state->timestamp, initial_.timestamp) << page;

  // A fixed config and SIGHUP bring it back.
  std::this_thread::sleep_for(kTimestampStep);
  shared_daemon->WriteConfig(kOtherValidConfig);
  log_start = process.OutputSize(Stream::kStderr);
  ASSERT_TRUE(process.Signal(SIGHUP));
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (true) {
    state = ScrapeReloadState(*shared_daemon, &page);
    if ((state && state->successful == 1) || std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(state) << page;
  EXPECT_EQ(state->successful, 1) << "not reloaded within 3 s of SIGHUP\n" << page;
  EXPECT_GT(state->timestamp, initial_.timestamp) << page;
  EXPECT_TRUE(process.WaitForLine("config reloaded on SIGHUP", 1s, Stream::kStderr, log_start))
      << process.Describe();
}

// A reload parses YAML, which recurses; CivetWeb's worker threads have 100 KiB stacks, so
// the daemon must not parse on them. Deep nesting must give an error, not a crash.
TEST(ReloadRobustnessTest, DeeplyNestedConfigDoesNotCrashTheDaemon) {
  std::unique_ptr<Daemon> daemon = Daemon::Start(kValidConfig);
  ASSERT_NE(daemon, nullptr);
  for (std::size_t depth : {std::size_t{100}, std::size_t{5000}}) {
    daemon->WriteConfig("defaults: " + std::string(depth, '[') + std::string(depth, ']') + "\n");
    HttpResponse response = Fetch("POST", daemon->Url("/-/reload"));
    EXPECT_EQ(response.status, 500) << depth << ": " << Explain(response, *daemon);
    EXPECT_EQ(Fetch("GET", daemon->Url("/-/healthy")).status, 200) << daemon->Describe();
  }
}

// ---- Shutdown: a daemon per signal ----

class ShutdownTest : public ::testing::TestWithParam<int> {};

TEST_P(ShutdownTest, SignalStopsTheDaemonWithExitCodeZero) {
  const int signal = GetParam();
  std::unique_ptr<Daemon> daemon = Daemon::Start(kValidConfig);
  ASSERT_NE(daemon, nullptr);
  Process& process = daemon->Child();
  ASSERT_EQ(Fetch("GET", daemon->Url("/-/ready")).status, 200);

  ASSERT_TRUE(process.Signal(signal));
  std::optional<ExitStatus> status = process.WaitForExit(3s);
  ASSERT_TRUE(status) << "still running 3 s after " << sigabbrev_np(signal) << "\n"
                      << process.Describe();
  EXPECT_EQ(*status, ExitStatus::Exited(0)) << process.Describe();
  std::string log = process.Output(Stream::kStderr);
  EXPECT_EQ(LinesContaining(log, "shutting down").size(), 1U) << log;
  EXPECT_EQ(LinesContaining(log, "msg=\"stopped\"").size(), 1U) << log;
  EXPECT_TRUE(LinesContaining(log, "level=error").empty()) << log;
  EXPECT_EQ(Fetch("GET", daemon->Url("/-/healthy"), {}, {.timeout = 1s}).status, 0)
      << "the port still answers after exit";
}

INSTANTIATE_TEST_SUITE_P(Signals, ShutdownTest, ::testing::Values(SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return "SIG" + std::string(sigabbrev_np(param_info.param));
                         });

// ---- Startup failures: each a short-lived process ----

struct StartupFailureCase {
  std::string name;
  std::vector<std::string> args;  // after the binary and --web.listen-address
  std::string message;            // exactly one stderr line contains it
  std::string also;               // and that line contains this too
};

// Names the case in failure messages instead of dumping its bytes.
void PrintTo(const StartupFailureCase& c, std::ostream* out) { *out << c.name; }

// Runs nines to its end and checks it failed fast with one clear error line: the only
// line containing `message`, which also contains `also`.
void ExpectStartupFailure(std::vector<std::string> args, std::string_view message,
                          std::string_view also) {
  args.insert(args.begin(), kNines);
  RunResult result = RunToExit({.argv = args}, 5s);
  ASSERT_TRUE(result.status) << "still running after 5 s\nstderr:\n" << result.err;
  EXPECT_EQ(result.status->signal, 0) << ToString(*result.status) << "\n" << result.err;
  EXPECT_NE(result.status->code, 0) << result.err;
  EXPECT_EQ(result.out, "");
  std::vector<std::string> lines = LinesContaining(result.err, message);
  ASSERT_EQ(lines.size(), 1U) << "want one stderr line with \"" << message << "\", got:\n"
                              << result.err;
  EXPECT_NE(lines[0].find(also), std::string::npos) << "no " << also << " in " << lines[0];
  if (lines[0].starts_with("ts=")) {
    EXPECT_NE(lines[0].find(" level=error "), std::string::npos) << lines[0];
  }
  EXPECT_TRUE(LinesContaining(result.err, "listening on").empty()) << result.err;
}

class StartupFailureTest : public ::testing::TestWithParam<StartupFailureCase> {};

TEST_P(StartupFailureTest, ExitsNonZeroWithOneClearLine) {
  std::vector<std::string> args = {"--web.listen-address=127.0.0.1:0"};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  ExpectStartupFailure(args, GetParam().message, GetParam().also);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, StartupFailureTest,
    ::testing::Values(
        StartupFailureCase{"MissingConfigFile",
                           {"--config.file=" + ConfigFixture("does-not-exist.yml")},
                           ConfigFixture("does-not-exist.yml") +
                               ": cannot open config file: No such file or directory",
                           "level=error"},
        StartupFailureCase{"YamlSyntaxError",
                           {"--config.file=" + ConfigFixture("invalid-yaml-syntax.yml")},
                           "invalid YAML",
                           ConfigFixture("invalid-yaml-syntax.yml") + ":"},
        StartupFailureCase{"InvalidConfig",
                           {"--config.file=" + ConfigFixture("invalid-negative-duration.yml")},
                           "defaults.interval: must be a duration",
                           ConfigFixture("invalid-negative-duration.yml") + ":"}),
    [](const ::testing::TestParamInfo<StartupFailureCase>& param_info) {
      return param_info.param.name;
    });

TEST(StartupTest, UnknownFlagExitsTwoWithOneErrorLine) {
  RunResult result = RunToExit({.argv = {kNines, "--no-such-flag"}}, 5s);
  ASSERT_EQ(result.status, ExitStatus::Exited(2)) << result.err;
  EXPECT_EQ(result.out, "");
  ASSERT_TRUE(result.err.starts_with("nines: error:")) << result.err;
  EXPECT_NE(result.err.find("--no-such-flag"), std::string::npos) << result.err;
  EXPECT_EQ(Lines(result.err).size(), 1U) << result.err;
}

// A listening socket on 127.0.0.1 with an ephemeral port, closed on destruction.
class BusyPort {
 public:
  BusyPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  ~BusyPort() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  BusyPort(const BusyPort&) = delete;
  BusyPort& operator=(const BusyPort&) = delete;

  // The port, or 0 when the socket could not be set up.
  int Port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(StartupTest, PortInUseExitsNonZero) {
  BusyPort busy;
  ASSERT_NE(busy.Port(), 0) << "cannot listen on 127.0.0.1:0";
  TempDir dir("nines-test-port");
  std::filesystem::path config = dir.WriteFile("nines.yml", kValidConfig);
  std::string address = "127.0.0.1:" + std::to_string(busy.Port());
  ExpectStartupFailure({"--web.listen-address=" + address, "--config.file=" + config.string()},
                       "address already in use", "cannot listen on " + address);
}

// ---- --config.check ----

class ConfigCheckValidTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigCheckValidTest, PrintsOkAndExitsZero) {
  RunResult result =
      RunToExit({.argv = {kNines, "--config.check", "--config.file=" + GetParam()}}, 5s);
  EXPECT_EQ(result.status, ExitStatus::Exited(0)) << result.err;
  EXPECT_EQ(result.out, "OK\n");
  EXPECT_EQ(result.err, "");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ConfigCheckValidTest,
                         ::testing::Values(ConfigFixture("valid-empty.yml"),
                                           ConfigFixture("valid-blackbox-modules.yml")),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name =
                               std::filesystem::path(param_info.param).stem().string();
                           std::erase(name, '-');
                           return name;
                         });

TEST(ConfigCheckTest, BuiltinDefaultConfigIsValid) {
  RunResult result = RunToExit({.argv = {kNines, "--config.check"}}, 5s);
  EXPECT_EQ(result.status, ExitStatus::Exited(0)) << result.err;
  EXPECT_EQ(result.out, "OK\n");
}

// Whether `text` reads "LINE:COL: KEY.PATH: MESSAGE", KEY.PATH like probes[0].target.
// (Hand-written: std::regex trips GCC 12's -Wmaybe-uninitialized at -O1.)
bool IsPositionedError(std::string_view text) {
  // Consumes one or more characters of `allowed` followed by `end`.
  auto consume = [&text](std::string_view allowed, std::string_view end) {
    std::size_t n = text.find_first_not_of(allowed);
    if (n == 0 || n == std::string_view::npos || !text.substr(n).starts_with(end)) {
      return false;
    }
    text.remove_prefix(n + end.size());
    return true;
  };
  constexpr std::string_view kDigits = "0123456789";
  constexpr std::string_view kKeyPath =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]";
  return consume(kDigits, ":") && consume(kDigits, ": ") && consume(kKeyPath, ": ") &&
         !text.empty() && text.front() != ' ';
}

// The `# want: FILE:line:col: ...` comments of a fixture, with FILE replaced by `path`.
std::vector<std::string> WantedErrors(const std::string& path) {
  constexpr std::string_view kWant = "# want: FILE";
  std::vector<std::string> wanted;
  for (const std::string& line : Lines(ReadFile(path))) {
    if (line.starts_with(kWant)) {
      wanted.push_back(path + line.substr(kWant.size()));
    }
  }
  return wanted;
}

class ConfigCheckInvalidTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigCheckInvalidTest, PrintsEveryErrorAndExitsOne) {
  const std::string path = ConfigFixture(GetParam());
  RunResult result = RunToExit({.argv = {kNines, "--config.check", "--config.file=" + path}}, 5s);
  EXPECT_EQ(result.status, ExitStatus::Exited(1)) << result.err;
  EXPECT_EQ(result.out, "");
  std::vector<std::string> lines = Lines(result.err);
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) {
    ASSERT_TRUE(line.starts_with(path + ":")) << line;
    EXPECT_TRUE(IsPositionedError(std::string_view(line).substr(path.size() + 1)))
        << "not file:line:col: key.path: message: " << line;
  }
  std::vector<std::string> wanted = WantedErrors(path);
  ASSERT_FALSE(wanted.empty()) << path << " has no '# want:' lines";
  EXPECT_EQ(lines, wanted);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ConfigCheckInvalidTest,
                         ::testing::Values("invalid-several-errors.yml",
                                           "invalid-negative-duration.yml"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name =
                               std::filesystem::path(param_info.param).stem().string();
                           std::erase(name, '-');
                           return name;
                         });

}  // namespace
}  // namespace nines::testing
