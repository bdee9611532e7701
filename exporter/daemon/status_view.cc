#include "exporter/daemon/status_view.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "exporter/version.h"

namespace nines::daemon {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Ratio(const std::vector<slo::NamedRatio>& ratios, std::string_view name) {
  for (const slo::NamedRatio& ratio : ratios) {
    if (ratio.name == name) {
      return ratio.ratio;
    }
  }
  return kNaN;
}

double Seconds(status::TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

status::ProbeView StatusViewBuilder::BuildProbe(const config::Probe& probe) const {
  status::ProbeView view;
  view.name = probe.name;
  view.kind = std::string(probes::ProbeKindName(probe.module.prober));
  view.target = probe.target;
  const status::TimePoint now = parts_.history->Now();
  double ninety_days = kNaN;
  parts_.history->Read(probe.name, [&](const status::ProbeHistory& history) {
    view.days = history.Days(now);
    view.latency = history.Latency(now);
    std::vector<status::RunRecord> recent = history.RecentResults();
    if (!recent.empty()) {
      view.last_run = recent.front();
    }
    std::vector<status::RunRecord> failures = history.RecentFailures();
    if (!failures.empty()) {
      view.last_failure = failures.front();
    }
    ninety_days = history.Availability(now, 90);
  });
  std::optional<metrics::ProbeMetrics::Status> status = parts_.probe_metrics->StatusOf(probe.name);
  std::vector<slo::NamedRatio> ratios;
  if (status) {
    ratios = status->availability;
    view.cert_expiry_seconds = status->leaf_cert_expiry_seconds;
    if (!status->up) {
      view.state = status::ProbeState::kUnknown;
    } else if (!*status->up) {
      view.state = status::ProbeState::kDown;
    } else if (view.last_run && !view.last_run->success) {
      view.state = status::ProbeState::kFailing;
    } else {
      view.state = status::ProbeState::kUp;
    }
  }
  view.uptime = {{"1h", Ratio(ratios, "1h")},
                 {"24h", Ratio(ratios, "1d")},
                 {"7d", Ratio(ratios, "7d")},
                 {"30d", Ratio(ratios, "30d")},
                 {"90d", ninety_days}};
  return view;
}

status::StatusView StatusViewBuilder::Build() const {
  status::StatusView view;
  view.version = kVersion;
  view.now_seconds = Seconds(parts_.history->Now());
  view.started_seconds = parts_.started_seconds;
  view.last_reload_successful = parts_.self->LastReloadSuccessful();
  view.last_reload_seconds = parts_.self->LastReloadSuccessSeconds();
  std::shared_ptr<const config::Config> config = parts_.config();
  if (config == nullptr) {
    return view;
  }
  for (const config::Probe& probe : config->probes) {
    view.probes.push_back(BuildProbe(probe));
  }
  view.slos = parts_.slos->Views();
  for (const config::Nginx& nginx : config->nginx) {
    if (std::optional<status::Traffic::Rates> rates = parts_.traffic->Read(nginx.name)) {
      view.nginx.push_back({nginx.name, rates->requests_per_second, rates->error_ratio});
    }
  }
  return view;
}

std::optional<status::ProbeView> StatusViewBuilder::Probe(std::string_view name) const {
  std::shared_ptr<const config::Config> config = parts_.config();
  if (config == nullptr) {
    return std::nullopt;
  }
  for (const config::Probe& probe : config->probes) {
    if (probe.name == name) {
      return BuildProbe(probe);
    }
  }
  return std::nullopt;
}

}  // namespace nines::daemon
