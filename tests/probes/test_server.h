#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

/// Real local servers for probe tests: a loopback TCP server (optionally TLS) that runs a
/// scripted handler per connection, and certificates generated in the test.
namespace nines::testing {

/// A temporary directory removed (recursively) with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// Writes `content` to path()/name and returns the full path.
  std::string Write(const std::string& name, std::string_view content) const;

 private:
  std::string path_;
};

/// A certificate and its key, as PEM files.
struct CertFiles {
  std::string cert_file;
  std::string key_file;
};

/// A test certificate authority (EC P-256 keys, generated with OpenSSL in memory) whose
/// files live in a TempDir.
class TestPki {
 public:
  TestPki();
  /// The CA certificate (PEM), for `tls_config.ca_file`.
  const std::string& ca_file() const { return ca_file_; }
  /// A leaf certificate signed by the CA for `sans` ("localhost", "127.0.0.1": DNS or IP
  /// SANs by syntax; the first is also the CN), valid from now + not_before to
  /// now + not_after (negative offsets put them in the past).
  CertFiles Issue(const std::string& name, const std::vector<std::string>& sans,
                  std::chrono::seconds not_before = std::chrono::hours(-1),
                  std::chrono::seconds not_after = std::chrono::hours(24 * 90));
  /// A self-signed certificate (not from the CA) for `sans`.
  CertFiles SelfSigned(const std::string& name, const std::vector<std::string>& sans);

 private:
  TempDir dir_;
  std::string ca_file_;
  std::shared_ptr<void> ca_key_;   // EVP_PKEY
  std::shared_ptr<void> ca_cert_;  // X509
};

/// One accepted connection, seen from the server side. Blocking I/O with a generous
/// timeout (10 s) so a broken test fails instead of hanging.
class Connection {
 public:
  virtual ~Connection() = default;
  /// Reads one HTTP request head and its Content-Length body; "" when the peer closed.
  virtual std::string ReadHttpRequest() = 0;
  /// Reads up to and including '\n'; "" when the peer closed.
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
/// `handler` on a thread of its own; the connection is closed when the handler returns.
class TestServer {
 public:
  using Handler = std::function<void(Connection&)>;
  struct Options {
    bool ipv6 = false;
    /// Serve TLS from the first byte with this certificate (empty: plain TCP). Also used
    /// by Connection::StartTls.
    CertFiles cert;
    bool tls = false;
  };

  explicit TestServer(Handler handler);
  TestServer(Handler handler, Options options);
  /// Stops accepting, wakes every hanging handler, joins all threads.
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  int port() const { return port_; }
  /// "127.0.0.1:PORT" or "[::1]:PORT".
  std::string HostPort() const;
  /// "http://127.0.0.1:PORT" or "https://..." (per Options::tls) followed by `path`.
  std::string Url(std::string_view path = "/") const;
  /// Connections accepted so far.
  int accepted() const { return accepted_.load(); }

  /// A handler answering every HTTP request on the connection (keep-alive) with `respond`,
  /// which gets the raw request and returns the raw response bytes.
  static Handler Http(std::function<std::string(const std::string& request)> respond);
  /// A raw HTTP/1.1 response with Content-Length, e.g. Response(200, "ok").
  static std::string Response(int status, std::string_view body,
                              const std::map<std::string, std::string>& headers = {});

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<int> accepted_{0};
};

/// A loopback port with nothing listening (bound, then closed), for "connection refused".
int UnusedPort();

}  // namespace nines::testing
