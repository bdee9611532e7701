#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "collectors/log_format.h"
#include "collectors/log_tail.h"

/// The metrics of nginx access logs (`nginx[].access_log` in the config): request counts by
/// method and status, request and upstream duration histograms, bytes sent, and the health
/// of the log source. AccessLogMetrics turns lines into metrics; AccessLogFollower feeds it
/// the lines of one log file. A syslog source feeds the same AccessLogMetrics.
namespace nines::collectors {

/// What one server's access log is read with. `server` identifies it; the rest decides
/// whether a reload keeps its counters (see AccessLogMetrics::SetServers).
struct AccessLogSettings {
  /// The `server` label value (config `nginx[].name`).
  std::string server;
  /// The compiled `log_format`; must not be null.
  std::shared_ptr<const LogFormat> format;
  /// Upper bounds, in seconds, of the buckets of both duration histograms. Sorted and
  /// de-duplicated, and non-finite values dropped (+Inf is implicit), before use;
  /// DefaultAccessLogBuckets() when empty.
  std::vector<double> buckets;
  /// The statuses exported as themselves in the `status` label (e.g. 200, 404, 499, 502);
  /// every other status is exported as its class, "1xx" to "5xx", and statuses outside
  /// 100-599 (nginx's 000 and 009) as "other".
  std::vector<int> status_codes;
};

/// The buckets used when AccessLogSettings::buckets is empty: the Prometheus client
/// libraries' default, 5 ms to 10 s.
std::span<const double> DefaultAccessLogBuckets();

/// The `method` label value of a request method: the method itself when it is one of GET,
/// HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT or TRACE (compared case-sensitively, as
/// nginx does), else "other". Stateless; thread safe.
std::string_view AccessLogMethodLabel(std::string_view method);

/// The `status` label value of `status` (0 to 999): its decimal text when it is in
/// `exact_codes`, else "1xx" to "5xx" for 100 to 599, else "other". Stateless; thread safe.
std::string AccessLogStatusLabel(int status, std::span<const int> exact_codes);

/// How a log source is doing, as its reader last reported it (AccessLogMetrics::
/// SetSourceState).
struct AccessLogSourceStatus {
  /// Whether the source is readable (a file) or listening (syslog).
  bool up = false;
  /// Why it is down ("waiting for /var/log/nginx/access.log"); "" when up or unknown.
  std::string message;
};

/// Counts the lines of each configured server's access log into these families, every
/// sample labelled `server`:
/// - `nines_http_requests_total{method,status}` (counter): requests by method
///   (AccessLogMethodLabel) and status (AccessLogStatusLabel with the server's
///   status_codes), so a server has at most 10 x (status_codes + 6) series, whatever the
///   traffic. A series appears with its first request.
/// - `nines_http_request_duration_seconds` (histogram): $request_time of every request whose
///   line has one.
/// - `nines_http_upstream_duration_seconds` (histogram): $upstream_response_time summed over
///   the upstreams the request went to, for requests that went to one ("-" is skipped).
/// - `nines_http_response_bytes_total` (counter): $body_bytes_sent, or $bytes_sent for a line
///   without it.
/// - `nines_log_lines_total` (counter): every line read, whether it parsed or not.
/// - `nines_log_parse_errors_total` (counter): lines that did not match the format, or were
///   too long to be read.
/// - `nines_log_up` (gauge): 1 while the source is readable or listening, as its reader
///   reports with SetSourceState; 0 until it first does.
/// Every family but the request counter has its series from SetServers on, at 0.
///
/// A line that does not parse is logged: a warning naming the server, the line's number
/// (counted since the server's counters started), the parser's message and the first
/// 200 bytes of the line, quoted; then at most one warning per server per minute, with the
/// number of failed lines since the last one, and every other failure at debug level.
///
/// Thread safe: every method takes one internal mutex, once per call.
class AccessLogMetrics : public prometheus::Collectable {
 public:
  /// What an SLO reads from one request line.
  struct Request {
    int status = 0;
    std::optional<double> request_time;  // seconds; nullopt when the line has none
  };
  /// Receives the requests of each batch of `server`'s lines that parsed, in log order,
  /// after the batch is counted (outside the lock).
  using RequestObserver =
      std::function<void(const std::string& server, std::span<const Request> requests)>;

  /// The clock that rate-limits parse-error warnings.
  using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

  /// `now` is injected so tests control the rate limit of warnings.
  explicit AccessLogMetrics(SteadyClock now = [] { return std::chrono::steady_clock::now(); });
  ~AccessLogMetrics() override;
  AccessLogMetrics(const AccessLogMetrics&) = delete;
  AccessLogMetrics& operator=(const AccessLogMetrics&) = delete;

  /// Sets the servers (at start and on every reload). A server whose name, format (text and
  /// escape), effective buckets and set of status codes are unchanged keeps its counters and
  /// histograms; other servers start at 0; servers no longer listed lose their series. The
  /// source state (SetSourceState) of a server that stays listed is kept either way, since
  /// its reader keeps running. A name given twice: the first entry counts. Throws
  /// std::invalid_argument, changing nothing, when a format is null.
  void SetServers(std::vector<AccessLogSettings> servers);

  /// Parses and counts `lines` (each without its '\n') of `server`'s log. Lines of a server
  /// that is not set (removed by a reload while they were read) are ignored. Holds the
  /// lock for the whole batch: callers keep batches to a few thousand lines.
  void RecordLines(const std::string& server, std::span<const std::string_view> lines);

  /// Sets the observer of parsed requests (the SLO engine); call before lines arrive.
  void SetRequestObserver(RequestObserver observer);

  /// Held (shared) by a file reader from reading lines until its position is updated, so
  /// that PauseIngest() sees every file's position agree with what was counted.
  std::shared_lock<std::shared_mutex> LockIngest() const { return std::shared_lock(ingest_mutex_); }
  /// Waits for the file readers' reads in progress and holds new ones off while the
  /// returned lock lives: the state store saves read positions and SLO windows under it,
  /// so a restart neither loses nor repeats lines in the windows.
  std::unique_lock<std::shared_mutex> PauseIngest() const {
    return std::unique_lock(ingest_mutex_);
  }

  /// Counts `count` lines of `server` that its reader skipped unread because they are
  /// longer than `max_bytes`: as lines and as parse errors, logged like them.
  void RecordOversizeLines(const std::string& server, std::uint64_t count, std::size_t max_bytes);

  /// Sets `server`'s nines_log_up and the reason it is down. Ignored for a server that is not
  /// set.
  void SetSourceState(const std::string& server, bool up, std::string message);

  /// The source state of `server`, or nullopt when it is not set.
  std::optional<AccessLogSourceStatus> SourceStatus(std::string_view server) const;

  /// The families above, sorted by name; series in server name order, then method and
  /// status label order.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct ServerState;

  SteadyClock now_;
  RequestObserver observer_;
  mutable std::shared_mutex ingest_mutex_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ServerState>, std::less<>> servers_;
};

/// How an AccessLogFollower reads.
struct AccessLogFollowerOptions {
  /// How long the thread sleeps between two reads of the file.
  std::chrono::milliseconds poll_interval{250};
  /// Where to resume (a position saved from Position()); nullopt: after the end of the file
  /// that exists at construction, so lines already there are not counted. A file that
  /// appears later is read from its start either way.
  std::optional<LogPosition> start_position;
  /// LogTailOptions::rotate_wait: how long a rotated-away file is still read.
  std::chrono::milliseconds rotate_wait{5000};
};

/// Follows one access-log file with a LogTail on a thread of its own, and hands its lines
/// to AccessLogMetrics::RecordLines for `server` in batches, through rotations (see
/// log_tail.h). Maps the LogTail's state to AccessLogMetrics::SetSourceState after every
/// read: following is up; waiting for the file or unable to read it is down, with the
/// LogTail's message. A down episode is logged once, as a warning when it starts (also at
/// construction) and at info level when the file is followed again.
///
/// `metrics` must outlive the follower. The destructor stops the thread and returns within
/// the time one read takes (reads are bounded to 1 MiB), not a poll interval.
class AccessLogFollower {
 public:
  /// Opens `path` (a missing or unreadable file is not an error: it is reported as down)
  /// and starts the thread. Throws std::invalid_argument when the poll interval is not
  /// positive, std::system_error when the thread cannot be started.
  AccessLogFollower(AccessLogMetrics& metrics, std::string server, std::string path,
                    AccessLogFollowerOptions options = {});
  /// Stops the thread; lines not read yet stay unread (Position() says where).
  ~AccessLogFollower();
  AccessLogFollower(const AccessLogFollower&) = delete;
  AccessLogFollower& operator=(const AccessLogFollower&) = delete;

  /// Where to resume after the last completed read, all of whose lines are counted; for
  /// saving as AccessLogFollowerOptions::start_position. Thread safe.
  LogPosition Position() const;

  /// The `server` label value the lines are counted under.
  const std::string& server() const { return server_; }
  /// The followed path.
  const std::string& path() const { return path_; }

 private:
  // The thread's loop: read, report, wait.
  void Run();
  // Reads what is new and counts it; returns whether more is waiting to be read at once.
  bool ReadOnce();
  // Reports the tail's state to the metrics and logs a change of episode.
  void ReportState();

  AccessLogMetrics& metrics_;
  std::string server_;
  std::string path_;
  std::chrono::milliseconds poll_interval_;
  LogTail tail_;              // used by the thread only, once it runs
  bool down_ = false;         // the last state reported was down
  std::string last_message_;  // the tail's message then
  std::uint64_t oversize_reported_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;       // guarded by mutex_
  LogPosition position_{};  // guarded by mutex_
  std::thread thread_;
};

}  // namespace nines::collectors
