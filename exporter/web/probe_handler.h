#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exporter/config/config.h"
#include "exporter/web/server.h"
#include "exporter/web/target_policy.h"
#include "probes/probe.h"
#include "probes/prober.h"

/// The blackbox-style `/probe?target=&module=` endpoint.
namespace nines::web {

/// Runs one probe to completion and returns its result; called on a web server thread,
/// which it blocks (the daemon posts the request to the probe event loop and waits). A
/// module whose prober this version cannot run yields a failed result saying so.
using ProbeRunner = std::function<probes::ProbeResult(probes::ProbeRequest)>;

/// Returns the config in force (swapped whole on reload); called once per request.
using ConfigSource = std::function<std::shared_ptr<const config::Config>()>;

/// blackbox_exporter's `--timeout-offset` default: seconds kept back from Prometheus's
/// scrape timeout so the answer arrives before Prometheus gives up.
inline constexpr double kDefaultTimeoutOffsetSeconds = 0.5;

/// Looks `host` up at the DNS server `server` (a DNS module's `resolver`): probes::LookUpAt().
Resolution ResolveAt(const std::string& server, const std::string& host,
                     std::chrono::nanoseconds timeout);

/// The tunables of ProbeHandler().
struct ProbeHandlerOptions {
  double timeout_offset_seconds = kDefaultTimeoutOffsetSeconds;
  /// The most requests served at once: more are answered 429 Too Many Requests (with
  /// `Retry-After: 1`) before any work, so that probes cannot take every web worker.
  int max_concurrent = 8;
  /// Called for each request answered 429 (the daemon counts them).
  std::function<void()> on_rejected;
  /// Looks up target names for the probe_endpoint policy; tests pass their own.
  Resolver resolver = SystemResolve;
  /// Looks up the target names of DNS modules that set `resolver`, at that resolver
  /// (`server`), so the policy checks the address the probe will use.
  std::function<Resolution(const std::string& server, const std::string& host,
                           std::chrono::nanoseconds timeout)>
      resolve_at = ResolveAt;
};

/// `/probe`, answering like blackbox_exporter 0.23's prober.Handler:
///  - GET and HEAD only (405 otherwise); 404 while `probe_endpoint.enabled` is false;
///  - 429 when `max_concurrent` requests are already being served;
///  - `module` defaults to `http_2xx`; an unknown one is 400 `Unknown module "x"`;
///  - the timeout comes from `X-Prometheus-Scrape-Timeout-Seconds` (ProbeTimeoutSeconds());
///    a header that is not a number is 500 `Failed to parse timeout from Prometheus
///    header: strconv.ParseFloat: parsing "x": invalid syntax`, as blackbox answers;
///  - a missing or empty `target` is 400 `Target parameter is missing`;
///  - `hostname`, for HTTP modules, is sent as the Host header; 400 when the module sets a
///    different Host header;
///  - then the probe_endpoint policy (TargetPolicy): a malformed target is 400, a denied
///    one 403 with the reason, and neither sends any traffic; a name that does not resolve
///    is reported as a failed probe (reason `dns`) without running the prober; a DNS
///    module with a `resolver` has the target's name looked up there;
///  - otherwise `run` gets the request with the address the policy checked pinned, and the
///    answer is blackbox's metrics for the result, without labels, in the text format
///    (gzip-compressed when accepted); `debug=true` answers blackbox's debug page instead:
///    the probe's log, the metrics, and the module's configuration with secrets hidden.
/// The time spent resolving the target is taken from the probe's timeout and added to the
/// result's duration and `resolve` phase, since the prober itself no longer resolves.
///
/// Query values are percent-decoded (ParseQuery()). Thread safe if `current_config` and
/// `run` are. Logs never show a target's password.
Handler ProbeHandler(ConfigSource current_config, ProbeRunner run,
                     ProbeHandlerOptions options = {});

/// blackbox_exporter's getTimeout, in seconds: `header` (the value of
/// X-Prometheus-Scrape-Timeout-Seconds, "" when absent) read like Go's strconv.ParseFloat;
/// absent or 0 means 120; minus `offset_seconds`; then the module's timeout when it is set
/// and shorter, or when the header minus the offset is negative. On a parse error returns
/// std::nullopt and sets `error` to Go's message.
std::optional<double> ProbeTimeoutSeconds(std::string_view header,
                                          const std::optional<config::Duration>& module_timeout,
                                          double offset_seconds, std::string* error);

/// Parses a query string as Go's url.ParseQuery does: pairs split on '&', key and value
/// split on the first '=', '+' and %XX decoded; a pair with a raw ';' or a bad escape is
/// skipped. Pairs keep their order, repeats included.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

/// The first value of `key` in `params`, or "" (like Go's url.Values.Get).
std::string QueryValue(const std::vector<std::pair<std::string, std::string>>& params,
                       std::string_view key);

/// The module as YAML for the debug page: `prober`, `timeout` and the options of its
/// prober. Passwords, credentials and header values that look like credentials
/// (Authorization, Cookie, names with token, key, secret, auth...) read `<secret>`, and
/// a proxy URL's password too.
std::string ModuleYaml(const config::Module& module);

/// `target` with the password of a URL's user info replaced by `xxxxx` (as Go's
/// URL.Redacted does), for logs and error messages.
std::string RedactTarget(std::string_view target);

}  // namespace nines::web
