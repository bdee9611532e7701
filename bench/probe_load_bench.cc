// The cost of continuous HTTP probing: nines running N probes at a 1 s interval against a
// local nginx, next to blackbox_exporter answering the same N probes a second on /probe
// (driven by this program at an even pace, the way Prometheus would scrape N targets).
// Prints CPU per core and per 1,000 probes for both, their ratio, and nines' scheduling
// delay (p50, p99, from its own nines_probe_scheduling_delay_seconds histogram). Usage:
//   probe_load_bench [--probes=N] [--seconds=S]   (defaults 500 and 30)
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "probes/event_loop.h"
#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace {

using namespace std::chrono_literals;
using nines::testing::BlackboxExporter;
using nines::testing::Daemon;
using nines::testing::Fetch;
using nines::testing::Nginx;

// The pid of the process listening behind `url`'s port is not known for blackbox, which
// is started by the Peer helper: find it by its command line instead.
pid_t PidOf(const std::string& needle) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(needle) != std::string::npos) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return 0;
}

struct Histogram {
  std::vector<std::pair<double, double>> buckets;  // (upper bound, cumulative count)
  double count = 0;
};

Histogram ReadHistogram(const std::string& page, const std::string& name) {
  Histogram histogram;
  auto families = nines::testing::ParseExposition(page);
  for (const auto& [key, sample] : families[name].samples) {
    auto le = sample.labels.find("le");
    if (le == sample.labels.end()) {
      continue;
    }
    double bound = le->second == "+Inf" ? HUGE_VAL : std::stod(le->second);
    histogram.buckets.emplace_back(bound, sample.value);
  }
  std::sort(histogram.buckets.begin(), histogram.buckets.end());
  if (!histogram.buckets.empty()) {
    histogram.count = histogram.buckets.back().second;
  }
  return histogram;
}

// histogram_quantile over the difference of two readings.
double Quantile(double q, const Histogram& before, const Histogram& after) {
  std::vector<std::pair<double, double>> delta;
  for (std::size_t i = 0; i < after.buckets.size(); ++i) {
    double earlier = i < before.buckets.size() ? before.buckets[i].second : 0;
    delta.emplace_back(after.buckets[i].first, after.buckets[i].second - earlier);
  }
  if (delta.empty() || delta.back().second <= 0) {
    return NAN;
  }
  double rank = q * delta.back().second;
  double lower = 0;
  double below = 0;
  for (const auto& [bound, cumulative] : delta) {
    if (cumulative >= rank) {
      if (std::isinf(bound)) {
        return lower;
      }
      return lower + (bound - lower) * (rank - below) / std::max(cumulative - below, 1.0);
    }
    lower = bound;
    below = cumulative;
  }
  return lower;
}

// Sends `rate` GET requests a second to `url_for(i)` for `duration`, evenly paced, from an
// event loop; returns the number answered with 200.
int DriveProbes(int rate, std::chrono::seconds duration,
                const std::function<std::string(int)>& url_for) {
  nines::probes::EventLoop loop;
  auto start = nines::probes::SteadyClock::now();
  auto gap = std::chrono::nanoseconds(1s) / rate;
  int total = rate * static_cast<int>(duration.count());
  int answered = 0;
  int finished = 0;
  std::vector<std::string> bodies(static_cast<std::size_t>(total));
  auto sink = +[](char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
  };
  for (int i = 0; i < total; ++i) {
    loop.AddTimer(start + gap * i, [&, i] {
      CURL* easy = curl_easy_init();
      std::string url = url_for(i);  // libcurl copies it
      curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
      curl_easy_setopt(easy, CURLOPT_PROXY, "");
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, sink);
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, &bodies[static_cast<std::size_t>(i)]);
      loop.AddTransfer(easy, [&, easy](CURLcode code) {
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        answered += code == CURLE_OK && status == 200 ? 1 : 0;
        curl_easy_cleanup(easy);
        if (++finished == total) {
          loop.Stop();
        }
      });
    });
  }
  loop.Run();
  return answered;
}

}  // namespace

int main(int argc, char** argv) {
  int probes = 500;
  int seconds = 30;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("--probes=")) {
      probes = std::stoi(arg.substr(9));
    } else if (arg.starts_with("--seconds=")) {
      seconds = std::stoi(arg.substr(10));
    } else {
      std::fprintf(stderr, "usage: probe_load_bench [--probes=N] [--seconds=S]\n");
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  auto nginx = Nginx::Start();
  if (nginx == nullptr) {
    return 1;
  }
  std::string config = "probes:\n";
  for (int i = 0; i < probes; ++i) {
    config += "  - {name: p" + std::to_string(i) + ", module: http_2xx, target: '" +
              nginx->Url("/?probe=" + std::to_string(i)) + "', interval: 1s, timeout: 900ms}\n";
  }
  auto daemon = Daemon::Start(config);
  if (daemon == nullptr) {
    return 1;
  }
  std::this_thread::sleep_for(3s);  // every probe has run at least twice
  std::string before = Fetch("GET", daemon->Url("/metrics")).body;
  double cpu_before = nines::testing::CpuSeconds(daemon->Child().pid());
  auto wall_before = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  double cpu_after = nines::testing::CpuSeconds(daemon->Child().pid());
  double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  std::string after = Fetch("GET", daemon->Url("/metrics")).body;

  double runs = nines::testing::SumOfFamily(after, "nines_probe_runs_total") -
                nines::testing::SumOfFamily(before, "nines_probe_runs_total");
  double failures = nines::testing::SumOfFamily(after, "nines_probe_failures_total") -
                    nines::testing::SumOfFamily(before, "nines_probe_failures_total");
  double skipped = nines::testing::SumOfFamily(after, "nines_probe_skipped_total") -
                   nines::testing::SumOfFamily(before, "nines_probe_skipped_total");
  Histogram delay_before = ReadHistogram(before, "nines_probe_scheduling_delay_seconds");
  Histogram delay_after = ReadHistogram(after, "nines_probe_scheduling_delay_seconds");
  double p50 = Quantile(0.5, delay_before, delay_after);
  double p99 = Quantile(0.99, delay_before, delay_after);
  double nines_cpu = cpu_after - cpu_before;
  daemon.reset();

  // blackbox_exporter probing the same targets at the same rate through /probe.
  auto blackbox = BlackboxExporter::Start(
      "modules:\n  http_2xx:\n    prober: http\n    http: {preferred_ip_protocol: ip4}\n");
  if (blackbox == nullptr) {
    return 1;
  }
  pid_t blackbox_pid = PidOf("blackbox.yml");
  double blackbox_cpu_before = nines::testing::CpuSeconds(blackbox_pid);
  auto blackbox_wall_before = std::chrono::steady_clock::now();
  int answered = DriveProbes(probes, std::chrono::seconds(seconds), [&](int i) {
    return blackbox->Url("/probe?module=http_2xx&target=" +
                         nginx->Url("/?probe=" + std::to_string(i % probes)));
  });
  double blackbox_cpu = nines::testing::CpuSeconds(blackbox_pid) - blackbox_cpu_before;
  double blackbox_wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - blackbox_wall_before)
          .count();

  double nines_per_1000 = runs > 0 ? nines_cpu / runs * 1000 : NAN;
  double blackbox_per_1000 = answered > 0 ? blackbox_cpu / answered * 1000 : NAN;
  std::printf("%d HTTP probes at a 1 s interval against nginx on 127.0.0.1, %d s measured\n\n",
              probes, seconds);
  std::printf("%-34s %14s %16s %8s\n", "", "nines", "blackbox /probe", "ratio");
  std::printf("%-34s %14.0f %16d\n", "probes run", runs, answered);
  std::printf("%-34s %13.1f%% %15.1f%% %8.2f\n", "CPU, % of one core", 100 * nines_cpu / wall,
              100 * blackbox_cpu / blackbox_wall,
              (nines_cpu / wall) / (blackbox_cpu / blackbox_wall));
  std::printf("%-34s %14.3f %16.3f %8.2f\n", "CPU seconds per 1,000 probes", nines_per_1000,
              blackbox_per_1000, nines_per_1000 / blackbox_per_1000);
  std::printf("%-34s %14.0f\n", "failed runs", failures + 0.0);  // never "-0"
  std::printf("%-34s %14.0f\n", "skipped runs", skipped);
  std::printf("%-34s %11.3f ms\n", "scheduling delay p50", p50 * 1000);
  std::printf("%-34s %11.3f ms\n", "scheduling delay p99", p99 * 1000);
  std::printf(
      "\ntargets: CPU per probe at most 0.25 times blackbox's: %s; scheduling delay p99 "
      "< 5 ms: %s\n",
      nines_per_1000 <= 0.25 * blackbox_per_1000 ? "met" : "NOT met",
      p99 < 0.005 ? "met" : "NOT met");
  curl_global_cleanup();
  return 0;
}
