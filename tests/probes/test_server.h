#pragma once

#include <openssl/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/process_runner.h"

/// Real local servers for probe tests: a loopback TCP server (optionally TLS) that runs a
/// scripted handler per connection, and certificates generated in the test.
namespace nines::testing {

/// A certificate and its key, as PEM files; empty paths mean none.
struct CertFiles {
  std::string cert_file;
  std::string key_file;
};

/// A test certificate authority (EC P-256 keys, generated with OpenSSL in memory) whose
/// files live in a TempDir. Subjects are "CN=<name>,O=nines test"; the CA is
/// "CN=nines test CA,O=nines test". Not thread-safe; throws std::runtime_error when OpenSSL
/// fails.
class TestPki {
 public:
  TestPki();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;
  /// The CA certificate (PEM), for `tls_config.ca_file`.
  const std::string& ca_file() const { return ca_file_; }
  /// A leaf certificate signed by the CA for `sans` ("localhost", "127.0.0.1": DNS or IP
  /// SANs by syntax; the first is also the CN, else `name`), valid from now + not_before to
  /// now + not_after (negative offsets put them in the past). The files are
  /// `<name>.pem` (the leaf alone) and `<name>-key.pem`.
  CertFiles Issue(const std::string& name, const std::vector<std::string>& sans,
                  std::chrono::seconds not_before = std::chrono::hours(-1),
                  std::chrono::seconds not_after = std::chrono::hours(24 * 90));
  /// A self-signed certificate (not from the CA) for `sans`, valid for a day from an hour
  /// ago.
  CertFiles SelfSigned(const std::string& name, const std::vector<std::string>& sans);

 private:
  struct KeyDeleter {
    void operator()(EVP_PKEY* key) const;
  };
  struct CertDeleter {
    void operator()(X509* cert) const;
  };

  CertFiles Write(const std::string& name, X509* cert, EVP_PKEY* key);

  TempDir dir_;
  std::string ca_file_;
  std::unique_ptr<EVP_PKEY, KeyDeleter> ca_key_;
  std::unique_ptr<X509, CertDeleter> ca_cert_;
};

/// One accepted connection, seen from the server side. Blocking I/O with a generous
/// timeout (10 s a read) so a broken test fails instead of hanging; every call returns
/// early (as if the peer closed) once the server is being destroyed. Used only by the
/// thread running its handler.
class Connection {
 public:
  virtual ~Connection() = default;
  /// Reads one HTTP request head and its body (Content-Length or chunked, kept as sent);
  /// "" when the peer closed. Answers "Expect: 100-continue" before reading the body.
  virtual std::string ReadHttpRequest() = 0;
  /// Reads up to and including '\n'; "" when the peer closed (what arrived, when it closed
  /// mid-line).
  virtual std::string ReadLine() = 0;
  /// Reads whatever arrives next (at most 64 KiB); "" when the peer closed.
  virtual std::string ReadSome() = 0;
  /// Writes all of `data`; false when the peer is gone.
  virtual bool Write(std::string_view data) = 0;
  /// Upgrades the connection to TLS as the server (STARTTLS); false when the handshake
  /// fails. Needs a server with Options::cert.
  virtual bool StartTls() = 0;
  /// Blocks until the server shuts down or the peer closes (a hanging server).
  virtual void Hang() = 0;
};

/// A TCP server on 127.0.0.1 (or ::1) and an ephemeral port. Each accepted connection runs
/// `handler` on a thread of its own (so handlers run concurrently); the connection is closed
/// when the handler returns. With TLS from the first byte, a connection whose handshake
/// fails is counted by accepted() but runs no handler.
class TestServer {
 public:
  /// What runs on each accepted connection.
  using Handler = std::function<void(Connection&)>;
  /// How the server listens and speaks.
  struct Options {
    /// Listen on ::1 instead of 127.0.0.1.
    bool ipv6 = false;
    /// The server's certificate, for TLS from the first byte (`tls`) and for
    /// Connection::StartTls; empty: no TLS.
    CertFiles cert;
    /// Serve TLS from the first byte (needs `cert`).
    bool tls = false;
    /// The highest TLS version served, e.g. TLS1_2_VERSION; 0: OpenSSL's highest.
    int max_tls_version = 0;
  };

  /// A plain TCP server. Throws std::system_error when it cannot listen.
  explicit TestServer(Handler handler);
  /// A server per `options`. Throws std::system_error when it cannot listen, and
  /// std::runtime_error when the certificate cannot be loaded.
  TestServer(Handler handler, Options options);
  /// Stops accepting, wakes every hanging handler, joins all threads.
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  /// The port listened on.
  int port() const { return port_; }
  /// "127.0.0.1:PORT" or "[::1]:PORT".
  std::string HostPort() const;
  /// "http://127.0.0.1:PORT" or "https://..." (per Options::tls) followed by `path`.
  std::string Url(std::string_view path = "/") const;
  /// Connections accepted so far.
  int accepted() const { return accepted_.load(); }

  /// A handler answering every HTTP request on the connection (keep-alive) with `respond`,
  /// which gets the raw request and returns the raw response bytes. It stops when the peer
  /// closes or after a response with "Connection: close". `respond` runs concurrently for
  /// concurrent connections.
  static Handler Http(std::function<std::string(const std::string& request)> respond);
  /// A raw HTTP/1.1 response with the standard reason phrase, Content-Length (unless
  /// `headers` sets one, or the status is 1xx or 204) and `headers`, e.g.
  /// Response(200, "ok").
  static std::string Response(int status, std::string_view body,
                              const std::map<std::string, std::string>& headers = {});

 private:
  class Impl;
  // Declared before impl_ so they exist while its threads run.
  std::atomic<int> accepted_{0};
  int port_ = 0;
  std::unique_ptr<Impl> impl_;
};

/// A loopback (127.0.0.1) port with nothing listening (bound, then closed), for
/// "connection refused". Throws std::system_error when no port can be bound.
int UnusedPort();

}  // namespace nines::testing
