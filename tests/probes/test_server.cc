#include "tests/probes/test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

namespace nines::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Long enough for a loaded machine, short enough that a broken test fails instead of hanging.
constexpr std::chrono::seconds kReadTimeout(10);
// How long a closing connection waits for the peer's FIN, so unread bytes do not turn the
// close into a reset that could destroy a response still in flight.
constexpr std::chrono::seconds kDrainTimeout(2);
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

[[noreturn]] void ThrowErrno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string OpenSslError() {
  const unsigned long code = ERR_peek_error();
  std::array<char, 256> buffer{};
  ERR_error_string_n(code, buffer.data(), buffer.size());
  ERR_clear_error();
  return buffer.data();
}

[[noreturn]] void ThrowOpenSsl(const std::string& what) {
  throw std::runtime_error(what + ": " + OpenSslError());
}

std::string Lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// The value of header `name` (lowercase) in an HTTP head, or nullopt.
std::optional<std::string> HeaderValue(std::string_view head, std::string_view name) {
  std::size_t start = head.find('\n');  // skip the request or status line
  while (start != std::string_view::npos && start + 1 < head.size()) {
    const std::size_t end = head.find('\n', start + 1);
    const std::string_view line = head.substr(
        start + 1, end == std::string_view::npos ? std::string_view::npos : end - start - 1);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && Lower(Trim(line.substr(0, colon))) == name) {
      return std::string(Trim(line.substr(colon + 1)));
    }
    start = end;
  }
  return std::nullopt;
}

// Where an HTTP head ends (just past its blank line), or npos.
std::size_t HeadEnd(std::string_view data) {
  const std::size_t crlf = data.find("\r\n\r\n");
  const std::size_t lf = data.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) {
    return std::string_view::npos;
  }
  if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf)) {
    return crlf + 4;
  }
  return lf + 2;
}

void SetTimeouts(int fd, std::chrono::seconds timeout) {
  const timeval value{static_cast<time_t>(timeout.count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof value);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, sizeof value);
}

struct KeyPtrDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertPtrDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioPtrDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyPtrDeleter>;
using CertPtr = std::unique_ptr<X509, CertPtrDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
using SslPtr = std::unique_ptr<SSL, decltype(&SSL_free)>;

KeyPtr NewKey() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) {
    ThrowOpenSsl("cannot generate an EC P-256 key");
  }
  return key;
}

bool IsIpAddress(const std::string& text) {
  std::array<unsigned char, 16> address{};
  return inet_pton(AF_INET, text.c_str(), address.data()) == 1 ||
         inet_pton(AF_INET6, text.c_str(), address.data()) == 1;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (extension == nullptr || X509_add_ext(cert, extension, -1) != 1) {
    X509_EXTENSION_free(extension);
    ThrowOpenSsl("cannot add certificate extension " + value);
  }
  X509_EXTENSION_free(extension);
}

struct CertSpec {
  std::string common_name;
  std::vector<std::string> sans;
  std::chrono::seconds not_before;
  std::chrono::seconds not_after;
  bool ca = false;
  bool self_signed_leaf = false;
};

// A certificate for `key` described by `spec`, signed by `issuer_key` as `issuer` (both null
// for a self-signed certificate).
CertPtr MakeCertificate(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  CertPtr cert(X509_new());
  if (cert == nullptr) {
    ThrowOpenSsl("cannot allocate a certificate");
  }
  std::uint64_t serial = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) != 1) {
    ThrowOpenSsl("cannot draw a serial number");
  }
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(spec.not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.not_after.count()));
  X509_set_pubkey(cert.get(), key);

  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto add_name = [subject](const char* field, const std::string& value) {
    if (X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1) {
      ThrowOpenSsl(std::string("cannot set subject ") + field);
    }
  };
  add_name("O", "nines test");
  add_name("CN", spec.common_name);
  const bool self_signed = issuer == nullptr;
  X509* signer = self_signed ? cert.get() : issuer;
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));

  if (spec.ca) {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    // A self-signed leaf may sign itself, so OpenSSL reports it as self-signed.
    AddExtension(cert.get(), signer, NID_key_usage,
                 spec.self_signed_leaf ? "critical,digitalSignature,keyCertSign"
                                       : "critical,digitalSignature");
    AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  if (!spec.sans.empty()) {
    std::string sans;
    for (const std::string& san : spec.sans) {
      if (!sans.empty()) {
        sans += ',';
      }
      sans += (IsIpAddress(san) ? "IP:" : "DNS:") + san;
    }
    AddExtension(cert.get(), signer, NID_subject_alt_name, sans);
  }
  if (X509_sign(cert.get(), self_signed ? key : issuer_key, EVP_sha256()) == 0) {
    ThrowOpenSsl("cannot sign certificate " + spec.common_name);
  }
  return cert;
}

std::string CertificatePem(X509* cert) {
  const std::unique_ptr<BIO, BioPtrDeleter> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    ThrowOpenSsl("cannot write a certificate");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string KeyPem(EVP_PKEY* key) {
  const std::unique_ptr<BIO, BioPtrDeleter> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ThrowOpenSsl("cannot write a key");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

// --- TestPki ---

void TestPki::KeyDeleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
void TestPki::CertDeleter::operator()(X509* cert) const { X509_free(cert); }

TestPki::TestPki() {
  KeyPtr key = NewKey();
  const CertSpec spec{.common_name = "nines test CA",
                      .sans = {},
                      .not_before = std::chrono::hours(-24),
                      .not_after = std::chrono::hours(24 * 365 * 10),
                      .ca = true};
  CertPtr cert = MakeCertificate(spec, key.get(), nullptr, nullptr);
  ca_file_ = dir_.WriteFile("ca.pem", CertificatePem(cert.get())).string();
  ca_key_.reset(key.release());
  ca_cert_.reset(cert.release());
}

TestPki::~TestPki() = default;

CertFiles TestPki::Write(const std::string& name, X509* cert, EVP_PKEY* key) {
  CertFiles files;
  files.cert_file = dir_.WriteFile(name + ".pem", CertificatePem(cert)).string();
  files.key_file = dir_.WriteFile(name + "-key.pem", KeyPem(key)).string();
  return files;
}

CertFiles TestPki::Issue(const std::string& name, const std::vector<std::string>& sans,
                         std::chrono::seconds not_before, std::chrono::seconds not_after) {
  KeyPtr key = NewKey();
  const CertSpec spec{.common_name = sans.empty() ? name : sans.front(),
                      .sans = sans,
                      .not_before = not_before,
                      .not_after = not_after};
  CertPtr cert = MakeCertificate(spec, key.get(), ca_cert_.get(), ca_key_.get());
  return Write(name, cert.get(), key.get());
}

CertFiles TestPki::SelfSigned(const std::string& name, const std::vector<std::string>& sans) {
  KeyPtr key = NewKey();
  const CertSpec spec{.common_name = sans.empty() ? name : sans.front(),
                      .sans = sans,
                      .not_before = std::chrono::hours(-1),
                      .not_after = std::chrono::hours(24),
                      .self_signed_leaf = true};
  CertPtr cert = MakeCertificate(spec, key.get(), nullptr, nullptr);
  return Write(name, cert.get(), key.get());
}

// --- Connection ---

namespace {

// A connection on a blocking socket (with SO_RCVTIMEO/SO_SNDTIMEO as a backstop); every
// wait also watches the server's stop event, and the server shuts the socket down when it
// stops, so no call outlives the server.
class SocketConnection final : public Connection {
 public:
  SocketConnection(int fd, int stop_fd, SSL_CTX* tls_ctx)
      : fd_(fd), stop_fd_(stop_fd), tls_ctx_(tls_ctx), ssl_(nullptr, SSL_free) {}

  std::string ReadHttpRequest() override {
    const Clock::time_point deadline = Clock::now() + kReadTimeout;
    std::size_t head_end = HeadEnd(buffer_);
    while (head_end == std::string::npos) {
      if (!Fill(deadline)) {
        return "";
      }
      head_end = HeadEnd(buffer_);
    }
    const std::string_view head = std::string_view(buffer_).substr(0, head_end);
    const std::optional<std::string> length = HeaderValue(head, "content-length");
    const std::optional<std::string> encoding = HeaderValue(head, "transfer-encoding");
    const std::optional<std::string> expect = HeaderValue(head, "expect");
    const bool chunked = encoding && Lower(*encoding).find("chunked") != std::string::npos;
    std::size_t body_size = 0;
    if (!chunked && length) {
      body_size = static_cast<std::size_t>(std::strtoull(length->c_str(), nullptr, 10));
    }
    // Clients wait (curl: a second) for the interim response before sending the body.
    if (expect && Lower(*expect) == "100-continue" && (chunked || body_size > 0) &&
        buffer_.size() == head_end) {
      Write("HTTP/1.1 100 Continue\r\n\r\n");
    }
    std::size_t end = head_end + body_size;
    if (chunked) {
      const std::optional<std::size_t> chunked_end = ChunkedEnd(head_end, deadline);
      if (!chunked_end) {
        return "";
      }
      end = *chunked_end;
    }
    while (buffer_.size() < end) {
      if (!Fill(deadline)) {
        return "";
      }
    }
    return Take(end);
  }

  std::string ReadLine() override {
    const Clock::time_point deadline = Clock::now() + kReadTimeout;
    std::size_t newline = buffer_.find('\n');
    while (newline == std::string::npos) {
      if (!Fill(deadline)) {
        return Take(buffer_.size());
      }
      newline = buffer_.find('\n');
    }
    return Take(newline + 1);
  }

  std::string ReadSome() override {
    if (buffer_.empty() && !Fill(Clock::now() + kReadTimeout)) {
      return "";
    }
    return Take(std::min(buffer_.size(), kReadChunk));
  }

  bool Write(std::string_view data) override {
    while (!data.empty()) {
      ssize_t written = 0;
      if (ssl_ != nullptr) {
        const int size = static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20));
        written = SSL_write(ssl_.get(), data.data(), size);
        if (written <= 0) {
          ERR_clear_error();
          return false;
        }
      } else {
        written = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (written < 0 && errno == EINTR) {
          continue;
        }
        if (written <= 0) {
          return false;
        }
      }
      data.remove_prefix(static_cast<std::size_t>(written));
    }
    return true;
  }

  bool StartTls() override {
    if (tls_ctx_ == nullptr) {
      return false;
    }
    // Plaintext pipelined behind the STARTTLS command would be an injection; drop it.
    buffer_.clear();
    return AcceptTls();
  }

  void Hang() override {
    std::array<char, 4096> sink{};
    while (true) {
      std::array<pollfd, 2> fds = {{{fd_, POLLIN | POLLRDHUP, 0}, {stop_fd_, POLLIN, 0}}};
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        return;
      }
      if (fds[1].revents != 0 ||
          (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0) {
        return;
      }
      if ((fds[0].revents & POLLIN) != 0) {
        // Whatever the peer sends is ignored: a hanging server never answers.
        const ssize_t size = recv(fd_, sink.data(), sink.size(), MSG_DONTWAIT);
        if (size == 0 || (size < 0 && errno != EAGAIN && errno != EINTR)) {
          return;
        }
      }
    }
  }

  bool AcceptTls() {
    ssl_.reset(SSL_new(tls_ctx_));
    if (ssl_ == nullptr || SSL_set_fd(ssl_.get(), fd_) != 1 || SSL_accept(ssl_.get()) != 1) {
      ERR_clear_error();
      ssl_.reset();
      return false;
    }
    return true;
  }

  // Ends the connection politely: close_notify, FIN, then wait (bounded) for the peer's FIN.
  void Finish() {
    if (ssl_ != nullptr && SSL_is_init_finished(ssl_.get()) != 0) {
      SSL_shutdown(ssl_.get());
      ERR_clear_error();
    }
    shutdown(fd_, SHUT_WR);
    const Clock::time_point deadline = Clock::now() + kDrainTimeout;
    std::array<char, 4096> sink{};
    while (WaitReadable(deadline)) {
      const ssize_t size = recv(fd_, sink.data(), sink.size(), MSG_DONTWAIT);
      if (size == 0 || (size < 0 && errno != EAGAIN && errno != EINTR)) {
        return;
      }
    }
  }

 private:
  // Waits until the socket is readable (or closed); false on stop or at the deadline.
  bool WaitReadable(Clock::time_point deadline) const {
    while (true) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return false;
      }
      std::array<pollfd, 2> fds = {{{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
      const int ready = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) {
        continue;
      }
      if (ready <= 0 || fds[1].revents != 0) {
        return false;
      }
      return true;
    }
  }

  // Appends the next bytes that arrive to buffer_; false when the peer closed, on error, on
  // stop or at the deadline.
  bool Fill(Clock::time_point deadline) {
    std::string chunk(kReadChunk, '\0');
    while (true) {
      if ((ssl_ == nullptr || SSL_pending(ssl_.get()) == 0) && !WaitReadable(deadline)) {
        return false;
      }
      if (ssl_ != nullptr) {
        const int size = SSL_read(ssl_.get(), chunk.data(), static_cast<int>(chunk.size()));
        if (size > 0) {
          buffer_.append(chunk.data(), static_cast<std::size_t>(size));
          return true;
        }
        const int error = SSL_get_error(ssl_.get(), size);
        ERR_clear_error();
        // Post-handshake messages and SO_RCVTIMEO both surface as "want read".
        if (error == SSL_ERROR_WANT_READ) {
          continue;
        }
        return false;
      }
      const ssize_t size = recv(fd_, chunk.data(), chunk.size(), 0);
      if (size > 0) {
        buffer_.append(chunk.data(), static_cast<std::size_t>(size));
        return true;
      }
      if (size < 0 && (errno == EINTR || errno == EAGAIN)) {
        continue;
      }
      return false;
    }
  }

  // Where a chunked body starting at `start` in buffer_ ends (trailers included).
  std::optional<std::size_t> ChunkedEnd(std::size_t start, Clock::time_point deadline) {
    std::size_t position = start;
    const auto line_end = [&]() -> std::optional<std::size_t> {
      std::size_t newline = buffer_.find('\n', position);
      while (newline == std::string::npos) {
        if (!Fill(deadline)) {
          return std::nullopt;
        }
        newline = buffer_.find('\n', position);
      }
      return newline + 1;
    };
    while (true) {
      const std::optional<std::size_t> size_end = line_end();
      if (!size_end) {
        return std::nullopt;
      }
      const std::size_t size =
          static_cast<std::size_t>(std::strtoull(buffer_.c_str() + position, nullptr, 16));
      position = *size_end;
      if (size == 0) {
        break;
      }
      while (buffer_.size() < position + size + 2) {
        if (!Fill(deadline)) {
          return std::nullopt;
        }
      }
      position += size + 2;
    }
    // Trailer fields, up to the blank line.
    while (true) {
      const std::optional<std::size_t> end = line_end();
      if (!end) {
        return std::nullopt;
      }
      const bool blank = Trim(std::string_view(buffer_).substr(position, *end - position)).empty();
      position = *end;
      if (blank) {
        return position;
      }
    }
  }

  std::string Take(std::size_t size) {
    std::string taken = buffer_.substr(0, size);
    buffer_.erase(0, size);
    return taken;
  }

  int fd_;
  int stop_fd_;
  SSL_CTX* tls_ctx_;
  SslPtr ssl_;
  std::string buffer_;
};

}  // namespace

// --- TestServer ---

class TestServer::Impl {
 public:
  Impl(Handler handler, Options options, std::atomic<int>& accepted)
      : handler_(std::move(handler)),
        options_(std::move(options)),
        accepted_(accepted),
        tls_ctx_(nullptr, SSL_CTX_free) {
    if (options_.tls && options_.cert.cert_file.empty()) {
      throw std::invalid_argument("TestServer: Options::tls needs Options::cert");
    }
    if (!options_.cert.cert_file.empty()) {
      MakeTlsContext();
    }
    Listen();
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) {
      const int error = errno;
      close(listen_fd_);
      throw std::system_error(error, std::generic_category(), "eventfd");
    }
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~Impl() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      const std::uint64_t one = 1;
      if (write(stop_fd_, &one, sizeof one) < 0) {
        std::perror("TestServer: eventfd write");
      }
      for (const int fd : live_fds_) {
        shutdown(fd, SHUT_RDWR);
      }
    }
    accept_thread_.join();
    // The accept loop has ended, so threads_ no longer grows.
    for (std::thread& thread : threads_) {
      thread.join();
    }
    close(listen_fd_);
    close(stop_fd_);
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  int port() const { return port_; }
  const Options& options() const { return options_; }

 private:
  void MakeTlsContext() {
    tls_ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (tls_ctx_ == nullptr ||
        SSL_CTX_use_certificate_chain_file(tls_ctx_.get(), options_.cert.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_ctx_.get(), options_.cert.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_ctx_.get()) != 1) {
      ThrowOpenSsl("TestServer: cannot load " + options_.cert.cert_file);
    }
    if (options_.max_tls_version != 0) {
      SSL_CTX_set_max_proto_version(tls_ctx_.get(), options_.max_tls_version);
      if (options_.max_tls_version < TLS1_2_VERSION) {
        // OpenSSL 3 speaks TLS 1.0 and 1.1 only at security level 0.
        SSL_CTX_set_security_level(tls_ctx_.get(), 0);
      }
    }
  }

  void Listen() {
    const int family = options_.ipv6 ? AF_INET6 : AF_INET;
    listen_fd_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) {
      ThrowErrno("TestServer: socket");
    }
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage storage{};
    socklen_t size = 0;
    if (options_.ipv6) {
      auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
      address->sin6_family = AF_INET6;
      address->sin6_addr = in6addr_loopback;
      size = sizeof(sockaddr_in6);
    } else {
      auto* address = reinterpret_cast<sockaddr_in*>(&storage);
      address->sin_family = AF_INET;
      address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      size = sizeof(sockaddr_in);
    }
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&storage), size) != 0 ||
        listen(listen_fd_, SOMAXCONN) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&storage), &size) != 0) {
      const int error = errno;
      close(listen_fd_);
      throw std::system_error(
          error, std::generic_category(),
          options_.ipv6 ? "TestServer: listen on [::1]:0" : "TestServer: listen on 127.0.0.1:0");
    }
    port_ = ntohs(options_.ipv6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                                : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  }

  void AcceptLoop() {
    while (true) {
      std::array<pollfd, 2> fds = {{{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        return;
      }
      if (fds[1].revents != 0 || (fds[0].revents & (POLLERR | POLLNVAL)) != 0) {
        return;
      }
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) {
          continue;
        }
        std::perror("TestServer: accept");
        return;
      }
      accepted_.fetch_add(1);
      const std::lock_guard lock(mutex_);
      if (stopping_) {
        close(fd);
        return;
      }
      live_fds_.insert(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    // A write to a peer that has gone must fail with EPIPE, not kill the test; SSL_write
    // cannot pass MSG_NOSIGNAL, so the signal is blocked on this thread.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    const int one = 1;
    // Responses are often written in pieces; Nagle would hold them back for tens of ms.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SetTimeouts(fd, kReadTimeout);
    {
      SocketConnection connection(fd, stop_fd_, tls_ctx_.get());
      if (!options_.tls || connection.AcceptTls()) {
        try {
          handler_(connection);
        } catch (const std::exception& error) {
          std::fprintf(stderr, "TestServer: handler threw: %s\n", error.what());
        } catch (...) {
          std::fprintf(stderr, "TestServer: handler threw\n");
        }
      }
      connection.Finish();
    }
    {
      const std::lock_guard lock(mutex_);
      live_fds_.erase(fd);
    }
    close(fd);
  }

  Handler handler_;
  Options options_;
  std::atomic<int>& accepted_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls_ctx_;
  int listen_fd_ = -1;
  int port_ = 0;
  // Readable once the server stops; never read, so every poll on it wakes.
  int stop_fd_ = -1;
  std::mutex mutex_;
  bool stopping_ = false;             // guarded by mutex_
  std::set<int> live_fds_;            // guarded by mutex_
  std::vector<std::thread> threads_;  // guarded by mutex_ while the accept loop runs
  std::thread accept_thread_;
};

TestServer::TestServer(Handler handler) : TestServer(std::move(handler), Options{}) {}

TestServer::TestServer(Handler handler, Options options) {
  // Made here rather than in the initializer list so accepted_ exists before any thread.
  impl_ = std::make_unique<Impl>(std::move(handler), std::move(options), accepted_);
  port_ = impl_->port();
}

TestServer::~TestServer() { impl_.reset(); }

std::string TestServer::HostPort() const {
  return (impl_->options().ipv6 ? "[::1]:" : "127.0.0.1:") + std::to_string(port_);
}

std::string TestServer::Url(std::string_view path) const {
  return (impl_->options().tls ? "https://" : "http://") + HostPort() + std::string(path);
}

TestServer::Handler TestServer::Http(
    std::function<std::string(const std::string& request)> respond) {
  return [respond = std::move(respond)](Connection& connection) {
    while (true) {
      const std::string request = connection.ReadHttpRequest();
      if (request.empty()) {
        return;
      }
      const std::string response = respond(request);
      if (!connection.Write(response)) {
        return;
      }
      const std::size_t head_end = HeadEnd(response);
      const std::optional<std::string> connection_header =
          HeaderValue(std::string_view(response).substr(
                          0, head_end == std::string::npos ? response.size() : head_end),
                      "connection");
      if (connection_header && Lower(*connection_header).find("close") != std::string::npos) {
        return;
      }
    }
  };
}

namespace {

struct Reason {
  int status;
  std::string_view phrase;
};
// The reason phrases of RFC 9110 (and 429, 431, 451, 511 from their RFCs).
constexpr std::array<Reason, 48> kReasons = {{{100, "Continue"},
                                              {101, "Switching Protocols"},
                                              {200, "OK"},
                                              {201, "Created"},
                                              {202, "Accepted"},
                                              {203, "Non-Authoritative Information"},
                                              {204, "No Content"},
                                              {205, "Reset Content"},
                                              {206, "Partial Content"},
                                              {300, "Multiple Choices"},
                                              {301, "Moved Permanently"},
                                              {302, "Found"},
                                              {303, "See Other"},
                                              {304, "Not Modified"},
                                              {307, "Temporary Redirect"},
                                              {308, "Permanent Redirect"},
                                              {400, "Bad Request"},
                                              {401, "Unauthorized"},
                                              {403, "Forbidden"},
                                              {404, "Not Found"},
                                              {405, "Method Not Allowed"},
                                              {406, "Not Acceptable"},
                                              {408, "Request Timeout"},
                                              {409, "Conflict"},
                                              {410, "Gone"},
                                              {411, "Length Required"},
                                              {412, "Precondition Failed"},
                                              {413, "Content Too Large"},
                                              {414, "URI Too Long"},
                                              {415, "Unsupported Media Type"},
                                              {416, "Range Not Satisfiable"},
                                              {417, "Expectation Failed"},
                                              {418, "I'm a teapot"},
                                              {421, "Misdirected Request"},
                                              {422, "Unprocessable Content"},
                                              {425, "Too Early"},
                                              {426, "Upgrade Required"},
                                              {428, "Precondition Required"},
                                              {429, "Too Many Requests"},
                                              {431, "Request Header Fields Too Large"},
                                              {451, "Unavailable For Legal Reasons"},
                                              {500, "Internal Server Error"},
                                              {501, "Not Implemented"},
                                              {502, "Bad Gateway"},
                                              {503, "Service Unavailable"},
                                              {504, "Gateway Timeout"},
                                              {505, "HTTP Version Not Supported"},
                                              {511, "Network Authentication Required"}}};

std::string_view ReasonPhrase(int status) {
  for (const Reason& reason : kReasons) {
    if (reason.status == status) {
      return reason.phrase;
    }
  }
  return "Unknown";
}

}  // namespace

std::string TestServer::Response(int status, std::string_view body,
                                 const std::map<std::string, std::string>& headers) {
  std::string response = "HTTP/1.1 " + std::to_string(status) + " ";
  response += ReasonPhrase(status);
  response += "\r\n";
  const bool has_length = std::any_of(headers.begin(), headers.end(), [](const auto& header) {
    return Lower(header.first) == "content-length";
  });
  const bool bodiless = (status >= 100 && status < 200) || status == 204;
  if (!has_length && !bodiless) {
    response += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& [name, value] : headers) {
    response += name;
    response += ": ";
    response += value;
    response += "\r\n";
  }
  response += "\r\n";
  response += body;
  return response;
}

int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno("UnusedPort: socket");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    const int error = errno;
    close(fd);
    throw std::system_error(error, std::generic_category(), "UnusedPort: bind 127.0.0.1:0");
  }
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace nines::testing
