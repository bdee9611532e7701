#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "exporter/metrics/gatherer.h"
#include "exporter/web/server.h"

/// The daemon's built-in endpoints. Each factory returns a Handler for Server::Route.
namespace nines::web {

/// `/metrics`: every gathered family in the text format, gzip-compressed when the client
/// accepts it. GET and HEAD.
Handler MetricsHandler(const metrics::Gatherer& gatherer);

/// `/-/healthy`: 200 while the process serves HTTP. GET and HEAD.
Handler HealthyHandler();

/// `/-/ready`: 200 once `ready` is true (config loaded, serving), else 503. GET and HEAD.
Handler ReadyHandler(const std::atomic<bool>& ready);

/// `/-/reload`: POST runs `reload` (which returns the errors, empty on success) and answers
/// 200, or 500 with the errors; other methods get 405.
Handler ReloadHandler(std::function<std::vector<std::string>()> reload);

/// `/`: a small HTML page linking the other endpoints. GET and HEAD.
Handler LandingPageHandler(const std::string& telemetry_path);

/// Escapes text for HTML element content and attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace nines::web
