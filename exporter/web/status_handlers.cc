#include "exporter/web/status_handlers.h"

#include <utility>
#include <vector>

#include "exporter/web/gzip.h"
#include "exporter/web/probe_handler.h"
#include "exporter/web/status_page.h"

namespace nines::web {
namespace {

constexpr const char* kReadOnlyMethods = "GET, HEAD";

bool IsReadOnly(const Request& request) {
  return request.method == "GET" || request.method == "HEAD";
}

// A successful answer with the headers every status endpoint sends.
Response Answer(const Request& request, std::string content_type, std::string body,
                const std::string& policy) {
  Response response;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  response.headers.emplace_back("Content-Security-Policy", policy);
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("Vary", "Accept-Encoding");
  if (AcceptsGzip(request.accept_encoding)) {
    response.body = Gzip(response.body);
    response.headers.emplace_back("Content-Encoding", "gzip");
  }
  return response;
}

// The page options from `?refresh=`, or an error response for a bad value.
std::optional<Response> ReadOptions(const std::vector<std::pair<std::string, std::string>>& query,
                                    const std::string& telemetry_path, StatusPageOptions* options) {
  options->telemetry_path = telemetry_path;
  const std::string refresh = QueryValue(query, "refresh");
  if (refresh.empty()) {
    return std::nullopt;
  }
  std::optional<int> seconds = ParseRefreshSeconds(refresh);
  if (!seconds) {
    return Response::Text(400, "refresh must be a number of seconds from " +
                                   std::to_string(kMinRefreshSeconds) + " to " +
                                   std::to_string(kMaxRefreshSeconds) + "\n");
  }
  options->refresh_seconds = *seconds;
  return std::nullopt;
}

}  // namespace

Handler StatusPageHandler(StatusSources sources, std::string telemetry_path) {
  return [sources = std::move(sources), telemetry_path = std::move(telemetry_path),
          policy = StatusPageContentSecurityPolicy()](const Request& request) {
    if (!IsReadOnly(request)) {
      return Response::MethodNotAllowed(kReadOnlyMethods);
    }
    StatusPageOptions options;
    if (auto error = ReadOptions(ParseQuery(request.query), telemetry_path, &options)) {
      return *error;
    }
    return Answer(request, "text/html; charset=utf-8", RenderStatusPage(sources.view(), options),
                  policy);
  };
}

Handler StatusJsonHandler(StatusSources sources) {
  return [sources = std::move(sources)](const Request& request) {
    if (!IsReadOnly(request)) {
      return Response::MethodNotAllowed(kReadOnlyMethods);
    }
    return Answer(request, "application/json", RenderStatusJson(sources.view()),
                  "default-src 'none'; frame-ancestors 'none'");
  };
}

Handler BadgeHandler(StatusSources sources) {
  return [sources = std::move(sources)](const Request& request) {
    if (!IsReadOnly(request)) {
      return Response::MethodNotAllowed(kReadOnlyMethods);
    }
    constexpr std::string_view kPrefix = "/badge/";
    constexpr std::string_view kSuffix = ".svg";
    std::string_view path = request.path;
    if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix) ||
        path.size() <= kPrefix.size() + kSuffix.size()) {
      return Response::Text(404, "badges are at /badge/<probe>.svg\n");
    }
    std::string_view name =
        path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
    std::string window = QueryValue(ParseQuery(request.query), "window");
    if (window.empty()) {
      window = kDefaultBadgeWindow;
    }
    if (!IsUptimeWindow(window)) {
      return Response::Text(400, "window must be one of 1h, 24h, 7d, 30d, 90d\n");
    }
    std::optional<status::ProbeView> probe = sources.probe(name);
    if (!probe) {
      return Response::Text(404, "no such probe\n");
    }
    return Answer(request, "image/svg+xml", RenderBadge(*probe, window), "default-src 'none'");
  };
}

Handler LogsHandler(StatusSources sources, std::string telemetry_path) {
  return [sources = std::move(sources), telemetry_path = std::move(telemetry_path),
          policy = StatusPageContentSecurityPolicy()](const Request& request) {
    if (!IsReadOnly(request)) {
      return Response::MethodNotAllowed(kReadOnlyMethods);
    }
    const auto query = ParseQuery(request.query);
    const std::string name = QueryValue(query, "probe");
    if (name.empty()) {
      return Response::Text(400, "missing parameter probe: /logs?probe=NAME\n");
    }
    StatusPageOptions options;
    if (auto error = ReadOptions(query, telemetry_path, &options)) {
      return *error;
    }
    std::optional<status::ProbeView> probe = sources.probe(name);
    std::vector<status::RunRecord> recent;
    std::vector<status::RunRecord> failures;
    if (!probe || !sources.history->Read(name, [&](const status::ProbeHistory& history) {
          recent = history.RecentResults();
          failures = history.RecentFailures();
        })) {
      return Response::Text(404, "no such probe\n");
    }
    return Answer(request, "text/html; charset=utf-8",
                  RenderLogs(*probe, recent, failures, options), policy);
  };
}

}  // namespace nines::web
