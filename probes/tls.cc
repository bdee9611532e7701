#include "probes/tls.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <map>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace nines::probes::tls {
namespace {

// The text of the earliest error on OpenSSL's queue (the root cause: later entries only say
// which call gave up), then clears the queue so it does not leak into the next operation.
std::string OpenSslReason() {
  const unsigned long code = ERR_peek_error();
  std::string reason;
  if (code == 0) {
    reason = "unknown error";
  } else if (ERR_SYSTEM_ERROR(code)) {
    // OpenSSL keeps errno as the reason of system errors and has no string for it.
    reason = std::generic_category().message(ERR_GET_REASON(code));
  } else if (const char* text = ERR_reason_error_string(code); text != nullptr) {
    reason = text;
  } else {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    reason = buffer.data();
  }
  ERR_clear_error();
  return reason;
}

SslCtxPtr Fail(std::string* why, std::string message) {
  if (why != nullptr) {
    *why = std::move(message);
  }
  return nullptr;
}

// Refuses encrypted keys instead of OpenSSL's default of prompting on the terminal, and
// notes that a password was wanted so the error can say why the key did not load.
int NoPassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

bool IsIpLiteral(const std::string& name) {
  std::array<unsigned char, 16> address{};
  return inet_pton(AF_INET, name.c_str(), address.data()) == 1 ||
         inet_pton(AF_INET6, name.c_str(), address.data()) == 1;
}

std::optional<double> UnixSeconds(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return std::nullopt;
  }
  return static_cast<double>(timegm(&tm));
}

std::optional<double> NotAfter(const X509* cert) { return UnixSeconds(X509_get0_notAfter(cert)); }

void KeepEarliest(std::optional<double>& earliest, std::optional<double> candidate) {
  if (candidate && (!earliest || *candidate < *earliest)) {
    earliest = candidate;
  }
}

std::optional<double> EarliestExpiry(const STACK_OF(X509) * chain) {
  std::optional<double> earliest;
  if (chain == nullptr) {
    return earliest;
  }
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    KeepEarliest(earliest, NotAfter(sk_X509_value(chain, i)));
  }
  return earliest;
}

std::string Hex(const unsigned char* data, std::size_t size) {
  static constexpr std::string_view kDigits = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    hex += kDigits[data[i] >> 4];
    hex += kDigits[data[i] & 0x0f];
  }
  return hex;
}

std::string Fingerprint(const X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (X509_digest(cert, EVP_sha256(), digest.data(), &size) != 1) {
    ERR_clear_error();
    return "";
  }
  return Hex(digest.data(), size);
}

// One attribute of a distinguished name, as Go's crypto/x509 parses it.
struct Attribute {
  std::string oid;                   // dotted, e.g. "2.5.4.3"
  std::optional<std::string> value;  // set when Go reads the value as a string
  std::string der_hex;               // the value's DER, for values that are not strings
};

std::string OidText(const ASN1_OBJECT* object) {
  std::array<char, 128> buffer{};
  const int size = OBJ_obj2txt(buffer.data(), static_cast<int>(buffer.size()), object, 1);
  return size > 0 ? std::string(buffer.data()) : std::string();
}

Attribute ReadAttribute(const X509_NAME_ENTRY* entry) {
  Attribute attribute;
  attribute.oid = OidText(X509_NAME_ENTRY_get_object(entry));
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
  switch (ASN1_STRING_type(data)) {
    // The string types Go's encoding/asn1 decodes into a Go string.
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_UTF8STRING:
    case V_ASN1_T61STRING:
    case V_ASN1_NUMERICSTRING:
    case V_ASN1_BMPSTRING: {
      unsigned char* utf8 = nullptr;
      const int size = ASN1_STRING_to_UTF8(&utf8, data);
      if (size >= 0) {
        attribute.value.emplace(reinterpret_cast<const char*>(utf8),
                                static_cast<std::size_t>(size));
        OPENSSL_free(utf8);
        return attribute;
      }
      ERR_clear_error();
      break;
    }
    default:
      break;
  }
  unsigned char* der = nullptr;
  const int size = i2d_ASN1_PRINTABLE(const_cast<ASN1_STRING*>(data), &der);
  if (size > 0) {
    attribute.der_hex = Hex(der, static_cast<std::size_t>(size));
    OPENSSL_free(der);
  } else {
    ERR_clear_error();
  }
  return attribute;
}

// Go's escaping of an attribute value in Name.String().
std::string EscapeValue(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    bool escape = false;
    switch (c) {
      case ',':
      case '+':
      case '"':
      case '\\':
      case '<':
      case '>':
      case ';':
        escape = true;
        break;
      case ' ':
        escape = i == 0 || i + 1 == value.size();
        break;
      case '#':
        escape = i == 0;
        break;
      default:
        break;
    }
    if (escape) {
      escaped += '\\';
    }
    escaped += c;
  }
  return escaped;
}

// The attributes Go parses into pkix.Name fields, in the order Name.ToRDNSequence emits
// them, with the short names Name.String() prints.
struct StandardAttribute {
  std::string_view oid;
  std::string_view name;
  bool single;  // CommonName and SerialNumber keep only the last value
};
constexpr std::array<StandardAttribute, 9> kStandardAttributes = {{
    {"2.5.4.6", "C", false},
    {"2.5.4.8", "ST", false},
    {"2.5.4.7", "L", false},
    {"2.5.4.9", "STREET", false},
    {"2.5.4.17", "POSTALCODE", false},
    {"2.5.4.10", "O", false},
    {"2.5.4.11", "OU", false},
    {"2.5.4.3", "CN", true},
    {"2.5.4.5", "SERIALNUMBER", true},
}};

const StandardAttribute* FindStandard(std::string_view oid) {
  for (const StandardAttribute& standard : kStandardAttributes) {
    if (standard.oid == oid) {
      return &standard;
    }
  }
  return nullptr;
}

// Go's asn1.Marshal of a string, as hex: a PrintableString when every byte is allowed in
// one ('*' and '&' are not), else a UTF8String.
std::string GoStringDerHex(std::string_view value) {
  const bool printable = std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c >= '\'' && c <= ')') || (c >= '+' && c <= '/') || c == ' ' || c == ':' || c == '=' ||
           c == '?';
  });
  std::string der(1, static_cast<char>(printable ? V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING));
  if (value.size() < 0x80) {
    der += static_cast<char>(value.size());
  } else {
    std::string length;
    for (std::size_t size = value.size(); size > 0; size >>= 8) {
      length.insert(length.begin(), static_cast<char>(size & 0xff));
    }
    der += static_cast<char>(0x80 | length.size());
    der += length;
  }
  der += value;
  return Hex(reinterpret_cast<const unsigned char*>(der.data()), der.size());
}

// One attribute as Go's RDNSequence.String() prints it: a known short name and the escaped
// value, or, for any other type, the dotted OID and the value's DER in hex.
std::string FormatAttribute(const Attribute& attribute) {
  if (const StandardAttribute* standard = FindStandard(attribute.oid); standard != nullptr) {
    return std::string(standard->name) + "=" + EscapeValue(attribute.value.value_or(""));
  }
  return attribute.oid + "=#" +
         (attribute.value ? GoStringDerHex(*attribute.value) : attribute.der_hex);
}

// The name as Go's pkix.Name.String() prints it (RFC 2253 style), which is what blackbox
// reports: Go rebuilds the sequence from its parsed fields (so the order is Go's, not the
// certificate's), puts unparsed attributes last, and prints the sequence reversed.
std::string FormatName(const X509_NAME* name) {
  if (name == nullptr) {
    return "";
  }
  std::vector<Attribute> attributes;
  attributes.reserve(static_cast<std::size_t>(X509_NAME_entry_count(name)));
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    attributes.push_back(ReadAttribute(X509_NAME_get_entry(name, i)));
  }
  std::vector<std::vector<Attribute>> sequence;
  for (const Attribute& attribute : attributes) {
    if (FindStandard(attribute.oid) == nullptr) {
      sequence.push_back({attribute});
    }
  }
  for (const StandardAttribute& standard : kStandardAttributes) {
    std::vector<Attribute> values;
    for (const Attribute& attribute : attributes) {
      // Go drops a standard attribute whose value is not a string.
      if (attribute.oid == standard.oid && attribute.value) {
        if (standard.single) {
          values.assign(1, attribute);
        } else {
          values.push_back(attribute);
        }
      }
    }
    if (standard.single && !values.empty() && values.front().value->empty()) {
      values.clear();
    }
    if (!values.empty()) {
      sequence.push_back(std::move(values));
    }
  }
  std::string text;
  for (auto rdn = sequence.rbegin(); rdn != sequence.rend(); ++rdn) {
    if (!text.empty()) {
      text += ',';
    }
    for (std::size_t i = 0; i < rdn->size(); ++i) {
      if (i > 0) {
        text += '+';
      }
      text += FormatAttribute((*rdn)[i]);
    }
  }
  return text;
}

std::string IpText(const ASN1_OCTET_STRING* address) {
  const unsigned char* bytes = ASN1_STRING_get0_data(address);
  const int size = ASN1_STRING_length(address);
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  if (size == 4) {
    return inet_ntop(AF_INET, bytes, buffer.data(), buffer.size()) != nullptr ? buffer.data() : "";
  }
  if (size == 16) {
    // Go prints an IPv4-mapped IPv6 address in dotted form.
    static constexpr std::array<unsigned char, 12> kV4Prefix = {0, 0, 0, 0, 0,    0,
                                                                0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(kV4Prefix.begin(), kV4Prefix.end(), bytes)) {
      return inet_ntop(AF_INET, bytes + 12, buffer.data(), buffer.size()) != nullptr ? buffer.data()
                                                                                     : "";
    }
    return inet_ntop(AF_INET6, bytes, buffer.data(), buffer.size()) != nullptr ? buffer.data() : "";
  }
  return "";
}

// DNS names first (so the label starts as blackbox's, which lists only those), then IPs.
std::string SubjectAlternativeNames(const X509* cert) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    return "";
  }
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* text = name->d.dNSName;
      dns.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                       static_cast<std::size_t>(ASN1_STRING_length(text)));
    } else if (name->type == GEN_IPADD) {
      if (std::string ip = IpText(name->d.iPAddress); !ip.empty()) {
        ips.push_back(std::move(ip));
      }
    }
  }
  GENERAL_NAMES_free(names);
  std::string joined;
  for (const std::vector<std::string>* list : {&dns, &ips}) {
    for (const std::string& item : *list) {
      if (!joined.empty()) {
        joined += ',';
      }
      joined += item;
    }
  }
  return joined;
}

std::optional<std::string> VersionName(int version) {
  switch (version) {
    case TLS1_VERSION:
      return "TLS 1.0";
    case TLS1_1_VERSION:
      return "TLS 1.1";
    case TLS1_2_VERSION:
      return "TLS 1.2";
    case TLS1_3_VERSION:
      return "TLS 1.3";
    default:
      return std::nullopt;
  }
}

std::optional<int> ParseMinVersion(const std::string& name) {
  static const std::map<std::string, int, std::less<>> kVersions = {
      {"", TLS1_2_VERSION},      {"TLS10", TLS1_VERSION},   {"TLS11", TLS1_1_VERSION},
      {"TLS12", TLS1_2_VERSION}, {"TLS13", TLS1_3_VERSION},
  };
  const auto found = kVersions.find(name);
  if (found == kVersions.end()) {
    return std::nullopt;
  }
  return found->second;
}

// The SSL_CTX ex_data slot holding the recorder; one index for the process.
int RecorderIndex() {
  static const int kIndex = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return kIndex;
}

ChainRecorder* RecorderOf(const SSL* ssl) {
  if (ssl == nullptr) {
    return nullptr;
  }
  const SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
  return ctx == nullptr ? nullptr
                        : static_cast<ChainRecorder*>(SSL_CTX_get_ex_data(ctx, RecorderIndex()));
}

}  // namespace

// Called for every step of chain verification, also when verification is off (OpenSSL
// still verifies then, and ignores the result): the peer chain is recorded here because a
// failed handshake may free the SSL before the caller can look at it.
int RecordingVerifyCallback(int preverify_ok, X509_STORE_CTX* store) {
  const auto* ssl = static_cast<const SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  ChainRecorder* recorder = RecorderOf(ssl);
  if (recorder == nullptr) {
    return preverify_ok;
  }
  recorder->peer_seen_ = true;
  if (preverify_ok == 0 && recorder->verify_error_ == X509_V_OK) {
    recorder->verify_error_ = X509_STORE_CTX_get_error(store);
    recorder->verify_error_depth_ = X509_STORE_CTX_get_error_depth(store);
  }
  // The untrusted stack is what the peer sent, leaf included.
  recorder->RecordPeer(X509_STORE_CTX_get0_cert(store), X509_STORE_CTX_get0_untrusted(store));
  if (recorder->previous_verify_ != nullptr) {
    return recorder->previous_verify_(preverify_ok, store);
  }
  return preverify_ok;
}

// Completes the recording when the handshake succeeds, for callers (libcurl) that do not
// hold the SSL at the right moment.
void RecordingInfoCallback(const SSL* ssl, int where, int ret) {
  ChainRecorder* recorder = RecorderOf(ssl);
  if (recorder == nullptr) {
    return;
  }
  if ((where & SSL_CB_HANDSHAKE_DONE) != 0) {
    recorder->OnHandshake(ssl);
  }
  if (recorder->previous_info_ != nullptr) {
    recorder->previous_info_(ssl, where, ret);
  }
}

SslCtxPtr MakeClientContext(const config::TlsConfig& config, std::string* why) {
  ERR_clear_error();
  const std::optional<int> min_version = ParseMinVersion(config.min_version);
  if (!min_version) {
    return Fail(why, "unknown tls_config.min_version \"" + config.min_version +
                         "\" (want TLS10, TLS11, TLS12 or TLS13)");
  }
  if (config.cert_file.empty() != config.key_file.empty()) {
    return Fail(why, "tls_config.cert_file and tls_config.key_file must be set together");
  }
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) {
    return Fail(why, "cannot make a tls context: " + OpenSslReason());
  }
  SSL_CTX_set_min_proto_version(ctx.get(), *min_version);
  if (*min_version < TLS1_2_VERSION) {
    // OpenSSL 3 refuses TLS 1.0 and 1.1 (MD5-SHA1 handshake hashes) above level 0; Go's
    // crypto/tls still speaks them when asked to.
    SSL_CTX_set_security_level(ctx.get(), 0);
  }

  if (config.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return Fail(why, "cannot load the system's trusted certificates: " + OpenSslReason());
    }
  } else if (SSL_CTX_load_verify_file(ctx.get(), config.ca_file.c_str()) != 1) {
    return Fail(why, "cannot load tls_config.ca_file " + config.ca_file + ": " + OpenSslReason());
  }

  if (!config.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), config.cert_file.c_str()) != 1) {
      return Fail(why,
                  "cannot load tls_config.cert_file " + config.cert_file + ": " + OpenSslReason());
    }
    const std::string key_error = "cannot load tls_config.key_file " + config.key_file + ": ";
    const std::unique_ptr<BIO, BioDeleter> bio(BIO_new_file(config.key_file.c_str(), "r"));
    if (bio == nullptr) {
      return Fail(why, key_error + OpenSslReason());
    }
    bool password_asked = false;
    const std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, &password_asked));
    if (key == nullptr) {
      // OpenSSL's own reason here is a bare "unsupported" from its decoders.
      ERR_clear_error();
      return Fail(why, key_error + (password_asked ? "the key is encrypted, which is not supported"
                                                   : "no readable PEM private key"));
    }
    // Checked before SSL_CTX_use_PrivateKey, which files a key of another type beside the
    // certificate instead of reporting the mismatch.
    if (X509_check_private_key(SSL_CTX_get0_certificate(ctx.get()), key.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) {
      return Fail(why, "tls_config.key_file " + config.key_file +
                           " does not match tls_config.cert_file " + config.cert_file + ": " +
                           OpenSslReason());
    }
  }

  SSL_CTX_set_verify(ctx.get(), config.insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                     nullptr);
  return ctx;
}

namespace {

// The name to check: server_name when set, else the host without IPv6 brackets.
std::string PeerName(const config::TlsConfig& config, const std::string& host) {
  std::string name = config.server_name.empty() ? host : config.server_name;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  return name;
}

void ExpectPeer(X509_VERIFY_PARAM* param, const std::string& name) {
  if (IsIpLiteral(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    return;
  }
  // As Go: SANs only (never the subject CN), and a wildcard is a whole left-most label.
  X509_VERIFY_PARAM_set_hostflags(
      param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
}

}  // namespace

void PrepareClient(SSL* ssl, const config::TlsConfig& config, const std::string& host) {
  const std::string name = PeerName(config, host);
  if (name.empty()) {
    return;
  }
  ExpectPeer(SSL_get0_param(ssl), name);
  if (!IsIpLiteral(name)) {
    // SSL_set_tlsext_host_name is a macro with a C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(name.c_str()));
  }
}

void PrepareContext(SSL_CTX* ctx, const config::TlsConfig& config, const std::string& host) {
  const std::string name = PeerName(config, host);
  if (!name.empty()) {
    ExpectPeer(SSL_CTX_get0_param(ctx), name);
  }
}

void ChainRecorder::Reset() {
  verify_error_ = X509_V_OK;
  verify_error_depth_ = 0;
  peer_seen_ = false;
  version_.reset();
  earliest_expiry_.reset();
  leaf_expiry_.reset();
  chain_expiry_.reset();
  leaf_.reset();
}

void ChainRecorder::Attach(SSL_CTX* ctx) {
  Reset();
  SSL_CTX_set_ex_data(ctx, RecorderIndex(), this);
  // A context attached twice must not call itself through the "previous" callback.
  VerifyCallback verify = SSL_CTX_get_verify_callback(ctx);
  previous_verify_ = verify == RecordingVerifyCallback ? nullptr : verify;
  InfoCallback info = SSL_CTX_get_info_callback(ctx);
  previous_info_ = info == RecordingInfoCallback ? nullptr : info;
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), RecordingVerifyCallback);
  SSL_CTX_set_info_callback(ctx, RecordingInfoCallback);
}

void ChainRecorder::RecordPeer(X509* leaf, STACK_OF(X509) * chain) {
  if (leaf == nullptr && chain != nullptr && sk_X509_num(chain) > 0) {
    leaf = sk_X509_value(chain, 0);
  }
  if (leaf == nullptr) {
    return;
  }
  std::optional<double> earliest = EarliestExpiry(chain);
  leaf_expiry_ = NotAfter(leaf);
  KeepEarliest(earliest, leaf_expiry_);
  earliest_expiry_ = earliest;
  CertificateInfo info;
  info.fingerprint_sha256 = Fingerprint(leaf);
  info.subject = FormatName(X509_get_subject_name(leaf));
  info.issuer = FormatName(X509_get_issuer_name(leaf));
  info.subject_alternative = SubjectAlternativeNames(leaf);
  leaf_ = std::move(info);
}

void ChainRecorder::OnHandshake(const SSL* ssl) {
  if (ssl == nullptr) {
    return;
  }
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf != nullptr || (chain != nullptr && sk_X509_num(chain) > 0)) {
    peer_seen_ = true;
    RecordPeer(leaf, chain);
  }
  // Before the server's certificate arrives SSL_version is only what the client offered.
  if (peer_seen_ || SSL_is_init_finished(ssl) != 0) {
    version_ = VersionName(SSL_version(ssl));
  }
  // The verify result starts as X509_V_OK, so it only counts with a verified chain.
  chain_expiry_.reset();
  if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0 &&
      SSL_get_verify_result(ssl) == X509_V_OK) {
    chain_expiry_ = EarliestExpiry(SSL_get0_verified_chain(ssl));
  }
}

FailureReason ChainRecorder::HandshakeFailureReason() const {
  switch (verify_error_) {
    case X509_V_OK:
      return FailureReason::kTlsHandshake;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
      return FailureReason::kTlsCertExpired;
    default:
      return FailureReason::kTlsCertInvalid;
  }
}

std::string ChainRecorder::VerifyErrorText() const {
  if (verify_error_ == X509_V_OK) {
    return "";
  }
  return std::string(X509_verify_cert_error_string(verify_error_)) + " (depth " +
         std::to_string(verify_error_depth_) + ")";
}

void ChainRecorder::Apply(ProbeResult& result) const {
  result.tls_version = version_;
  result.earliest_cert_expiry_seconds = earliest_expiry_;
  result.leaf_cert_expiry_seconds = leaf_expiry_;
  result.last_chain_expiry_seconds = chain_expiry_;
  result.leaf = leaf_;
}

}  // namespace nines::probes::tls
