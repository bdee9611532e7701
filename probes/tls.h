#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

#include "exporter/config/config.h"
#include "probes/probe.h"

/// TLS pieces shared by the probers: a client context from blackbox's `tls_config`, and the
/// recording of the peer's certificate chain during the handshake, so certificate facts are
/// reported even when verification fails.
namespace nines::probes::tls {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

/// A client context for `config`: the system roots or `ca_file`, the client certificate
/// and key, `min_version` (default TLS 1.2, as Go's), and peer verification unless
/// `insecure_skip_verify`. Host name checking is per connection (PrepareClient). Returns
/// null and sets `*why` ("cannot load ca_file /x: no such file") on failure.
SslCtxPtr MakeClientContext(const config::TlsConfig& config, std::string* why);

/// Sets SNI and the expected host name on a new client SSL: `config.server_name` when set,
/// else `host` (an IP address is checked as an IP SAN and sends no SNI).
void PrepareClient(SSL* ssl, const config::TlsConfig& config, const std::string& host);

/// Records what the peer presented while a handshake runs. Attach it to a context before
/// the handshake: it wraps the context's verify callback (keeping its mode), so it sees the
/// chain whether or not verification passes. One recorder per connection attempt.
class ChainRecorder {
 public:
  ChainRecorder() = default;
  ChainRecorder(const ChainRecorder&) = delete;
  ChainRecorder& operator=(const ChainRecorder&) = delete;

  /// Makes `ctx` record into this recorder. The recorder must outlive every handshake
  /// made with `ctx`.
  void Attach(SSL_CTX* ctx);
  /// Reads the negotiated version and the peer chain from a finished (or failed) handshake.
  void OnHandshake(const SSL* ssl);

  /// The first verification error seen (X509_V_OK when none).
  long verify_error() const { return verify_error_; }
  /// kTlsCertExpired for an expired or not-yet-valid certificate, kTlsCertInvalid for any
  /// other verification error, kTlsHandshake when verification passed (so the handshake
  /// failed for another reason).
  FailureReason HandshakeFailureReason() const;
  /// Text of the verification error, e.g. "certificate has expired (depth 0)".
  std::string VerifyErrorText() const;

  /// Copies the recorded facts into `result`: tls_version, earliest_cert_expiry_seconds
  /// (over every certificate the peer sent), leaf_cert_expiry_seconds, leaf, and
  /// last_chain_expiry_seconds (over the verified chain, only when verification passed).
  void Apply(ProbeResult& result) const;

 private:
  friend int RecordingVerifyCallback(int preverify_ok, X509_STORE_CTX* store);

  long verify_error_ = 0;  // X509_V_OK
  int verify_error_depth_ = 0;
  std::optional<std::string> version;
  std::optional<double> earliest_expiry_;
  std::optional<double> leaf_expiry_;
  std::optional<double> chain_expiry_;
  std::optional<CertificateInfo> leaf_;
  bool chain_verified_ = false;
};

}  // namespace nines::probes::tls
