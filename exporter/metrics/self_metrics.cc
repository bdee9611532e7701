#include "exporter/metrics/self_metrics.h"

#include "exporter/version.h"

namespace nines::metrics {

SelfMetrics::SelfMetrics(prometheus::Registry& registry)
    : reload_successful_(prometheus::BuildGauge()
                             .Name("nines_config_last_reload_successful")
                             .Help("Whether the last configuration reload attempt was successful.")
                             .Register(registry)
                             .Add({})),
      reload_success_timestamp_(prometheus::BuildGauge()
                                    .Name("nines_config_last_reload_success_timestamp_seconds")
                                    .Help("Timestamp of the last successful configuration reload.")
                                    .Register(registry)
                                    .Add({})) {
  prometheus::BuildGauge()
      .Name("nines_build_info")
      .Help(
          "A metric with a constant '1' value labeled by the version and revision from which "
          "nines was built.")
      .Register(registry)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
}

void SelfMetrics::ReloadSucceeded(std::chrono::system_clock::time_point when) {
  reload_successful_.Set(1);
  reload_success_timestamp_.Set(std::chrono::duration<double>(when.time_since_epoch()).count());
}

void SelfMetrics::ReloadFailed() { reload_successful_.Set(0); }

}  // namespace nines::metrics
