// How much of the duration nines reports for an HTTP probe is nines itself: the same GET
// of a local nginx page timed by libcurl in this program (a new connection each time, as
// a probe makes) and by nines' /probe (probe_duration_seconds), alternately, N times each;
// blackbox_exporter's /probe is measured the same way for comparison. Prints the medians
// and p99s and each exporter's overhead over the bare request, in microseconds. Usage:
//   probe_accuracy_bench [--requests=N]   (default 500)
#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/nines_daemon.h"
#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

namespace {

using nines::testing::Fetch;

// The value of the gauge `name` on an exposition page; NaN when absent.
double Gauge(const std::string& page, const std::string& name) {
  const auto families = nines::testing::ParseExposition(page);  // owns what FindSample returns
  const nines::testing::Sample* sample = nines::testing::FindSample(families, name, {});
  return sample == nullptr ? NAN : sample->value;
}

// One GET of `url` on a new connection, timed by libcurl (CURLINFO_TOTAL_TIME_T); NaN on
// failure.
double CurlSeconds(const std::string& url) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    return NAN;
  }
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(
      curl.get(), CURLOPT_WRITEFUNCTION,
      +[](char*, std::size_t size, std::size_t count, void*) { return size * count; });
  if (curl_easy_perform(curl.get()) != CURLE_OK) {
    return NAN;
  }
  curl_off_t micros = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_TOTAL_TIME_T, &micros);
  return static_cast<double>(micros) / 1e6;
}

double Quantile(std::vector<double> values, double q) {
  std::erase_if(values, [](double v) { return std::isnan(v); });
  if (values.empty()) {
    return NAN;
  }
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  int requests = 500;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("--requests=")) {
      requests = std::stoi(arg.substr(11));
    } else {
      std::fprintf(stderr, "usage: probe_accuracy_bench [--requests=N]\n");
      return 2;
    }
  }
  if (requests < 10 || requests > 100000) {
    std::fprintf(stderr, "probe_accuracy_bench: --requests must be 10..100000\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_ALL);
  auto nginx = nines::testing::Nginx::Start();
  auto nines = nines::testing::Daemon::Start("{}\n");
  auto blackbox = nines::testing::BlackboxExporter::Start(
      "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n");
  if (nginx == nullptr || nines == nullptr || blackbox == nullptr) {
    return 1;
  }
  const std::string target = nginx->Url("/");
  const std::string query = "/probe?module=http_2xx&target=" + target;

  std::vector<double> bare;
  std::vector<double> ours;
  std::vector<double> theirs;
  for (int i = 0; i < requests; ++i) {
    bare.push_back(CurlSeconds(target));
    ours.push_back(Gauge(Fetch("GET", nines->Url(query)).body, "probe_duration_seconds"));
    theirs.push_back(Gauge(Fetch("GET", blackbox->Url(query)).body, "probe_duration_seconds"));
  }

  auto us = [](double seconds) { return seconds * 1e6; };
  const double bare_p50 = Quantile(bare, 0.5);
  const double bare_p99 = Quantile(bare, 0.99);
  std::printf("GET %s, %d times each, alternating; new connection every time\n\n", target.c_str(),
              requests);
  std::printf("%-34s %12s %12s %18s\n", "", "p50 us", "p99 us", "p50 overhead us");
  std::printf("%-34s %12.0f %12.0f\n", "libcurl in this program", us(bare_p50), us(bare_p99));
  for (const auto& [name, values] : std::map<std::string, const std::vector<double>*>{
           {"nines /probe duration", &ours}, {"blackbox /probe duration", &theirs}}) {
    const double p50 = Quantile(*values, 0.5);
    std::printf("%-34s %12.0f %12.0f %18.0f\n", name.c_str(), us(p50), us(Quantile(*values, 0.99)),
                us(p50 - bare_p50));
  }
  curl_global_cleanup();
  return 0;
}
