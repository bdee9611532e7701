// Cost of each host collector's Update() on this machine's real /proc and /sys, and of a
// whole host scrape (every default collector, gathered and rendered as text).
#include <benchmark/benchmark.h>

#include "collectors/host_collector.h"
#include "collectors/registry.h"
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

void Register() {
  for (const CollectorSpec& spec : AllCollectors()) {
    benchmark::RegisterBenchmark(("BM_CollectorUpdate/" + std::string(spec.name)).c_str(),
                                 CollectorUpdate, &spec);
  }
  benchmark::RegisterBenchmark("BM_HostScrape", HostScrape);
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
