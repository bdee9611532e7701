#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "exporter/status/history.h"
#include "exporter/status/view.h"
#include "exporter/web/server.h"

/// The status endpoints: `/` (the status page), `/api/v1/status` (the same as JSON),
/// `/badge/<probe>.svg?window=30d` (an uptime badge) and `/logs?probe=NAME`. Read-only
/// (GET, HEAD), never cached, gzipped when the client accepts it; the HTML pages carry a
/// Content-Security-Policy that allows nothing but their own stylesheet.
namespace nines::web {

/// Where the status endpoints take their data, at request time.
struct StatusSources {
  /// The whole view.
  std::function<status::StatusView()> view;
  /// One probe's view, or nullopt for a probe that is not configured.
  std::function<std::optional<status::ProbeView>(std::string_view)> probe;
  /// The recent results and failures behind `/logs`; must outlive the handlers.
  const status::History* history = nullptr;
};

/// `/`: the status page; `?refresh=N` (5 to 3600) adds a refresh every N seconds.
Handler StatusPageHandler(StatusSources sources, std::string telemetry_path);
/// `/api/v1/status`.
Handler StatusJsonHandler(StatusSources sources);
/// Routed at the prefix `/badge/`: `/badge/<probe>.svg`, `?window=` one of 1h, 24h, 7d,
/// 30d (the default) and 90d. 404 for an unknown probe, 400 for another window.
Handler BadgeHandler(StatusSources sources);
/// `/logs?probe=NAME`: 400 without a name, 404 for an unknown probe.
Handler LogsHandler(StatusSources sources, std::string telemetry_path);

}  // namespace nines::web
