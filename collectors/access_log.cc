#include "collectors/access_log.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <exception>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "collectors/collector.h"
#include "collectors/histogram.h"

namespace nines::collectors {
namespace {

constexpr std::array<double, 11> kDefaultBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                    0.5,   1,    2.5,   5,    10};

// The methods exported as themselves, in label order (sorted, as Prometheus sorts label
// values); everything else is kOtherMethod, which sorts after them.
constexpr std::array<std::string_view, 9> kMethods = {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS",
                                                      "PATCH",   "POST",   "PUT", "TRACE"};
constexpr std::string_view kOtherMethod = "other";
constexpr std::size_t kMethodLabels = kMethods.size() + 1;

// nginx's $status is three digits.
constexpr int kStatusLimit = 1000;

// How much of a line that does not parse goes into a log message.
constexpr std::size_t kMaxLoggedLineBytes = 200;

// At most one parse-error warning per server per this long; the rest go to debug.
constexpr std::chrono::minutes kWarningInterval{1};

// A LogTail read is bounded so the follower's destructor never waits for a long one.
constexpr std::size_t kMaxBytesPerRead = std::size_t{1} << 20;

// Lines handed to RecordLines at once, so its lock is never held long.
constexpr std::size_t kMaxBatchLines = 1024;
constexpr std::size_t kMaxBatchBytes = std::size_t{256} << 10;

constexpr std::string_view kRequestsHelp =
    "HTTP requests in the access log, by method and status (the configured codes exactly, "
    "other statuses by class).";
constexpr std::string_view kRequestDurationHelp =
    "Request processing time from the access log ($request_time), in seconds.";
constexpr std::string_view kUpstreamDurationHelp =
    "Time spent on upstream servers from the access log ($upstream_response_time, summed over "
    "every upstream the request went to), in seconds.";
constexpr std::string_view kResponseBytesHelp =
    "Bytes sent to clients from the access log ($body_bytes_sent, or else $bytes_sent).";
constexpr std::string_view kLinesHelp = "Lines read from the access log.";
constexpr std::string_view kParseErrorsHelp =
    "Access-log lines that did not match the configured format or were too long to read.";
constexpr std::string_view kUpHelp =
    "Whether the access-log source is readable (file) or listening (syslog).";

// A log message decided under the lock and written after it is released.
struct PendingLog {
  spdlog::level::level_enum level;
  std::string text;
};

void Flush(const std::vector<PendingLog>& logs) {
  for (const PendingLog& log : logs) {
    spdlog::log(log.level, "{}", log.text);
  }
}

// `line` quoted for a log message: '"' and '\' escaped, control bytes, DEL and non-ASCII
// bytes as \xNN, at most kMaxLoggedLineBytes of it, then "..." when there was more.
std::string QuoteLine(std::string_view line) {
  constexpr std::string_view kHex = "0123456789abcdef";
  const std::string_view kept = line.substr(0, kMaxLoggedLineBytes);
  std::string out = "\"";
  out.reserve(kept.size() + 8);
  for (const char c : kept) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  if (kept.size() < line.size()) {
    out += "...";
  }
  return out;
}

std::vector<double> EffectiveBuckets(std::vector<double> buckets) {
  if (buckets.empty()) {
    return {kDefaultBuckets.begin(), kDefaultBuckets.end()};
  }
  std::erase_if(buckets, [](double bound) { return !std::isfinite(bound); });
  std::sort(buckets.begin(), buckets.end());
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  return buckets;
}

// The exact codes as a set: sorted, unique, and only those a status can be.
std::vector<int> EffectiveCodes(std::vector<int> codes) {
  std::erase_if(codes, [](int code) { return code < 0 || code >= kStatusLimit; });
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  return codes;
}

std::size_t MethodIndex(std::string_view method) {
  const auto* it = std::find(kMethods.begin(), kMethods.end(), method);
  return static_cast<std::size_t>(std::distance(kMethods.begin(), it));
}

std::string StatusClass(int status) {
  if (status >= 100 && status <= 599) {
    return std::to_string(status / 100) + "xx";
  }
  return "other";
}

Labels With(const Labels& labels, std::string_view name, std::string_view value) {
  Labels out = labels;
  out.emplace_back(name, value);
  return out;
}

}  // namespace

std::span<const double> DefaultAccessLogBuckets() { return kDefaultBuckets; }

std::string_view AccessLogMethodLabel(std::string_view method) {
  const std::size_t index = MethodIndex(method);
  return index < kMethods.size() ? kMethods[index] : kOtherMethod;
}

std::string AccessLogStatusLabel(int status, std::span<const int> exact_codes) {
  if (std::find(exact_codes.begin(), exact_codes.end(), status) != exact_codes.end()) {
    return std::to_string(status);
  }
  return StatusClass(status);
}

struct AccessLogMetrics::ServerState {
  ServerState(const AccessLogSettings& settings, std::vector<double> bucket_bounds,
              std::vector<int> codes)
      : format(settings.format),
        buckets(std::move(bucket_bounds)),
        status_codes(std::move(codes)),
        labels{{"server", settings.server}},
        request_duration(buckets),
        upstream_duration(buckets) {
    // Label values sorted as Prometheus sorts them; each status maps to its slot.
    for (const int code : status_codes) {
      status_labels.push_back(std::to_string(code));
    }
    for (int klass = 1; klass <= 5; ++klass) {
      status_labels.push_back(std::to_string(klass) + "xx");
    }
    status_labels.emplace_back("other");
    std::sort(status_labels.begin(), status_labels.end());
    for (int status = 0; status < kStatusLimit; ++status) {
      const std::string label = AccessLogStatusLabel(status, status_codes);
      const auto it = std::lower_bound(status_labels.begin(), status_labels.end(), label);
      status_slot[static_cast<std::size_t>(status)] =
          static_cast<std::size_t>(std::distance(status_labels.begin(), it));
    }
    other_slot = static_cast<std::size_t>(std::distance(
        status_labels.begin(),
        std::lower_bound(status_labels.begin(), status_labels.end(), std::string("other"))));
    requests.assign(kMethodLabels * status_labels.size(), 0);
  }

  // Whether `settings` (with its effective buckets and codes) describe this state.
  bool SameAs(const AccessLogSettings& settings, const std::vector<double>& bucket_bounds,
              const std::vector<int>& codes) const {
    return (format == settings.format || (format->format() == settings.format->format() &&
                                          format->escape() == settings.format->escape())) &&
           buckets == bucket_bounds && status_codes == codes;
  }

  void Count(const LogRecord& record) {
    const std::size_t slot = record.status >= 0 && record.status < kStatusLimit
                                 ? status_slot[static_cast<std::size_t>(record.status)]
                                 : other_slot;
    ++requests[MethodIndex(record.method) * status_labels.size() + slot];
    if (record.request_time) {
      request_duration.Observe(*record.request_time);
    }
    if (record.upstream_response_time) {
      upstream_duration.Observe(*record.upstream_response_time);
    }
    if (record.body_bytes_sent) {
      response_bytes += *record.body_bytes_sent;
    } else if (record.bytes_sent) {
      response_bytes += *record.bytes_sent;
    }
  }

  // Counts `count` failed lines and returns what to log about them, if anything:
  // `describe()` says what failed and is called only when a message is written.
  template <typename Describe>
  std::optional<PendingLog> Fail(std::uint64_t count, const SteadyClock& now, Describe&& describe) {
    parse_errors += count;
    const std::chrono::steady_clock::time_point time = now();
    if (!last_warning || time - *last_warning >= kWarningInterval) {
      std::string text = describe();
      if (failed_since_warning > 0) {
        text += fmt::format("; {} more lines failed since the last warning", failed_since_warning);
      }
      if (!last_warning) {
        text += " (further failures are logged at debug level, with a warning a minute)";
      }
      last_warning = time;
      failed_since_warning = 0;
      return PendingLog{spdlog::level::warn, std::move(text)};
    }
    failed_since_warning += count;
    if (spdlog::should_log(spdlog::level::debug)) {
      return PendingLog{spdlog::level::debug, describe()};
    }
    return std::nullopt;
  }

  // What identifies the state: a change in any of these starts it over.
  std::shared_ptr<const LogFormat> format;
  std::vector<double> buckets;
  std::vector<int> status_codes;

  Labels labels;
  std::vector<std::string> status_labels;
  std::array<std::size_t, kStatusLimit> status_slot{};
  std::size_t other_slot = 0;
  // Indexed [method index * status_labels.size() + status slot].
  std::vector<std::uint64_t> requests;
  BucketHistogram request_duration;
  BucketHistogram upstream_duration;
  std::uint64_t response_bytes = 0;
  std::uint64_t lines = 0;
  std::uint64_t parse_errors = 0;

  // The source's state and the warning rate limit carry over a reload that resets the
  // counters: the reader and its log are the same.
  AccessLogSourceStatus source;
  std::optional<std::chrono::steady_clock::time_point> last_warning;
  std::uint64_t failed_since_warning = 0;
};

AccessLogMetrics::AccessLogMetrics(SteadyClock now) : now_(std::move(now)) {}

AccessLogMetrics::~AccessLogMetrics() = default;

void AccessLogMetrics::SetServers(std::vector<AccessLogSettings> servers) {
  for (const AccessLogSettings& settings : servers) {
    if (!settings.format) {
      throw std::invalid_argument("access log of server \"" + settings.server +
                                  "\": no log format");
    }
  }
  std::map<std::string, std::unique_ptr<ServerState>, std::less<>> next;
  std::lock_guard lock(mutex_);
  for (AccessLogSettings& settings : servers) {
    if (next.contains(settings.server)) {
      continue;
    }
    std::vector<double> buckets = EffectiveBuckets(std::move(settings.buckets));
    std::vector<int> codes = EffectiveCodes(std::move(settings.status_codes));
    std::unique_ptr<ServerState> state;
    const auto it = servers_.find(settings.server);
    if (it != servers_.end() && it->second->SameAs(settings, buckets, codes)) {
      state = std::move(it->second);
    } else {
      state = std::make_unique<ServerState>(settings, std::move(buckets), std::move(codes));
      if (it != servers_.end()) {
        state->source = std::move(it->second->source);
        state->last_warning = it->second->last_warning;
      }
    }
    next.emplace(std::move(settings.server), std::move(state));
  }
  servers_ = std::move(next);
}

void AccessLogMetrics::RecordLines(const std::string& server,
                                   std::span<const std::string_view> lines) {
  std::vector<PendingLog> logs;
  std::vector<Request> requests;
  {
    std::lock_guard lock(mutex_);
    const auto it = servers_.find(server);
    if (it == servers_.end()) {
      return;
    }
    ServerState& state = *it->second;
    if (observer_) {
      requests.reserve(lines.size());
    }
    LogRecord record;
    for (const std::string_view line : lines) {
      ++state.lines;
      if (state.format->Parse(line, &record, nullptr)) {
        state.Count(record);
        if (observer_) {
          requests.push_back({record.status, record.request_time});
        }
        continue;
      }
      // Failures are rare: the message is made (by parsing again) only when it is logged.
      std::optional<PendingLog> log = state.Fail(1, now_, [&] {
        std::string error;
        state.format->Parse(line, &record, &error);
        return fmt::format(
            "access log of server \"{}\": line {} does not match the log format: {}: {}", server,
            state.lines, error, QuoteLine(line));
      });
      if (log) {
        logs.push_back(*std::move(log));
      }
    }
  }
  Flush(logs);
  if (observer_ && !requests.empty()) {
    observer_(server, requests);
  }
}

void AccessLogMetrics::SetRequestObserver(RequestObserver observer) {
  std::lock_guard lock(mutex_);
  observer_ = std::move(observer);
}

void AccessLogMetrics::RecordOversizeLines(const std::string& server, std::uint64_t count,
                                           std::size_t max_bytes) {
  if (count == 0) {
    return;
  }
  std::optional<PendingLog> log;
  {
    std::lock_guard lock(mutex_);
    const auto it = servers_.find(server);
    if (it == servers_.end()) {
      return;
    }
    ServerState& state = *it->second;
    state.lines += count;
    log = state.Fail(count, now_, [&] {
      return fmt::format(
          "access log of server \"{}\": skipped {} {} longer than {} bytes, near line {}", server,
          count, count == 1 ? "line" : "lines", max_bytes, state.lines);
    });
  }
  if (log) {
    Flush({*std::move(log)});
  }
}

void AccessLogMetrics::SetSourceState(const std::string& server, bool up, std::string message) {
  std::lock_guard lock(mutex_);
  if (const auto it = servers_.find(server); it != servers_.end()) {
    it->second->source.up = up;
    it->second->source.message = std::move(message);
  }
}

std::optional<AccessLogSourceStatus> AccessLogMetrics::SourceStatus(std::string_view server) const {
  std::lock_guard lock(mutex_);
  if (const auto it = servers_.find(server); it != servers_.end()) {
    return it->second->source;
  }
  return std::nullopt;
}

std::vector<prometheus::MetricFamily> AccessLogMetrics::Collect() const {
  MetricSink sink;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, state_ptr] : servers_) {
      const ServerState& state = *state_ptr;
      const Labels& labels = state.labels;
      const std::size_t statuses = state.status_labels.size();
      for (std::size_t method = 0; method < kMethodLabels; ++method) {
        const std::string_view method_label =
            method < kMethods.size() ? kMethods[method] : kOtherMethod;
        for (std::size_t status = 0; status < statuses; ++status) {
          const std::uint64_t count = state.requests[method * statuses + status];
          if (count == 0) {
            continue;
          }
          Labels series = With(labels, "method", method_label);
          series.emplace_back("status", state.status_labels[status]);
          sink.Counter("nines_http_requests_total", kRequestsHelp, static_cast<double>(count),
                       series);
        }
      }
      state.request_duration.AppendTo("nines_http_request_duration_seconds", kRequestDurationHelp,
                                      labels, sink);
      state.upstream_duration.AppendTo("nines_http_upstream_duration_seconds",
                                       kUpstreamDurationHelp, labels, sink);
      sink.Counter("nines_http_response_bytes_total", kResponseBytesHelp,
                   static_cast<double>(state.response_bytes), labels);
      sink.Counter("nines_log_lines_total", kLinesHelp, static_cast<double>(state.lines), labels);
      sink.Counter("nines_log_parse_errors_total", kParseErrorsHelp,
                   static_cast<double>(state.parse_errors), labels);
      sink.Gauge("nines_log_up", kUpHelp, state.source.up ? 1 : 0, labels);
    }
  }
  std::vector<prometheus::MetricFamily> families = sink.Take();
  std::stable_sort(families.begin(), families.end(),
                   [](const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) {
                     return a.name < b.name;
                   });
  return families;
}

namespace {

LogTailOptions TailOptions(const AccessLogFollowerOptions& options) {
  LogTailOptions tail;
  if (options.start_position) {
    tail.start = LogStart::kAtPosition;
    tail.position = *options.start_position;
  } else {
    tail.start = LogStart::kAtEnd;
  }
  tail.max_line_bytes = kMaxLogLineBytes;
  tail.rotate_wait = options.rotate_wait;
  tail.max_bytes_per_poll = kMaxBytesPerRead;
  return tail;
}

std::chrono::milliseconds CheckedInterval(std::chrono::milliseconds interval) {
  if (interval <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("access log poll interval must be positive, got " +
                                std::to_string(interval.count()) + "ms");
  }
  return interval;
}

}  // namespace

AccessLogFollower::AccessLogFollower(AccessLogMetrics& metrics, std::string server,
                                     std::string path, AccessLogFollowerOptions options)
    : metrics_(metrics),
      server_(std::move(server)),
      path_(path),
      poll_interval_(CheckedInterval(options.poll_interval)),
      tail_(std::move(path), TailOptions(options)) {
  position_ = tail_.Position();
  ReportState();
  thread_ = std::thread([this] { Run(); });
}

AccessLogFollower::~AccessLogFollower() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

LogPosition AccessLogFollower::Position() const {
  std::lock_guard lock(mutex_);
  return position_;
}

void AccessLogFollower::Run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    bool more = false;
    try {
      more = ReadOnce();
    } catch (const std::exception& e) {
      // Only memory exhaustion gets here; the next read tries again.
      spdlog::error("access log of server \"{}\": reading {} failed: {}", server_, path_, e.what());
    }
    lock.lock();
    if (!more) {
      wake_.wait_for(lock, poll_interval_, [this] { return stop_; });
    }
  }
}

bool AccessLogFollower::ReadOnce() {
  const std::shared_lock ingest = metrics_.LockIngest();
  // The views LogTail hands out die with each callback: lines are copied into one buffer
  // and handed over in batches.
  std::string buffer;
  std::vector<std::size_t> ends;
  std::vector<std::string_view> views;
  const auto flush = [&] {
    if (ends.empty()) {
      return;
    }
    views.clear();
    std::size_t start = 0;
    for (const std::size_t end : ends) {
      views.emplace_back(buffer.data() + start, end - start);
      start = end;
    }
    metrics_.RecordLines(server_, views);
    buffer.clear();
    ends.clear();
  };
  const LogTail::PollResult result = tail_.Poll([&](std::string_view line) {
    buffer.append(line);
    ends.push_back(buffer.size());
    if (ends.size() >= kMaxBatchLines || buffer.size() >= kMaxBatchBytes) {
      flush();
    }
  });
  flush();

  const std::uint64_t oversize = tail_.stats().oversize_lines;
  if (oversize > oversize_reported_) {
    metrics_.RecordOversizeLines(server_, oversize - oversize_reported_, kMaxLogLineBytes);
    oversize_reported_ = oversize;
  }
  ReportState();
  std::lock_guard lock(mutex_);
  position_ = tail_.Position();
  return result.more;
}

void AccessLogFollower::ReportState() {
  const bool up = tail_.state() == LogTailState::kFollowing;
  metrics_.SetSourceState(server_, up, up ? std::string() : tail_.message());
  if (!up && !down_) {
    spdlog::warn("access log of server \"{}\": {}", server_, tail_.message());
  } else if (!up && tail_.message() != last_message_) {
    spdlog::debug("access log of server \"{}\": {}", server_, tail_.message());
  } else if (up && down_) {
    spdlog::info("access log of server \"{}\": following {} again", server_, path_);
  }
  down_ = !up;
  last_message_ = up ? std::string() : tail_.message();
}

}  // namespace nines::collectors
