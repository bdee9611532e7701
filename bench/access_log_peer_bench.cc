// Access-log throughput side by side: nines and Debian's mtail each follow a log file and
// do the same job (a request counter by status and a $request_time histogram) while N
// default-format lines are appended; each runs alone, and the figure is the time from the
// first line written until its counter shows all N, plus the CPU it used meanwhile.
// Usage: access_log_peer_bench [--lines=N]   (default 1000000)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/mtail_peer.h"
#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace {

using namespace std::chrono_literals;
using nines::testing::Fetch;
using nines::testing::TempDir;

// The same histogram buckets for both.
constexpr const char* kBuckets = "0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10";

// N lines of the default format (combined + $request_time $upstream_response_time), varied.
std::string Lines(int count) {
  const char* paths[] = {"/", "/api/v1/items?id=42", "/static/app.js", "/login", "/health"};
  const int statuses[] = {200, 200, 200, 304, 404, 500, 201, 302};
  std::string text;
  text.reserve(static_cast<std::size_t>(count) * 170);
  char line[512];
  for (int i = 0; i < count; ++i) {
    int n = std::snprintf(
        line, sizeof line,
        "10.0.%d.%d - - [24/Nov/2026:10:00:%02d +0000] \"GET %s HTTP/1.1\" %d %d \"-\" "
        "\"Mozilla/5.0 (X11; Linux x86_64) bench/%d\" 0.%03d %s\n",
        i % 256, (i / 256) % 256, i % 60, paths[i % 5], statuses[i % 8], 100 + i % 9000, i % 7,
        i % 1000, i % 3 == 0 ? "-" : "0.004");
    text.append(line, static_cast<std::size_t>(n));
  }
  return text;
}

struct Figures {
  double seconds = 0;
  double cpu = 0;
  double counted = 0;
};

// Appends `text` to `log` and waits (at most 120 s) until `count()` reaches `lines`.
Figures Measure(pid_t pid, const std::filesystem::path& log, const std::string& text, int lines,
                const std::function<double()>& count) {
  Figures figures;
  double cpu_before = nines::testing::CpuSeconds(pid);
  auto start = std::chrono::steady_clock::now();
  {
    std::ofstream out(log, std::ios::app | std::ios::binary);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  while (std::chrono::steady_clock::now() - start < 120s) {
    figures.counted = count();
    if (figures.counted >= lines) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  figures.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  figures.cpu = nines::testing::CpuSeconds(pid) - cpu_before;
  return figures;
}

}  // namespace

int main(int argc, char** argv) {
  int lines = 1000000;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("--lines=")) {
      lines = std::stoi(arg.substr(8));
    } else {
      std::fprintf(stderr, "usage: access_log_peer_bench [--lines=N]\n");
      return 2;
    }
  }
  std::string text = Lines(lines);

  TempDir dir("nines-log-bench");
  std::filesystem::path nines_log = dir.WriteFile("nines.log", "");
  auto daemon = nines::testing::Daemon::Start(
      "nginx:\n  - name: bench\n    access_log: {path: " + nines_log.string() + ", buckets: [" +
      kBuckets + "]}\n");
  if (daemon == nullptr) {
    return 1;
  }
  std::this_thread::sleep_for(500ms);  // the follower has opened the file
  Figures ours = Measure(daemon->Child().pid(), nines_log, text, lines, [&] {
    return nines::testing::SumOfFamily(Fetch("GET", daemon->Url("/metrics")).body,
                                       "nines_log_lines_total");
  });
  daemon.reset();

  std::filesystem::path mtail_log = dir.WriteFile("mtail.log", "");
  auto mtail = nines::bench::StartMtail(dir, mtail_log);
  if (mtail == nullptr) {
    return 1;
  }
  std::this_thread::sleep_for(500ms);
  Figures theirs = Measure(mtail->process().pid(), mtail_log, text, lines, [&] {
    return nines::testing::SumOfFamily(
        Fetch("GET", mtail->Url("/metrics"), {}, {.timeout = 10s}).body, "requests_total");
  });

  auto rate = [](const Figures& f) { return f.counted / f.seconds; };
  auto per_cpu = [](const Figures& f) { return f.cpu > 0 ? f.counted / f.cpu : 0; };
  std::printf("%d default-format access-log lines appended to a followed file\n\n", lines);
  std::printf("%-30s %14s %14s %8s\n", "", "nines", "mtail", "ratio");
  std::printf("%-30s %14.0f %14.0f\n", "lines counted", ours.counted, theirs.counted);
  std::printf("%-30s %14.3f %14.3f %8.2f\n", "seconds until all counted", ours.seconds,
              theirs.seconds, theirs.seconds / ours.seconds);
  std::printf("%-30s %14.0f %14.0f %8.2f\n", "lines per second", rate(ours), rate(theirs),
              rate(ours) / rate(theirs));
  std::printf("%-30s %14.0f %14.0f %8.2f\n", "lines per CPU second", per_cpu(ours), per_cpu(theirs),
              per_cpu(ours) / per_cpu(theirs));
  std::printf("\ntarget: at least 5 times mtail's lines per second: %s\n",
              rate(ours) >= 5 * rate(theirs) ? "met" : "NOT met");
  return 0;
}
