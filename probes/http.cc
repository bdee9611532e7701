#include "probes/http.h"

#include <arpa/inet.h>
#include <curl/header.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "exporter/version.h"
#include "probes/tls.h"

namespace nines::probes {
namespace {

// Go's http.Client stops after 10 redirects, and blackbox keeps that limit.
constexpr int kMaxRedirects = 10;
// Like blackbox ("Blackbox Exporter/<version>"): servers and logs can tell probes apart.
const char* UserAgent() {
  static const std::string kUserAgent = std::string("nines/") + kVersion;
  return kUserAgent.c_str();
}

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct ShareDeleter {
  void operator()(CURLSH* share) const { curl_share_cleanup(share); }
};
struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using SharePtr = std::unique_ptr<CURLSH, ShareDeleter>;
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

// A curl string list that frees itself.
class Slist {
 public:
  Slist() = default;
  ~Slist() { curl_slist_free_all(head_); }
  Slist(const Slist&) = delete;
  Slist& operator=(const Slist&) = delete;

  void Append(const std::string& line) {
    curl_slist* head = curl_slist_append(head_, line.c_str());
    if (head == nullptr) {
      throw std::bad_alloc();
    }
    head_ = head;
  }
  curl_slist* get() const { return head_; }

 private:
  curl_slist* head_ = nullptr;
};

template <typename T>
void SetOpt(CURL* easy, CURLoption option, T value) {
  CURLcode code = curl_easy_setopt(easy, option, value);
  if (code != CURLE_OK) {
    throw std::runtime_error(std::string("curl_easy_setopt: ") + curl_easy_strerror(code));
  }
}

curl_off_t InfoOff(CURL* easy, CURLINFO info) {
  curl_off_t value = 0;
  if (curl_easy_getinfo(easy, info, &value) != CURLE_OK) {
    return 0;
  }
  return value;
}

long InfoLong(CURL* easy, CURLINFO info) {
  long value = 0;
  if (curl_easy_getinfo(easy, info, &value) != CURLE_OK) {
    return 0;
  }
  return value;
}

std::string InfoString(CURL* easy, CURLINFO info) {
  char* value = nullptr;
  if (curl_easy_getinfo(easy, info, &value) != CURLE_OK || value == nullptr) {
    return "";
  }
  return value;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return lower;
}

std::string TrimSpace(std::string_view text) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && space(text.back())) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

// curl's messages start with a capital; ours are lowercase.
std::string LowerFirst(std::string text) {
  if (!text.empty()) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

std::string Unbracketed(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

std::string Bracketed(const std::string& host) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return "[" + host + "]";
  }
  return host;
}

bool IsIpLiteral(const std::string& host) {
  std::string bare = Unbracketed(host);
  bare = bare.substr(0, bare.find('%'));  // an IPv6 zone
  std::array<unsigned char, 16> buffer{};
  return inet_pton(AF_INET, bare.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, bare.c_str(), buffer.data()) == 1;
}

// "example.com:8080" -> "example.com", "[::1]:80" -> "::1".
std::string HostOfAuthority(const std::string& authority) {
  if (!authority.empty() && authority.front() == '[') {
    std::size_t end = authority.find(']');
    return Unbracketed(authority.substr(0, end == std::string::npos ? end : end + 1));
  }
  std::size_t colon = authority.find(':');
  if (colon != std::string::npos && authority.find(':', colon + 1) == std::string::npos) {
    return authority.substr(0, colon);
  }
  return authority;
}

// Whether a Location value names its scheme (Go's URL.IsAbs).
bool HasScheme(std::string_view location) {
  if (location.empty() || std::isalpha(static_cast<unsigned char>(location.front())) == 0) {
    return false;
  }
  for (char c : location.substr(1)) {
    if (c == ':') {
      return true;
    }
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return false;
}

std::string UrlPart(CURLU* url, CURLUPart part, unsigned int flags = 0) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, flags) != CURLUE_OK || value == nullptr) {
    return "";
  }
  std::string copy = value;
  curl_free(value);
  return copy;
}

// The parts of a URL the prober needs.
struct UrlParts {
  std::string scheme;     // lowercase
  std::string host;       // as in the URL: IPv6 in brackets
  std::string port;       // explicit or the scheme's default
  std::string authority;  // host[:port] as written: blackbox's Host header
};

UrlPtr ParseUrl(const std::string& url, std::string* why) {
  UrlPtr parsed(curl_url());
  if (parsed == nullptr) {
    throw std::bad_alloc();
  }
  CURLUcode code = curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0);
  if (code != CURLUE_OK) {
    *why = curl_url_strerror(code);
    return nullptr;
  }
  return parsed;
}

UrlParts PartsOf(CURLU* url) {
  UrlParts parts;
  parts.scheme = Lower(UrlPart(url, CURLUPART_SCHEME));
  parts.host = UrlPart(url, CURLUPART_HOST);
  parts.port = UrlPart(url, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  std::string explicit_port = UrlPart(url, CURLUPART_PORT);
  parts.authority = explicit_port.empty() ? parts.host : parts.host + ":" + explicit_port;
  return parts;
}

// The URL without user name and password, for logs and details.
std::string Redacted(const std::string& url) {
  std::string why;
  UrlPtr parsed = ParseUrl(url, &why);
  if (parsed == nullptr) {
    return url;
  }
  curl_url_set(parsed.get(), CURLUPART_USER, nullptr, 0);
  curl_url_set(parsed.get(), CURLUPART_PASSWORD, nullptr, 0);
  return UrlPart(parsed.get(), CURLUPART_URL);
}

// Reads a password or credentials file as prometheus/common does: whole file, trimmed.
std::optional<std::string> ReadSecretFile(const std::string& path, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  return TrimSpace(content.str());
}

bool IsRedirectStatus(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// The first value of a response header of the last response, or std::nullopt.
std::optional<std::string> HeaderValue(CURL* easy, const char* name) {
  curl_header* header = nullptr;
  if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &header) != CURLHE_OK) {
    return std::nullopt;
  }
  return std::string(header->value);
}

// Every value of a (possibly repeated) response header of the last response.
std::vector<std::string> HeaderValues(CURL* easy, const std::string& name) {
  std::vector<std::string> values;
  curl_header* header = nullptr;
  if (curl_easy_header(easy, name.c_str(), 0, CURLH_HEADER, -1, &header) != CURLHE_OK) {
    return values;
  }
  std::size_t amount = header->amount;
  values.emplace_back(header->value);
  for (std::size_t i = 1; i < amount; ++i) {
    if (curl_easy_header(easy, name.c_str(), i, CURLH_HEADER, -1, &header) == CURLHE_OK) {
      values.emplace_back(header->value);
    }
  }
  return values;
}

// Whether the prober follows this response: the same rule as Go's client (301, 302, 303,
// 307 and 308 with a Location header).
bool FollowsRedirect(CURL* easy, long status, bool follow_redirects) {
  return follow_redirects && IsRedirectStatus(status) && HeaderValue(easy, "Location").has_value();
}

bool Matches(const config::Regexp& regexp, std::string_view text) {
  if (regexp.compiled != nullptr) {
    return re2::RE2::PartialMatch(text, *regexp.compiled);
  }
  re2::RE2 compiled(regexp.pattern);
  return compiled.ok() && re2::RE2::PartialMatch(text, compiled);
}

std::string ProtoName(long version) {
  switch (version) {
    case CURL_HTTP_VERSION_1_0:
      return "HTTP/1.0";
    case CURL_HTTP_VERSION_1_1:
      return "HTTP/1.1";
    case CURL_HTTP_VERSION_2_0:
      return "HTTP/2.0";
    case CURL_HTTP_VERSION_3:
      return "HTTP/3.0";
    default:
      return "";
  }
}

std::optional<double> VersionNumber(long version) {
  switch (version) {
    case CURL_HTTP_VERSION_1_0:
      return 1.0;
    case CURL_HTTP_VERSION_1_1:
      return 1.1;
    case CURL_HTTP_VERSION_2_0:
      return 2.0;
    case CURL_HTTP_VERSION_3:
      return 3.0;
    default:
      return std::nullopt;
  }
}

long SslVersion(const std::string& min_version) {
  if (min_version == "TLS10") {
    return CURL_SSLVERSION_TLSv1_0;
  }
  if (min_version == "TLS11") {
    return CURL_SSLVERSION_TLSv1_1;
  }
  if (min_version == "TLS13") {
    return CURL_SSLVERSION_TLSv1_3;
  }
  // Go's client default, which blackbox inherits.
  return CURL_SSLVERSION_TLSv1_2;
}

const char* FamilyName(long ip_resolve) { return ip_resolve == CURL_IPRESOLVE_V6 ? "ip6" : "ip4"; }

std::string FormatSeconds(curl_off_t microseconds) {
  std::ostringstream out;
  out << static_cast<double>(microseconds) / 1e6 << "s";
  return out.str();
}

std::string JoinCodes(const std::vector<int>& codes) {
  std::string joined;
  for (int code : codes) {
    joined += (joined.empty() ? "" : ", ") + std::to_string(code);
  }
  return "[" + joined + "]";
}

std::string JoinStrings(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) {
    joined += (joined.empty() ? "" : ", ") + item;
  }
  return "[" + joined + "]";
}

// The checks on the final response, blackbox's, each returning why it failed.

std::optional<std::string> StatusFailure(int status, const config::HttpModule& http) {
  const std::vector<int>& valid = http.valid_status_codes;
  if (valid.empty()) {
    if (status >= 200 && status <= 299) {
      return std::nullopt;
    }
    return "status code " + std::to_string(status) + " is not 2xx";
  }
  if (std::find(valid.begin(), valid.end(), status) != valid.end()) {
    return std::nullopt;
  }
  return "status code " + std::to_string(status) + " is not in valid_status_codes " +
         JoinCodes(valid);
}

// Every value of a repeated header counts: one match fails fail_if_header_matches, and one
// is enough for fail_if_header_not_matches.
std::optional<std::string> HeaderFailure(CURL* easy, const config::HttpModule& http) {
  auto matches = [](const config::HeaderMatch& rule, const std::vector<std::string>& values) {
    return std::any_of(values.begin(), values.end(),
                       [&rule](const std::string& value) { return Matches(rule.regexp, value); });
  };
  for (bool must_match : {false, true}) {
    for (const config::HeaderMatch& rule :
         must_match ? http.fail_if_header_not_matches : http.fail_if_header_matches) {
      std::vector<std::string> values = HeaderValues(easy, rule.header);
      if (values.empty()) {
        if (rule.allow_missing) {
          continue;
        }
        return "missing required header " + rule.header;
      }
      if (matches(rule, values) != must_match) {
        return "header " + rule.header + (must_match ? " did not match " : " matched ") +
               "regexp " + rule.regexp.pattern;
      }
    }
  }
  return std::nullopt;
}

// blackbox decodes the body with the configured algorithm whatever the response says and
// fails when it cannot; curl decodes per Content-Encoding, so check that the response named
// the algorithm.
std::optional<std::string> EncodingFailure(CURL* easy, std::int64_t body_bytes,
                                           const config::HttpModule& http) {
  if (http.compression.empty() || EqualsIgnoreCase(http.compression, "identity") ||
      body_bytes == 0) {
    return std::nullopt;
  }
  std::string encoding = Lower(HeaderValue(easy, "Content-Encoding").value_or(""));
  if (encoding.find(Lower(http.compression)) != std::string::npos) {
    return std::nullopt;
  }
  return "compression is " + http.compression + " but the response's Content-Encoding is \"" +
         encoding + "\"";
}

std::optional<std::string> BodyFailure(const std::string& body, const config::HttpModule& http) {
  for (const config::Regexp& regexp : http.fail_if_body_matches_regexp) {
    if (Matches(regexp, body)) {
      return "body matched regexp " + regexp.pattern;
    }
  }
  for (const config::Regexp& regexp : http.fail_if_body_not_matches_regexp) {
    if (!Matches(regexp, body)) {
      return "body did not match regexp " + regexp.pattern;
    }
  }
  return std::nullopt;
}

std::optional<std::string> VersionFailure(long version, const config::HttpModule& http) {
  const std::vector<std::string>& valid = http.valid_http_versions;
  std::string proto = ProtoName(version);
  if (valid.empty() || std::find(valid.begin(), valid.end(), proto) != valid.end()) {
    return std::nullopt;
  }
  return "HTTP version " + proto + " is not in valid_http_versions " + JoinStrings(valid);
}

// Which part of a hop a timeout interrupted. curl 7.88 sets the connect time only once the
// TLS handshake is done too, but the peer's address as soon as TCP connects.
FailureReason TimeoutReason(CURL* easy, bool needs_lookup, const std::string& host,
                            std::string* detail) {
  bool connected =
      InfoOff(easy, CURLINFO_CONNECT_TIME_T) > 0 || !InfoString(easy, CURLINFO_PRIMARY_IP).empty();
  if (!connected) {
    if (needs_lookup && InfoOff(easy, CURLINFO_NAMELOOKUP_TIME_T) == 0) {
      *detail = "resolving " + host + " did not finish within the timeout";
      return FailureReason::kDns;
    }
    *detail = "connecting to " + host + " did not finish within the timeout";
    return FailureReason::kConnectTimeout;
  }
  if (InfoOff(easy, CURLINFO_STARTTRANSFER_TIME_T) == 0) {
    *detail = "no response from " + host + " within the timeout";
  } else {
    *detail = "the response from " + host + " did not complete within the timeout";
  }
  return FailureReason::kTimeout;
}

}  // namespace

// One request of the chain: its easy handle and what its callbacks collect.
struct HttpProbe::Hop {
  std::string url;          // as requested
  std::string request_url;  // as given to curl: rewritten for server_name
  UrlParts parts;
  bool https = false;
  bool same_host = false;    // the target's host: credentials and the pinned address apply
  bool custom_host = false;  // sends the module's Host header
  bool rewritten = false;    // the URL names tls_name, CONNECT_TO the real host
  bool ip_literal = false;
  bool pinned = false;
  bool fallback = false;  // the retry with the other address family
  long ip_resolve = CURL_IPRESOLVE_WHATEVER;
  std::string tls_name;  // the name sent in SNI and checked in the certificate
  bool verify = true;
  SteadyClock::time_point started{};
  bool running = false;  // added to the loop and not yet done

  // The body: counted (after decoding), kept only when a regexp needs it.
  bool follow_redirects = true;
  std::int64_t body_limit = 0;
  bool keep_body = false;
  bool body_decided = false;
  bool discard_body = false;  // a redirect about to be followed
  bool body_too_large = false;
  std::int64_t body_bytes = 0;
  std::string body;

  tls::ChainRecorder recorder;
  const ProbeRequest::AddressCheck* check_address = nullptr;  // the request's, if it has one
  std::string refused;  // why check_address refused the address curl was about to connect to
  std::array<char, CURL_ERROR_SIZE> error{};
  Slist headers;
  Slist resolve;
  Slist connect_to;
  EasyPtr easy;  // last: cleaned up before what it points to

  static std::size_t Write(char* data, std::size_t size, std::size_t count, void* user);
  static CURLcode SslContext(CURL* easy, void* ssl_ctx, void* user);
  static curl_socket_t OpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address);
};

// Every connection passes the request's address check first, redirects to other hosts
// included: a name that resolves to a denied address is never connected to.
curl_socket_t HttpProbe::Hop::OpenSocket(void* user, curlsocktype /*purpose*/,
                                         curl_sockaddr* address) {
  auto* hop = static_cast<Hop*>(user);
  std::array<char, INET6_ADDRSTRLEN> text{};
  const void* raw = nullptr;
  // The casts are the sockets API's: curl passes a generic sockaddr.
  if (address->family == AF_INET) {
    raw = &reinterpret_cast<const sockaddr_in*>(&address->addr)->sin_addr;
  } else if (address->family == AF_INET6) {
    raw = &reinterpret_cast<const sockaddr_in6*>(&address->addr)->sin6_addr;
  }
  if (raw == nullptr || inet_ntop(address->family, raw, text.data(),
                                  static_cast<socklen_t>(text.size())) == nullptr) {
    hop->refused = "not an IP address";
    return CURL_SOCKET_BAD;
  }
  if (std::optional<std::string> why =
          (*hop->check_address)(Unbracketed(hop->parts.host), text.data())) {
    hop->refused = text.data() + std::string(": ") + *why;
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

struct HttpProbe::State {
  std::string target_url;
  UrlParts target;
  std::string custom_host;          // the Host header of `headers`, "" when none
  bool custom_host_applies = true;  // Go keeps it only across relative redirects
  std::string password;
  std::string authorization;  // the whole Authorization header value
  std::string method;
  bool send_body = false;
  int redirects = 0;
  SharePtr cookies;  // one cookie jar per run, as blackbox's
  std::unique_ptr<Hop> hop;
};

std::size_t HttpProbe::Hop::Write(char* data, std::size_t size, std::size_t count, void* user) {
  auto& hop = *static_cast<Hop*>(user);
  std::size_t length = size * count;
  if (!hop.body_decided) {
    // Headers are complete when the first body bytes arrive: a redirect's body is not the
    // response the checks look at, so it is neither kept nor limited.
    hop.body_decided = true;
    long status = InfoLong(hop.easy.get(), CURLINFO_RESPONSE_CODE);
    hop.discard_body = FollowsRedirect(hop.easy.get(), status, hop.follow_redirects);
  }
  if (hop.discard_body) {
    return length;
  }
  auto added = static_cast<std::int64_t>(length);
  if (hop.body_limit > 0 && hop.body_bytes + added > hop.body_limit) {
    auto room = static_cast<std::size_t>(hop.body_limit - hop.body_bytes);
    if (hop.keep_body) {
      hop.body.append(data, room);
    }
    hop.body_bytes = hop.body_limit;
    hop.body_too_large = true;
    return 0;  // fewer bytes than given: curl ends the transfer with CURLE_WRITE_ERROR
  }
  hop.body_bytes += added;
  if (hop.keep_body) {
    hop.body.append(data, length);
  }
  return length;
}

CURLcode HttpProbe::Hop::SslContext(CURL* /*easy*/, void* ssl_ctx, void* user) {
  auto& hop = *static_cast<Hop*>(user);
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  hop.recorder.Attach(ctx);
  if (hop.verify) {
    // curl checks the host name after the handshake, outside OpenSSL's verification; done
    // here, a mismatch is a verification error the recorder sees and classifies.
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    std::string name = Unbracketed(hop.tls_name);
    if (IsIpLiteral(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    }
  }
  return CURLE_OK;
}

HttpProbe::HttpProbe(EventLoop& loop, ProbeRequest request)
    : ProbeRun(loop, std::move(request)), state_(std::make_unique<State>()) {}

HttpProbe::~HttpProbe() { ReleaseHop(); }

void HttpProbe::ReleaseHop() {
  if (state_ == nullptr || state_->hop == nullptr) {
    return;
  }
  if (state_->hop->running) {
    loop().RemoveTransfer(state_->hop->easy.get());
    state_->hop->running = false;
  }
  state_->hop.reset();
}

void HttpProbe::Abort() { ReleaseHop(); }

void HttpProbe::Begin() {
  State& s = *state_;
  const config::HttpModule& http = module().http;
  // blackbox's probe_failed_due_to_regex is always part of an HTTP probe's answer: 0 unless
  // a header or body regexp failed it.
  result().failed_due_to_regex = false;

  s.target_url = request().target;
  if (s.target_url.rfind("http://", 0) != 0 && s.target_url.rfind("https://", 0) != 0) {
    s.target_url = "http://" + s.target_url;
  }
  std::string why;
  UrlPtr parsed = ParseUrl(s.target_url, &why);
  if (parsed == nullptr) {
    Fail(FailureReason::kOther, "invalid target " + Redacted(s.target_url) + ": " + why);
    return;
  }
  s.target = PartsOf(parsed.get());

  // Secrets are read at run time, so a rotated file is picked up without a reload.
  if (http.basic_auth.has_value()) {
    s.password = http.basic_auth->password;
    if (!http.basic_auth->password_file.empty()) {
      std::optional<std::string> password = ReadSecretFile(http.basic_auth->password_file, &why);
      if (!password.has_value()) {
        Fail(FailureReason::kOther, "basic_auth.password_file: " + why);
        return;
      }
      s.password = *password;
    }
  }
  if (http.authorization.has_value()) {
    std::string credentials = http.authorization->credentials;
    if (!http.authorization->credentials_file.empty()) {
      std::optional<std::string> read = ReadSecretFile(http.authorization->credentials_file, &why);
      if (!read.has_value()) {
        Fail(FailureReason::kOther, "authorization.credentials_file: " + why);
        return;
      }
      credentials = *read;
    }
    std::string type = http.authorization->type.empty() ? "Bearer" : http.authorization->type;
    s.authorization = type + " " + credentials;
  }
  for (const auto& [name, value] : http.headers) {
    if (EqualsIgnoreCase(name, "Host")) {
      s.custom_host = value;
    }
  }
  s.method = http.method.empty() ? "GET" : http.method;
  s.send_body = !http.body.empty();

  s.cookies.reset(curl_share_init());
  if (s.cookies == nullptr) {
    throw std::bad_alloc();
  }
  curl_share_setopt(s.cookies.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);

  StartHop(s.target_url, false);
}

void HttpProbe::StartHop(const std::string& url, bool fallback) {
  std::unique_ptr<Hop> hop = PlanHop(url, fallback);
  if (hop == nullptr) {
    return;  // failed
  }
  CURL* easy = curl_easy_init();
  if (easy == nullptr) {
    throw std::runtime_error("curl_easy_init failed");
  }
  hop->easy.reset(easy);
  ConfigureConnection(*hop);
  ConfigureRequest(*hop);

  std::string line = "making HTTP request: " + state_->method + " " + Redacted(url);
  if (hop->custom_host) {
    line += " (Host: " + state_->custom_host + ")";
  }
  if (hop->pinned) {
    line += ", connecting to the pinned address " + request().pinned_address;
  } else if (!hop->ip_literal) {
    line += std::string(", resolving ") + FamilyName(hop->ip_resolve) + " addresses" +
            (fallback ? " (fallback)" : "");
  }
  if (hop->rewritten) {
    line += ", TLS server name " + hop->tls_name;
  }
  Log(line);

  hop->started = SteadyClock::now();
  hop->running = true;
  ReleaseHop();
  state_->hop = std::move(hop);
  loop().AddTransfer(easy, [this](CURLcode code) { OnHopDone(code); });
}

std::unique_ptr<HttpProbe::Hop> HttpProbe::PlanHop(const std::string& url, bool fallback) {
  const State& s = *state_;
  const config::HttpModule& http = module().http;
  auto hop = std::make_unique<Hop>();
  hop->url = url;
  hop->fallback = fallback;

  std::string why;
  UrlPtr parsed = ParseUrl(url, &why);
  if (parsed == nullptr) {
    Fail(FailureReason::kOther, "invalid URL " + Redacted(url) + ": " + why);
    return nullptr;
  }
  hop->parts = PartsOf(parsed.get());
  const UrlParts& parts = hop->parts;
  if (parts.scheme != "http" && parts.scheme != "https") {
    Fail(FailureReason::kOther,
         "unsupported protocol scheme \"" + parts.scheme + "\" in " + Redacted(url));
    return nullptr;
  }
  hop->https = parts.scheme == "https";
  hop->ip_literal = IsIpLiteral(parts.host);
  hop->same_host = EqualsIgnoreCase(Unbracketed(parts.host), Unbracketed(s.target.host));
  hop->custom_host = !s.custom_host.empty() && s.custom_host_applies;

  // The name the handshake uses: blackbox's ServerName (server_name, else the Host header)
  // for the target's own host and port, the URL's host after a redirect elsewhere.
  std::string url_host = Unbracketed(parts.host);
  hop->tls_name = url_host;
  if (hop->https && hop->same_host && parts.port == s.target.port) {
    if (!http.tls_config.server_name.empty()) {
      hop->tls_name = http.tls_config.server_name;
    } else if (hop->custom_host) {
      hop->tls_name = HostOfAuthority(s.custom_host);
    }
  }
  hop->request_url = url;
  hop->rewritten = !EqualsIgnoreCase(hop->tls_name, url_host);
  if (hop->rewritten) {
    // curl sends the URL's host in SNI and verifies the certificate against it. So the URL
    // names the wanted host, CONNECT_TO still connects to the real one, and the Host header
    // keeps the original authority (ConfigureRequest).
    curl_url_set(parsed.get(), CURLUPART_HOST, Bracketed(hop->tls_name).c_str(), 0);
    hop->request_url = UrlPart(parsed.get(), CURLUPART_URL);
    hop->connect_to.Append("::" + parts.host + ":" + parts.port);
  }

  // The address: the approved one when pinned (every hop to the target's host), else a
  // lookup restricted to the preferred family, the other one on the fallback retry.
  hop->pinned = hop->same_host && !request().pinned_address.empty() && !hop->ip_literal;
  if (hop->pinned) {
    hop->resolve.Append(Unbracketed(parts.host) + ":" + parts.port + ":" +
                        Bracketed(request().pinned_address));
  } else if (!hop->ip_literal) {
    bool prefer6 = http.preferred_ip_protocol == config::IpProtocol::kIp6;
    hop->ip_resolve = (prefer6 != fallback) ? CURL_IPRESOLVE_V6 : CURL_IPRESOLVE_V4;
  }

  hop->follow_redirects = http.follow_redirects;
  hop->body_limit = http.body_size_limit;
  hop->keep_body =
      !http.fail_if_body_matches_regexp.empty() || !http.fail_if_body_not_matches_regexp.empty();
  hop->verify = !http.tls_config.insecure_skip_verify;
  return hop;
}

void HttpProbe::ConfigureConnection(Hop& hop) {
  const config::HttpModule& http = module().http;
  CURL* easy = hop.easy.get();
  SetOpt(easy, CURLOPT_URL, hop.request_url.c_str());
  SetOpt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  SetOpt(easy, CURLOPT_ERRORBUFFER, hop.error.data());
  SetOpt(easy, CURLOPT_NOSIGNAL, 1L);
  // Every run measures a whole connection: no reuse, no cached lookups or TLS sessions.
  SetOpt(easy, CURLOPT_FRESH_CONNECT, 1L);
  SetOpt(easy, CURLOPT_FORBID_REUSE, 1L);
  SetOpt(easy, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
  SetOpt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  // Removing a transfer while its lookup runs must not wait for the resolver thread: that
  // would block the loop for as long as the lookup takes.
  SetOpt(easy, CURLOPT_QUICK_EXIT, 1L);
  // "" disables proxies, including those of the environment.
  SetOpt(easy, CURLOPT_PROXY, http.proxy_url.c_str());
  // Rounded up: the run's deadline, not curl's timer, is what normally ends a slow hop.
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline() - SteadyClock::now());
  SetOpt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(1, left.count())));
  SetOpt(easy, CURLOPT_IPRESOLVE, hop.ip_resolve);
  if (request().check_address) {
    hop.check_address = &request().check_address;
    SetOpt(easy, CURLOPT_OPENSOCKETFUNCTION, &Hop::OpenSocket);
    SetOpt(easy, CURLOPT_OPENSOCKETDATA, static_cast<void*>(&hop));
  }
  if (hop.resolve.get() != nullptr) {
    SetOpt(easy, CURLOPT_RESOLVE, hop.resolve.get());
  }
  if (hop.connect_to.get() != nullptr) {
    SetOpt(easy, CURLOPT_CONNECT_TO, hop.connect_to.get());
  }
  SetOpt(easy, CURLOPT_HTTP_VERSION,
         hop.https && http.enable_http2 ? static_cast<long>(CURL_HTTP_VERSION_2TLS)
                                        : static_cast<long>(CURL_HTTP_VERSION_1_1));
  SetOpt(easy, CURLOPT_SHARE, state_->cookies.get());
  SetOpt(easy, CURLOPT_COOKIEFILE, "");
  SetOpt(easy, CURLOPT_WRITEFUNCTION, &Hop::Write);
  SetOpt(easy, CURLOPT_WRITEDATA, static_cast<void*>(&hop));

  const config::TlsConfig& tls = http.tls_config;
  SetOpt(easy, CURLOPT_SSLVERSION, SslVersion(tls.min_version));
  SetOpt(easy, CURLOPT_SSL_VERIFYPEER, hop.verify ? 1L : 0L);
  SetOpt(easy, CURLOPT_SSL_VERIFYHOST, hop.verify ? 2L : 0L);
  if (!tls.ca_file.empty()) {
    // Only ca_file, as in Go: not also the directory of system roots curl is built with.
    SetOpt(easy, CURLOPT_CAINFO, tls.ca_file.c_str());
    SetOpt(easy, CURLOPT_CAPATH, static_cast<const char*>(nullptr));
  }
  if (!tls.cert_file.empty()) {
    SetOpt(easy, CURLOPT_SSLCERT, tls.cert_file.c_str());
  }
  if (!tls.key_file.empty()) {
    SetOpt(easy, CURLOPT_SSLKEY, tls.key_file.c_str());
  }
  // Through an HTTPS proxy the callback would also see the proxy's handshake; curl's own
  // checks then apply and certificate facts are not recorded.
  if (http.proxy_url.rfind("https://", 0) != 0) {
    SetOpt(easy, CURLOPT_SSL_CTX_FUNCTION, &Hop::SslContext);
    SetOpt(easy, CURLOPT_SSL_CTX_DATA, static_cast<void*>(&hop));
  }
}

void HttpProbe::ConfigureRequest(Hop& hop) {
  const State& s = *state_;
  const config::HttpModule& http = module().http;
  CURL* easy = hop.easy.get();
  if (s.method == "HEAD") {
    SetOpt(easy, CURLOPT_NOBODY, 1L);
  } else if (s.method != "GET") {
    SetOpt(easy, CURLOPT_CUSTOMREQUEST, s.method.c_str());
  }
  bool empty_body_method = s.method == "POST" || s.method == "PUT" || s.method == "PATCH";
  if (s.method != "HEAD" && (s.send_body || empty_body_method)) {
    // Go sends "Content-Length: 0" for these methods without a body; so does curl here.
    const std::string& body = s.send_body ? http.body : std::string();
    SetOpt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    SetOpt(easy, CURLOPT_COPYPOSTFIELDS, body.c_str());
  }
  if (!http.compression.empty()) {
    // Asks for the encoding and decodes it: the body seen by limits and regexps is decoded.
    SetOpt(easy, CURLOPT_ACCEPT_ENCODING, http.compression.c_str());
  }
  SetOpt(easy, CURLOPT_USERAGENT, UserAgent());

  bool has_accept = false;
  bool has_content_type = false;
  for (const auto& [name, value] : http.headers) {
    if (EqualsIgnoreCase(name, "Host")) {
      continue;
    }
    has_accept = has_accept || EqualsIgnoreCase(name, "Accept");
    has_content_type = has_content_type || EqualsIgnoreCase(name, "Content-Type");
    // "Name;" is curl's spelling of a header with an empty value.
    std::string line = name;
    line += value.empty() ? ";" : ": " + value;
    hop.headers.Append(line);
  }
  if (hop.custom_host) {
    hop.headers.Append("Host: " + s.custom_host);
  } else if (hop.rewritten) {
    hop.headers.Append("Host: " + hop.parts.authority);
  }
  // Go sends neither Accept nor a default Content-Type, and never waits for 100-continue.
  if (!has_accept) {
    hop.headers.Append("Accept:");
  }
  if (!has_content_type) {
    hop.headers.Append("Content-Type:");
  }
  hop.headers.Append("Expect:");
  // Credentials go only to the target's host, as curl and Go's client do for headers they
  // consider sensitive, so a redirect cannot hand them to another site.
  if (hop.same_host && !s.authorization.empty()) {
    hop.headers.Append("Authorization: " + s.authorization);
  }
  if (hop.same_host && http.basic_auth.has_value()) {
    SetOpt(easy, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    SetOpt(easy, CURLOPT_USERNAME, http.basic_auth->username.c_str());
    SetOpt(easy, CURLOPT_PASSWORD, s.password.c_str());
  }
  SetOpt(easy, CURLOPT_HTTPHEADER, hop.headers.get());
}

void HttpProbe::OnHopDone(CURLcode code) {
  state_->hop->running = false;
  try {
    HandleHopDone(code);
  } catch (const std::exception& e) {
    // The loop called us: nothing above this frame would report the failure.
    ReleaseHop();
    Fail(FailureReason::kOther, e.what());
  }
}

void HttpProbe::HandleHopDone(CURLcode code) {
  Hop& hop = *state_->hop;
  const config::HttpModule& http = module().http;
  CURL* easy = hop.easy.get();

  if (code == CURLE_COULDNT_RESOLVE_HOST && !hop.fallback &&
      hop.ip_resolve != CURL_IPRESOLVE_WHATEVER && http.ip_protocol_fallback) {
    // blackbox uses the other family only when the name has no address of the preferred one.
    AddPhases(hop, false);
    Log(std::string("no ") + FamilyName(hop.ip_resolve) + " address for " +
        Unbracketed(hop.parts.host));
    std::string url = hop.url;
    StartHop(url, true);
    return;
  }
  AddPhases(hop, code == CURLE_OK);
  if (code == CURLE_OK) {
    long status = InfoLong(easy, CURLINFO_RESPONSE_CODE);
    Log("received HTTP response: status " + std::to_string(status) + " from " +
        InfoString(easy, CURLINFO_PRIMARY_IP));
    if (FollowsRedirect(easy, status, http.follow_redirects)) {
      FollowRedirect(hop, status);
    } else {
      FinishFinalHop(hop, false);
    }
  } else if (code == CURLE_WRITE_ERROR && hop.body_too_large) {
    FinishFinalHop(hop, true);
  } else {
    FailTransfer(hop, code);
  }
}

void HttpProbe::FollowRedirect(Hop& hop, long status) {
  State& s = *state_;
  if (s.redirects >= kMaxRedirects) {
    RecordResponse(hop);
    Fail(FailureReason::kTooManyRedirects,
         "stopped after " + std::to_string(kMaxRedirects) + " redirects");
    return;
  }
  // Resolved against the URL as requested, not the one rewritten for server_name.
  std::string location = HeaderValue(hop.easy.get(), "Location").value_or("");
  std::string why;
  UrlPtr next = ParseUrl(hop.url, &why);
  CURLUcode set = curl_url_set(next.get(), CURLUPART_URL, location.c_str(), 0);
  if (set != CURLUE_OK) {
    RecordResponse(hop);
    Fail(FailureReason::kOther,
         "invalid redirect location \"" + location + "\": " + curl_url_strerror(set));
    return;
  }
  std::string next_url = UrlPart(next.get(), CURLUPART_URL);
  ++s.redirects;
  // Go's client: 301, 302 and 303 turn a request other than GET and HEAD into a GET without
  // a body; 307 and 308 repeat it as it was. A Host header survives relative redirects only.
  if (status != 307 && status != 308) {
    s.send_body = false;
    if (s.method != "GET" && s.method != "HEAD") {
      s.method = "GET";
    }
  }
  s.custom_host_applies = s.custom_host_applies && !HasScheme(location);
  Log("following redirect " + std::to_string(s.redirects) + " to " + Redacted(next_url));
  StartHop(next_url, false);
}

void HttpProbe::AddPhases(const Hop& hop, bool completed) {
  CURL* easy = hop.easy.get();
  curl_off_t namelookup = InfoOff(easy, CURLINFO_NAMELOOKUP_TIME_T);
  curl_off_t connect = InfoOff(easy, CURLINFO_CONNECT_TIME_T);
  curl_off_t appconnect = InfoOff(easy, CURLINFO_APPCONNECT_TIME_T);
  curl_off_t pretransfer = InfoOff(easy, CURLINFO_PRETRANSFER_TIME_T);
  curl_off_t starttransfer = InfoOff(easy, CURLINFO_STARTTRANSFER_TIME_T);
  curl_off_t total = InfoOff(easy, CURLINFO_TOTAL_TIME_T);
  if (hop.running) {
    total = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - hop.started)
                .count();
  }
  auto& phases = result().phases;
  auto add = [&phases](const char* name, curl_off_t microseconds) {
    phases[name] +=
        ProbeResult::Seconds(static_cast<double>(std::max<curl_off_t>(0, microseconds)) / 1e6);
  };
  if (namelookup > 0 || connect > 0 || hop.ip_literal) {
    add("resolve", namelookup);
  } else {
    // The lookup never finished: it took the whole hop (blackbox counts a failed lookup).
    add("resolve", total);
  }
  if (connect > 0) {
    add("connect", connect - namelookup);
  }
  if (hop.https && appconnect > 0) {
    add("tls", appconnect - connect);
  }
  if (starttransfer > 0) {
    add("processing", starttransfer - (hop.https && appconnect > 0 ? appconnect : pretransfer));
  }
  if (completed && starttransfer > 0) {
    add("transfer", total - starttransfer);
  }
  std::string line = "times since the request started: resolved " + FormatSeconds(namelookup) +
                     ", connected " + FormatSeconds(connect);
  if (hop.https) {
    line += ", TLS done " + FormatSeconds(appconnect);
  }
  Log(line + ", first byte " + FormatSeconds(starttransfer) + ", " +
      (completed ? "done " : "stopped ") + FormatSeconds(total));
}

void HttpProbe::RecordResponse(const Hop& hop) {
  CURL* easy = hop.easy.get();
  ProbeResult& r = result();
  long status = InfoLong(easy, CURLINFO_RESPONSE_CODE);
  if (status > 0) {
    r.status_code = static_cast<int>(status);
    r.http_version = VersionNumber(InfoLong(easy, CURLINFO_HTTP_VERSION));
    r.content_length = InfoOff(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T);
    r.uncompressed_body_length = hop.body_bytes;
    r.ssl = hop.https;
    if (std::optional<std::string> modified = HeaderValue(easy, "Last-Modified")) {
      time_t when = curl_getdate(modified->c_str(), nullptr);
      if (when != -1) {
        r.last_modified_seconds = static_cast<double>(when);
      }
    }
  }
  r.redirects = state_->redirects;
  std::string ip = InfoString(easy, CURLINFO_PRIMARY_IP);
  if (!ip.empty()) {
    r.ip_address = ip;
    r.ip_protocol = ip.find(':') != std::string::npos ? 6 : 4;
  }
  if (hop.https) {
    hop.recorder.Apply(r);
  }
}

void HttpProbe::FinishFinalHop(Hop& hop, bool body_too_large) {
  const config::HttpModule& http = module().http;
  CURL* easy = hop.easy.get();
  RecordResponse(hop);
  ProbeResult& r = result();

  // blackbox's order: status code, header regexps, body (decoding, size, regexps), HTTP
  // version, then TLS policy. The first failing check names the reason.
  FailureReason reason = FailureReason::kNone;
  std::string detail;
  auto check = [&reason, &detail](FailureReason failed, std::optional<std::string> why) {
    if (reason == FailureReason::kNone && why.has_value()) {
      reason = failed;
      detail = std::move(*why);
      return true;
    }
    return false;
  };
  check(FailureReason::kHttpStatus, StatusFailure(r.status_code.value_or(0), http));
  if (check(FailureReason::kHeaderMismatch, HeaderFailure(easy, http))) {
    r.failed_due_to_regex = true;
  }
  check(FailureReason::kBodyMismatch, EncodingFailure(easy, hop.body_bytes, http));
  if (body_too_large) {
    check(FailureReason::kBodyTooLarge, "response body is larger than body_size_limit (" +
                                            std::to_string(http.body_size_limit) + " bytes)");
  }
  if (check(FailureReason::kBodyMismatch, BodyFailure(hop.body, http))) {
    r.failed_due_to_regex = true;
  }
  // The version is part of the status line, so a version outside valid_http_versions is an
  // unacceptable status, as a code outside valid_status_codes is.
  check(FailureReason::kHttpStatus, VersionFailure(InfoLong(easy, CURLINFO_HTTP_VERSION), http));
  if (http.fail_if_ssl && r.ssl) {
    check(FailureReason::kTlsPolicy, "the final response came over TLS (fail_if_ssl)");
  }
  if (http.fail_if_not_ssl && !r.ssl) {
    check(FailureReason::kTlsPolicy, "the final response did not come over TLS (fail_if_not_ssl)");
  }
  if (reason != FailureReason::kNone) {
    Fail(reason, detail);
    return;
  }
  r.success = true;
  Log("probe succeeded");
  Finish(std::move(r));
}

void HttpProbe::FailTransfer(Hop& hop, CURLcode code) {
  CURL* easy = hop.easy.get();
  RecordResponse(hop);
  std::string host = Unbracketed(hop.parts.host);
  std::string detail =
      LowerFirst(hop.error[0] != '\0' ? hop.error.data() : curl_easy_strerror(code));
  FailureReason reason = FailureReason::kOther;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
      reason = FailureReason::kDns;
      break;
    case CURLE_COULDNT_CONNECT: {
      long os_errno = InfoLong(easy, CURLINFO_OS_ERRNO);
      if (!hop.refused.empty()) {
        detail = "not connecting to " + host + " at " + hop.refused;
      } else if (os_errno == ECONNREFUSED) {
        reason = FailureReason::kConnectRefused;
      } else if (os_errno == ETIMEDOUT) {
        reason = FailureReason::kConnectTimeout;
      }
      break;
    }
    case CURLE_OPERATION_TIMEDOUT:
      reason = TimeoutReason(easy, !hop.ip_literal && !hop.pinned, host, &detail);
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
      // The recorder knows which certificate problem it was. A failure curl found after
      // OpenSSL's verification passed is still about the certificate.
      reason = hop.recorder.HandshakeFailureReason();
      if (reason == FailureReason::kTlsHandshake) {
        reason = FailureReason::kTlsCertInvalid;
      } else {
        detail = "certificate of " + host + ": " + hop.recorder.VerifyErrorText();
      }
      break;
    case CURLE_BAD_CONTENT_ENCODING:
      // The body is not encoded as the Content-Encoding (asked for by `compression`) says.
      reason = FailureReason::kBodyMismatch;
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
      reason = hop.recorder.HandshakeFailureReason();
      break;
    default:
      // Local problems (an unreadable ca_file or client certificate, out of memory) and
      // protocol errors of the peer.
      break;
  }
  Fail(reason, detail);
}

ProbeResult HttpProbe::TimedOut() {
  FailureReason reason = FailureReason::kTimeout;
  std::string detail = "no answer within the timeout";
  if (state_->hop != nullptr && state_->hop->running) {
    Hop& hop = *state_->hop;
    AddPhases(hop, false);
    RecordResponse(hop);
    reason = TimeoutReason(hop.easy.get(), !hop.ip_literal && !hop.pinned,
                           Unbracketed(hop.parts.host), &detail);
  }
  Log("probe failed: " + detail);
  ProbeResult timed_out = ProbeRun::TimedOut();
  timed_out.reason = reason;
  timed_out.detail = detail;
  return timed_out;
}

}  // namespace nines::probes
