#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "exporter/config/config.h"
#include "exporter/metrics/probe_metrics.h"
#include "exporter/metrics/self_metrics.h"
#include "exporter/slo/slo_engine.h"
#include "exporter/status/history.h"
#include "exporter/status/traffic.h"
#include "exporter/status/view.h"

namespace nines::daemon {

/// Takes the status view (exporter/status/view.h) from the running parts of the daemon.
/// Every part is read under its own lock, so a view is consistent per probe, not across
/// probes. Thread safe; the parts must outlive it.
class StatusViewBuilder {
 public:
  struct Parts {
    std::function<std::shared_ptr<const config::Config>()> config;
    const metrics::ProbeMetrics* probe_metrics = nullptr;
    const status::History* history = nullptr;
    const slo::SloEngine* slos = nullptr;
    const status::Traffic* traffic = nullptr;
    const metrics::SelfMetrics* self = nullptr;
    double started_seconds = 0;
  };

  explicit StatusViewBuilder(Parts parts) : parts_(std::move(parts)) {}

  status::StatusView Build() const;
  /// One configured probe's view, or nullopt.
  std::optional<status::ProbeView> Probe(std::string_view name) const;

 private:
  status::ProbeView BuildProbe(const config::Probe& probe) const;

  Parts parts_;
};

}  // namespace nines::daemon
