// Memory of one nines doing the jobs of four peers, next to the four peers doing them:
//  - host metrics: node_exporter with nines' default collectors and excludes;
//  - probing: blackbox_exporter asked for N HTTP probes a second on /probe (as Prometheus
//    would scrape N targets), nines running the same N probes every second itself;
//  - nginx: nginx-prometheus-exporter reading stub_status, nines reading it too;
//  - access log: mtail following nginx's access log with a counter by status and a latency
//    histogram, nines following the same file.
// Everything talks to one local nginx. Every exporter is scraped once a second for the
// whole run; then RSS and PSS are read from /proc/PID/smaps_rollup. Usage:
//   memory_bench [--probes=N] [--seconds=S]   (defaults 20 and 30)
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/mtail_peer.h"
#include "bench/node_exporter_peer.h"
#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace {

using namespace std::chrono_literals;
using nines::testing::Fetch;
using nines::testing::Peer;
using nines::testing::TempDir;

// Rss and Pss of a process in kB, from /proc/PID/smaps_rollup; -1 when unreadable.
struct Memory {
  double rss_kb = -1;
  double pss_kb = -1;
};

Memory ReadMemory(pid_t pid) {
  Memory memory;
  std::ifstream file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  double value = 0;
  std::string unit;
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream fields(line);
    if (!(fields >> key >> value)) {
      continue;
    }
    if (key == "Rss:") {
      memory.rss_kb = value;
    } else if (key == "Pss:") {
      memory.pss_kb = value;
    }
  }
  return memory;
}

std::string ProbeTarget(const nines::testing::Nginx& nginx, int i) {
  return nginx.Url("/probe-" + std::to_string(i));
}

}  // namespace

int main(int argc, char** argv) {
  int probes = 20;
  int seconds = 30;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("--probes=")) {
      probes = std::stoi(arg.substr(9));
    } else if (arg.starts_with("--seconds=")) {
      seconds = std::stoi(arg.substr(10));
    } else {
      std::fprintf(stderr, "usage: memory_bench [--probes=N] [--seconds=S]\n");
      return 2;
    }
  }
  if (probes < 1 || probes > 1000 || seconds < 5 || seconds > 600) {
    std::fprintf(stderr, "memory_bench: --probes must be 1..1000 and --seconds 5..600\n");
    return 2;
  }

  TempDir dir("nines-memory-bench");
  const std::filesystem::path log = dir.path() / "access.log";
  auto nginx =
      nines::testing::Nginx::Start("access_log " + log.string() +
                                   " nines_default;\n"
                                   "location = /stub_status { access_log off; stub_status; }\n"
                                   "location / { return 200 \"ok\\n\"; }\n");
  if (nginx == nullptr) {
    return 1;
  }

  // nines doing all four jobs.
  std::string config = "probes:\n";
  for (int i = 0; i < probes; ++i) {
    config += "  - name: web-" + std::to_string(i) +
              "\n    prober: http\n    target: " + ProbeTarget(*nginx, i) +
              "\n    interval: 1s\n    timeout: 900ms\n";
  }
  config += "nginx:\n  - name: web\n    stub_status: " + nginx->Url("/stub_status") +
            "\n    access_log: {path: " + log.string() + "}\n";
  auto nines = nines::testing::Daemon::Start(config);
  if (nines == nullptr) {
    return 1;
  }

  // The four peers.
  auto node_exporter = Peer::Start("node_exporter", nines::bench::NodeExporterArgv, "/metrics");
  auto blackbox = nines::testing::BlackboxExporter::Start(
      "modules:\n  http_2xx:\n    prober: http\n    timeout: 900ms\n");
  const std::string stub_status = nginx->Url("/stub_status");
  auto nginx_exporter = nines::testing::StartNginxExporter(stub_status);
  auto mtail = nines::bench::StartMtail(dir, log);
  if (node_exporter == nullptr || blackbox == nullptr || nginx_exporter == nullptr ||
      mtail == nullptr) {
    return 1;
  }

  // Prometheus's part, once a second: scrape every exporter and ask blackbox for every
  // target.
  std::printf("running for %d s: %d probes a second each, every exporter scraped each second\n",
              seconds, probes);
  std::fflush(stdout);
  auto next = std::chrono::steady_clock::now();
  for (int second = 0; second < seconds; ++second) {
    Fetch("GET", nines->Url("/metrics"));
    Fetch("GET", node_exporter->Url("/metrics"));
    Fetch("GET", nginx_exporter->Url("/metrics"));
    Fetch("GET", mtail->Url("/metrics"));
    for (int i = 0; i < probes; ++i) {
      Fetch("GET", blackbox->Url("/probe?module=http_2xx&target=" + ProbeTarget(*nginx, i)));
    }
    next += 1s;
    std::this_thread::sleep_until(next);
  }

  struct Row {
    std::string name;
    Memory memory;
  };
  const Memory ours = ReadMemory(nines->Child().pid());
  const std::vector<Row> peers = {
      {"node_exporter", ReadMemory(node_exporter->process().pid())},
      {"blackbox_exporter", ReadMemory(blackbox->Pid())},
      {"nginx-prometheus-exporter", ReadMemory(nginx_exporter->process().pid())},
      {"mtail", ReadMemory(mtail->process().pid())},
  };
  Memory sum{0, 0};
  std::printf("\n%-28s %10s %10s\n", "process", "RSS MiB", "PSS MiB");
  for (const Row& row : peers) {
    if (row.memory.rss_kb < 0 || row.memory.pss_kb < 0) {
      std::fprintf(stderr, "memory_bench: cannot read the memory of %s\n", row.name.c_str());
      return 1;
    }
    sum.rss_kb += row.memory.rss_kb;
    sum.pss_kb += row.memory.pss_kb;
    std::printf("%-28s %10.1f %10.1f\n", row.name.c_str(), row.memory.rss_kb / 1024.0,
                row.memory.pss_kb / 1024.0);
  }
  std::printf("%-28s %10.1f %10.1f\n", "the four peers together", sum.rss_kb / 1024.0,
              sum.pss_kb / 1024.0);
  std::printf("%-28s %10.1f %10.1f\n", "nines doing all four jobs", ours.rss_kb / 1024.0,
              ours.pss_kb / 1024.0);
  const double pss_ratio = ours.pss_kb / sum.pss_kb;
  const double rss_vs_node = ours.rss_kb / peers[0].memory.rss_kb;
  std::printf("\nnines PSS / the four peers' PSS: %.2f (target <= 0.25: %s)\n", pss_ratio,
              pss_ratio <= 0.25 ? "met" : "NOT met");
  std::printf("nines RSS / node_exporter's RSS alone: %.2f (target < 1: %s)\n", rss_vs_node,
              rss_vs_node < 1 ? "met" : "NOT met");
  return 0;
}
