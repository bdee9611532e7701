// Cost of each host collector's Update() on this machine's real /proc and /sys, and of a
// whole host scrape (every default collector, gathered and rendered as text). Each
// benchmark runs the daemon's path (TextSink, TextFamilies, Gatherer::Render); the *Model
// variants run the older path through prometheus-cpp's model (MetricSink, RenderText) for
// comparison: both print the same bytes.
#include <benchmark/benchmark.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "collectors/host_collector.h"
#include "collectors/process.h"
#include "collectors/registry.h"
#include "collectors/text_families.h"
#include "collectors/text_sink.h"
#include "exporter/config/loader.h"
#include "exporter/metrics/gatherer.h"
#include "exporter/metrics/probe_metrics.h"
#include "exporter/metrics/self_metrics.h"
#include "exporter/metrics/text_format.h"

namespace {

using nines::collectors::AllCollectors;
using nines::collectors::CollectorOptions;
using nines::collectors::CollectorSpec;
using nines::collectors::MetricSink;
using nines::collectors::TextFamilies;
using nines::collectors::TextSink;

std::vector<std::string> AllNames() {
  std::vector<std::string> names;
  for (const CollectorSpec& spec : AllCollectors()) {
    names.emplace_back(spec.name);
  }
  return names;
}

void CollectorUpdate(benchmark::State& state, const CollectorSpec* spec) {
  CollectorOptions options;
  auto collector = spec->factory(options);
  for (auto _ : state) {
    TextFamilies families;
    TextSink sink(families);
    collector->Update(sink);
    benchmark::DoNotOptimize(families);
  }
}

void CollectorUpdateModel(benchmark::State& state, const CollectorSpec* spec) {
  CollectorOptions options;
  auto collector = spec->factory(options);
  for (auto _ : state) {
    MetricSink sink;
    collector->Update(sink);
    benchmark::DoNotOptimize(sink.Take());
  }
}

void HostScrape(benchmark::State& state) {
  CollectorOptions options;
  nines::collectors::HostCollector host(nines::collectors::BuildCollectors(AllNames(), options));
  std::size_t bytes = 0;
  for (auto _ : state) {
    TextFamilies families;
    host.CollectText(families);
    std::string page = families.Render();
    bytes = page.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["page_bytes"] = static_cast<double>(bytes);
}

void HostScrapeModel(benchmark::State& state) {
  CollectorOptions options;
  nines::collectors::HostCollector host(nines::collectors::BuildCollectors(AllNames(), options));
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto families = host.Collect();
    std::stable_sort(families.begin(), families.end(),
                     [](const auto& a, const auto& b) { return a.name < b.name; });
    std::string page = nines::metrics::RenderText(families);
    bytes = page.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["page_bytes"] = static_cast<double>(bytes);
}

void ProcessScrape(benchmark::State& state) {
  nines::collectors::ProcessCollector process;
  for (auto _ : state) {
    benchmark::DoNotOptimize(process.Collect());
  }
}

// The whole /metrics page as the daemon gathers it, without HTTP: the registry, one probe's
// series, the process collector and every default host collector.
class MetricsPageSources {
 public:
  MetricsPageSources() {
    auto registry = std::make_shared<prometheus::Registry>();
    self_ = std::make_unique<nines::metrics::SelfMetrics>(*registry);
    auto probes = std::make_shared<nines::metrics::ProbeMetrics>();
    auto config = nines::config::LoadConfigText(
        "probes: [{name: web, module: http_2xx, target: 'http://127.0.0.1:9/'}]\n", "bench");
    probes->SetProbes(config.config->probes);
    nines::probes::ProbeResult result;
    result.success = true;
    result.status_code = 200;
    probes->Record("web", result);
    CollectorOptions options;
    gatherer.Add(registry);
    gatherer.Add(probes);
    gatherer.Add(std::make_shared<nines::collectors::ProcessCollector>());
    gatherer.Add(std::make_shared<nines::collectors::HostCollector>(
        nines::collectors::BuildCollectors(AllNames(), options)));
  }

  nines::metrics::Gatherer gatherer;

 private:
  std::unique_ptr<nines::metrics::SelfMetrics> self_;
};

void MetricsPage(benchmark::State& state) {
  MetricsPageSources sources;
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string page = sources.gatherer.Render();
    bytes = page.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["page_bytes"] = static_cast<double>(bytes);
}

void MetricsPageModel(benchmark::State& state) {
  MetricsPageSources sources;
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string page = nines::metrics::RenderText(sources.gatherer.Gather());
    bytes = page.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["page_bytes"] = static_cast<double>(bytes);
}

void Register() {
  for (const CollectorSpec& spec : AllCollectors()) {
    benchmark::RegisterBenchmark(("BM_CollectorUpdate/" + std::string(spec.name)).c_str(),
                                 CollectorUpdate, &spec);
    benchmark::RegisterBenchmark(("BM_CollectorUpdateModel/" + std::string(spec.name)).c_str(),
                                 CollectorUpdateModel, &spec);
  }
  benchmark::RegisterBenchmark("BM_HostScrape", HostScrape);
  benchmark::RegisterBenchmark("BM_HostScrapeModel", HostScrapeModel);
  benchmark::RegisterBenchmark("BM_ProcessCollector", ProcessScrape);
  benchmark::RegisterBenchmark("BM_MetricsPage", MetricsPage);
  benchmark::RegisterBenchmark("BM_MetricsPageModel", MetricsPageModel);
}

}  // namespace

int main(int argc, char** argv) {
  Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
