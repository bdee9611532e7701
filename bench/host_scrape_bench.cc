// Side-by-side scrape cost of the host collectors: nines vs the Debian node_exporter with
// the same collectors, both on loopback ports, scraped alternately over keep-alive
// connections. Prints mean, p50, p99 and the ratio of the scrape times, and the CPU time
// each process used per scrape. Usage:
//   host_scrape_bench [--scrapes=N] [--gzip]
// --scrapes: per exporter, default 1000, at least 500. --gzip: both are asked for gzip
// (`Accept-Encoding: gzip`, as Prometheus asks), and the compressed bodies are timed as
// received, without decoding them; without it neither compresses.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "bench/node_exporter_peer.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace {

using namespace std::chrono_literals;
using nines::testing::Fetch;
using nines::testing::FreePort;
using nines::testing::Process;
using nines::testing::ProcessOptions;

std::size_t CountSeries(const std::string& page) {
  std::size_t series = 0;
  std::size_t start = 0;
  while (start < page.size()) {
    std::size_t end = page.find('\n', start);
    if (end == std::string::npos) {
      end = page.size();
    }
    if (end > start && page[start] != '#') {
      ++series;
    }
    start = end + 1;
  }
  return series;
}

size_t Discard(char* /*data*/, size_t size, size_t count, void* sink) {
  *static_cast<std::size_t*>(sink) += size * count;
  return size * count;
}

// One keep-alive connection, timing whole GET requests.
class Scraper {
 public:
  Scraper(std::string url, bool gzip) : url_(std::move(url)), curl_(curl_easy_init()) {
    curl_easy_setopt(curl_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &bytes_);
    curl_easy_setopt(curl_, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 10000L);
    if (gzip) {
      // A plain header rather than CURLOPT_ACCEPT_ENCODING: libcurl would then also
      // inflate the body, which is the client's cost, not the exporter's.
      headers_ = curl_slist_append(headers_, "Accept-Encoding: gzip");
      curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    }
  }
  ~Scraper() {
    curl_easy_cleanup(curl_);
    curl_slist_free_all(headers_);
  }
  Scraper(const Scraper&) = delete;
  Scraper& operator=(const Scraper&) = delete;

  // Seconds one scrape took, or a negative number when it failed.
  double Scrape() {
    auto start = std::chrono::steady_clock::now();
    CURLcode code = curl_easy_perform(curl_);
    auto end = std::chrono::steady_clock::now();
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK || status != 200) {
      return -1;
    }
    return std::chrono::duration<double>(end - start).count();
  }

 private:
  std::string url_;
  CURL* curl_;
  curl_slist* headers_ = nullptr;
  std::size_t bytes_ = 0;
};

struct Stats {
  double mean = 0;
  double p50 = 0;
  double p99 = 0;
};

Stats Summarize(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  Stats stats;
  stats.mean =
      std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  stats.p50 = samples[samples.size() / 2];
  stats.p99 = samples[std::min(samples.size() - 1, samples.size() * 99 / 100)];
  return stats;
}

bool WaitForOk(const std::string& url) {
  for (int i = 0; i < 100; ++i) {
    if (Fetch("GET", url).status == 200) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  int scrapes = 1000;
  bool gzip = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("--scrapes=")) {
      scrapes = std::max(500, std::stoi(arg.substr(10)));
    } else if (arg == "--gzip") {
      gzip = true;
    } else {
      std::fprintf(stderr, "usage: host_scrape_bench [--scrapes=N] [--gzip]\n");
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int exporter_port = FreePort();
  std::vector<std::string> exporter_argv = nines::bench::NodeExporterArgv(exporter_port);
  int nines_port = FreePort();
  // Host collectors only: a config without probes (the built-in one probes nines itself).
  nines::testing::TempDir dir("nines-bench");
  std::filesystem::path config = dir.WriteFile("nines.yml", "probes: []\n");
  std::vector<std::string> nines_argv = {
      NINES_BINARY, "--web.listen-address=127.0.0.1:" + std::to_string(nines_port),
      "--config.file=" + config.string(), "--collector.disable-defaults", "--log.level=warn"};
  for (std::string_view name : nines::bench::kHostCollectors) {
    nines_argv.push_back("--collector." + std::string(name));
  }
  Process exporter(ProcessOptions{.argv = exporter_argv});
  Process nines(ProcessOptions{.argv = nines_argv});
  std::string exporter_url = "http://127.0.0.1:" + std::to_string(exporter_port) + "/metrics";
  std::string nines_url = "http://127.0.0.1:" + std::to_string(nines_port) + "/metrics";
  if (!WaitForOk(exporter_url) || !WaitForOk(nines_url)) {
    std::fprintf(stderr, "a server did not start\n%s\n%s\n", exporter.Describe().c_str(),
                 nines.Describe().c_str());
    return 1;
  }
  std::size_t exporter_series = CountSeries(Fetch("GET", exporter_url).body);
  std::size_t nines_series = CountSeries(Fetch("GET", nines_url).body);

  Scraper exporter_scraper(exporter_url, gzip);
  Scraper nines_scraper(nines_url, gzip);
  for (int i = 0; i < 50; ++i) {  // warm up both
    exporter_scraper.Scrape();
    nines_scraper.Scrape();
  }
  // CPU time covers what a scrape leaves behind too (node_exporter's garbage collection).
  const double exporter_cpu_start = nines::testing::CpuSeconds(exporter.pid());
  const double nines_cpu_start = nines::testing::CpuSeconds(nines.pid());
  std::vector<double> exporter_times;
  std::vector<double> nines_times;
  exporter_times.reserve(static_cast<std::size_t>(scrapes));
  nines_times.reserve(static_cast<std::size_t>(scrapes));
  for (int i = 0; i < scrapes; ++i) {  // alternate so both see the same machine state
    double a = exporter_scraper.Scrape();
    double b = nines_scraper.Scrape();
    if (a < 0 || b < 0) {
      std::fprintf(stderr, "scrape %d failed\n", i);
      return 1;
    }
    exporter_times.push_back(a);
    nines_times.push_back(b);
  }
  const double exporter_cpu =
      (nines::testing::CpuSeconds(exporter.pid()) - exporter_cpu_start) / scrapes;
  const double nines_cpu = (nines::testing::CpuSeconds(nines.pid()) - nines_cpu_start) / scrapes;
  Stats theirs = Summarize(exporter_times);
  Stats ours = Summarize(nines_times);
  std::printf("host collectors (%zu), %d scrapes each, alternating, keep-alive, loopback, %s\n",
              nines::bench::kHostCollectors.size(), scrapes, gzip ? "gzip" : "no gzip");
  std::printf("%-14s %9s %10s %10s %10s %10s\n", "", "series", "mean ms", "p50 ms", "p99 ms",
              "cpu ms");
  std::printf("%-14s %9zu %10.3f %10.3f %10.3f %10.3f\n", "node_exporter", exporter_series,
              theirs.mean * 1e3, theirs.p50 * 1e3, theirs.p99 * 1e3, exporter_cpu * 1e3);
  std::printf("%-14s %9zu %10.3f %10.3f %10.3f %10.3f\n", "nines", nines_series, ours.mean * 1e3,
              ours.p50 * 1e3, ours.p99 * 1e3, nines_cpu * 1e3);
  std::printf("%-14s %9s %10.2f %10.2f %10.2f %10.2f\n", "nines/node_exp", "",
              ours.mean / theirs.mean, ours.p50 / theirs.p50, ours.p99 / theirs.p99,
              nines_cpu / exporter_cpu);
  const bool met = ours.mean <= 0.2 * theirs.mean && ours.p99 <= 0.2 * theirs.p99;
  std::printf("\ntarget: mean and p99 scrape time at most 0.2 times node_exporter's: %s\n",
              met ? "met" : "NOT met");
  curl_global_cleanup();
  return 0;
}
