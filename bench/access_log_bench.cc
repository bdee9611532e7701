// Access-log parsing speed: LogFormat::Parse on realistic lines of the default format
// (nginx's `combined` plus $request_time and $upstream_response_time), a few hundred
// varied lines held in memory and cycled, so the figure is the parser's alone (no I/O).
// items_per_second is lines per second on one core.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/log_format.h"

namespace nines::collectors {
namespace {

constexpr std::size_t kLines = 512;

constexpr std::array<std::string_view, 6> kMethods = {"GET", "GET", "GET", "POST", "PUT", "HEAD"};
constexpr std::array<std::string_view, 8> kPaths = {
    "/",
    "/index.html",
    "/api/v1/users?id=42&expand=orders",
    "/static/js/app.3f9a1c.min.js",
    "/api/v1/orders/9f1e2d3c-4b5a-6789-0abc-def123456789/items",
    "/search?q=nginx+log+format&page=2",
    "/healthz",
    "/images/logo%20large.png",
};
constexpr std::array<std::string_view, 10> kStatuses = {"200", "200", "200", "200", "304",
                                                        "301", "404", "499", "502", "503"};
constexpr std::array<std::string_view, 4> kReferers = {
    "-", "https://example.com/", "https://www.google.com/search?q=example", "-"};
constexpr std::array<std::string_view, 5> kAgents = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "curl/8.4.0",
    "Prometheus/2.47.0",
    "python-requests/2.31.0",
};
constexpr std::array<std::string_view, 4> kUsers = {"-", "-", "-", "alice"};

std::uint32_t Next(std::mt19937& random) { return static_cast<std::uint32_t>(random()); }

std::string Seconds(std::uint32_t milliseconds) {
  std::string text = std::to_string(milliseconds / 1000) + ".";
  const std::string fraction = std::to_string(1000 + milliseconds % 1000);
  return text + fraction.substr(1);
}

// Lines as nginx writes them with the default format: mostly upstream-proxied requests,
// some static files (no upstream, "-"), some retried on a second server ("a, b") or
// redirected internally to another upstream group ("a : b").
std::vector<std::string> MakeLines() {
  std::mt19937 random(20231010);
  const auto pick = [&](const auto& choices) { return choices[Next(random) % choices.size()]; };
  std::vector<std::string> lines;
  lines.reserve(kLines);
  for (std::size_t i = 0; i < kLines; ++i) {
    const std::uint32_t upstream_ms = Next(random) % 900;
    const std::uint32_t request_ms = upstream_ms + Next(random) % 20;
    std::string upstream;
    switch (Next(random) % 8) {
      case 0:
        upstream = "-";
        break;
      case 1:
        upstream = Seconds(upstream_ms / 2) + ", " + Seconds(upstream_ms / 2);
        break;
      case 2:
        upstream = Seconds(upstream_ms / 3) + " : " + Seconds(upstream_ms / 3);
        break;
      default:
        upstream = Seconds(upstream_ms);
    }
    lines.push_back(
        "10." + std::to_string(Next(random) % 256) + "." + std::to_string(Next(random) % 256) +
        "." + std::to_string(Next(random) % 256) + " - " + std::string(pick(kUsers)) +
        " [10/Oct/2023:13:" + std::to_string(10 + Next(random) % 50) + ":" +
        std::to_string(10 + Next(random) % 50) + " +0000] \"" + std::string(pick(kMethods)) + " " +
        std::string(pick(kPaths)) + " HTTP/1.1\" " + std::string(pick(kStatuses)) + " " +
        std::to_string(Next(random) % 100000) + " \"" + std::string(pick(kReferers)) + "\" \"" +
        std::string(pick(kAgents)) + "\" " + Seconds(request_ms) + " " + upstream);
  }
  return lines;
}

void BenchParseDefaultFormat(benchmark::State& state) {
  const std::vector<std::string> lines = MakeLines();
  std::string error;
  const std::optional<LogFormat> format =
      LogFormat::Compile(kDefaultAccessLogFormat, Escape::kDefault, &error);
  if (!format) {
    state.SkipWithError(error.c_str());
    return;
  }
  // Every line must parse, or the figure would time the error path.
  LogRecord record;
  for (const std::string& line : lines) {
    if (!format->Parse(line, &record, &error)) {
      error.insert(0, line + ": ");
      state.SkipWithError(error.c_str());
      return;
    }
  }
  std::size_t i = 0;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    const std::string& line = lines[i];
    i = (i + 1) % lines.size();
    const bool parsed = format->Parse(line, &record, nullptr);
    benchmark::DoNotOptimize(parsed);
    benchmark::DoNotOptimize(record);
    bytes += static_cast<std::int64_t>(line.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BenchParseDefaultFormat);

// The same requests written with escape=json, as many setups ship them to log pipelines.
void BenchParseJsonFormat(benchmark::State& state) {
  constexpr std::string_view kFormat =
      R"({"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request",)"
      R"("status":$status,"bytes":$body_bytes_sent,"referer":"$http_referer",)"
      R"("ua":"$http_user_agent","rt":$request_time,"urt":"$upstream_response_time"})";
  std::string error;
  const std::optional<LogFormat> format = LogFormat::Compile(kFormat, Escape::kJson, &error);
  if (!format) {
    state.SkipWithError(error.c_str());
    return;
  }
  std::mt19937 random(7);
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < kLines; ++i) {
    lines.push_back(R"({"time":"2023-10-10T13:55:36+00:00","remote_addr":"10.1.2.)" +
                    std::to_string(Next(random) % 256) + R"(","request":"GET )" +
                    std::string(kPaths[i % kPaths.size()]) + R"( HTTP/1.1","status":)" +
                    std::string(kStatuses[i % kStatuses.size()]) + R"(,"bytes":)" +
                    std::to_string(Next(random) % 100000) + R"(,"referer":"","ua":")" +
                    std::string(kAgents[i % kAgents.size()]) + R"(","rt":)" +
                    Seconds(Next(random) % 900) + R"(,"urt":")" + Seconds(Next(random) % 900) +
                    R"("})");
  }
  LogRecord record;
  for (const std::string& line : lines) {
    if (!format->Parse(line, &record, &error)) {
      error.insert(0, line + ": ");
      state.SkipWithError(error.c_str());
      return;
    }
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const bool parsed = format->Parse(lines[i], &record, nullptr);
    i = (i + 1) % lines.size();
    benchmark::DoNotOptimize(parsed);
    benchmark::DoNotOptimize(record);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BenchParseJsonFormat);

// Compiling happens once per config load; this only shows it is not a concern.
void BenchCompileDefaultFormat(benchmark::State& state) {
  for (auto _ : state) {
    std::optional<LogFormat> format =
        LogFormat::Compile(kDefaultAccessLogFormat, Escape::kDefault, nullptr);
    benchmark::DoNotOptimize(format);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BenchCompileDefaultFormat);

}  // namespace
}  // namespace nines::collectors
