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

/// Frees an SSL_CTX (for SslCtxPtr).
struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
/// Frees an SSL (for SslPtr).
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
/// An owned SSL_CTX.
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
/// An owned SSL.
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

/// A client context for `config`: the system roots or `ca_file`, the client certificate
/// and key (PEM; both or neither; encrypted keys are refused, never prompted for),
/// `min_version` (default TLS 1.2, as Go's; TLS10 and TLS11 also lower OpenSSL's security
/// level to 0, without which OpenSSL 3 cannot negotiate them), and peer verification unless
/// `insecure_skip_verify`. Host name checking is per connection (PrepareClient). Returns
/// null and sets `*why` ("cannot load tls_config.ca_file /x: No such file or directory")
/// on failure. Thread-safe; the context may be shared by connections made afterwards.
SslCtxPtr MakeClientContext(const config::TlsConfig& config, std::string* why);

/// Sets SNI and the expected host name on a new client SSL: `config.server_name` when set,
/// else `host` (an IP address, bracketed or not, is checked as an IP SAN and sends no SNI;
/// an empty name checks nothing). Wildcards match one whole label, as in Go.
void PrepareClient(SSL* ssl, const config::TlsConfig& config, const std::string& host);

/// The host name (or IP) check of PrepareClient on a context, for every SSL made from it
/// afterwards; no SNI (a context cannot carry one). For libcurl's CURLOPT_SSL_CTX_FUNCTION:
/// libcurl 7.88 checks the host name itself only after the handshake, where a ChainRecorder
/// cannot see the mismatch; checked here, it is a verification error like any other.
void PrepareContext(SSL_CTX* ctx, const config::TlsConfig& config, const std::string& host);

/// Records what the peer presented while a handshake runs. Attach it to a context before
/// the handshake: it wraps the context's verify callback (keeping its mode), so it sees the
/// chain whether or not verification passes. One recorder per connection attempt; it is
/// used on the thread running the handshake and is not synchronized.
///
/// With libcurl, attach it from CURLOPT_SSL_CTX_FUNCTION (libcurl makes one SSL_CTX per
/// connection) and turn CURLOPT_SSL_SESSIONID_CACHE off: a resumed session skips
/// certificate verification and so records no chain.
class ChainRecorder {
 public:
  ChainRecorder() = default;
  ChainRecorder(const ChainRecorder&) = delete;
  ChainRecorder& operator=(const ChainRecorder&) = delete;

  /// Makes `ctx` record into this recorder and starts a new recording (earlier facts are
  /// dropped). Call it before SSL_new on `ctx`: an SSL copies the verify callback when it
  /// is made. The peer chain is recorded during verification, and the version and the
  /// verified chain when the handshake completes, so OnHandshake is optional. The recorder
  /// must outlive every handshake made with `ctx`.
  void Attach(SSL_CTX* ctx);
  /// Reads the negotiated version and the peer chain from a finished (or failed) handshake.
  /// Idempotent; a null `ssl` or an SSL without a peer chain keeps what was recorded.
  void OnHandshake(const SSL* ssl);

  /// The first verification error seen (X509_V_OK when none).
  long verify_error() const { return verify_error_; }
  /// kTlsCertExpired for an expired or not-yet-valid certificate (or CRL), kTlsCertInvalid
  /// for any other verification error, kTlsHandshake when verification passed (so the
  /// handshake failed for another reason).
  FailureReason HandshakeFailureReason() const;
  /// Text of the verification error, e.g. "certificate has expired (depth 0)"; "" when
  /// there was none.
  std::string VerifyErrorText() const;

  /// Copies the recorded facts into `result`: tls_version, earliest_cert_expiry_seconds
  /// (over every certificate the peer sent), leaf_cert_expiry_seconds, leaf, and
  /// last_chain_expiry_seconds (over the verified chain, only when verification passed).
  /// Facts not recorded are reset in `result`.
  void Apply(ProbeResult& result) const;

 private:
  friend int RecordingVerifyCallback(int preverify_ok, X509_STORE_CTX* store);
  friend void RecordingInfoCallback(const SSL* ssl, int where, int ret);

  void Reset();
  // Leaf facts and the earliest expiry over `leaf` and `chain` (either may be null).
  void RecordPeer(X509* leaf, STACK_OF(X509) * chain);

  using VerifyCallback = int (*)(int, X509_STORE_CTX*);
  using InfoCallback = void (*)(const SSL*, int, int);
  VerifyCallback previous_verify_ = nullptr;
  InfoCallback previous_info_ = nullptr;

  long verify_error_ = 0;  // X509_V_OK
  int verify_error_depth_ = 0;
  bool peer_seen_ = false;  // verification ran, so the version was negotiated
  std::optional<std::string> version_;
  std::optional<double> earliest_expiry_;
  std::optional<double> leaf_expiry_;
  std::optional<double> chain_expiry_;
  std::optional<CertificateInfo> leaf_;
};

}  // namespace nines::probes::tls
