#include "collectors/nginx_status.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "collectors/collector.h"
#include "collectors/text.h"

namespace nines::collectors {
namespace {

// nginx-prometheus-exporter 0.11's HELP texts (collector/nginx.go, collector/helper.go).
constexpr std::string_view kUpHelp = "Status of the last metric scrape";
constexpr std::string_view kActiveHelp = "Active client connections";
constexpr std::string_view kAcceptedHelp = "Accepted client connections";
constexpr std::string_view kHandledHelp = "Handled client connections";
constexpr std::string_view kReadingHelp = "Connections where NGINX is reading the request header";
constexpr std::string_view kWritingHelp =
    "Connections where NGINX is writing the response back to the client";
constexpr std::string_view kWaitingHelp = "Idle client connections";
constexpr std::string_view kRequestsHelp = "Total http requests";

constexpr long kMaxRedirects = 5;

// More fields than any stub_status line holds, so a garbage line is counted, not stored.
constexpr std::size_t kMaxFields = 8;

std::string LinePrefix(int line) { return "line " + std::to_string(line) + ": "; }

// Parses one number of line `line`; on failure sets `error` to ThrowBadUint64's words.
bool ParseNumber(std::string_view token, int line, std::string_view what, std::uint64_t& out,
                 std::string& error) {
  if (const std::optional<std::uint64_t> value = TryParseUint64(token)) {
    out = *value;
    return true;
  }
  try {
    ThrowBadUint64(token, what);
  } catch (const std::runtime_error& e) {
    error = LinePrefix(line) + e.what();
  }
  return false;
}

StubStatusParse Failed(std::string error) { return {std::nullopt, std::move(error)}; }

struct CurlEasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlUrlPtr = std::unique_ptr<CURLU, CurlUrlDeleter>;

// curl_global_init is not thread safe; a function-local static runs it exactly once.
bool CurlReady() {
  static const CURLcode kInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  return kInit == CURLE_OK;
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != prefix[i]) {
      return false;
    }
  }
  return true;
}

// The address for logs: an http(s) URL with its password replaced by "xxxxx", as Go's
// url.URL.Redacted does.
std::string Redacted(const std::string& address) {
  if (StartsWithIgnoreCase(address, "unix:")) {
    return address;
  }
  CurlUrlPtr url(curl_url());
  if (url == nullptr || curl_url_set(url.get(), CURLUPART_URL, address.c_str(),
                                     CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return address;
  }
  char* password = nullptr;
  if (curl_url_get(url.get(), CURLUPART_PASSWORD, &password, 0) != CURLUE_OK) {
    return address;  // none
  }
  curl_free(password);
  char* redacted = nullptr;
  if (curl_url_set(url.get(), CURLUPART_PASSWORD, "xxxxx", 0) != CURLUE_OK ||
      curl_url_get(url.get(), CURLUPART_URL, &redacted, 0) != CURLUE_OK) {
    return address;
  }
  std::string out(redacted);
  curl_free(redacted);
  return out;
}

struct Body {
  std::string data;
  bool too_large = false;
};

std::size_t WriteBody(char* ptr, std::size_t size, std::size_t nmemb, void* user_data) {
  auto* body = static_cast<Body*>(user_data);
  const std::size_t bytes = size * nmemb;
  if (bytes > kMaxStubStatusBytes - body->data.size()) {
    body->too_large = true;
    return 0;  // any count but `bytes` makes libcurl abort the transfer
  }
  body->data.append(ptr, bytes);
  return bytes;
}

std::string TooLarge() {
  return "the page is larger than " + std::to_string(kMaxStubStatusBytes) + " bytes";
}

// Fetches and parses one page. Returns the numbers, or nullopt with `error` set.
std::optional<StubStatus> Scrape(const std::string& configured, std::chrono::milliseconds timeout,
                                 std::string& error) {
  const std::optional<StubStatusAddress> address = ParseStubStatusAddress(configured, &error);
  if (!address) {
    return std::nullopt;
  }
  if (!CurlReady()) {
    error = "libcurl failed to initialise";
    return std::nullopt;
  }
  CurlEasyPtr easy(curl_easy_init());
  if (easy == nullptr) {
    error = "libcurl failed to create a request";
    return std::nullopt;
  }
  CURL* curl = easy.get();
  std::array<char, CURL_ERROR_SIZE> curl_error{};
  Body body;
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error.data());
  curl_easy_setopt(curl, CURLOPT_URL, address->url.c_str());
  if (!address->unix_socket.empty()) {
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, address->unix_socket.c_str());
  }
  // "" disables every proxy, those named by environment variables included.
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // Go's http.Client, which the exporter uses, follows redirects too.
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, kMaxRedirects);
  // No signals: Collect() runs on the web server's threads, where SIGALRM would be wrong.
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "nines");
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxStubStatusBytes));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);

  const CURLcode code = curl_easy_perform(curl);
  if (body.too_large || code == CURLE_FILESIZE_EXCEEDED) {
    error = TooLarge();
    return std::nullopt;
  }
  if (code != CURLE_OK) {
    error = curl_error[0] != '\0' ? std::string(curl_error.data()) : curl_easy_strerror(code);
    // libcurl says "Couldn't connect to server" for every connect failure; the system's
    // word (connection refused, no such file, permission denied) is what an operator needs.
    long os_errno = 0;
    if (curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0) {
      error += " (" + std::generic_category().message(static_cast<int>(os_errno)) + ")";
    }
    return std::nullopt;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    error = "expected HTTP status 200, got " + std::to_string(status);
    return std::nullopt;
  }
  StubStatusParse parsed = ParseStubStatus(body.data);
  if (!parsed.ok()) {
    error = "not a stub_status page: " + parsed.error;
    return std::nullopt;
  }
  return parsed.status;
}

}  // namespace

StubStatusParse ParseStubStatus(std::string_view text) {
  StubStatus status;
  std::vector<std::string_view> fields;
  fields.reserve(kMaxFields);
  std::string error;
  // The four lines, in nginx's order; `n` is the line number.
  for (int n = 1; n <= 4; ++n) {
    if (text.empty()) {
      return Failed(LinePrefix(n) +
                    (n == 1 ? "missing: the page is empty"
                            : "missing: the page ends after line " + std::to_string(n - 1)));
    }
    const std::string_view line = NextLine(text);
    const std::size_t count = SplitFields(line, kMaxFields, fields);
    switch (n) {
      case 1:
        if (count != 3 || fields[0] != "Active" || fields[1] != "connections:") {
          return Failed(LinePrefix(n) + "expected \"Active connections: <number>\", got " +
                        Quote(line));
        }
        if (!ParseNumber(fields[2], n, "active connections", status.active, error)) {
          return Failed(std::move(error));
        }
        break;
      case 2:
        if (count != 4 || fields[0] != "server" || fields[1] != "accepts" ||
            fields[2] != "handled" || fields[3] != "requests") {
          return Failed(LinePrefix(n) + "expected \"server accepts handled requests\", got " +
                        Quote(line));
        }
        break;
      case 3:
        if (count != 3) {
          return Failed(LinePrefix(n) + "expected 3 numbers, got " + Quote(line));
        }
        if (!ParseNumber(fields[0], n, "accepts", status.accepted, error) ||
            !ParseNumber(fields[1], n, "handled", status.handled, error) ||
            !ParseNumber(fields[2], n, "requests", status.requests, error)) {
          return Failed(std::move(error));
        }
        break;
      default:
        if (count != 6 || fields[0] != "Reading:" || fields[2] != "Writing:" ||
            fields[4] != "Waiting:") {
          return Failed(LinePrefix(n) +
                        "expected \"Reading: <number> Writing: <number> Waiting: <number>\", "
                        "got " +
                        Quote(line));
        }
        if (!ParseNumber(fields[1], n, "reading", status.reading, error) ||
            !ParseNumber(fields[3], n, "writing", status.writing, error) ||
            !ParseNumber(fields[5], n, "waiting", status.waiting, error)) {
          return Failed(std::move(error));
        }
        break;
    }
  }
  // What follows the fourth line is ignored: see the header.
  return {status, ""};
}

std::optional<StubStatusAddress> ParseStubStatusAddress(std::string_view address,
                                                        std::string* error) {
  auto fail = [&](std::string why) -> std::optional<StubStatusAddress> {
    if (error != nullptr) {
      *error = std::move(why);
    }
    return std::nullopt;
  };
  constexpr std::string_view kUnix = "unix:";
  if (address.starts_with(kUnix)) {
    std::string_view rest = address.substr(kUnix.size());
    const std::size_t colon = rest.find(':');
    const std::string_view socket = rest.substr(0, colon);
    const std::string_view path = colon == std::string_view::npos ? "/" : rest.substr(colon + 1);
    if (!socket.starts_with('/')) {
      return fail("unix socket path in " + Quote(address) + " is not absolute");
    }
    if (!path.starts_with('/')) {
      return fail("request path in " + Quote(address) + " does not start with '/'");
    }
    return StubStatusAddress{"http://localhost" + std::string(path), std::string(socket)};
  }
  if (!StartsWithIgnoreCase(address, "http://") && !StartsWithIgnoreCase(address, "https://")) {
    return fail("unsupported stub_status address " + Quote(address) +
                ": want an http(s) URL, unix:/path/to.sock or unix:/path/to.sock:/path");
  }
  CurlUrlPtr url(curl_url());
  if (url == nullptr) {
    throw std::bad_alloc();
  }
  const std::string text(address);
  if (const CURLUcode code = curl_url_set(url.get(), CURLUPART_URL, text.c_str(), 0);
      code != CURLUE_OK) {
    return fail("invalid URL " + Quote(Redacted(text)) + ": " + curl_url_strerror(code));
  }
  return StubStatusAddress{text, ""};
}

NginxStatusCollector::NginxStatusCollector(std::chrono::milliseconds timeout)
    : timeout_(timeout), servers_(std::make_shared<const std::vector<Server>>()) {
  if (timeout <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("nginx stub_status timeout must be positive, got " +
                                std::to_string(timeout.count()) + "ms");
  }
}

void NginxStatusCollector::SetServers(std::vector<NginxStatusTarget> servers) {
  std::lock_guard lock(mutex_);
  auto next = std::make_shared<std::vector<Server>>();
  next->reserve(servers.size());
  for (NginxStatusTarget& target : servers) {
    std::shared_ptr<std::atomic<bool>> failing;
    for (const Server& old : *servers_) {
      if (old.target == target) {
        failing = old.failing;
        break;
      }
    }
    if (failing == nullptr) {
      failing = std::make_shared<std::atomic<bool>>(false);
    }
    next->push_back({std::move(target), std::move(failing)});
  }
  servers_ = std::move(next);
}

std::vector<NginxStatusTarget> NginxStatusCollector::servers() const {
  std::shared_ptr<const std::vector<Server>> current;
  {
    std::lock_guard lock(mutex_);
    current = servers_;
  }
  std::vector<NginxStatusTarget> out;
  out.reserve(current->size());
  for (const Server& server : *current) {
    out.push_back(server.target);
  }
  return out;
}

std::vector<prometheus::MetricFamily> NginxStatusCollector::Collect() const {
  // A snapshot, so a reload during a slow scrape neither blocks nor changes it.
  std::shared_ptr<const std::vector<Server>> servers;
  {
    std::lock_guard lock(mutex_);
    servers = servers_;
  }
  MetricSink sink;
  for (const Server& server : *servers) {
    const NginxStatusTarget& target = server.target;
    std::string error;
    std::optional<StubStatus> status;
    try {
      status = Scrape(target.url, timeout_, error);
    } catch (const std::exception& e) {
      error = e.what();
    }
    const Labels labels = {{"server", target.name}};
    sink.Gauge("nginx_up", kUpHelp, status ? 1 : 0, labels);
    if (!status) {
      if (!server.failing->exchange(true)) {
        spdlog::warn("nginx {}: cannot scrape stub_status {}: {}", target.name,
                     Redacted(target.url), error);
      } else {
        spdlog::debug("nginx {}: cannot scrape stub_status {}: {}", target.name,
                      Redacted(target.url), error);
      }
      continue;
    }
    if (server.failing->exchange(false)) {
      spdlog::info("nginx {}: stub_status {} answers again", target.name, Redacted(target.url));
    }
    sink.Gauge("nginx_connections_active", kActiveHelp, static_cast<double>(status->active),
               labels);
    sink.Counter("nginx_connections_accepted", kAcceptedHelp, static_cast<double>(status->accepted),
                 labels);
    sink.Counter("nginx_connections_handled", kHandledHelp, static_cast<double>(status->handled),
                 labels);
    sink.Gauge("nginx_connections_reading", kReadingHelp, static_cast<double>(status->reading),
               labels);
    sink.Gauge("nginx_connections_writing", kWritingHelp, static_cast<double>(status->writing),
               labels);
    sink.Gauge("nginx_connections_waiting", kWaitingHelp, static_cast<double>(status->waiting),
               labels);
    sink.Counter("nginx_http_requests_total", kRequestsHelp, static_cast<double>(status->requests),
                 labels);
  }
  return sink.Take();
}

}  // namespace nines::collectors
