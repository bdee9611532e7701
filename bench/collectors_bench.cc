// Cost of each host collector's Update() on this machine's real /proc and /sys, and of a
// whole host scrape (every default collector, gathered and rendered as text).
#include <benchmark/benchmark.h>
#include <prometheus/registry.h>

#include "collectors/host_collector.h"
#include "collectors/process.h"
#include "collectors/registry.h"
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

void CollectorUpdate(benchmark::State& state, const CollectorSpec* spec) {
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
  std::vector<std::string> names;
  for (const CollectorSpec& spec : AllCollectors()) {
    names.emplace_back(spec.name);
  }
  nines::collectors::HostCollector host(nines::collectors::BuildCollectors(names, options));
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string page = nines::metrics::RenderText(host.Collect());
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
void MetricsPage(benchmark::State& state) {
  auto registry = std::make_shared<prometheus::Registry>();
  nines::metrics::SelfMetrics self(*registry);
  auto probes = std::make_shared<nines::metrics::ProbeMetrics>();
  auto config = nines::config::LoadConfigText(
      "probes: [{name: web, module: http_2xx, target: 'http://127.0.0.1:9/'}]\n", "bench");
  probes->SetProbes(config.config->probes);
  nines::probes::ProbeResult result;
  result.success = true;
  result.status_code = 200;
  probes->Record("web", result);
  std::vector<std::string> names;
  for (const CollectorSpec& spec : AllCollectors()) {
    names.emplace_back(spec.name);
  }
  CollectorOptions options;
  nines::metrics::Gatherer gatherer;
  gatherer.Add(registry);
  gatherer.Add(probes);
  gatherer.Add(std::make_shared<nines::collectors::ProcessCollector>());
  gatherer.Add(std::make_shared<nines::collectors::HostCollector>(
      nines::collectors::BuildCollectors(names, options)));
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string page = gatherer.Render();
    bytes = page.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["page_bytes"] = static_cast<double>(bytes);
}

void Register() {
  for (const CollectorSpec& spec : AllCollectors()) {
    benchmark::RegisterBenchmark(("BM_CollectorUpdate/" + std::string(spec.name)).c_str(),
                                 CollectorUpdate, &spec);
  }
  benchmark::RegisterBenchmark("BM_HostScrape", HostScrape);
  benchmark::RegisterBenchmark("BM_ProcessCollector", ProcessScrape);
  benchmark::RegisterBenchmark("BM_MetricsPage", MetricsPage);
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
