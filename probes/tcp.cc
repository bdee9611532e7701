#include "probes/tcp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <re2/re2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "probes/tls.h"

namespace nines::probes {
namespace {

// blackbox reads lines with Go's bufio.Scanner, whose longest token is 64 KiB.
constexpr std::size_t kMaxLineBytes = std::size_t{64} * 1024;
// One recv() or SSL_read() at a time: the buffers never grow by more than this per event.
constexpr std::size_t kChunkBytes = std::size_t{16} * 1024;
// Received and sent data in the debug log is cut after this many bytes.
constexpr std::size_t kLogDataBytes = 200;

// A `host:port` target split the way Go's net.SplitHostPort does (blackbox's syntax).
struct Target {
  std::string host;  // without brackets
  int port = 0;
  bool ipv6_literal = false;
};

// Joins text pieces in one allocation-friendly pass (messages built inside loops).
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

std::string ErrnoText(int error) { return std::generic_category().message(error); }

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

int LiteralFamily(const std::string& host) {
  std::array<unsigned char, sizeof(in6_addr)> buffer{};
  if (inet_pton(AF_INET, host.c_str(), buffer.data()) == 1) {
    return AF_INET;
  }
  if (inet_pton(AF_INET6, host.c_str(), buffer.data()) == 1) {
    return AF_INET6;
  }
  return AF_UNSPEC;
}

std::optional<Target> ParseTarget(std::string_view text, std::string* why) {
  if (text.empty()) {
    *why = "empty target, want host:port";
    return std::nullopt;
  }
  Target target;
  std::string_view port;
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *why = "missing ']' in address";
      return std::nullopt;
    }
    target.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      *why = "missing port in address";
      return std::nullopt;
    }
    if (rest.front() != ':') {
      *why = "unexpected text after ']' in address";
      return std::nullopt;
    }
    port = rest.substr(1);
    if (LiteralFamily(target.host) != AF_INET6) {
      *why = "\"" + target.host + "\" in brackets is not an IPv6 address";
      return std::nullopt;
    }
    target.ipv6_literal = true;
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *why = "missing port in address";
      return std::nullopt;
    }
    target.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (target.host.find(':') != std::string::npos) {
      *why = "too many colons in address (write IPv6 addresses as [addr]:port)";
      return std::nullopt;
    }
    if (target.host.empty()) {
      *why = "missing host in address";
      return std::nullopt;
    }
    // The host ends up in a URL for libcurl: anything but a plain name could change its
    // meaning there (user info, path, query).
    if (!std::all_of(target.host.begin(), target.host.end(), IsHostNameChar)) {
      *why = "invalid character in host \"" + target.host + "\"";
      return std::nullopt;
    }
  }
  int number = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || number < 1 ||
      number > 65535) {
    *why = "invalid port \"" + std::string(port) + "\", want 1 to 65535";
    return std::nullopt;
  }
  target.port = number;
  return target;
}

std::string FamilyName(int family) { return family == AF_INET ? "ip4" : "ip6"; }

// Data as one log line: control and non-ASCII bytes escaped, cut after kLogDataBytes.
std::string Printable(std::string_view data) {
  std::string out;
  std::size_t shown = std::min(data.size(), kLogDataBytes);
  for (std::size_t i = 0; i < shown; ++i) {
    auto byte = static_cast<unsigned char>(data[i]);
    if (byte == '\\') {
      out += "\\\\";
    } else if (byte == '\r') {
      out += "\\r";
    } else if (byte == '\n') {
      out += "\\n";
    } else if (byte == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte >= 0x7f) {
      std::array<char, 5> hex{};
      std::snprintf(hex.data(), hex.size(), "\\x%02x", byte);
      out += hex.data();
    } else {
      out += static_cast<char>(byte);
    }
  }
  if (data.size() > shown) {
    out += "... (" + std::to_string(data.size()) + " bytes)";
  }
  return out;
}

// libcurl's close-socket hook: the socket is kept open for the probe to take over or close.
int CloseSocketCallback(void* client, curl_socket_t fd) {
  static_cast<std::vector<int>*>(client)->push_back(fd);
  return 0;
}

std::string OpenSslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    if (!text.empty()) {
      text += "; ";
    }
    text += buffer.data();
  }
  return text.empty() ? "unknown error" : text;
}

// The submatches of one line, as Go's FindSubmatchIndex gives them: [0] the whole match,
// std::nullopt for a group that did not take part.
using Submatches = std::vector<std::optional<std::string>>;

bool MatchLine(const re2::RE2& re, std::string_view line, Submatches* groups) {
  auto count = static_cast<std::size_t>(re.NumberOfCapturingGroups()) + 1;
  std::vector<re2::StringPiece> pieces(count);
  if (!re.Match(re2::StringPiece(line.data(), line.size()), 0, line.size(), re2::RE2::UNANCHORED,
                pieces.data(), static_cast<int>(count))) {
    return false;
  }
  groups->clear();
  for (const re2::StringPiece& piece : pieces) {
    if (piece.data() == nullptr) {
      groups->emplace_back(std::nullopt);
    } else {
      groups->emplace_back(std::string(piece.data(), piece.size()));
    }
  }
  return true;
}

bool IsTemplateNameChar(char c) {
  // Go accepts any Unicode letter; names in configs are ASCII in practice.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Go's Regexp.Expand, which blackbox applies to `send` with the submatches of the step's
// `expect`: $1 or ${1} (numbered), $name or ${name} (named groups), $$ for a literal '$'.
// The longest name is taken ($1x is ${1x}); an unknown or unmatched group expands to
// nothing; a '$' that starts no valid reference is copied as it is.
std::string Expand(const re2::RE2& re, std::string_view text, const Submatches& groups) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, dollar - i));
    std::string_view rest = text.substr(dollar + 1);
    if (!rest.empty() && rest.front() == '$') {
      out += '$';
      i = dollar + 2;
      continue;
    }
    bool brace = !rest.empty() && rest.front() == '{';
    std::size_t start = brace ? 1 : 0;
    std::size_t end = start;
    while (end < rest.size() && IsTemplateNameChar(rest[end])) {
      ++end;
    }
    if (end == start || (brace && (end >= rest.size() || rest[end] != '}'))) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    std::string_view name = rest.substr(start, end - start);
    i = dollar + 1 + end + (brace ? 1 : 0);
    int index = -1;
    bool numeric =
        std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
    // Go refuses leading zeros and huge numbers as indexes (they become names).
    if (numeric && (name.size() == 1 || name.front() != '0') && name.size() <= 8) {
      std::from_chars(name.data(), name.data() + name.size(), index);
    } else {
      auto named = re.NamedCapturingGroups().find(std::string(name));
      if (named != re.NamedCapturingGroups().end()) {
        index = named->second;
      }
    }
    if (index >= 0 && static_cast<std::size_t>(index) < groups.size() &&
        groups[static_cast<std::size_t>(index)]) {
      out += *groups[static_cast<std::size_t>(index)];
    }
  }
  return out;
}

ProbeResult::Seconds CurlSeconds(curl_off_t microseconds) {
  return ProbeResult::Seconds(static_cast<double>(microseconds) / 1e6);
}

// The textual address and port of a connected socket's peer; std::nullopt when it has none.
std::optional<std::pair<std::string, int>> PeerOf(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return std::nullopt;
  }
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text.data(), text.size());
    return std::pair{std::string(text.data()), static_cast<int>(ntohs(v4->sin_port))};
  }
  if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text.data(), text.size());
    return std::pair{std::string(text.data()), static_cast<int>(ntohs(v6->sin6_port))};
  }
  return std::nullopt;
}

}  // namespace

struct TcpProbe::State {
  enum class Part { kExpect, kExpectBytes, kSend, kStartTls };

  Target target;
  std::string url;
  int family = AF_UNSPEC;
  int fallback_family = AF_UNSPEC;          // tried when `family` does not resolve; AF_UNSPEC: none
  SteadyClock::duration failed_lookups{0};  // spent on lookups of a family that had nothing
  SteadyClock::time_point attempt_started{};

  // The connect-only transfer. libcurl closes the sockets it opened through
  // CloseSocketCallback, which keeps them here instead: removing a connect-only handle from
  // the multi handle closes its connection, and the loop removes it before reporting.
  CURL* easy = nullptr;
  bool transfer_running = false;
  curl_slist* pinned = nullptr;  // the CURLOPT_RESOLVE entry of a pinned address
  std::array<char, CURL_ERROR_SIZE> error{};
  std::vector<int> curl_sockets;

  int fd = -1;
  std::uint32_t watched = 0;  // the events watched on `fd`; 0 when not watched
  bool connected = false;

  // TLS over memory BIOs: the socket I/O stays ours (send with MSG_NOSIGNAL, one read per
  // event), OpenSSL only transforms bytes. Declared so the session goes first, then the
  // context, then the recorder the context refers to.
  tls::ChainRecorder recorder;
  tls::SslCtxPtr ctx;
  tls::SslPtr ssl;
  bool handshaking = false;
  SteadyClock::time_point handshake_started{};

  std::string in;   // application data received and not consumed yet
  std::string out;  // bytes for the socket (TLS records once a session is up)
  bool socket_eof = false;
  bool tls_eof = false;
  std::string read_error;  // why reading failed ("Connection reset by peer")

  std::size_t step = 0;
  Part part = Part::kExpect;
  Submatches groups;

  bool InputEnded() const { return !read_error.empty() || (ssl != nullptr ? tls_eof : socket_eof); }
};

TcpProbe::TcpProbe(EventLoop& loop, ProbeRequest request)
    : ProbeRun(loop, std::move(request)), state_(std::make_unique<State>()) {}

TcpProbe::~TcpProbe() { Release(); }

void TcpProbe::Begin() {
  State& s = *state_;
  // blackbox registers probe_failed_due_to_regex before it dials, so every TCP run has it.
  result().failed_due_to_regex = false;

  std::string why;
  std::optional<Target> target = ParseTarget(request().target, &why);
  if (!target) {
    Fail(FailureReason::kOther, "target \"" + request().target + "\": " + why);
    return;
  }
  s.target = std::move(*target);
  const config::TcpModule& tcp = module().tcp;
  if (tcp.tls && std::any_of(tcp.query_response.begin(), tcp.query_response.end(),
                             [](const config::QueryResponse& step) { return step.starttls; })) {
    Fail(FailureReason::kOther, "starttls on a connection that already uses tls is not supported");
    return;
  }
  std::string host_in_url = s.target.ipv6_literal ? "[" + s.target.host + "]" : s.target.host;
  s.url = "http://" + host_in_url + ":" + std::to_string(s.target.port) + "/";

  int preferred = tcp.preferred_ip_protocol == config::IpProtocol::kIp4 ? AF_INET : AF_INET6;
  int other = preferred == AF_INET ? AF_INET6 : AF_INET;
  // An address known in advance (an IP literal, or the address the /probe policy approved)
  // needs no lookup: its family decides, as blackbox's resolver returns just that address.
  std::string known = LiteralFamily(s.target.host) != AF_UNSPEC ? s.target.host : "";
  const std::string& pinned = request().pinned_address;
  if (known.empty() && !pinned.empty()) {
    known = pinned.size() > 2 && pinned.front() == '[' && pinned.back() == ']'
                ? pinned.substr(1, pinned.size() - 2)
                : pinned;
    if (LiteralFamily(known) == AF_UNSPEC) {
      Fail(FailureReason::kOther, "pinned address \"" + pinned + "\" is not an IP address");
      return;
    }
    std::string entry = s.target.host + ":" + std::to_string(s.target.port) + ":" +
                        (LiteralFamily(known) == AF_INET6 ? "[" + known + "]" : known);
    s.pinned = curl_slist_append(nullptr, entry.c_str());
    if (s.pinned == nullptr) {
      throw std::bad_alloc();
    }
    Log("pinned: \"" + s.target.host + "\" connects only to " + known);
  }
  if (!known.empty()) {
    int family = LiteralFamily(known);
    if (family != preferred && !tcp.ip_protocol_fallback) {
      Fail(FailureReason::kDns, "no " + FamilyName(preferred) + " address for \"" + s.target.host +
                                    "\" and ip_protocol_fallback is off");
      return;
    }
    // As blackbox, which reports the address as soon as it is chosen, before dialing.
    result().ip_address = known;
    result().ip_protocol = family == AF_INET ? 4 : 6;
    s.family = family;
  } else {
    s.family = preferred;
    s.fallback_family = tcp.ip_protocol_fallback ? other : AF_UNSPEC;
  }
  Log("connecting to " + request().target + " over " + FamilyName(s.family) +
      (s.fallback_family != AF_UNSPEC ? " (" + FamilyName(other) + " if that does not resolve)"
                                      : ""));
  StartConnect(s.family);
}

void TcpProbe::StartConnect(int family) {
  State& s = *state_;
  if (s.easy == nullptr) {
    s.easy = curl_easy_init();
    if (s.easy == nullptr) {
      throw std::runtime_error("curl_easy_init failed");
    }
  } else {
    curl_easy_reset(s.easy);
  }
  CURL* easy = s.easy;
  s.error[0] = '\0';
  curl_easy_setopt(easy, CURLOPT_URL, s.url.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
  // "" rather than unset: no proxy from the environment may carry a TCP probe.
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(easy, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_IPRESOLVE,
                   static_cast<long>(family == AF_INET ? CURL_IPRESOLVE_V4 : CURL_IPRESOLVE_V6));
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, s.error.data());
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &CloseSocketCallback);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, &s.curl_sockets);
  const std::string& source = module().tcp.source_ip_address;
  if (!source.empty()) {
    // "host!" makes libcurl bind to this address rather than look for an interface name.
    std::string interface = "host!" + source;
    curl_easy_setopt(easy, CURLOPT_INTERFACE, interface.c_str());
  }
  if (s.pinned != nullptr) {
    curl_easy_setopt(easy, CURLOPT_RESOLVE, s.pinned);
  }
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline() - SteadyClock::now());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<std::int64_t>(1, left.count())));
  s.attempt_started = SteadyClock::now();
  loop().AddTransfer(easy, [this](CURLcode code) {
    try {
      OnConnectDone(code);
    } catch (const std::exception& e) {
      FailNow(FailureReason::kOther, e.what());
    }
  });
  s.transfer_running = true;
}

void TcpProbe::OnConnectDone(CURLcode code) {
  State& s = *state_;
  s.transfer_running = false;
  curl_off_t lookup = 0;
  curl_off_t connect = 0;
  curl_easy_getinfo(s.easy, CURLINFO_NAMELOOKUP_TIME_T, &lookup);
  curl_easy_getinfo(s.easy, CURLINFO_CONNECT_TIME_T, &connect);
  char* ip = nullptr;
  long port = 0;
  curl_easy_getinfo(s.easy, CURLINFO_PRIMARY_IP, &ip);
  curl_easy_getinfo(s.easy, CURLINFO_PRIMARY_PORT, &port);
  std::string address = ip != nullptr ? ip : "";
  if (address.empty()) {
    address = result().ip_address;  // libcurl reports none for a failed connection
  }
  if (!address.empty()) {
    result().ip_address = address;
    result().ip_protocol = address.find(':') != std::string::npos ? 6 : 4;
  }
  std::string where = request().target;
  std::string curl_error = s.error[0] != '\0' ? s.error.data() : curl_easy_strerror(code);
  auto& phases = result().phases;

  if (code == CURLE_OK) {
    phases["resolve"] = s.failed_lookups + CurlSeconds(lookup);
    phases["connect"] = CurlSeconds(connect - lookup);
    s.fd = AdoptSocket();
    if (s.fd < 0) {
      FailNow(FailureReason::kOther,
              "libcurl reported a connection to " + where + " but handed over no socket");
      return;
    }
    s.connected = true;
    Log("connected to " + address + " port " + std::to_string(port) + " in " +
        std::to_string(CurlSeconds(connect).count()) + "s");
    if (module().tcp.tls && !BeginTls()) {
      return;
    }
    Drive(0);
    return;
  }

  if (code == CURLE_COULDNT_RESOLVE_HOST) {
    SteadyClock::duration spent = SteadyClock::now() - s.attempt_started;
    if (s.fallback_family != AF_UNSPEC) {
      Log("no " + FamilyName(s.family) + " address for \"" + s.target.host + "\", trying " +
          FamilyName(s.fallback_family));
      s.failed_lookups += spent;
      s.family = std::exchange(s.fallback_family, AF_UNSPEC);
      for (int fd : std::exchange(s.curl_sockets, {})) {
        close(fd);
      }
      StartConnect(s.family);
      return;
    }
    phases["resolve"] = s.failed_lookups + spent;
    FailNow(FailureReason::kDns, "cannot resolve \"" + s.target.host + "\" (" +
                                     FamilyName(s.family) + "): " + curl_error);
    return;
  }

  if (lookup > 0) {
    phases["resolve"] = s.failed_lookups + CurlSeconds(lookup);
  }
  switch (code) {
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      curl_easy_getinfo(s.easy, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno == ECONNREFUSED) {
        FailNow(FailureReason::kConnectRefused, "connection refused by " +
                                                    (address.empty() ? s.target.host : address) +
                                                    " port " + std::to_string(s.target.port));
      } else {
        FailNow(FailureReason::kOther,
                "cannot connect to " + where + ": " +
                    (os_errno != 0 ? ErrnoText(static_cast<int>(os_errno)) : curl_error));
      }
      return;
    }
    case CURLE_OPERATION_TIMEDOUT:
      FailNow(FailureReason::kConnectTimeout, "no connection to " + where + " within the timeout");
      return;
    case CURLE_INTERFACE_FAILED:
      FailNow(FailureReason::kOther, "cannot use source_ip_address \"" +
                                         module().tcp.source_ip_address + "\": " + curl_error);
      return;
    default:
      FailNow(FailureReason::kOther, "cannot connect to " + where + ": " + curl_error);
      return;
  }
}

int TcpProbe::AdoptSocket() {
  State& s = *state_;
  char* ip = nullptr;
  long port = 0;
  curl_easy_getinfo(s.easy, CURLINFO_PRIMARY_IP, &ip);
  curl_easy_getinfo(s.easy, CURLINFO_PRIMARY_PORT, &port);
  // libcurl may have tried several addresses; the one to keep is connected to the address
  // it reports.
  int chosen = -1;
  for (int fd : s.curl_sockets) {
    std::optional<std::pair<std::string, int>> peer = PeerOf(fd);
    if (!peer) {
      continue;
    }
    if (chosen < 0 || (ip != nullptr && peer->first == ip && peer->second == port)) {
      chosen = fd;
    }
  }
  for (int fd : std::exchange(s.curl_sockets, {})) {
    if (fd != chosen) {
      close(fd);
    }
  }
  if (chosen < 0) {
    // A loop that reports before removing the handle: the connection is still libcurl's,
    // and removing the handle will close it, so keep a duplicate.
    curl_socket_t active = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(s.easy, CURLINFO_ACTIVESOCKET, &active) == CURLE_OK &&
        active != CURL_SOCKET_BAD) {
      chosen = fcntl(active, F_DUPFD_CLOEXEC, 0);
    }
  }
  if (chosen >= 0) {
    int flags = fcntl(chosen, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) == 0) {
      fcntl(chosen, F_SETFL, flags | O_NONBLOCK);
    }
  }
  return chosen;
}

bool TcpProbe::BeginTls() {
  State& s = *state_;
  if (!s.ctx) {
    std::string why;
    s.ctx = tls::MakeClientContext(module().tcp.tls_config, &why);
    if (!s.ctx) {
      FailNow(FailureReason::kOther, "tls_config: " + why);
      return false;
    }
    s.recorder.Attach(s.ctx.get());
  }
  ERR_clear_error();
  s.ssl.reset(SSL_new(s.ctx.get()));
  BIO* read_bio = BIO_new(BIO_s_mem());
  BIO* write_bio = BIO_new(BIO_s_mem());
  if (!s.ssl || read_bio == nullptr || write_bio == nullptr) {
    BIO_free(read_bio);
    BIO_free(write_bio);
    FailNow(FailureReason::kOther, "cannot create a tls session: " + OpenSslErrors());
    return false;
  }
  SSL_set_bio(s.ssl.get(), read_bio, write_bio);
  SSL_set_connect_state(s.ssl.get());
  tls::PrepareClient(s.ssl.get(), module().tcp.tls_config, s.target.host);
  s.handshaking = true;
  s.handshake_started = SteadyClock::now();
  Log("starting the tls handshake");
  return true;
}

namespace {

// Moves the TLS records OpenSSL produced to the socket's output.
void DrainTls(SSL* ssl, std::string* out) {
  BIO* bio = SSL_get_wbio(ssl);
  std::array<char, kChunkBytes> buffer{};
  int n = 0;
  while ((n = BIO_read(bio, buffer.data(), static_cast<int>(buffer.size()))) > 0) {
    out->append(buffer.data(), static_cast<std::size_t>(n));
  }
}

}  // namespace

bool TcpProbe::ContinueHandshake(bool* done) {
  State& s = *state_;
  *done = false;
  ERR_clear_error();
  int status = SSL_do_handshake(s.ssl.get());
  DrainTls(s.ssl.get(), &s.out);
  int error = status == 1 ? SSL_ERROR_NONE : SSL_get_error(s.ssl.get(), status);
  if (error == SSL_ERROR_WANT_READ && !s.socket_eof && s.read_error.empty()) {
    return true;
  }
  s.handshaking = false;
  result().phases["tls"] += SteadyClock::now() - s.handshake_started;
  s.recorder.OnHandshake(s.ssl.get());
  s.recorder.Apply(result());
  if (error == SSL_ERROR_NONE) {
    const char* cipher = SSL_get_cipher_name(s.ssl.get());
    Log(std::string("tls handshake done: ") + SSL_get_version(s.ssl.get()) + ", " +
        (cipher != nullptr ? cipher : "unknown cipher"));
    *done = true;
    return true;
  }
  std::string why;
  if (s.recorder.verify_error() != X509_V_OK) {
    why = s.recorder.VerifyErrorText();
  } else if (error == SSL_ERROR_WANT_READ) {
    why = s.read_error.empty() ? "the peer closed the connection" : s.read_error;
  } else {
    why = OpenSslErrors();
  }
  // Best effort: let the peer see the alert OpenSSL produced.
  if (!s.out.empty()) {
    [[maybe_unused]] ssize_t sent =
        send(s.fd, s.out.data(), s.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  FailNow(s.recorder.HandshakeFailureReason(),
          "tls handshake with " + request().target + " failed: " + why);
  return false;
}

void TcpProbe::ReadSocket() {
  State& s = *state_;
  if (s.socket_eof || !s.read_error.empty()) {
    return;
  }
  std::array<char, kChunkBytes> buffer{};
  ssize_t n = recv(s.fd, buffer.data(), buffer.size(), 0);
  if (n > 0) {
    if (s.ssl) {
      BIO_write(SSL_get_rbio(s.ssl.get()), buffer.data(), static_cast<int>(n));
    } else {
      s.in.append(buffer.data(), static_cast<std::size_t>(n));
    }
  } else if (n == 0) {
    s.socket_eof = true;
    Log("the peer closed the connection");
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    s.read_error = ErrnoText(errno);
    Log("reading failed: " + s.read_error);
  }
}

void TcpProbe::ReadPlaintext() {
  State& s = *state_;
  if (!s.ssl || s.handshaking || s.tls_eof) {
    return;
  }
  std::array<char, kChunkBytes> buffer{};
  while (true) {
    ERR_clear_error();
    int n = SSL_read(s.ssl.get(), buffer.data(), static_cast<int>(buffer.size()));
    if (n > 0) {
      s.in.append(buffer.data(), static_cast<std::size_t>(n));
      continue;
    }
    int error = SSL_get_error(s.ssl.get(), n);
    // Post-handshake messages (session tickets, key updates) may want an answer.
    DrainTls(s.ssl.get(), &s.out);
    if (error == SSL_ERROR_WANT_READ) {
      s.tls_eof = s.socket_eof;
    } else if (error == SSL_ERROR_ZERO_RETURN) {
      s.tls_eof = true;
    } else {
      s.read_error = "tls: " + OpenSslErrors();
      Log("reading failed: " + s.read_error);
    }
    return;
  }
}

bool TcpProbe::Flush() {
  State& s = *state_;
  while (!s.out.empty()) {
    ssize_t n = send(s.fd, s.out.data(), s.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      s.out.erase(0, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else {
      FailNow(FailureReason::kOther,
              "cannot send to " + request().target + ": " + ErrnoText(n < 0 ? errno : EPIPE));
      return false;
    }
  }
  return true;
}

void TcpProbe::Send(const std::string& data) {
  State& s = *state_;
  if (!s.ssl) {
    s.out += data;
    return;
  }
  ERR_clear_error();
  // With a memory BIO underneath, a write after the handshake always completes at once.
  if (SSL_write(s.ssl.get(), data.data(), static_cast<int>(data.size())) <= 0) {
    throw std::runtime_error("tls write failed: " + OpenSslErrors());
  }
  DrainTls(s.ssl.get(), &s.out);
}

TcpProbe::StepsStatus TcpProbe::RunSteps() {
  State& s = *state_;
  const std::vector<config::QueryResponse>& steps = module().tcp.query_response;
  while (s.step < steps.size()) {
    const config::QueryResponse& step = steps[s.step];
    std::string where = Cat(" (query_response[", std::to_string(s.step), "])");
    switch (s.part) {
      case State::Part::kExpect: {
        if (!step.expect || !step.expect->compiled) {
          s.part = State::Part::kExpectBytes;
          break;
        }
        const std::string& pattern = step.expect->pattern;
        std::size_t newline = s.in.find('\n');
        std::string line;
        if (newline != std::string::npos) {
          line = s.in.substr(0, newline);
          s.in.erase(0, newline + 1);
        } else if (s.in.size() > kMaxLineBytes) {
          FailNow(FailureReason::kOther,
                  Cat("a line longer than ", std::to_string(kMaxLineBytes),
                      " bytes arrived while waiting for \"", pattern, "\"", where));
          return StepsStatus::kFailed;
        } else if (s.InputEnded() && !s.in.empty()) {
          line = std::exchange(s.in, {});  // a last line without a newline, as Go's Scanner
        } else if (s.InputEnded()) {
          if (s.read_error.empty()) {
            result().failed_due_to_regex = true;
            FailNow(FailureReason::kExpectMismatch,
                    Cat("the connection closed before a line matched \"", pattern, "\"", where));
          } else {
            FailNow(FailureReason::kExpectMismatch,
                    Cat("reading failed (", s.read_error, ") before a line matched \"", pattern,
                        "\"", where));
          }
          return StepsStatus::kFailed;
        } else {
          return StepsStatus::kWaiting;
        }
        if (!line.empty() && line.back() == '\r') {
          line.pop_back();
        }
        Log(Cat("< ", Printable(line)));
        if (MatchLine(*step.expect->compiled, line, &s.groups)) {
          result().failed_due_to_regex = false;
          Log(Cat("expect \"", pattern, "\" matched", where));
          s.part = State::Part::kExpectBytes;
        }
        break;
      }
      case State::Part::kExpectBytes: {
        const std::string& want = step.expect_bytes;
        if (!want.empty()) {
          if (s.in.size() < want.size()) {
            if (!s.InputEnded()) {
              return StepsStatus::kWaiting;
            }
            FailNow(FailureReason::kExpectMismatch,
                    Cat("the connection closed after ", std::to_string(s.in.size()), " of the ",
                        std::to_string(want.size()), " bytes expected", where));
            return StepsStatus::kFailed;
          }
          std::string got = s.in.substr(0, want.size());
          s.in.erase(0, want.size());
          Log(Cat("< ", Printable(got)));
          if (got != want) {
            FailNow(FailureReason::kExpectMismatch, Cat("expected bytes \"", Printable(want),
                                                        "\", got \"", Printable(got), "\"", where));
            return StepsStatus::kFailed;
          }
          Log(Cat("expect_bytes matched", where));
        }
        s.part = State::Part::kSend;
        break;
      }
      case State::Part::kSend: {
        // blackbox expands `send` only with the submatches of the same step's `expect`, and
        // ends every send with a newline.
        std::string text = step.expect && step.expect->compiled
                               ? Expand(*step.expect->compiled, step.send, s.groups)
                               : step.send;
        if (!text.empty()) {
          Log(Cat("> ", Printable(text)));
          text += '\n';
          Send(text);
        }
        s.part = State::Part::kStartTls;
        break;
      }
      case State::Part::kStartTls: {
        s.part = State::Part::kExpect;
        ++s.step;
        if (step.starttls) {
          if (!s.in.empty()) {
            // As blackbox, which starts a new reader on the TLS connection.
            Log(Cat("dropping ", std::to_string(s.in.size()), " bytes received before starttls"));
            s.in.clear();
          }
          Log(Cat("starttls", where));
          return StepsStatus::kStartTls;
        }
        break;
      }
    }
  }
  return StepsStatus::kDone;
}

void TcpProbe::Drive(std::uint32_t events) {
  State& s = *state_;
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0U) {
    ReadSocket();
  }
  bool want_input = false;
  while (true) {
    if (s.handshaking) {
      bool done = false;
      if (!ContinueHandshake(&done)) {
        return;
      }
      if (!done) {
        want_input = true;
        break;
      }
    }
    ReadPlaintext();
    StepsStatus status = RunSteps();
    if (status == StepsStatus::kFailed) {
      return;
    }
    if (status == StepsStatus::kStartTls) {
      if (!BeginTls()) {
        return;
      }
      continue;
    }
    want_input = status == StepsStatus::kWaiting;
    break;
  }
  if (!Flush()) {
    return;
  }
  if (!want_input && s.out.empty()) {
    if (!module().tcp.query_response.empty()) {
      Log("query_response done");
    }
    Release();
    ProbeResult done = std::move(result());
    done.success = true;
    Finish(std::move(done));
    return;
  }
  UpdateWatch((want_input ? EPOLLIN : 0U) | (s.out.empty() ? 0U : EPOLLOUT));
}

void TcpProbe::UpdateWatch(std::uint32_t events) {
  State& s = *state_;
  if (events == s.watched) {
    return;
  }
  if (events == 0) {
    loop().Unwatch(s.fd);
    s.watched = 0;
    return;
  }
  loop().Watch(s.fd, events, [this](std::uint32_t ready) {
    try {
      Drive(ready);
    } catch (const std::exception& e) {
      FailNow(FailureReason::kOther, e.what());
    }
  });
  s.watched = events;
}

void TcpProbe::FailNow(FailureReason reason, std::string detail) {
  Release();
  Fail(reason, std::move(detail));
}

void TcpProbe::Abort() { Release(); }

std::string TcpProbe::Waiting() const {
  const State& s = *state_;
  if (!s.connected) {
    return "connecting";
  }
  if (s.handshaking) {
    return "in the tls handshake";
  }
  const std::vector<config::QueryResponse>& steps = module().tcp.query_response;
  if (s.step >= steps.size()) {
    return "sending";
  }
  std::string where = " (query_response[" + std::to_string(s.step) + "])";
  const config::QueryResponse& step = steps[s.step];
  if (s.part == State::Part::kExpect && step.expect) {
    return "waiting for a line matching \"" + step.expect->pattern + "\"" + where;
  }
  if (s.part == State::Part::kExpectBytes) {
    return "waiting for " + std::to_string(step.expect_bytes.size()) + " bytes" + where;
  }
  return "sending" + where;
}

ProbeResult TcpProbe::TimedOut() {
  const State& s = *state_;
  FailureReason reason = FailureReason::kTimeout;
  std::string detail;
  if (!s.connected) {
    reason = FailureReason::kConnectTimeout;
    detail = "no connection to " + request().target + " within the timeout";
  } else {
    detail = "timed out " + Waiting();
  }
  if (s.handshaking) {
    result().phases["tls"] += SteadyClock::now() - s.handshake_started;
  }
  Log("probe failed: " + detail);
  ProbeResult timed_out = std::move(result());
  timed_out.success = false;
  timed_out.reason = reason;
  timed_out.detail = std::move(detail);
  return timed_out;
}

void TcpProbe::Release() {
  if (!state_) {
    return;
  }
  State& s = *state_;
  if (s.transfer_running) {
    loop().RemoveTransfer(s.easy);
    s.transfer_running = false;
  }
  if (s.watched != 0) {
    loop().Unwatch(s.fd);
    s.watched = 0;
  }
  s.ssl.reset();
  if (s.fd >= 0) {
    close(s.fd);
    s.fd = -1;
  }
  if (s.easy != nullptr) {
    curl_easy_cleanup(s.easy);  // may hand more sockets to CloseSocketCallback
    s.easy = nullptr;
  }
  for (int fd : std::exchange(s.curl_sockets, {})) {
    close(fd);
  }
  if (s.pinned != nullptr) {
    curl_slist_free_all(s.pinned);
    s.pinned = nullptr;
  }
  s.ctx.reset();
}

}  // namespace nines::probes
