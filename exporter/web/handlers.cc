#include "exporter/web/handlers.h"

#include <spdlog/spdlog.h>

#include <future>

#include "exporter/version.h"
#include "exporter/web/gzip.h"

namespace nines::web {
namespace {

constexpr const char* kReadOnlyMethods = "GET, HEAD";

bool IsReadOnly(const Request& request) {
  return request.method == "GET" || request.method == "HEAD";
}

}  // namespace

Handler MetricsHandler(const metrics::Gatherer& gatherer) {
  return [&gatherer](const Request& request) {
    if (!IsReadOnly(request)) {
      return Response::MethodNotAllowed(kReadOnlyMethods);
    }
    Response response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = gatherer.Render();
    response.headers.emplace_back("Vary", "Accept-Encoding");
    if (AcceptsGzip(request.accept_encoding)) {
      response.body = Gzip(response.body);
      response.headers.emplace_back("Content-Encoding", "gzip");
    }
    return response;
  };
}

Handler HealthyHandler() {
  return [](const Request& request) {
    if (!IsReadOnly(request)) {
      return Response::MethodNotAllowed(kReadOnlyMethods);
    }
    return Response::Text(200, "nines is Healthy.\n");
  };
}

Handler ReadyHandler(const std::atomic<bool>& ready) {
  return [&ready](const Request& request) {
    if (!IsReadOnly(request)) {
      return Response::MethodNotAllowed(kReadOnlyMethods);
    }
    if (!ready.load()) {
      return Response::Text(503, "nines is not ready.\n");
    }
    return Response::Text(200, "nines is Ready.\n");
  };
}

Handler ReloadHandler(std::function<std::vector<std::string>()> reload) {
  return [reload = std::move(reload)](const Request& request) {
    if (request.method != "POST") {
      return Response::MethodNotAllowed("POST");
    }
    // Parsing YAML recurses; CivetWeb's worker threads have small stacks (Debian builds it
    // with USE_STACK_SIZE=102400), so the reload runs on a thread of its own.
    std::vector<std::string> errors = std::async(std::launch::async, reload).get();
    if (errors.empty()) {
      spdlog::info("config reloaded via /-/reload");
      return Response::Text(200, "config reloaded\n");
    }
    std::string body = "failed to reload config:\n";
    for (const std::string& error : errors) {
      spdlog::error("reload rejected, keeping the running config: {}", error);
      body += error;
      body += '\n';
    }
    return Response::Text(500, body);
  };
}

Handler LandingPageHandler(const std::string& telemetry_path) {
  std::string path = HtmlEscape(telemetry_path);
  std::string page = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nines</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
@media (prefers-color-scheme: dark) { body { background: #111; color: #eee; } a { color: #8cf; } }
code { font-size: 0.95em; }
</style>
</head>
<body>
<h1>nines</h1>
<p>Probes services continuously and measures their availability, latency and SLOs.</p>
<p>Version )" + HtmlEscape(kVersion) +
                     " (revision " + HtmlEscape(kRevision) + R"()</p>
<ul>
<li><a href=")" + path +
                     R"(">Metrics</a> <code>)" + path + R"(</code></li>
<li><a href="/-/healthy">Health</a> <code>/-/healthy</code></li>
<li><a href="/-/ready">Readiness</a> <code>/-/ready</code></li>
</ul>
<p>Reload the config with <code>POST /-/reload</code> or SIGHUP.</p>
</body>
</html>
)";
  return [page = std::move(page)](const Request& request) {
    if (!IsReadOnly(request)) {
      return Response::MethodNotAllowed(kReadOnlyMethods);
    }
    Response response;
    response.content_type = "text/html; charset=utf-8";
    response.body = page;
    response.headers.emplace_back("Content-Security-Policy",
                                  "default-src 'none'; style-src 'unsafe-inline'");
    return response;
  };
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace nines::web
