#include "probes/tls.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "tests/probes/test_server.h"

namespace nines::probes::tls {
namespace {

using ::nines::testing::CertFiles;
using ::nines::testing::Connection;
using ::nines::testing::TempDir;
using ::nines::testing::TestPki;
using ::nines::testing::TestServer;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr auto kDay = std::chrono::hours(24);
constexpr double kDaySeconds = 24 * 60 * 60;
// The client's socket timeout: a broken server fails the test instead of hanging it.
constexpr int kClientTimeoutSeconds = 5;

double Now() { return static_cast<double>(std::time(nullptr)); }

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A blocking socket connected to the loopback `port` (IPv4, or IPv6 with `ipv6`); -1 with
// errno set when the connection fails.
int ConnectLoopback(int port, bool ipv6 = false) {
  const int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  const timeval timeout{kClientTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  // Requests are sent in pieces; Nagle would hold the later ones back for tens of ms.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = 0;
  if (ipv6) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    address.sin6_port = htons(static_cast<std::uint16_t>(port));
    rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  } else {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  }
  if (rc != 0) {
    const int error = errno;
    close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t sent = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

// Reads until `done(received)` or the peer closes (or the socket times out).
std::string ReadUntil(int fd, const std::function<bool(const std::string&)>& done) {
  std::string received;
  std::array<char, 4096> buffer{};
  while (!done(received)) {
    const ssize_t size = recv(fd, buffer.data(), buffer.size(), 0);
    if (size <= 0) {
      break;
    }
    received.append(buffer.data(), static_cast<std::size_t>(size));
  }
  return received;
}

std::string ReadToEnd(int fd) {
  return ReadUntil(fd, [](const std::string&) { return false; });
}

// Reads one response with a Content-Length body.
std::string ReadResponse(int fd) {
  return ReadUntil(fd, [](const std::string& received) {
    const std::size_t head_end = received.find("\r\n\r\n");
    if (head_end == std::string::npos) {
      return false;
    }
    const std::size_t length = received.find("Content-Length: ");
    if (length == std::string::npos || length > head_end) {
      return true;
    }
    const std::size_t size = std::stoul(received.substr(length + 16));
    return received.size() >= head_end + 4 + size;
  });
}

std::string Sha256OfPemFile(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (bio == nullptr) {
    return "";
  }
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (cert == nullptr) {
    return "";
  }
  unsigned char* der = nullptr;
  const int der_size = i2d_X509(cert.get(), &der);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  EVP_Digest(der, static_cast<std::size_t>(der_size), digest.data(), &digest_size, EVP_sha256(),
             nullptr);
  OPENSSL_free(der);
  std::string hex;
  for (unsigned int i = 0; i < digest_size; ++i) {
    std::array<char, 3> pair{};
    std::snprintf(pair.data(), pair.size(), "%02x", digest[i]);
    hex += pair.data();
  }
  return hex;
}

// A self-signed certificate with an unusual subject (repeated, escaped and non-standard
// attributes) and SANs of every family, to compare with what Go's crypto/x509 prints.
CertFiles UnusualCertificate(const TempDir& dir) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (key == nullptr || cert == nullptr) {
    return {};
  }
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::vector<std::pair<std::string, std::string>> entries = {
      {"C", "DE"},
      {"ST", "Berlin"},
      {"O", "Example, Inc."},
      {"OU", "b"},
      {"OU", "a"},
      {"CN", "first"},
      {"emailAddress", "ops@example.com"},
      {"CN", "#last "},
      {"title", "Boss"},
  };
  for (const auto& [field, value] : entries) {
    X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(
      nullptr, &ctx, NID_subject_alt_name,
      "DNS:a.example,IP:::1,IP:::ffff:10.0.0.1,email:ops@example.com,DNS:*.b.example");
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert.get(), key.get(), EVP_sha256());

  const auto pem = [](const std::function<int(BIO*)>& write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
  };
  CertFiles files;
  files.cert_file =
      dir.WriteFile("unusual.pem",
                    pem([&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); }))
          .string();
  files.key_file = dir.WriteFile("unusual-key.pem", pem([&](BIO* bio) {
                                   return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr,
                                                                   0, nullptr, nullptr);
                                 }))
                       .string();
  return files;
}

// `key_file` again, encrypted with a password.
std::string EncryptedKeyPem(const std::string& key_file) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(key_file.c_str(), "r"), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      in == nullptr ? nullptr : PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr),
      EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  static constexpr std::string_view kPassword = "secret";
  if (key == nullptr || out == nullptr ||
      PEM_write_bio_PrivateKey(out.get(), key.get(), EVP_aes_128_cbc(),
                               reinterpret_cast<const unsigned char*>(kPassword.data()),
                               static_cast<int>(kPassword.size()), nullptr, nullptr) != 1) {
    return "";
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// The server side of every TLS test: greet, then wait for the client to close.
void Greet(Connection& connection) {
  connection.Write("hello\n");
  connection.ReadSome();
}

TestServer::Options TlsOptions(const CertFiles& cert, int max_tls_version = 0) {
  TestServer::Options options;
  options.cert = cert;
  options.tls = true;
  options.max_tls_version = max_tls_version;
  return options;
}

struct ClientOutcome {
  bool handshake_ok = false;
  std::string greeting;  // what the server sent after the handshake
  ProbeResult result;    // the recorder's facts, applied
};

// A blocking client handshake the way a prober makes one: MakeClientContext, a recorder
// attached to the context, PrepareClient for `host`, a plain socket to 127.0.0.1:port.
ClientOutcome Handshake(int port, const config::TlsConfig& config, const std::string& host,
                        ChainRecorder& recorder, bool call_on_handshake = true) {
  ClientOutcome outcome;
  std::string why;
  const SslCtxPtr ctx = MakeClientContext(config, &why);
  EXPECT_NE(ctx, nullptr) << why;
  if (ctx == nullptr) {
    return outcome;
  }
  recorder.Attach(ctx.get());
  const Socket fd(ConnectLoopback(port));
  EXPECT_GE(fd.get(), 0) << std::strerror(errno);
  if (fd.get() < 0) {
    return outcome;
  }
  const SslPtr ssl(SSL_new(ctx.get()));
  PrepareClient(ssl.get(), config, host);
  SSL_set_fd(ssl.get(), fd.get());
  outcome.handshake_ok = SSL_connect(ssl.get()) == 1;
  if (call_on_handshake) {
    recorder.OnHandshake(ssl.get());
  }
  if (outcome.handshake_ok) {
    std::array<char, 64> buffer{};
    const int size = SSL_read(ssl.get(), buffer.data(), static_cast<int>(buffer.size()));
    if (size > 0) {
      outcome.greeting.assign(buffer.data(), static_cast<std::size_t>(size));
    }
    SSL_shutdown(ssl.get());
  }
  ERR_clear_error();
  recorder.Apply(outcome.result);
  return outcome;
}

// One CA and one certificate for the whole suite; generated on first use.
struct SharedPki {
  TestPki pki;
  double issued_at = Now();
  CertFiles localhost = pki.Issue("localhost", {"localhost", "127.0.0.1"});
};

SharedPki& Shared() {
  static SharedPki shared;
  return shared;
}

config::TlsConfig TrustingTestCa() {
  config::TlsConfig config;
  config.ca_file = Shared().pki.ca_file();
  return config;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // SSL_shutdown writes; a server that already closed must not kill the test binary.
    std::signal(SIGPIPE, SIG_IGN);
  }
};

TEST_F(TlsTest, ValidCertificateRecordsEveryFact) {
  TestServer server(Greet, TlsOptions(Shared().localhost));
  ChainRecorder recorder;
  const ClientOutcome outcome = Handshake(server.port(), TrustingTestCa(), "localhost", recorder);

  ASSERT_TRUE(outcome.handshake_ok) << recorder.VerifyErrorText();
  EXPECT_EQ(outcome.greeting, "hello\n");
  EXPECT_EQ(recorder.verify_error(), X509_V_OK);
  EXPECT_EQ(recorder.VerifyErrorText(), "");
  EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsHandshake);

  const ProbeResult& result = outcome.result;
  EXPECT_EQ(result.tls_version, "TLS 1.3");
  ASSERT_TRUE(result.leaf_cert_expiry_seconds.has_value());
  EXPECT_NEAR(*result.leaf_cert_expiry_seconds, Shared().issued_at + 90 * kDaySeconds, 5);
  ASSERT_TRUE(result.earliest_cert_expiry_seconds.has_value());
  EXPECT_LE(*result.earliest_cert_expiry_seconds, *result.leaf_cert_expiry_seconds);
  // The verified chain is the leaf and the ten-year CA: the leaf expires first.
  ASSERT_TRUE(result.last_chain_expiry_seconds.has_value());
  EXPECT_EQ(*result.last_chain_expiry_seconds, *result.leaf_cert_expiry_seconds);

  ASSERT_TRUE(result.leaf.has_value());
  EXPECT_EQ(result.leaf->subject, "CN=localhost,O=nines test");
  EXPECT_EQ(result.leaf->issuer, "CN=nines test CA,O=nines test");
  EXPECT_EQ(result.leaf->subject_alternative, "localhost,127.0.0.1");
  EXPECT_EQ(result.leaf->fingerprint_sha256, Sha256OfPemFile(Shared().localhost.cert_file));
  EXPECT_EQ(result.leaf->fingerprint_sha256.size(), 64U);
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(TlsTest, NamesArePrintedAsGoPrintsThem) {
  TempDir dir;
  const CertFiles unusual = UnusualCertificate(dir);
  TestServer server(Greet, TlsOptions(unusual));
  config::TlsConfig config;
  config.insecure_skip_verify = true;
  ChainRecorder recorder;
  const ClientOutcome outcome = Handshake(server.port(), config, "a.example", recorder);
  ASSERT_TRUE(outcome.handshake_ok);
  ASSERT_TRUE(outcome.result.leaf.has_value());
  // Go's pkix.Name.String(): its own field order, reversed; values of one type in one RDN;
  // the last CN only; other attributes last (reversed too), as OID=#DER (a UTF8String for
  // the '@').
  const std::string expected =
      "CN=\\#last\\ ,OU=b+OU=a,O=Example\\, Inc.,ST=Berlin,C=DE,"
      "2.5.4.12=#1304426f7373,1.2.840.113549.1.9.1=#0c0f6f7073406578616d706c652e636f6d";
  EXPECT_EQ(outcome.result.leaf->subject, expected);
  EXPECT_EQ(outcome.result.leaf->issuer, expected);
  EXPECT_EQ(outcome.result.leaf->subject_alternative, "a.example,*.b.example,::1,10.0.0.1");
}

TEST_F(TlsTest, HostNamesAndAddresses) {
  struct Case {
    std::string name;
    std::string host;
    std::string server_name;
    bool ok;
    long verify_error;
  };
  const std::vector<Case> cases = {
      {"dns name", "localhost", "", true, X509_V_OK},
      {"ip address checks the IP SAN", "127.0.0.1", "", true, X509_V_OK},
      {"bracketed address", "[127.0.0.1]", "", true, X509_V_OK},
      {"server_name overrides the host", "127.0.0.1", "localhost", true, X509_V_OK},
      {"wrong host", "example.com", "", false, X509_V_ERR_HOSTNAME_MISMATCH},
      {"wrong server_name", "localhost", "other.example", false, X509_V_ERR_HOSTNAME_MISMATCH},
      {"wrong address", "127.0.0.2", "", false, X509_V_ERR_IP_ADDRESS_MISMATCH},
  };
  TestServer server(Greet, TlsOptions(Shared().localhost));
  for (const Case& test : cases) {
    SCOPED_TRACE(test.name);
    config::TlsConfig config = TrustingTestCa();
    config.server_name = test.server_name;
    ChainRecorder recorder;
    const ClientOutcome outcome = Handshake(server.port(), config, test.host, recorder);
    EXPECT_EQ(outcome.handshake_ok, test.ok);
    EXPECT_EQ(recorder.verify_error(), test.verify_error) << recorder.VerifyErrorText();
    if (!test.ok) {
      EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsCertInvalid);
      EXPECT_FALSE(outcome.result.last_chain_expiry_seconds.has_value());
      // The chain is reported even though it was refused.
      EXPECT_TRUE(outcome.result.leaf.has_value());
    }
  }
}

// How a libcurl prober checks the host: on the context, from CURLOPT_SSL_CTX_FUNCTION.
TEST_F(TlsTest, PrepareContextChecksTheHostOfEverySsl) {
  TestServer server(Greet, TlsOptions(Shared().localhost));
  for (const bool matching : {true, false}) {
    SCOPED_TRACE(matching ? "matching host" : "wrong host");
    const config::TlsConfig config = TrustingTestCa();
    std::string why;
    const SslCtxPtr ctx = MakeClientContext(config, &why);
    ASSERT_NE(ctx, nullptr) << why;
    ChainRecorder recorder;
    recorder.Attach(ctx.get());
    PrepareContext(ctx.get(), config, matching ? "localhost" : "example.com");
    const Socket fd(ConnectLoopback(server.port()));
    ASSERT_GE(fd.get(), 0);
    const SslPtr ssl(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), fd.get());
    EXPECT_EQ(SSL_connect(ssl.get()) == 1, matching);
    EXPECT_EQ(recorder.verify_error(), matching ? X509_V_OK : X509_V_ERR_HOSTNAME_MISMATCH);
    if (matching) {
      SSL_shutdown(ssl.get());
    } else {
      EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsCertInvalid);
    }
    ERR_clear_error();
  }
}

TEST_F(TlsTest, OutOfDateCertificatesAreCertExpired) {
  struct Case {
    std::string name;
    std::chrono::seconds not_before;
    std::chrono::seconds not_after;
    long verify_error;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"expired", -2 * kDay, -kDay, X509_V_ERR_CERT_HAS_EXPIRED,
       "certificate has expired (depth 0)"},
      {"not yet valid", kDay, 2 * kDay, X509_V_ERR_CERT_NOT_YET_VALID,
       "certificate is not yet valid (depth 0)"},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.name);
    const double issued_at = Now();
    const CertFiles cert =
        Shared().pki.Issue("dated", {"localhost"}, test.not_before, test.not_after);
    TestServer server(Greet, TlsOptions(cert));
    ChainRecorder recorder;
    const ClientOutcome outcome = Handshake(server.port(), TrustingTestCa(), "localhost", recorder);

    EXPECT_FALSE(outcome.handshake_ok);
    EXPECT_EQ(recorder.verify_error(), test.verify_error);
    EXPECT_EQ(recorder.VerifyErrorText(), test.text);
    EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsCertExpired);
    const ProbeResult& result = outcome.result;
    ASSERT_TRUE(result.leaf_cert_expiry_seconds.has_value());
    EXPECT_NEAR(*result.leaf_cert_expiry_seconds,
                issued_at + static_cast<double>(test.not_after.count()), 5);
    EXPECT_EQ(result.earliest_cert_expiry_seconds, result.leaf_cert_expiry_seconds);
    EXPECT_FALSE(result.last_chain_expiry_seconds.has_value());
    EXPECT_EQ(result.tls_version, "TLS 1.3");
    ASSERT_TRUE(result.leaf.has_value());
    EXPECT_EQ(result.leaf->fingerprint_sha256, Sha256OfPemFile(cert.cert_file));
  }
}

// libcurl frees the SSL of a failed handshake before its caller can look: the verify
// callback alone must have recorded the chain.
TEST_F(TlsTest, FailedVerificationIsRecordedWithoutOnHandshake) {
  const CertFiles expired = Shared().pki.Issue("expired", {"localhost"}, -2 * kDay, -kDay);
  TestServer server(Greet, TlsOptions(expired));
  ChainRecorder recorder;
  const ClientOutcome outcome = Handshake(server.port(), TrustingTestCa(), "localhost", recorder,
                                          /*call_on_handshake=*/false);
  EXPECT_FALSE(outcome.handshake_ok);
  EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsCertExpired);
  EXPECT_TRUE(outcome.result.leaf_cert_expiry_seconds.has_value());
  EXPECT_TRUE(outcome.result.leaf.has_value());
}

// And a successful one completes its recording at the end of the handshake by itself.
TEST_F(TlsTest, SuccessfulHandshakeIsRecordedWithoutOnHandshake) {
  TestServer server(Greet, TlsOptions(Shared().localhost));
  ChainRecorder recorder;
  const ClientOutcome outcome = Handshake(server.port(), TrustingTestCa(), "localhost", recorder,
                                          /*call_on_handshake=*/false);
  ASSERT_TRUE(outcome.handshake_ok);
  EXPECT_EQ(outcome.result.tls_version, "TLS 1.3");
  EXPECT_TRUE(outcome.result.last_chain_expiry_seconds.has_value());
  EXPECT_TRUE(outcome.result.leaf.has_value());
}

TEST_F(TlsTest, SelfSignedIsCertInvalid) {
  const CertFiles self_signed = Shared().pki.SelfSigned("self", {"localhost"});
  TestServer server(Greet, TlsOptions(self_signed));
  ChainRecorder recorder;
  const ClientOutcome outcome = Handshake(server.port(), TrustingTestCa(), "localhost", recorder);
  EXPECT_FALSE(outcome.handshake_ok);
  EXPECT_EQ(recorder.verify_error(), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsCertInvalid);
  ASSERT_TRUE(outcome.result.leaf.has_value());
  EXPECT_EQ(outcome.result.leaf->issuer, "CN=localhost,O=nines test");
}

TEST_F(TlsTest, UnknownAuthorityIsCertInvalid) {
  TestServer server(Greet, TlsOptions(Shared().localhost));
  ChainRecorder recorder;
  // The system's roots do not know the test CA.
  const ClientOutcome outcome =
      Handshake(server.port(), config::TlsConfig{}, "localhost", recorder);
  EXPECT_FALSE(outcome.handshake_ok);
  EXPECT_NE(recorder.verify_error(), X509_V_OK);
  EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsCertInvalid);
  EXPECT_THAT(recorder.VerifyErrorText(), HasSubstr("(depth 0)"));
}

TEST_F(TlsTest, InsecureSkipVerifyRecordsFactsButNoVerifiedChain) {
  const CertFiles self_signed = Shared().pki.SelfSigned("insecure", {"localhost"});
  TestServer server(Greet, TlsOptions(self_signed));
  config::TlsConfig config;
  config.insecure_skip_verify = true;
  ChainRecorder recorder;
  const ClientOutcome outcome = Handshake(server.port(), config, "wrong.example", recorder);
  ASSERT_TRUE(outcome.handshake_ok);
  EXPECT_EQ(outcome.greeting, "hello\n");
  EXPECT_EQ(outcome.result.tls_version, "TLS 1.3");
  EXPECT_TRUE(outcome.result.leaf_cert_expiry_seconds.has_value());
  EXPECT_TRUE(outcome.result.earliest_cert_expiry_seconds.has_value());
  EXPECT_TRUE(outcome.result.leaf.has_value());
  EXPECT_FALSE(outcome.result.last_chain_expiry_seconds.has_value());
}

TEST_F(TlsTest, MinVersion) {
  struct Case {
    std::string name;
    int server_max;
    std::string min_version;
    std::optional<std::string> version;  // nullopt: the handshake fails
  };
  const std::vector<Case> cases = {
      {"TLS13 against a TLS 1.3 server", 0, "TLS13", "TLS 1.3"},
      {"default against a TLS 1.2 server", TLS1_2_VERSION, "", "TLS 1.2"},
      {"TLS12 against a TLS 1.2 server", TLS1_2_VERSION, "TLS12", "TLS 1.2"},
      {"TLS13 against a TLS 1.2 server", TLS1_2_VERSION, "TLS13", std::nullopt},
      {"TLS10 against a TLS 1.1 server", TLS1_1_VERSION, "TLS10", "TLS 1.1"},
      {"TLS11 against a TLS 1.0 server", TLS1_VERSION, "TLS11", std::nullopt},
      {"default against a TLS 1.1 server", TLS1_1_VERSION, "", std::nullopt},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.name);
    TestServer server(Greet, TlsOptions(Shared().localhost, test.server_max));
    config::TlsConfig config = TrustingTestCa();
    config.min_version = test.min_version;
    ChainRecorder recorder;
    const ClientOutcome outcome = Handshake(server.port(), config, "localhost", recorder);
    EXPECT_EQ(outcome.handshake_ok, test.version.has_value());
    EXPECT_EQ(outcome.result.tls_version, test.version);
    if (!test.version) {
      // No certificate problem: the versions did not meet.
      EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsHandshake);
      EXPECT_FALSE(outcome.result.leaf.has_value());
    }
  }
}

TEST_F(TlsTest, ClientCertificateLoads) {
  const CertFiles client = Shared().pki.Issue("client", {"client.example"});
  config::TlsConfig config = TrustingTestCa();
  config.cert_file = client.cert_file;
  config.key_file = client.key_file;
  std::string why;
  const SslCtxPtr ctx = MakeClientContext(config, &why);
  ASSERT_NE(ctx, nullptr) << why;
  EXPECT_NE(SSL_CTX_get0_certificate(ctx.get()), nullptr);
}

TEST_F(TlsTest, ContextErrorsNameTheFileAndTheReason) {
  const CertFiles one = Shared().pki.Issue("one", {"localhost"});
  const CertFiles two = Shared().pki.Issue("two", {"localhost"});
  TempDir dir;
  const std::string not_pem = dir.WriteFile("not.pem", "hello\n").string();
  const std::string encrypted =
      dir.WriteFile("encrypted.pem", EncryptedKeyPem(one.key_file)).string();

  struct Case {
    std::string name;
    config::TlsConfig config;
    std::string why;
  };
  config::TlsConfig missing_ca;
  missing_ca.ca_file = (dir.path() / "missing.pem").string();
  config::TlsConfig bad_ca;
  bad_ca.ca_file = not_pem;
  config::TlsConfig mismatched;
  mismatched.cert_file = one.cert_file;
  mismatched.key_file = two.key_file;
  config::TlsConfig cert_only;
  cert_only.cert_file = one.cert_file;
  config::TlsConfig missing_cert;
  missing_cert.cert_file = (dir.path() / "missing.pem").string();
  missing_cert.key_file = one.key_file;
  config::TlsConfig bad_key;
  bad_key.cert_file = one.cert_file;
  bad_key.key_file = not_pem;
  config::TlsConfig encrypted_key;
  encrypted_key.cert_file = one.cert_file;
  encrypted_key.key_file = encrypted;
  config::TlsConfig bad_version;
  bad_version.min_version = "TLS14";

  const std::vector<Case> cases = {
      {"missing ca_file", missing_ca,
       "cannot load tls_config.ca_file " + missing_ca.ca_file + ": No such file or directory"},
      {"ca_file without certificates", bad_ca,
       "cannot load tls_config.ca_file " + not_pem + ": no certificate or crl found"},
      {"mismatched key", mismatched,
       "tls_config.key_file " + two.key_file + " does not match tls_config.cert_file " +
           one.cert_file + ": key values mismatch"},
      {"certificate without key", cert_only,
       "tls_config.cert_file and tls_config.key_file must be set together"},
      {"missing cert_file", missing_cert,
       "cannot load tls_config.cert_file " + missing_cert.cert_file +
           ": No such file or directory"},
      {"key_file not PEM", bad_key,
       "cannot load tls_config.key_file " + not_pem + ": no readable PEM private key"},
      {"encrypted key_file", encrypted_key,
       "cannot load tls_config.key_file " + encrypted +
           ": the key is encrypted, which is not supported"},
      {"unknown min_version", bad_version,
       "unknown tls_config.min_version \"TLS14\" (want TLS10, TLS11, TLS12 or TLS13)"},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.name);
    std::string why;
    EXPECT_EQ(MakeClientContext(test.config, &why), nullptr);
    EXPECT_EQ(why, test.why);
    EXPECT_EQ(ERR_peek_error(), 0U) << "the error queue is left clean";
  }
}

TEST_F(TlsTest, AttachKeepsTheVerifyMode) {
  for (const bool insecure : {false, true}) {
    config::TlsConfig config = TrustingTestCa();
    config.insecure_skip_verify = insecure;
    std::string why;
    const SslCtxPtr ctx = MakeClientContext(config, &why);
    ASSERT_NE(ctx, nullptr) << why;
    ChainRecorder recorder;
    recorder.Attach(ctx.get());
    recorder.Attach(ctx.get());  // twice: must not chain to itself
    EXPECT_EQ(SSL_CTX_get_verify_mode(ctx.get()), insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER);
    EXPECT_NE(SSL_CTX_get_verify_callback(ctx.get()), nullptr);
  }
}

TEST_F(TlsTest, RecorderWithoutHandshakeHasNoFacts) {
  ChainRecorder recorder;
  recorder.OnHandshake(nullptr);
  std::string why;
  const SslCtxPtr ctx = MakeClientContext(TrustingTestCa(), &why);
  ASSERT_NE(ctx, nullptr) << why;
  recorder.Attach(ctx.get());
  const SslPtr ssl(SSL_new(ctx.get()));
  recorder.OnHandshake(ssl.get());  // never connected: no peer chain

  ProbeResult result;
  result.tls_version = "stale";
  result.leaf_cert_expiry_seconds = 1;
  recorder.Apply(result);
  EXPECT_EQ(recorder.verify_error(), X509_V_OK);
  EXPECT_EQ(recorder.HandshakeFailureReason(), FailureReason::kTlsHandshake);
  EXPECT_FALSE(result.tls_version.has_value());
  EXPECT_FALSE(result.leaf_cert_expiry_seconds.has_value());
  EXPECT_FALSE(result.earliest_cert_expiry_seconds.has_value());
  EXPECT_FALSE(result.last_chain_expiry_seconds.has_value());
  EXPECT_FALSE(result.leaf.has_value());
}

// --- The test server itself ---

TEST(TestServerTest, HttpAnswersEveryRequestOnTheConnection) {
  std::mutex mutex;
  std::vector<std::string> requests;
  TestServer server(TestServer::Http([&](const std::string& request) {
    const std::lock_guard lock(mutex);
    requests.push_back(request);
    return TestServer::Response(200, "ok", {{"X-Test", "1"}});
  }));
  const Socket fd(ConnectLoopback(server.port()));
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(SendAll(fd.get(), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(ReadResponse(fd.get()), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Test: 1\r\n\r\nok");
  ASSERT_TRUE(SendAll(fd.get(), "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel"));
  ASSERT_TRUE(SendAll(fd.get(), "lo"));
  EXPECT_THAT(ReadResponse(fd.get()), StartsWith("HTTP/1.1 200 OK\r\n"));
  ASSERT_TRUE(SendAll(fd.get(),
                      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\n"));
  EXPECT_THAT(ReadResponse(fd.get()), StartsWith("HTTP/1.1 200 OK\r\n"));

  EXPECT_EQ(server.accepted(), 1);
  const std::lock_guard lock(mutex);
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[0], "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(requests[1], "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_THAT(requests[2], ::testing::EndsWith("\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
}

TEST(TestServerTest, HttpAnswersExpectContinue) {
  TestServer server(TestServer::Http(
      [](const std::string& request) { return TestServer::Response(200, request); }));
  const Socket fd(ConnectLoopback(server.port()));
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(
      SendAll(fd.get(), "PUT / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(ReadUntil(fd.get(),
                      [](const std::string& received) {
                        return received.find("\r\n\r\n") != std::string::npos;
                      }),
            "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(SendAll(fd.get(), "hi"));
  EXPECT_THAT(ReadResponse(fd.get()), ::testing::EndsWith("\r\n\r\nhi"));
}

TEST(TestServerTest, ConnectionCloseEndsTheConnection) {
  TestServer server(TestServer::Http([](const std::string&) {
    return TestServer::Response(503, "busy", {{"Connection", "close"}});
  }));
  const Socket fd(ConnectLoopback(server.port()));
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(SendAll(fd.get(), "GET / HTTP/1.1\r\n\r\n"));
  // The server closes after the response: reading to the end returns.
  EXPECT_EQ(ReadToEnd(fd.get()),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
            "busy");
}

TEST(TestServerTest, ResponseFormats) {
  EXPECT_EQ(TestServer::Response(404, ""), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(TestServer::Response(204, ""), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(TestServer::Response(301, "", {{"Location", "/x"}}),
            "HTTP/1.1 301 Moved Permanently\r\nContent-Length: 0\r\nLocation: /x\r\n\r\n");
  EXPECT_EQ(TestServer::Response(200, "abc", {{"Content-Length", "10"}}),
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(TestServer::Response(599, "x"), "HTTP/1.1 599 Unknown\r\nContent-Length: 1\r\n\r\nx");
}

TEST(TestServerTest, UrlAndHostPort) {
  TestServer server([](Connection&) {});
  const std::string port = std::to_string(server.port());
  EXPECT_GT(server.port(), 0);
  EXPECT_EQ(server.HostPort(), "127.0.0.1:" + port);
  EXPECT_EQ(server.Url(), "http://127.0.0.1:" + port + "/");
  EXPECT_EQ(server.Url("/probe?x=1"), "http://127.0.0.1:" + port + "/probe?x=1");
}

TEST(TestServerTest, HangReturnsWhenTheServerIsDestroyed) {
  std::promise<void> returned;
  auto server = std::make_unique<TestServer>([&](Connection& connection) {
    connection.Hang();
    returned.set_value();
  });
  const Socket fd(ConnectLoopback(server->port()));
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(SendAll(fd.get(), "anything"));
  // Nothing comes back while the server hangs.
  timeval short_timeout{0, 200'000};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &short_timeout, sizeof short_timeout);
  std::array<char, 16> buffer{};
  EXPECT_LT(recv(fd.get(), buffer.data(), buffer.size(), 0), 0);

  const auto start = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(returned.get_future().wait_for(std::chrono::seconds(0)), std::future_status::ready);
}

TEST(TestServerTest, HangReturnsWhenThePeerCloses) {
  std::promise<void> returned;
  TestServer server([&](Connection& connection) {
    connection.Hang();
    returned.set_value();
  });
  {
    const Socket fd(ConnectLoopback(server.port()));
    ASSERT_GE(fd.get(), 0);
  }
  EXPECT_EQ(returned.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST(TestServerTest, DestructionWakesABlockedRead) {
  auto server = std::make_unique<TestServer>([](Connection& connection) {
    connection.ReadLine();  // the client never sends a line
  });
  const Socket fd(ConnectLoopback(server->port()));
  ASSERT_GE(fd.get(), 0);
  for (int i = 0; i < 500 && server->accepted() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server->accepted(), 1);
  const auto start = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(TestServerTest, UnusedPortRefusesConnections) {
  const int port = nines::testing::UnusedPort();
  EXPECT_GT(port, 0);
  errno = 0;
  const Socket fd(ConnectLoopback(port));
  EXPECT_LT(fd.get(), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST(TestServerTest, ServesIpv6Loopback) {
  TestServer::Options options;
  options.ipv6 = true;
  std::unique_ptr<TestServer> server;
  try {
    server = std::make_unique<TestServer>(
        TestServer::Http([](const std::string&) { return TestServer::Response(200, "six"); }),
        options);
  } catch (const std::system_error& error) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
  }
  EXPECT_EQ(server->HostPort(), "[::1]:" + std::to_string(server->port()));
  const Socket fd(ConnectLoopback(server->port(), /*ipv6=*/true));
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(SendAll(fd.get(), "GET / HTTP/1.1\r\n\r\n"));
  EXPECT_THAT(ReadResponse(fd.get()), ::testing::EndsWith("\r\n\r\nsix"));
}

TEST_F(TlsTest, StartTlsUpgradesTheConnection) {
  TestServer::Options options;
  options.cert = Shared().localhost;
  TestServer server(
      [](Connection& connection) {
        if (connection.ReadLine() != "STARTTLS\r\n") {
          return;
        }
        connection.Write("OK\r\n");
        if (connection.StartTls()) {
          connection.Write(connection.ReadLine());  // echo one line over TLS
        }
      },
      options);
  EXPECT_EQ(server.Url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/");

  const Socket fd(ConnectLoopback(server.port()));
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(SendAll(fd.get(), "STARTTLS\r\n"));
  ASSERT_EQ(ReadUntil(fd.get(),
                      [](const std::string& received) {
                        return received.find('\n') != std::string::npos;
                      }),
            "OK\r\n");
  std::string why;
  const config::TlsConfig config = TrustingTestCa();
  const SslCtxPtr ctx = MakeClientContext(config, &why);
  ASSERT_NE(ctx, nullptr) << why;
  ChainRecorder recorder;
  recorder.Attach(ctx.get());
  const SslPtr ssl(SSL_new(ctx.get()));
  PrepareClient(ssl.get(), config, "localhost");
  SSL_set_fd(ssl.get(), fd.get());
  ASSERT_EQ(SSL_connect(ssl.get()), 1) << recorder.VerifyErrorText();
  ASSERT_EQ(SSL_write(ssl.get(), "ping\n", 5), 5);
  std::array<char, 16> buffer{};
  const int size = SSL_read(ssl.get(), buffer.data(), static_cast<int>(buffer.size()));
  ASSERT_GT(size, 0);
  EXPECT_EQ(std::string(buffer.data(), static_cast<std::size_t>(size)), "ping\n");
  SSL_shutdown(ssl.get());
  ProbeResult result;
  recorder.Apply(result);
  EXPECT_EQ(result.tls_version, "TLS 1.3");
}

}  // namespace
}  // namespace nines::probes::tls
