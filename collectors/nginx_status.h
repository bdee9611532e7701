#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// nginx's stub_status page (ngx_http_stub_status_module) read at scrape time, exported
/// under nginx-prometheus-exporter 0.11's metric names with a `server` label.
namespace nines::collectors {

/// The seven numbers of one stub_status page.
struct StubStatus {
  std::uint64_t active = 0;    ///< "Active connections", including waiting ones.
  std::uint64_t accepted = 0;  ///< "accepts": connections accepted since start.
  std::uint64_t handled = 0;   ///< "handled": connections handled (< accepted at a limit).
  std::uint64_t requests = 0;  ///< "requests": client requests since start.
  std::uint64_t reading = 0;   ///< "Reading": connections reading a request header.
  std::uint64_t writing = 0;   ///< "Writing": connections writing a response.
  std::uint64_t waiting = 0;   ///< "Waiting": idle keep-alive connections.

  bool operator==(const StubStatus&) const = default;
};

/// What ParseStubStatus found: the numbers, or why there are none.
struct StubStatusParse {
  std::optional<StubStatus> status;  ///< Set exactly when `error` is empty.
  std::string error;                 ///< "" on success.

  bool ok() const { return status.has_value(); }
};

/// Parses a stub_status page as nginx prints it:
///
///     Active connections: 291 \n
///     server accepts handled requests\n
///      16630948 16630948 31070465 \n
///     Reading: 6 Writing: 179 Waiting: 106 \n
///
/// Words and numbers are separated by runs of whitespace; whitespace at the start and end
/// of a line (nginx's trailing spaces, a '\r' before the '\n') is ignored, and so is a
/// missing '\n' after the fourth line. Words must match exactly (case included). Numbers
/// are unsigned decimals in the uint64 range: no sign, no base prefix, no fraction.
/// Anything else in the first four lines is an error, so a truncated, reordered or garbage
/// page never yields a wrong number; the error names the line and quotes what it found,
/// e.g. `line 3: expected 3 numbers, got "abc"` or `line 1: active connections: negative
/// (got "-1")`. Lines after the fourth are ignored, as nginx-prometheus-exporter does (it
/// scans the four lines with fmt.Fscanf and never reads further), so a future nginx that
/// appends a line still parses. Stateless; safe to call from any thread. Never throws but
/// std::bad_alloc.
StubStatusParse ParseStubStatus(std::string_view text);

/// Where a stub_status page is fetched from.
struct StubStatusAddress {
  /// The URL libcurl requests: the configured one, or http://localhost<path> for a socket.
  std::string url;
  /// The unix socket to connect to, or "" for a TCP connection to the URL's host.
  std::string unix_socket;
};

/// Interprets a configured stub_status address, in nginx-prometheus-exporter's syntax:
/// - `http://host[:port]/path` or `https://...`: fetched as is (IPv6 hosts in brackets).
/// - `unix:/path/to/nginx.sock`: GET / over the unix socket.
/// - `unix:/path/to/nginx.sock:/stub_status`: GET /stub_status over the unix socket.
///   The socket path ends at its first ':', so it cannot contain one; the request path
///   must start with '/'.
/// Returns nullopt and sets `*error` (when not null) for anything else, e.g. `unix:` with
/// a relative path, another scheme, or an empty address. Stateless; thread safe.
std::optional<StubStatusAddress> ParseStubStatusAddress(std::string_view address,
                                                        std::string* error = nullptr);

/// The largest stub_status body accepted (a real one is under 200 bytes); a larger body
/// is a failure, so a misconfigured URL that points at a big file costs little.
inline constexpr std::size_t kMaxStubStatusBytes = std::size_t{64} * 1024;

/// One nginx whose stub_status is scraped.
struct NginxStatusTarget {
  std::string name;  ///< The `server` label value (config `nginx[].name`).
  std::string url;   ///< The address, in the syntax ParseStubStatusAddress accepts.

  bool operator==(const NginxStatusTarget&) const = default;
};

/// Fetches each configured nginx's stub_status page at scrape time and returns
/// nginx-prometheus-exporter 0.11's families, each sample labelled `server`:
/// - `nginx_up` (gauge, "Status of the last metric scrape"): 1 when the page was fetched
///   and parsed, else 0;
/// - `nginx_connections_active`, `_reading`, `_writing`, `_waiting` (gauges),
///   `nginx_connections_accepted`, `_handled` and `nginx_http_requests_total` (counters),
///   with the exporter's HELP texts, only for servers that are up.
///
/// A server is down when the connection fails or times out, the final answer (after at
/// most 5 redirects between http and https URLs) is not 200, the body is larger than
/// kMaxStubStatusBytes, or ParseStubStatus rejects it. A down server never fails the
/// scrape: Collect() still returns every other server's samples. Its failure is logged
/// once per episode: a warning naming the server, the URL (password redacted) and the
/// reason when it starts failing, debug messages while it keeps failing, and an info
/// message when it recovers.
///
/// Requests go out without a proxy (environment variables included), one fresh connection
/// per server per scrape, one server after another: a scrape takes up to
/// (number of servers) x `timeout` when all of them hang. TLS certificates are verified
/// against the system's CA store.
///
/// Thread safe: Collect() may run in several threads at once and alongside SetServers().
class NginxStatusCollector : public prometheus::Collectable {
 public:
  /// `timeout` bounds each server's whole request (connection, redirects, body). Throws
  /// std::invalid_argument when it is not positive (libcurl would wait forever).
  explicit NginxStatusCollector(std::chrono::milliseconds timeout = std::chrono::seconds(1));

  /// Replaces the servers scraped from the next Collect() on (at start and on every
  /// reload). A server whose name and URL stay the same keeps its failure episode, so a
  /// reload does not repeat its warning. Names should be unique: two servers of the same
  /// name produce samples that collide.
  void SetServers(std::vector<NginxStatusTarget> servers);

  /// The servers set last.
  std::vector<NginxStatusTarget> servers() const;

  /// Fetches every server's page now; see the class comment.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Server {
    NginxStatusTarget target;
    // Whether the last scrape of this server failed; shared with the Server that
    // replaces it on reload, and between concurrent scrapes.
    std::shared_ptr<std::atomic<bool>> failing;
  };

  std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<Server>> servers_;  // guarded by mutex_
};

}  // namespace nines::collectors
