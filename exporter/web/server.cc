#include "exporter/web/server.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <thread>

namespace nines::web {
namespace {

// CivetWeb reports bind failures through log_message while its constructor runs on this
// thread, with no context pointer yet; a thread_local catches them for the exception text.
thread_local std::string* startup_errors = nullptr;

int LogMessage(const mg_connection* /*conn*/, const char* message) {
  if (startup_errors != nullptr) {
    if (!startup_errors->empty()) {
      startup_errors->append("; ");
    }
    startup_errors->append(message);
  } else {
    spdlog::debug("http server: {}", message);
  }
  return 1;  // handled: keep CivetWeb from printing to stderr itself
}

// "Wed, 25 Nov 2026 01:04:54 GMT" (RFC 9110's IMF-fixdate), as CivetWeb writes Date; by
// hand, since strftime's day and month names follow the locale.
void AppendHttpDate(std::time_t now, std::string& out) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 64> buffer{};
  const int size =
      std::snprintf(buffer.data(), buffer.size(), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                    kDays[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                    kMonths[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                    tm.tm_min, tm.tm_sec);
  out.append(buffer.data(), static_cast<std::size_t>(std::max(size, 0)));
}

// Whether `list` (a comma-separated header value) holds `token`, ignoring case.
bool HasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
      item.remove_suffix(1);
    }
    if (internal::EqualsIgnoringAsciiCase(item, token)) {
      return true;
    }
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return false;
}

// Whether CivetWeb keeps the connection open after this response (keep-alive is enabled):
// as the client's Connection header asks, else by its HTTP version's default. CivetWeb
// decides so itself (should_keep_alive); the response must say the same.
bool KeepAlive(const mg_request_info& info, const Request& request) {
  for (const auto& [name, value] : request.headers) {
    if (internal::EqualsIgnoringAsciiCase(name, "Connection")) {
      return HasToken(value, "keep-alive");
    }
  }
  return info.http_version != nullptr && std::string_view(info.http_version) == "1.1";
}

// Writes the whole response with one mg_write, so it leaves in as few TCP segments as its
// size allows: CivetWeb's mg_response_header_* API sends every header line with a send()
// of its own, and with TCP_NODELAY each becomes a packet (and a wake-up of the client).
// The headers are those CivetWeb would send: status line, ours, Date, Connection.
void Send(mg_connection* conn, const mg_request_info& info, const Request& request,
          const Response& response) {
  const bool head = request.method == "HEAD";
  std::string wire;
  wire.reserve(256 + (head ? 0 : response.body.size()));
  wire += "HTTP/";
  wire += info.http_version != nullptr ? info.http_version : "1.1";
  wire += ' ';
  wire += std::to_string(response.status);
  wire += ' ';
  wire += mg_get_response_code_text(conn, response.status);
  wire += "\r\nContent-Type: ";
  wire += response.content_type;
  wire += "\r\nContent-Length: ";
  wire += std::to_string(response.body.size());
  wire += "\r\n";
  for (const auto& [name, value] : response.headers) {
    wire += name;
    wire += ": ";
    wire += value;
    wire += "\r\n";
  }
  wire += "Date: ";
  AppendHttpDate(std::time(nullptr), wire);
  wire += "\r\nConnection: ";
  wire += KeepAlive(info, request) ? "keep-alive" : "close";
  wire += "\r\n\r\n";
  if (!head) {
    wire += response.body;
  }
  mg_write(conn, wire.data(), wire.size());
}

// Connects to host:port and closes at once; failures do not matter.
void WakeListener(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) == 1) {
    // The cast is the sockets API's: sockaddr_in is passed as a sockaddr.
    static_cast<void>(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)));
  }
  ::close(fd);
}

}  // namespace

// One CivetWeb handler for every path; it turns the connection into a Request and back.
class Server::CivetAdapter final : public CivetHandler {
 public:
  explicit CivetAdapter(const Server& server) : server_(server) {}

  bool handleGet(CivetServer* /*s*/, mg_connection* conn) override { return Handle(conn); }
  bool handleHead(CivetServer* /*s*/, mg_connection* conn) override { return Handle(conn); }
  bool handlePost(CivetServer* /*s*/, mg_connection* conn) override { return Handle(conn); }
  bool handlePut(CivetServer* /*s*/, mg_connection* conn) override { return Handle(conn); }
  bool handleDelete(CivetServer* /*s*/, mg_connection* conn) override { return Handle(conn); }
  bool handleOptions(CivetServer* /*s*/, mg_connection* conn) override { return Handle(conn); }
  bool handlePatch(CivetServer* /*s*/, mg_connection* conn) override { return Handle(conn); }

 private:
  bool Handle(mg_connection* conn) const {
    const mg_request_info* info = mg_get_request_info(conn);
    Request request;
    request.method = info->request_method != nullptr ? info->request_method : "";
    request.path = info->local_uri != nullptr ? info->local_uri : "";
    request.query = info->query_string != nullptr ? info->query_string : "";
    if (const char* encoding = mg_get_header(conn, "Accept-Encoding")) {
      request.accept_encoding = encoding;
    }
    // All of them: CivetWeb keeps at most MG_MAX_HEADERS (64) and max_request_size bounds
    // their total size, so copying is cheap and handlers need no CivetWeb types.
    request.headers.reserve(static_cast<std::size_t>(std::max(info->num_headers, 0)));
    for (int i = 0; i < info->num_headers && i < MG_MAX_HEADERS; ++i) {
      const mg_header& header = info->http_headers[i];
      request.headers.emplace_back(header.name != nullptr ? header.name : "",
                                   header.value != nullptr ? header.value : "");
    }
    Response response;
    try {
      response = server_.Dispatch(request);
    } catch (const std::exception& e) {
      spdlog::error("http: {} {}: {}", request.method, request.path, e.what());
      response = Response::Text(500, "internal error\n");
    }
    Send(conn, *info, request, response);
    return true;
  }

  const Server& server_;
};

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() { Stop(); }

void Server::Route(const std::string& path, Handler handler) { routes_[path] = std::move(handler); }

void Server::RoutePrefix(const std::string& prefix, Handler handler) {
  prefix_routes_[prefix] = std::move(handler);
}

Response Server::Dispatch(const Request& request) const {
  if (auto it = routes_.find(request.path); it != routes_.end()) {
    return it->second(request);
  }
  // Reverse order: a longer prefix sorts after its own prefixes, so it is tried first.
  for (const auto& [prefix, handler] : prefix_routes_) {
    if (request.path.starts_with(prefix)) {
      return handler(request);
    }
  }
  return Response::Text(404, "404 page not found\n");
}

void Server::Start() {
  // clang-format off
  std::vector<std::string> options = {
      "listening_ports", options_.address.ToCivetPort(),
      "num_threads", std::to_string(options_.threads),
      "enable_keep_alive", "yes",
      "tcp_nodelay", "1",                // without it keep-alive answers wait ~40 ms
      "keep_alive_timeout_ms", "120000", // longer than common scrape intervals
      "request_timeout_ms", "10000",     // slow clients cannot hold a worker forever
      "linger_timeout_ms", "0",
      "max_request_size", "16384",
      "enable_directory_listing", "no",
  };
  // clang-format on
  CivetCallbacks callbacks;
  callbacks.log_message = LogMessage;
  std::string errors;
  startup_errors = &errors;
  try {
    civet_ = std::make_unique<CivetServer>(options, &callbacks);
  } catch (const CivetException& e) {
    startup_errors = nullptr;
    std::string reason = errors.empty() ? e.what() : errors;
    if (reason.find("98 (Address already in use)") != std::string::npos ||
        reason.find("Address already in use") != std::string::npos) {
      reason = "address already in use";
    }
    throw std::runtime_error("cannot listen on " + options_.address.ToString() + ": " + reason);
  }
  startup_errors = nullptr;
  adapter_ = std::make_unique<CivetAdapter>(*this);
  civet_->addHandler("/", *adapter_);
  std::vector<mg_server_port> ports = civet_->getListeningPortsFull();
  port_ = ports.empty() ? options_.address.port : ports.front().port;
}

void Server::Stop() {
  if (!civet_) {
    return;
  }
  // CivetWeb's listener polls with a 2 s timeout before it notices the stop flag; a
  // connection to our own port wakes it at once, so shutdown takes milliseconds.
  std::atomic<bool> closed{false};
  std::thread waker([this, &closed] {
    std::string host = options_.address.host.empty() ? "127.0.0.1" : options_.address.host;
    for (int attempt = 0; attempt < 40 && !closed.load(); ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      WakeListener(host, port_);
    }
  });
  civet_->close();
  closed = true;
  waker.join();
  civet_.reset();
  adapter_.reset();
}

}  // namespace nines::web
