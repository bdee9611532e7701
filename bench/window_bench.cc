// Micro benchmarks of the rolling windows: Add is on the access-log hot path (up to about a
// million events a second), Ratio and WindowSet::Ratios run at scrape time.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "exporter/slo/window.h"

namespace nines::slo {
namespace {

using namespace std::chrono_literals;

constexpr TimePoint kStart{std::chrono::seconds(1'704'067'200)};

// One event per microsecond, as at a million events a second: the 1.25s buckets of a 5m
// window roll over every 1.25 million Adds, the rest hit the fast path.
void BenchAddOne(benchmark::State& state) {
  RollingCounter counter(5min);
  TimePoint now = kStart;
  for (auto _ : state) {
    counter.Add(now, 1, 1);
    now += 1us;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BenchAddOne);

// 100 events in one call, all at the same time (a counted batch of log lines).
void BenchAddHundredCounted(benchmark::State& state) {
  RollingCounter counter(5min);
  TimePoint now = kStart;
  for (auto _ : state) {
    counter.Add(now, 97, 100);
    now += 100us;
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BenchAddHundredCounted);

// 100 events with their own times in one call (a parsed batch of log lines).
void BenchAddHundredBatch(benchmark::State& state) {
  RollingCounter counter(5min);
  std::vector<Event> batch(100);
  TimePoint now = kStart;
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i] = {now, i % 33 == 0 ? 0u : 1u, 1};
      now += 1us;
    }
    counter.Add(batch);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BenchAddHundredBatch);

// 100 separate Adds, for comparison with the batch.
void BenchAddHundredSingly(benchmark::State& state) {
  RollingCounter counter(5min);
  TimePoint now = kStart;
  for (auto _ : state) {
    for (int i = 0; i < 100; ++i) {
      counter.Add(now, i % 33 == 0 ? 0 : 1, 1);
      now += 1us;
    }
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BenchAddHundredSingly);

// A scrape-time read of a full 30d window, in the newest bucket (the common case).
void BenchRatio(benchmark::State& state) {
  RollingCounter counter(std::chrono::hours(24 * 30));
  TimePoint now = kStart;
  for (int i = 0; i < 30 * 24 * 4; ++i) {
    counter.Add(now, i % 100 == 0 ? 0 : 1, 1);
    now += 15min;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(counter.Ratio(now));
  }
}
BENCHMARK(BenchRatio);

// The same read after a gap of half the window: the worst case, O(N) stale buckets.
void BenchRatioAfterGap(benchmark::State& state) {
  RollingCounter counter(std::chrono::hours(24 * 30));
  TimePoint now = kStart;
  for (int i = 0; i < 30 * 24 * 4; ++i) {
    counter.Add(now, 1, 1);
    now += 15min;
  }
  const TimePoint read = now + std::chrono::hours(24 * 15);
  for (auto _ : state) {
    benchmark::DoNotOptimize(counter.Ratio(read));
  }
}
BENCHMARK(BenchRatioAfterGap);

// A probe's windows (5m, 1h, 1d, 7d, 30d): one result added, then a scrape's Ratios.
void BenchProbeWindowSetAddRatios(benchmark::State& state) {
  WindowSet set(WindowSet::ProbeWindows());
  TimePoint now = kStart;
  for (int i = 0; i < 30 * 24 * 60; ++i) {
    set.Add(now, 1, 1);
    now += 1min;
  }
  for (auto _ : state) {
    set.Add(now, 1, 1);
    benchmark::DoNotOptimize(set.Ratios(now));
    now += 15s;
  }
}
BENCHMARK(BenchProbeWindowSetAddRatios);

// The same set's Add alone, as the scheduler calls it after each run.
void BenchProbeWindowSetAdd(benchmark::State& state) {
  WindowSet set(WindowSet::ProbeWindows());
  TimePoint now = kStart;
  for (auto _ : state) {
    set.Add(now, 1, 1);
    now += 1us;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BenchProbeWindowSetAdd);

}  // namespace
}  // namespace nines::slo
