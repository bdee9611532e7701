#include "probes/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <re2/re2.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace nines::probes {
namespace {

// ---- names of types, classes and rcodes, as miekg/dns (blackbox's DNS library) has them ----

struct Named {
  std::string_view name;
  std::uint16_t value;
};

// miekg/dns's TypeToString (v1.1.50, the version blackbox 0.23 uses).
constexpr Named kTypes[] = {
    {"None", 0},         {"A", 1},           {"NS", 2},          {"MD", 3},      {"MF", 4},
    {"CNAME", 5},        {"SOA", 6},         {"MB", 7},          {"MG", 8},      {"MR", 9},
    {"NULL", 10},        {"PTR", 12},        {"HINFO", 13},      {"MINFO", 14},  {"MX", 15},
    {"TXT", 16},         {"RP", 17},         {"AFSDB", 18},      {"X25", 19},    {"ISDN", 20},
    {"RT", 21},          {"NSAP-PTR", 23},   {"SIG", 24},        {"KEY", 25},    {"PX", 26},
    {"GPOS", 27},        {"AAAA", 28},       {"LOC", 29},        {"NXT", 30},    {"EID", 31},
    {"NIMLOC", 32},      {"SRV", 33},        {"ATMA", 34},       {"NAPTR", 35},  {"KX", 36},
    {"CERT", 37},        {"DNAME", 39},      {"OPT", 41},        {"APL", 42},    {"DS", 43},
    {"SSHFP", 44},       {"IPSECKEY", 45},   {"RRSIG", 46},      {"NSEC", 47},   {"DNSKEY", 48},
    {"DHCID", 49},       {"NSEC3", 50},      {"NSEC3PARAM", 51}, {"TLSA", 52},   {"SMIMEA", 53},
    {"HIP", 55},         {"NINFO", 56},      {"RKEY", 57},       {"TALINK", 58}, {"CDS", 59},
    {"CDNSKEY", 60},     {"OPENPGPKEY", 61}, {"CSYNC", 62},      {"ZONEMD", 63}, {"SVCB", 64},
    {"HTTPS", 65},       {"SPF", 99},        {"UINFO", 100},     {"UID", 101},   {"GID", 102},
    {"UNSPEC", 103},     {"NID", 104},       {"L32", 105},       {"L64", 106},   {"LP", 107},
    {"EUI48", 108},      {"EUI64", 109},     {"TKEY", 249},      {"TSIG", 250},  {"IXFR", 251},
    {"AXFR", 252},       {"MAILB", 253},     {"MAILA", 254},     {"ANY", 255},   {"URI", 256},
    {"CAA", 257},        {"AVC", 258},       {"AMTRELAY", 260},  {"TA", 32768},  {"DLV", 32769},
    {"Reserved", 65535},
};

constexpr Named kClasses[] = {
    {"IN", 1}, {"CS", 2}, {"CH", 3}, {"HS", 4}, {"NONE", 254}, {"ANY", 255},
};

// miekg/dns's RcodeToString; StringToRcode also knows the old spelling NOTIMPL.
constexpr Named kRcodes[] = {
    {"NOERROR", 0},  {"FORMERR", 1},  {"SERVFAIL", 2},  {"NXDOMAIN", 3},   {"NOTIMP", 4},
    {"REFUSED", 5},  {"YXDOMAIN", 6}, {"YXRRSET", 7},   {"NXRRSET", 8},    {"NOTAUTH", 9},
    {"NOTZONE", 10}, {"BADSIG", 16},  {"BADKEY", 17},   {"BADTIME", 18},   {"BADMODE", 19},
    {"BADNAME", 20}, {"BADALG", 21},  {"BADTRUNC", 22}, {"BADCOOKIE", 23},
};

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeSoa = 6;
constexpr std::uint16_t kTypeOpt = 41;
constexpr std::size_t kMaxNameWireOctets = 255;
constexpr std::size_t kMaxLabelOctets = 63;
// miekg/dns's limit on compression pointers followed while reading one name.
constexpr int kMaxCompressionPointers = 126;
// UDP answers are accepted up to this size (c-ares's receive buffer).
constexpr int kMaxUdpAnswerBytes = 4096;
// c-ares's own timeout is left this much beyond the run's deadline, so the deadline
// decides and reports a timeout the same way for every kind of silence.
constexpr auto kAresTimeoutMargin = std::chrono::milliseconds(500);

std::optional<std::uint16_t> Find(std::span<const Named> table, std::string_view name) {
  for (const Named& entry : table) {
    if (entry.name == name) {
      return entry.value;
    }
  }
  return std::nullopt;
}

const Named* FindValue(std::span<const Named> table, std::uint16_t value) {
  for (const Named& entry : table) {
    if (entry.value == value) {
      return &entry;
    }
  }
  return nullptr;
}

std::string TypeName(std::uint16_t type) {
  if (const Named* known = FindValue(kTypes, type)) {
    return std::string(known->name);
  }
  return "TYPE" + std::to_string(type);
}

std::string ClassName(std::uint16_t dns_class) {
  if (const Named* known = FindValue(kClasses, dns_class)) {
    return std::string(known->name);
  }
  return "CLASS" + std::to_string(dns_class);
}

// ---- text in miekg/dns's presentation format ----

void AppendDecimalEscape(std::string* out, unsigned char byte) {
  std::array<char, 5> text{};
  std::snprintf(text.data(), text.size(), "\\%03u", static_cast<unsigned>(byte));
  out->append(text.data());
}

// A byte of a TXT-like string: quotes and backslashes escaped, the unprintable as \DDD.
void AppendTxtByte(std::string* out, unsigned char byte) {
  if (byte == '"' || byte == '\\') {
    out->push_back('\\');
    out->push_back(static_cast<char>(byte));
  } else if (byte < ' ' || byte > '~') {
    AppendDecimalEscape(out, byte);
  } else {
    out->push_back(static_cast<char>(byte));
  }
}

// A byte of a label of a domain name: also escapes what the zone file syntax reserves.
void AppendLabelByte(std::string* out, unsigned char byte) {
  switch (byte) {
    case '.':
    case ' ':
    case '\'':
    case '@':
    case ';':
    case '(':
    case ')':
      out->push_back('\\');
      out->push_back(static_cast<char>(byte));
      return;
    default:
      AppendTxtByte(out, byte);
  }
}

// sprintTxt: each string quoted, joined by spaces.
std::string QuotedStrings(const std::vector<std::string>& strings) {
  std::string out;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    out += i > 0 ? " \"" : "\"";
    for (char c : strings[i]) {
      AppendTxtByte(&out, static_cast<unsigned char>(c));
    }
    out += '"';
  }
  return out;
}

// A character-string as miekg/dns unpacks it (escaped, not quoted).
std::string EscapedString(std::string_view raw) {
  std::string out;
  for (char c : raw) {
    AppendTxtByte(&out, static_cast<unsigned char>(c));
  }
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// sprintTxtOctet over raw bytes (CAA values, URI targets): quoted, the unprintable as
// \DDD, and backslash escapes in the data read the way miekg/dns reads them.
std::string QuotedOctets(std::string_view raw) {
  std::string out = "\"";
  std::size_t i = 0;
  while (i < raw.size()) {
    if (raw[i] == '\\' && i + 1 < raw.size() && raw[i + 1] == '.') {
      out += "\\.";
      i += 2;
      continue;
    }
    unsigned char byte = 0;
    std::size_t used = 1;
    if (raw[i] != '\\') {
      byte = static_cast<unsigned char>(raw[i]);
    } else if (raw.size() - i == 1) {
      ++i;  // a dangling backslash
      continue;
    } else if (raw.size() - i >= 4 && IsDigit(raw[i + 1]) && IsDigit(raw[i + 2]) &&
               IsDigit(raw[i + 3])) {
      byte = static_cast<unsigned char>((raw[i + 1] - '0') * 100 + (raw[i + 2] - '0') * 10 +
                                        (raw[i + 3] - '0'));
      used = 4;
    } else {
      byte = static_cast<unsigned char>(raw[i + 1]);
      used = 2;
    }
    if (byte == '.') {
      out += '.';
    } else if (byte < ' ' || byte > '~') {
      AppendDecimalEscape(&out, byte);
    } else {
      out += static_cast<char>(byte);
    }
    i += used;
  }
  out += '"';
  return out;
}

std::string Hex(std::span<const unsigned char> bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) {
    out += digits[byte >> 4U];
    out += digits[byte & 0x0fU];
  }
  return out;
}

std::string Base64(std::span<const unsigned char> bytes) {
  if (bytes.empty()) {
    return "";
  }
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(std::max(written, 0)));
  return out;
}

// Go's base32.HexEncoding (RFC 4648 "base32hex", upper case, padded), as NSEC3 uses it.
std::string Base32Hex(std::span<const unsigned char> bytes) {
  constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
  std::string out;
  std::uint64_t buffer = 0;
  int bits = 0;
  for (unsigned char byte : bytes) {
    buffer = (buffer << 8U) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kAlphabet[(buffer >> static_cast<unsigned>(bits)) & 0x1fU];
    }
  }
  if (bits > 0) {
    out += kAlphabet[(buffer << static_cast<unsigned>(5 - bits)) & 0x1fU];
  }
  while (out.size() % 8 != 0) {
    out += '=';
  }
  return out;
}

std::string Ipv4Text(std::span<const unsigned char> bytes) {
  return std::to_string(bytes[0]) + "." + std::to_string(bytes[1]) + "." +
         std::to_string(bytes[2]) + "." + std::to_string(bytes[3]);
}

// Go's net.IP.String() for an IPv6 address (RFC 5952: lower case, no leading zeros, the
// longest run of two or more zero groups, the first of equals, as "::").
std::string Ipv6Text(std::span<const unsigned char> bytes) {
  std::array<unsigned, 8> groups{};
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i] = (static_cast<unsigned>(bytes[2 * i]) << 8U) | bytes[2 * i + 1];
  }
  int best_start = -1;
  int best_length = 0;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && groups[static_cast<std::size_t>(j)] == 0) {
      ++j;
    }
    if (j - i > best_length) {
      best_start = i;
      best_length = j - i;
    }
    i = j > i ? j : i + 1;
  }
  if (best_length < 2) {
    best_start = -1;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_length - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') {
      out += ':';
    }
    std::array<char, 5> group{};
    std::snprintf(group.data(), group.size(), "%x", groups[static_cast<std::size_t>(i)]);
    out += group.data();
  }
  return out;
}

// miekg/dns's TimeToString: a 32-bit RRSIG time read in serial arithmetic (RFC 1982)
// around `now`, as YYYYMMDDHHMMSS in UTC.
std::string SignatureTime(std::uint32_t value, std::int64_t now) {
  constexpr std::int64_t kYear68 = std::int64_t{1} << 31;
  std::int64_t mod = (static_cast<std::int64_t>(value) - now) / kYear68 - 1;
  if (mod < 0) {
    mod = 0;
  }
  auto seconds = static_cast<std::time_t>(static_cast<std::int64_t>(value) - mod * kYear68);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> text{};
  std::strftime(text.data(), text.size(), "%Y%m%d%H%M%S", &utc);
  return text.data();
}

// ---- the wire format ----

// Reads big-endian fields, names and strings from one message; every read checks bounds.
// The message given is cut at the end of the part being read (a record's data), so reads
// cannot run past it, while compression pointers may still point anywhere before.
class WireReader {
 public:
  WireReader(std::span<const unsigned char> message, std::size_t offset)
      : message_(message), offset_(offset) {}

  std::size_t offset() const { return offset_; }
  bool AtEnd() const { return offset_ == message_.size(); }

  bool U8(std::uint8_t* value) {
    if (offset_ + 1 > message_.size()) {
      return false;
    }
    *value = message_[offset_++];
    return true;
  }

  bool U16(std::uint16_t* value) {
    if (offset_ + 2 > message_.size()) {
      return false;
    }
    *value = static_cast<std::uint16_t>((message_[offset_] << 8U) | message_[offset_ + 1]);
    offset_ += 2;
    return true;
  }

  bool U32(std::uint32_t* value) {
    if (offset_ + 4 > message_.size()) {
      return false;
    }
    *value = (std::uint32_t{message_[offset_]} << 24U) |
             (std::uint32_t{message_[offset_ + 1]} << 16U) |
             (std::uint32_t{message_[offset_ + 2]} << 8U) | message_[offset_ + 3];
    offset_ += 4;
    return true;
  }

  bool Bytes(std::size_t count, std::span<const unsigned char>* out) {
    if (offset_ + count > message_.size()) {
      return false;
    }
    *out = message_.subspan(offset_, count);
    offset_ += count;
    return true;
  }

  std::span<const unsigned char> Rest() {
    std::span<const unsigned char> rest = message_.subspan(offset_);
    offset_ = message_.size();
    return rest;
  }

  // A <character-string>: a length octet and that many bytes.
  bool CharString(std::string* out) {
    std::uint8_t length = 0;
    std::span<const unsigned char> bytes;
    if (!U8(&length) || !Bytes(length, &bytes)) {
      return false;
    }
    out->assign(bytes.begin(), bytes.end());
    return true;
  }

  // A domain name, possibly compressed, in presentation format ("." for the root).
  bool Name(std::string* out) {
    std::string text;
    std::size_t position = offset_;
    std::size_t wire_octets = 1;
    int pointers = 0;
    bool jumped = false;
    while (true) {
      if (position >= message_.size()) {
        return false;
      }
      std::uint8_t length = message_[position];
      if ((length & 0xc0U) == 0xc0U) {
        if (position + 1 >= message_.size() || ++pointers > kMaxCompressionPointers) {
          return false;
        }
        if (!jumped) {
          offset_ = position + 2;
          jumped = true;
        }
        position = ((length & 0x3fU) << 8U) | message_[position + 1];
        continue;
      }
      if ((length & 0xc0U) != 0) {
        return false;  // the obsolete extended label types
      }
      if (length == 0) {
        if (!jumped) {
          offset_ = position + 1;
        }
        break;
      }
      wire_octets += length + 1U;
      if (position + 1 + length > message_.size() || wire_octets > kMaxNameWireOctets) {
        return false;
      }
      for (std::size_t i = 0; i < length; ++i) {
        AppendLabelByte(&text, message_[position + 1 + i]);
      }
      text += '.';
      position += 1U + length;
    }
    *out = text.empty() ? "." : std::move(text);
    return true;
  }

 private:
  std::span<const unsigned char> message_;
  std::size_t offset_;
};

// The types of an NSEC-style type bit map, each as " TYPE".
bool TypeBitMap(WireReader& reader, std::string* out) {
  while (!reader.AtEnd()) {
    std::uint8_t window = 0;
    std::uint8_t length = 0;
    std::span<const unsigned char> bits;
    if (!reader.U8(&window) || !reader.U8(&length) || length == 0 || length > 32 ||
        !reader.Bytes(length, &bits)) {
      return false;
    }
    std::size_t first = std::size_t{window} * 256;
    for (std::size_t i = 0; i < bits.size(); ++i) {
      for (unsigned bit = 0; bit < 8; ++bit) {
        if ((bits[i] & (0x80U >> bit)) != 0) {
          *out += ' ';
          *out += TypeName(static_cast<std::uint16_t>(first + i * 8 + bit));
        }
      }
    }
  }
  return true;
}

// The presentation of a record's data, as miekg/dns's String() of its type; std::nullopt
// for a type rendered in the generic form, false in `ok` when the data is malformed.
std::optional<std::string> RdataText(std::uint16_t type, WireReader& r, std::int64_t now,
                                     bool* ok) {
  *ok = false;
  std::string out;
  std::uint8_t u8a = 0;
  std::uint8_t u8b = 0;
  std::uint8_t u8c = 0;
  std::uint16_t u16a = 0;
  std::uint16_t u16b = 0;
  std::uint16_t u16c = 0;
  std::string name;
  std::string name2;
  std::span<const unsigned char> bytes;
  auto number = [](auto value) { return std::to_string(value); };
  switch (type) {
    case 1:  // A
      if (!r.Bytes(4, &bytes)) {
        return out;
      }
      out = Ipv4Text(bytes);
      break;
    case 28:  // AAAA
      if (!r.Bytes(16, &bytes)) {
        return out;
      }
      if (std::all_of(bytes.begin(), bytes.begin() + 10, [](unsigned char b) { return b == 0; }) &&
          bytes[10] == 0xff && bytes[11] == 0xff) {
        out = "::ffff:" + Ipv4Text(bytes.subspan(12));
      } else {
        out = Ipv6Text(bytes);
      }
      break;
    case 2:   // NS
    case 3:   // MD
    case 4:   // MF
    case 5:   // CNAME
    case 7:   // MB
    case 8:   // MG
    case 9:   // MR
    case 12:  // PTR
    case 23:  // NSAP-PTR
    case 39:  // DNAME
      if (!r.Name(&out)) {
        return out;
      }
      break;
    case 6: {  // SOA
      std::array<std::uint32_t, 5> values{};
      if (!r.Name(&name) || !r.Name(&name2)) {
        return out;
      }
      out = name + " " + name2;
      for (std::uint32_t& value : values) {
        if (!r.U32(&value)) {
          return out;
        }
        out += " " + number(value);
      }
      break;
    }
    case 10:  // NULL
      bytes = r.Rest();
      out.assign(bytes.begin(), bytes.end());
      break;
    case 13:  // HINFO
      if (!r.CharString(&name) || !r.CharString(&name2)) {
        return out;
      }
      out = QuotedStrings({name, name2});
      break;
    case 14:  // MINFO
      if (!r.Name(&name) || !r.Name(&name2)) {
        return out;
      }
      out = name + " " + name2;
      break;
    case 15:  // MX
    case 18:  // AFSDB
    case 21:  // RT
    case 36:  // KX
      if (!r.U16(&u16a) || !r.Name(&name)) {
        return out;
      }
      out = number(u16a) + " " + name;
      break;
    case 16:     // TXT
    case 56:     // NINFO
    case 99:     // SPF
    case 258: {  // AVC
      std::vector<std::string> strings;
      while (!r.AtEnd()) {
        if (!r.CharString(&name)) {
          return out;
        }
        strings.push_back(name);
      }
      out = QuotedStrings(strings);
      break;
    }
    case 33:  // SRV
      if (!r.U16(&u16a) || !r.U16(&u16b) || !r.U16(&u16c) || !r.Name(&name)) {
        return out;
      }
      out = number(u16a) + " " + number(u16b) + " " + number(u16c) + " " + name;
      break;
    case 35: {  // NAPTR
      std::string flags;
      std::string service;
      std::string regexp;
      if (!r.U16(&u16a) || !r.U16(&u16b) || !r.CharString(&flags) || !r.CharString(&service) ||
          !r.CharString(&regexp) || !r.Name(&name)) {
        return out;
      }
      out = number(u16a) + " " + number(u16b) + " \"" + EscapedString(flags) + "\" \"" +
            EscapedString(service) + "\" \"" + EscapedString(regexp) + "\" " + name;
      break;
    }
    case 43:     // DS
    case 59:     // CDS
    case 32768:  // TA
    case 32769:  // DLV
      if (!r.U16(&u16a) || !r.U8(&u8a) || !r.U8(&u8b)) {
        return out;
      }
      out = number(u16a) + " " + number(u8a) + " " + number(u8b) + " " + Hex(r.Rest(), true);
      break;
    case 44:  // SSHFP
      if (!r.U8(&u8a) || !r.U8(&u8b)) {
        return out;
      }
      out = number(u8a) + " " + number(u8b) + " " + Hex(r.Rest(), true);
      break;
    case 24:    // SIG
    case 46: {  // RRSIG
      std::uint32_t original_ttl = 0;
      std::uint32_t expiration = 0;
      std::uint32_t inception = 0;
      if (!r.U16(&u16a) || !r.U8(&u8a) || !r.U8(&u8b) || !r.U32(&original_ttl) ||
          !r.U32(&expiration) || !r.U32(&inception) || !r.U16(&u16b) || !r.Name(&name)) {
        return out;
      }
      out = TypeName(u16a) + " " + number(u8a) + " " + number(u8b) + " " + number(original_ttl) +
            " " + SignatureTime(expiration, now) + " " + SignatureTime(inception, now) + " " +
            number(u16b) + " " + name + " " + Base64(r.Rest());
      break;
    }
    case 47:  // NSEC
      if (!r.Name(&out) || !TypeBitMap(r, &out)) {
        return out;
      }
      break;
    case 25:  // KEY
    case 48:  // DNSKEY
    case 57:  // RKEY
    case 60:  // CDNSKEY
      if (!r.U16(&u16a) || !r.U8(&u8a) || !r.U8(&u8b)) {
        return out;
      }
      out = number(u16a) + " " + number(u8a) + " " + number(u8b) + " " + Base64(r.Rest());
      break;
    case 50:    // NSEC3
    case 51: {  // NSEC3PARAM
      std::uint8_t salt_length = 0;
      std::span<const unsigned char> salt;
      if (!r.U8(&u8a) || !r.U8(&u8b) || !r.U16(&u16a) || !r.U8(&salt_length) ||
          !r.Bytes(salt_length, &salt)) {
        return out;
      }
      out = number(u8a) + " " + number(u8b) + " " + number(u16a) + " " +
            (salt.empty() ? std::string("-") : Hex(salt, true));
      if (type == 50) {
        std::uint8_t hash_length = 0;
        std::span<const unsigned char> next;
        if (!r.U8(&hash_length) || !r.Bytes(hash_length, &next)) {
          return out;
        }
        out += " " + Base32Hex(next);
        if (!TypeBitMap(r, &out)) {
          return out;
        }
      }
      break;
    }
    case 52:  // TLSA
      if (!r.U8(&u8a) || !r.U8(&u8b) || !r.U8(&u8c)) {
        return out;
      }
      out = number(u8a) + " " + number(u8b) + " " + number(u8c) + " " + Hex(r.Rest(), false);
      break;
    case 61:  // OPENPGPKEY
      out = Base64(r.Rest());
      break;
    case 256:  // URI
      if (!r.U16(&u16a) || !r.U16(&u16b)) {
        return out;
      }
      bytes = r.Rest();
      out =
          number(u16a) + " " + number(u16b) + " " +
          QuotedOctets(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
      break;
    case 257:  // CAA
      if (!r.U8(&u8a) || !r.CharString(&name)) {
        return out;
      }
      bytes = r.Rest();
      out =
          number(u8a) + " " + EscapedString(name) + " " +
          QuotedOctets(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
      break;
    default:
      *ok = true;
      return std::nullopt;
  }
  *ok = true;
  return out;
}

bool ReadRecord(std::span<const unsigned char> message, std::size_t* offset, std::int64_t now,
                internal::DnsRecord* record, std::uint32_t* opt_ttl, std::string* why) {
  WireReader header(message, *offset);
  std::string owner;
  std::uint16_t type = 0;
  std::uint16_t dns_class = 0;
  std::uint32_t ttl = 0;
  std::uint16_t length = 0;
  if (!header.Name(&owner) || !header.U16(&type) || !header.U16(&dns_class) || !header.U32(&ttl) ||
      !header.U16(&length)) {
    *why = "truncated record header";
    return false;
  }
  std::size_t start = header.offset();
  std::size_t end = start + length;
  if (end > message.size()) {
    *why = "record data runs past the end of the message";
    return false;
  }
  *offset = end;
  record->type = type;
  record->soa_serial.reset();
  WireReader data(message.first(end), start);

  if (type == kTypeOpt) {
    *opt_ttl = ttl;
    // OPT.String() of miekg/dns, without the EDNS options.
    record->text =
        "\n;; OPT PSEUDOSECTION:\n; EDNS: version " + std::to_string((ttl >> 16U) & 0xffU) +
        "; flags: " + ((ttl & 0x8000U) != 0 ? "do" : "") + "; udp: " + std::to_string(dns_class);
    return true;
  }

  bool known = FindValue(kTypes, type) != nullptr;
  std::optional<std::string> rdata;
  bool ok = true;
  if (known && length == 0) {
    rdata = "";  // a record without data (miekg/dns prints its header alone)
  } else {
    rdata = RdataText(type, data, now, &ok);
    if (!ok) {
      *why = "malformed " + TypeName(type) + " record data";
      return false;
    }
    if (rdata && !data.AtEnd()) {
      *why = "bad rdlength in a " + TypeName(type) + " record";
      return false;
    }
  }
  std::string ttl_text = std::to_string(ttl);
  if (!rdata) {
    // The RFC 3597 generic form, as miekg/dns prints the types it does not know.
    std::span<const unsigned char> all = message.subspan(start, length);
    record->text = owner + "\t" + ttl_text + "\tCLASS" + std::to_string(dns_class) + "\tTYPE" +
                   std::to_string(type) + "\t\\# " + std::to_string(length) + " " + Hex(all, false);
    return true;
  }
  record->text =
      owner + "\t" + ttl_text + "\t" + ClassName(dns_class) + "\t" + TypeName(type) + "\t" + *rdata;
  if (type == kTypeSoa && length > 0) {
    // The serial follows the two names: the fifth-last 32-bit field.
    WireReader soa(message.first(end), end - 20);
    std::uint32_t serial = 0;
    soa.U32(&serial);
    record->soa_serial = serial;
  }
  return true;
}

bool IsDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsDigit);
}

// A name in presentation format as wire-format labels (fully qualified).
std::optional<std::vector<unsigned char>> EncodeName(std::string_view name, std::string* why) {
  std::vector<unsigned char> wire;
  if (name.empty()) {
    *why = "empty name";
    return std::nullopt;
  }
  if (name == ".") {
    wire.push_back(0);
    return wire;
  }
  std::string label;
  auto end_label = [&]() -> bool {
    if (label.empty()) {
      *why = "empty label";
      return false;
    }
    if (label.size() > kMaxLabelOctets) {
      *why = "label longer than 63 octets";
      return false;
    }
    wire.push_back(static_cast<unsigned char>(label.size()));
    wire.insert(wire.end(), label.begin(), label.end());
    label.clear();
    return true;
  };
  std::size_t i = 0;
  bool trailing_dot = false;
  while (i < name.size()) {
    char c = name[i];
    trailing_dot = false;
    if (c == '\\') {
      if (i + 1 >= name.size()) {
        *why = "dangling backslash";
        return std::nullopt;
      }
      if (i + 3 < name.size() && IsDigits(name.substr(i + 1, 3))) {
        int value = (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');
        if (value > 255) {
          *why = "escape \\" + std::string(name.substr(i + 1, 3)) + " is above \\255";
          return std::nullopt;
        }
        label += static_cast<char>(value);
        i += 4;
        continue;
      }
      label += name[i + 1];
      i += 2;
      continue;
    }
    if (c == '.') {
      if (!end_label()) {
        return std::nullopt;
      }
      trailing_dot = true;
      ++i;
      continue;
    }
    label += c;
    ++i;
  }
  if (!trailing_dot && !end_label()) {
    return std::nullopt;
  }
  wire.push_back(0);
  if (wire.size() > kMaxNameWireOctets) {
    *why = "longer than 255 octets";
    return std::nullopt;
  }
  return wire;
}

// Text with its control characters escaped, for messages about records (tabs as \t).
std::string Shown(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

bool Matches(const config::Regexp& regexp, const std::string& text) {
  return regexp.compiled != nullptr && re2::RE2::PartialMatch(text, *regexp.compiled);
}

int LiteralFamily(const std::string& host, std::array<unsigned char, 16>* bytes) {
  if (inet_pton(AF_INET, host.c_str(), bytes->data()) == 1) {
    return AF_INET;
  }
  if (inet_pton(AF_INET6, host.c_str(), bytes->data()) == 1) {
    return AF_INET6;
  }
  return AF_UNSPEC;
}

std::string FamilyName(int family) { return family == AF_INET ? "ip4" : "ip6"; }

// `host` and `port` of a target, as blackbox: Go's net.SplitHostPort, and when that fails
// the whole target is the host, on port 53.
void SplitTarget(const std::string& target, std::string* host, std::string* port) {
  *host = target;
  *port = "53";
  if (target.starts_with('[')) {
    std::size_t close = target.find(']');
    if (close != std::string::npos && close + 1 < target.size() && target[close + 1] == ':' &&
        target.find_first_of("[]", close + 1) == std::string::npos) {
      *host = target.substr(1, close - 1);
      *port = target.substr(close + 2);
    }
    return;
  }
  std::size_t colon = target.rfind(':');
  if (colon == std::string::npos || target.find(':') != colon ||
      target.find_first_of("[]") != std::string::npos) {
    return;
  }
  *host = target.substr(0, colon);
  *port = target.substr(colon + 1);
}

std::optional<int> ParsePort(std::string_view text) {
  int port = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || port < 1 ||
      port > 65535) {
    return std::nullopt;
  }
  return port;
}

// A `resolver` value: address family, address bytes and port.
struct Server {
  int family = AF_UNSPEC;
  std::array<unsigned char, 16> bytes{};
  std::string address;
  int port = 53;
};

std::optional<Server> ParseServer(std::string_view text, std::string* why) {
  Server server;
  std::string host(text);
  std::string port;
  if (text.starts_with('[')) {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = "want [ipv6]:port";
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    port = std::string(text.substr(close + 2));
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    std::size_t colon = text.find(':');
    host = std::string(text.substr(0, colon));
    port = std::string(text.substr(colon + 1));
  }
  server.family = LiteralFamily(host, &server.bytes);
  if (server.family == AF_UNSPEC) {
    *why = "\"" + host + "\" is not an IP address";
    return std::nullopt;
  }
  if (text.starts_with('[') && server.family != AF_INET6) {
    *why = "\"" + host + "\" in brackets is not an IPv6 address";
    return std::nullopt;
  }
  if (!port.empty() || (!text.starts_with('[') && host.size() != text.size())) {
    std::optional<int> number = ParsePort(port);
    if (!number) {
      *why = "invalid port \"" + port + "\", want 1 to 65535";
      return std::nullopt;
    }
    server.port = *number;
  }
  server.address = host;
  return server;
}

std::uint16_t RandomId() {
  thread_local std::mt19937 generator{std::random_device{}()};
  return static_cast<std::uint16_t>(std::uniform_int_distribution<unsigned>(0, 0xffff)(generator));
}

void InitAres() {
  static std::once_flag once;
  std::call_once(once, [] {
    int status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares: ") + ares_strerror(status));
    }
  });
}

// ---- c-ares on the event loop ----

// Sets the options that keep c-ares from reading any configuration file (resolv.conf,
// nsswitch.conf, hosts) when its channel is created: no server yet (the caller sets it),
// no search domain, DNS only. The caller adds a timeout and tries, which c-ares also
// wants before it skips the files. Returns their optmask.
int ExplicitConfiguration(ares_options* options) {
  static char dns_only[] = "b";
  options->lookups = dns_only;
  options->servers = nullptr;
  options->nservers = 0;
  options->domains = nullptr;
  options->ndomains = 0;
  options->ndots = 1;
  options->sortlist = nullptr;
  options->nsort = 0;
  return ARES_OPT_LOOKUPS | ARES_OPT_SERVERS | ARES_OPT_DOMAINS | ARES_OPT_NDOTS |
         ARES_OPT_SORTLIST;
}

// Options for a channel that asks `resolver` alone (ExplicitConfiguration plus a
// one-second timeout and four tries); returns their optmask. Call UseServer() once the
// channel exists.
int ResolverConfiguration(ares_options* options) {
  int optmask = ExplicitConfiguration(options);
  options->timeout = 1000;
  options->tries = 4;
  return optmask | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
}

// Makes `channel` ask `server` only; returns a c-ares status.
int UseServer(ares_channel channel, const Server& server) {
  ares_addr_port_node node{};
  node.family = server.family;
  std::memcpy(&node.addr, server.bytes.data(),
              server.family == AF_INET ? sizeof(in_addr) : sizeof(ares_in6_addr));
  node.udp_port = server.port;
  node.tcp_port = server.port;
  return ares_set_servers_ports(channel, &node);
}

// One c-ares channel whose sockets the event loop watches and whose timeouts run on a
// loop timer. `progress` runs after every call into c-ares made from a loop callback, so
// the owner sees the results c-ares's callbacks stored; it may destroy the channel.
class AresChannel {
 public:
  AresChannel(EventLoop& loop, std::function<void()> progress)
      : loop_(loop), progress_(std::move(progress)) {}
  ~AresChannel() { Destroy(); }
  AresChannel(const AresChannel&) = delete;
  AresChannel& operator=(const AresChannel&) = delete;

  // Creates the channel with `options`; returns a c-ares status.
  int Init(ares_options* options, int optmask) {
    options->sock_state_cb = &AresChannel::SocketState;
    options->sock_state_cb_data = this;
    int status = ares_init_options(&channel_, options, optmask | ARES_OPT_SOCK_STATE_CB);
    if (status != ARES_SUCCESS) {
      channel_ = nullptr;
      return status;
    }
    ares_set_socket_callback(channel_, &AresChannel::SocketCreated, this);
    return status;
  }

  ares_channel get() const { return channel_; }

  // Arms the loop timer for c-ares's next timeout; call after every call into c-ares.
  void Rearm() {
    if (timer_ != 0) {
      loop_.CancelTimer(timer_);
      timer_ = 0;
    }
    if (channel_ == nullptr) {
      return;
    }
    timeval left{};
    if (ares_timeout(channel_, nullptr, &left) == nullptr) {
      return;
    }
    auto when = SteadyClock::now() + std::chrono::seconds(left.tv_sec) +
                std::chrono::microseconds(left.tv_usec);
    timer_ = loop_.AddTimer(when, [this] { OnTimer(); });
  }

  // Ends every query (their callbacks get ARES_EDESTRUCTION) and closes the sockets.
  void Destroy() {
    if (timer_ != 0) {
      loop_.CancelTimer(timer_);
      timer_ = 0;
    }
    if (channel_ != nullptr) {
      ares_channel channel = std::exchange(channel_, nullptr);
      ares_destroy(channel);  // reports every socket closed to SocketState
    }
  }

  // What a socket callback could not do (the loop refused a socket), or "".
  const std::string& error() const { return error_; }
  // Facts about the connection to the server, for the connect phase.
  bool socket_opened() const { return socket_opened_; }
  bool tcp() const { return tcp_; }
  std::optional<SteadyClock::time_point> connected() const { return connected_; }

 private:
  static void SocketState(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<AresChannel*>(data);
    if (readable == 0 && writable == 0) {
      self->loop_.Unwatch(fd);
      return;
    }
    std::uint32_t events = (readable != 0 ? EPOLLIN : 0U) | (writable != 0 ? EPOLLOUT : 0U);
    try {
      self->loop_.Watch(fd, events, [self, fd](std::uint32_t ready) { self->OnReady(fd, ready); });
    } catch (const std::exception& e) {
      // No exception may cross c-ares; the owner fails the run on its next progress.
      self->error_ = std::string("cannot watch a c-ares socket: ") + e.what();
    }
  }

  static int SocketCreated(ares_socket_t fd, int type, void* data) {
    auto* self = static_cast<AresChannel*>(data);
    self->socket_opened_ = true;
    self->tcp_ = type == SOCK_STREAM;
    self->tcp_fd_ = self->tcp_ ? fd : -1;
    if (!self->tcp_) {
      self->connected_ = SteadyClock::now();  // a UDP socket is connected once created
    }
    return ARES_SUCCESS;
  }

  void OnReady(int fd, std::uint32_t events) {
    if (fd == tcp_fd_ && !connected_ && (events & EPOLLOUT) != 0 &&
        (events & (EPOLLERR | EPOLLHUP)) == 0) {
      connected_ = SteadyClock::now();
    }
    ares_socket_t readable = (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 ? fd : ARES_SOCKET_BAD;
    ares_socket_t writable = (events & (EPOLLOUT | EPOLLERR)) != 0 ? fd : ARES_SOCKET_BAD;
    std::function<void()> progress = progress_;  // it may destroy this channel
    ares_process_fd(channel_, readable, writable);
    Rearm();
    progress();
  }

  void OnTimer() {
    timer_ = 0;
    std::function<void()> progress = progress_;
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    Rearm();
    progress();
  }

  EventLoop& loop_;
  std::function<void()> progress_;
  ares_channel channel_ = nullptr;
  EventLoop::TimerId timer_ = 0;
  std::string error_;
  bool socket_opened_ = false;
  bool tcp_ = false;
  int tcp_fd_ = -1;
  std::optional<SteadyClock::time_point> connected_;
};

// What c-ares's callbacks report, kept until the loop callback that caused them returns.
struct LookupOutcome {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<std::pair<int, std::string>> addresses;  // family, numeric address
};

struct AnswerOutcome {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<unsigned char> bytes;
};

void OnAddrInfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
  auto* out = static_cast<LookupOutcome*>(arg);
  if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED) {
    out->done = true;
    out->status = status;
    try {
      for (ares_addrinfo_node* node = info != nullptr ? info->nodes : nullptr; node != nullptr;
           node = node->ai_next) {
        std::array<char, INET6_ADDRSTRLEN> text{};
        const void* address = nullptr;
        if (node->ai_family == AF_INET) {
          address = &reinterpret_cast<const sockaddr_in*>(node->ai_addr)->sin_addr;
        } else if (node->ai_family == AF_INET6) {
          address = &reinterpret_cast<const sockaddr_in6*>(node->ai_addr)->sin6_addr;
        } else {
          continue;
        }
        if (inet_ntop(node->ai_family, address, text.data(), text.size()) != nullptr) {
          out->addresses.emplace_back(node->ai_family, text.data());
        }
      }
    } catch (...) {
      out->status = ARES_ENOMEM;
    }
  }
  if (info != nullptr) {
    ares_freeaddrinfo(info);
  }
}

void OnSend(void* arg, int status, int /*timeouts*/, unsigned char* answer, int length) {
  auto* out = static_cast<AnswerOutcome*>(arg);
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
    return;
  }
  out->done = true;
  out->status = status;
  try {
    if (answer != nullptr && length > 0) {
      out->bytes.assign(answer, answer + length);
    }
  } catch (...) {
    out->status = ARES_ENOMEM;
  }
}

}  // namespace

// ---- the public tables ----

std::optional<std::uint16_t> DnsTypeFromName(std::string_view name) { return Find(kTypes, name); }

std::optional<std::uint16_t> DnsClassFromName(std::string_view name) {
  return Find(kClasses, name);
}

std::optional<int> DnsRcodeFromName(std::string_view name) {
  if (name == "NOTIMPL") {
    return 4;
  }
  std::optional<std::uint16_t> value = Find(kRcodes, name);
  if (!value) {
    return std::nullopt;
  }
  return *value;
}

std::string DnsRcodeName(int rcode) {
  if (rcode >= 0 && rcode <= 0xffff) {
    if (const Named* known = FindValue(kRcodes, static_cast<std::uint16_t>(rcode))) {
      return std::string(known->name);
    }
  }
  return "RCODE" + std::to_string(rcode);
}

std::optional<std::string> DnsNameProblem(std::string_view name) {
  std::string why;
  if (!EncodeName(name, &why)) {
    return why;
  }
  return std::nullopt;
}

std::optional<std::string> DnsServerProblem(std::string_view server) {
  std::string why;
  if (!ParseServer(server, &why)) {
    return why;
  }
  return std::nullopt;
}

DnsLookup LookUpAt(std::string_view server, const std::string& host,
                   std::chrono::nanoseconds timeout) {
  DnsLookup answer;
  std::string why;
  std::optional<Server> parsed = ParseServer(server, &why);
  if (!parsed) {
    answer.error = "resolver \"" + std::string(server) + "\": " + why;
    return answer;
  }
  if (timeout <= std::chrono::nanoseconds::zero()) {
    answer.error = "no time left to resolve \"" + host + "\"";
    return answer;
  }
  InitAres();
  LookupOutcome outcome;  // outlives the channel, whose destruction may call back
  ares_options options{};
  int optmask = ResolverConfiguration(&options);
  ares_channel raw = nullptr;
  int status = ares_init_options(&raw, &options, optmask);
  if (status != ARES_SUCCESS) {
    answer.error = std::string("cannot set up c-ares: ") + ares_strerror(status);
    return answer;
  }
  std::unique_ptr<std::remove_pointer_t<ares_channel>, decltype(&ares_destroy)> channel(
      raw, &ares_destroy);
  status = UseServer(channel.get(), *parsed);
  if (status != ARES_SUCCESS) {
    answer.error = "cannot use resolver \"" + std::string(server) + "\": " + ares_strerror(status);
    return answer;
  }
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  ares_getaddrinfo(channel.get(), host.c_str(), nullptr, &hints, &OnAddrInfo, &outcome);

  auto deadline = SteadyClock::now() + timeout;
  while (!outcome.done) {
    auto left = deadline - SteadyClock::now();
    if (left <= SteadyClock::duration::zero()) {
      answer.error = "resolving \"" + host + "\" at " + std::string(server) +
                     " did not finish within the timeout";
      return answer;
    }
    std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> sockets{};
    int bits = ares_getsock(channel.get(), sockets.data(), static_cast<int>(sockets.size()));
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) {
        events |= POLLIN;
      }
      if (ARES_GETSOCK_WRITABLE(bits, i)) {
        events |= POLLOUT;
      }
      if (events != 0) {
        fds.push_back({sockets[static_cast<std::size_t>(i)], events, 0});
      }
    }
    auto left_us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
    timeval most{static_cast<time_t>(left_us / 1000000),
                 static_cast<suseconds_t>(left_us % 1000000)};
    timeval wait{};
    ares_timeout(channel.get(), &most, &wait);
    int millis = static_cast<int>(wait.tv_sec * 1000 + (wait.tv_usec + 999) / 1000);
    int ready = ::poll(fds.data(), fds.size(), millis);
    if (ready < 0 && errno != EINTR) {
      answer.error = std::string("poll: ") + std::strerror(errno);
      return answer;
    }
    bool any = false;
    for (const pollfd& fd : fds) {
      if (fd.revents == 0) {
        continue;
      }
      any = true;
      bool readable = (fd.revents & (POLLIN | POLLERR | POLLHUP)) != 0;
      bool writable = (fd.revents & (POLLOUT | POLLERR | POLLHUP)) != 0;
      ares_process_fd(channel.get(), readable ? fd.fd : ARES_SOCKET_BAD,
                      writable ? fd.fd : ARES_SOCKET_BAD);
    }
    if (!any) {
      ares_process_fd(channel.get(), ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
    }
  }
  if (outcome.status != ARES_SUCCESS) {
    answer.error = ares_strerror(outcome.status);
    return answer;
  }
  for (auto& [family, address] : outcome.addresses) {
    if (std::find(answer.addresses.begin(), answer.addresses.end(), address) ==
        answer.addresses.end()) {
      answer.addresses.push_back(std::move(address));
    }
  }
  if (answer.addresses.empty()) {
    answer.error = "no IP addresses";
  }
  return answer;
}

namespace internal {

std::optional<std::vector<unsigned char>> BuildDnsQuery(std::string_view name, std::uint16_t type,
                                                        std::uint16_t dns_class,
                                                        bool recursion_desired, std::uint16_t id,
                                                        std::string* why) {
  std::optional<std::vector<unsigned char>> encoded = EncodeName(name, why);
  if (!encoded) {
    return std::nullopt;
  }
  std::vector<unsigned char> query = {
      static_cast<unsigned char>(id >> 8U),
      static_cast<unsigned char>(id & 0xffU),
      static_cast<unsigned char>(recursion_desired ? 0x01 : 0x00),  // opcode QUERY, RD
      0x00,
      0x00,
      0x01,  // one question
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
  };
  query.insert(query.end(), encoded->begin(), encoded->end());
  query.push_back(static_cast<unsigned char>(type >> 8U));
  query.push_back(static_cast<unsigned char>(type & 0xffU));
  query.push_back(static_cast<unsigned char>(dns_class >> 8U));
  query.push_back(static_cast<unsigned char>(dns_class & 0xffU));
  return query;
}

std::optional<DnsMessage> ParseDnsMessage(std::span<const unsigned char> wire, std::int64_t now,
                                          std::string* why) {
  WireReader header(wire, 0);
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::array<std::uint16_t, 4> counts{};
  if (!header.U16(&id) || !header.U16(&flags) || !header.U16(&counts[0]) ||
      !header.U16(&counts[1]) || !header.U16(&counts[2]) || !header.U16(&counts[3])) {
    *why = "shorter than a DNS header";
    return std::nullopt;
  }
  DnsMessage message;
  message.id = id;
  message.response = (flags & 0x8000U) != 0;
  message.truncated = (flags & 0x0200U) != 0;
  message.rcode = flags & 0x000f;
  if (header.AtEnd()) {
    return message;  // a header alone (some servers answer REFUSED so)
  }
  std::size_t offset = header.offset();
  for (std::uint16_t i = 0; i < counts[0]; ++i) {
    WireReader question(wire, offset);
    std::string name;
    std::uint16_t type = 0;
    std::uint16_t dns_class = 0;
    if (!question.Name(&name) || !question.U16(&type) || !question.U16(&dns_class)) {
      *why = "malformed question section";
      return std::nullopt;
    }
    offset = question.offset();
  }
  std::optional<std::uint32_t> opt_ttl;
  std::array<std::vector<DnsRecord>*, 3> sections = {&message.answer, &message.authority,
                                                     &message.additional};
  constexpr std::array<std::string_view, 3> kSectionNames = {"answer", "authority", "additional"};
  for (std::size_t s = 0; s < sections.size(); ++s) {
    for (std::uint16_t i = 0; i < counts[s + 1]; ++i) {
      DnsRecord record;
      std::uint32_t ttl = 0;
      std::string problem;
      if (!ReadRecord(wire, &offset, now, &record, &ttl, &problem)) {
        *why = std::string(kSectionNames[s]) + " record " + std::to_string(i + 1) + ": " + problem;
        return std::nullopt;
      }
      if (record.type == kTypeOpt) {
        opt_ttl = ttl;
      }
      sections[s]->push_back(std::move(record));
    }
  }
  if (opt_ttl) {
    message.rcode |= static_cast<int>((*opt_ttl >> 24U) & 0xffU) << 4;
  }
  return message;
}

std::optional<std::string> ValidateRecords(const std::vector<DnsRecord>& records,
                                           const config::DnsRrValidator& validator,
                                           const std::function<void(std::string)>& log) {
  if (records.empty() && !validator.fail_if_not_matches_regexp.empty()) {
    return "fail_if_not_matches_regexp is set but there are no records";
  }
  if (records.empty() && !validator.fail_if_none_matches_regexp.empty()) {
    return "fail_if_none_matches_regexp is set but there are no records";
  }
  bool any_match = false;
  bool all_match = true;
  for (const DnsRecord& record : records) {
    log("validating \"" + Shown(record.text) + "\"");
    for (const config::Regexp& regexp : validator.fail_if_matches_regexp) {
      if (Matches(regexp, record.text)) {
        return "\"" + Shown(record.text) + "\" matches fail_if_matches_regexp \"" + regexp.pattern +
               "\"";
      }
    }
    for (const config::Regexp& regexp : validator.fail_if_all_match_regexp) {
      if (!Matches(regexp, record.text)) {
        all_match = false;
      }
    }
    for (const config::Regexp& regexp : validator.fail_if_not_matches_regexp) {
      if (!Matches(regexp, record.text)) {
        return "\"" + Shown(record.text) + "\" does not match fail_if_not_matches_regexp \"" +
               regexp.pattern + "\"";
      }
    }
    for (const config::Regexp& regexp : validator.fail_if_none_matches_regexp) {
      if (Matches(regexp, record.text)) {
        any_match = true;
      }
    }
  }
  if (!validator.fail_if_all_match_regexp.empty() && !all_match) {
    return std::string("not every record matches every fail_if_all_match_regexp");
  }
  if (!validator.fail_if_none_matches_regexp.empty() && !any_match) {
    return std::string("no record matches fail_if_none_matches_regexp");
  }
  return std::nullopt;
}

}  // namespace internal

// ---- the prober ----

struct DnsProbe::State {
  std::string host;
  int port = 53;
  std::string where;  // "address port N", for messages
  std::uint16_t type = kTypeA;
  std::uint16_t dns_class = 1;
  std::vector<unsigned char> query;
  int preferred = AF_INET6;
  bool fallback = true;

  std::unique_ptr<AresChannel> lookup_channel;
  bool resolving = false;
  SteadyClock::time_point resolve_started{};
  LookupOutcome lookup;

  std::string address;
  int family = AF_UNSPEC;
  std::unique_ptr<AresChannel> query_channel;
  bool querying = false;
  SteadyClock::time_point query_started{};
  AnswerOutcome answer;
  // Copied from the query channel when it goes.
  bool socket_opened = false;
  bool tcp = false;
  std::optional<SteadyClock::time_point> connected;
};

DnsProbe::DnsProbe(EventLoop& loop, ProbeRequest request)
    : ProbeRun(loop, std::move(request)), state_(std::make_unique<State>()) {}

DnsProbe::~DnsProbe() { Release(); }

void DnsProbe::Begin() {
  InitAres();
  State& s = *state_;
  result().dns = DnsFacts{};
  const config::DnsModule& dns = module().dns;

  std::string port;
  SplitTarget(request().target, &s.host, &port);
  std::optional<int> port_number = ParsePort(port);
  if (s.host.empty() || !port_number) {
    Fail(FailureReason::kOther, "invalid target \"" + request().target +
                                    "\": want a DNS server as host, host:port or [ipv6]:port");
    return;
  }
  s.port = *port_number;
  if (s.host.find('%') != std::string::npos) {
    Fail(FailureReason::kOther,
         "server addresses with a zone (\"" + s.host + "\") are not supported");
    return;
  }
  std::optional<std::uint16_t> type = DnsTypeFromName(dns.query_type);
  std::optional<std::uint16_t> dns_class = DnsClassFromName(dns.query_class);
  if (!type || !dns_class) {
    Fail(FailureReason::kOther, "unknown query_type \"" + dns.query_type + "\" or query_class \"" +
                                    dns.query_class + "\"");
    return;
  }
  s.type = *type;
  s.dns_class = *dns_class;
  std::string why;
  std::optional<std::vector<unsigned char>> query = internal::BuildDnsQuery(
      dns.query_name, s.type, s.dns_class, dns.recursion_desired, RandomId(), &why);
  if (!query) {
    Fail(FailureReason::kOther, "query_name \"" + dns.query_name + "\": " + why);
    return;
  }
  s.query = std::move(*query);
  s.preferred = dns.preferred_ip_protocol == config::IpProtocol::kIp4 ? AF_INET : AF_INET6;
  s.fallback = dns.ip_protocol_fallback;

  std::array<unsigned char, 16> bytes{};
  if (LiteralFamily(s.host, &bytes) != AF_UNSPEC) {
    result().phases["resolve"] = SteadyClock::now() - started();
    UseAddress(s.host, false);
    return;
  }
  std::string pinned = request().pinned_address;
  if (!pinned.empty()) {
    if (pinned.size() > 2 && pinned.front() == '[' && pinned.back() == ']') {
      pinned = pinned.substr(1, pinned.size() - 2);
    }
    if (LiteralFamily(pinned, &bytes) == AF_UNSPEC) {
      Fail(FailureReason::kOther, "pinned address \"" + pinned + "\" is not an IP address");
      return;
    }
    Log("pinned: \"" + s.host + "\" is asked at " + pinned + " only");
    result().phases["resolve"] = SteadyClock::now() - started();
    UseAddress(pinned, false);
    return;
  }
  StartResolve();
}

void DnsProbe::StartResolve() {
  State& s = *state_;
  const config::DnsModule& dns = module().dns;
  s.lookup_channel = std::make_unique<AresChannel>(loop(), [this] { Progress(); });
  ares_options options{};
  int optmask = 0;
  std::optional<Server> resolver;
  if (!dns.resolver.empty()) {
    std::string why;
    resolver = ParseServer(dns.resolver, &why);
    if (!resolver) {
      FailNow(FailureReason::kOther, "resolver \"" + dns.resolver + "\": " + why);
      return;
    }
    // The resolver alone answers: no /etc/hosts, no search domains, retries every second.
    optmask = ResolverConfiguration(&options);
  }
  int status = s.lookup_channel->Init(&options, optmask);
  if (status != ARES_SUCCESS) {
    FailNow(FailureReason::kOther, std::string("cannot set up c-ares: ") + ares_strerror(status));
    return;
  }
  if (resolver) {
    status = UseServer(s.lookup_channel->get(), *resolver);
    if (status != ARES_SUCCESS) {
      FailNow(FailureReason::kOther,
              "cannot use resolver \"" + dns.resolver + "\": " + ares_strerror(status));
      return;
    }
  }
  ares_addrinfo_hints hints{};
  hints.ai_family = s.fallback ? AF_UNSPEC : s.preferred;
  Log("resolving \"" + s.host + "\" (" +
      (s.fallback ? FamilyName(s.preferred) + " preferred" : FamilyName(s.preferred) + " only") +
      ") with " + (resolver ? "resolver " + dns.resolver : std::string("the system resolver")));
  s.resolve_started = SteadyClock::now();
  s.resolving = true;
  ares_getaddrinfo(s.lookup_channel->get(), s.host.c_str(), nullptr, &hints, &OnAddrInfo,
                   &s.lookup);
  s.lookup_channel->Rearm();
  Advance();
}

void DnsProbe::Progress() {
  try {
    Advance();
  } catch (const std::exception& e) {
    FailNow(FailureReason::kOther, e.what());
  }
}

void DnsProbe::Advance() {
  if (finished()) {
    return;
  }
  State& s = *state_;
  for (AresChannel* channel : {s.lookup_channel.get(), s.query_channel.get()}) {
    if (channel != nullptr && !channel->error().empty()) {
      FailNow(FailureReason::kOther, channel->error());
      return;
    }
  }
  if (s.resolving && s.lookup.done) {
    s.resolving = false;
    OnResolved();
    return;
  }
  if (s.querying && s.answer.done) {
    s.querying = false;
    OnAnswer();
  }
}

void DnsProbe::OnResolved() {
  State& s = *state_;
  result().phases["resolve"] = SteadyClock::now() - s.resolve_started;
  s.lookup_channel.reset();
  if (s.lookup.status != ARES_SUCCESS) {
    FailNow(FailureReason::kDns,
            "cannot resolve \"" + s.host + "\": " + ares_strerror(s.lookup.status));
    return;
  }
  const std::string* chosen = nullptr;
  for (int family : {s.preferred, s.preferred == AF_INET ? AF_INET6 : AF_INET}) {
    for (const auto& [address_family, address] : s.lookup.addresses) {
      if (address_family == family) {
        chosen = &address;
        break;
      }
    }
    if (chosen != nullptr || !s.fallback) {
      break;
    }
  }
  if (chosen == nullptr) {
    FailNow(FailureReason::kDns, "no " + FamilyName(s.preferred) + " address for \"" + s.host +
                                     "\"" + (s.fallback ? "" : " and ip_protocol_fallback is off"));
    return;
  }
  std::string address = *chosen;
  Log("resolved \"" + s.host + "\" to " + address);
  if (request().check_address) {
    if (std::optional<std::string> refused = request().check_address(s.host, address)) {
      FailNow(FailureReason::kOther, "refusing to query " + address + ": " + *refused);
      return;
    }
  }
  UseAddress(address, true);
}

void DnsProbe::UseAddress(const std::string& address, bool looked_up) {
  State& s = *state_;
  std::array<unsigned char, 16> bytes{};
  int family = LiteralFamily(address, &bytes);
  if (!looked_up && family != s.preferred && !s.fallback) {
    FailNow(FailureReason::kDns, "no " + FamilyName(s.preferred) + " address for \"" + s.host +
                                     "\" and ip_protocol_fallback is off");
    return;
  }
  s.address = address;
  s.family = family;
  s.where = address + " port " + std::to_string(s.port);
  result().ip_address = address;
  result().ip_protocol = family == AF_INET ? 4 : 6;
  StartQuery();
}

void DnsProbe::StartQuery() {
  State& s = *state_;
  const config::DnsModule& dns = module().dns;
  bool tcp = dns.transport_protocol == "tcp";

  std::array<unsigned char, 16> source{};
  int source_family = AF_UNSPEC;
  if (!dns.source_ip_address.empty()) {
    source_family = LiteralFamily(dns.source_ip_address, &source);
    if (source_family == AF_UNSPEC) {
      FailNow(FailureReason::kOther,
              "source_ip_address \"" + dns.source_ip_address + "\" is not an IP address");
      return;
    }
    if (source_family != s.family) {
      FailNow(FailureReason::kOther, "source_ip_address " + dns.source_ip_address + " is " +
                                         FamilyName(source_family) + " but the server " +
                                         s.address + " is " + FamilyName(s.family));
      return;
    }
  }

  s.query_channel = std::make_unique<AresChannel>(loop(), [this] { Progress(); });
  ares_options options{};
  // Every answer is taken as it comes: truncated ones too (no retry over TCP), and SERVFAIL,
  // REFUSED, NOTIMP ones (c-ares would try another server instead). One try, no search.
  options.flags = ARES_FLAG_IGNTC | ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH |
                  (tcp ? ARES_FLAG_USEVC : 0);
  options.ednspsz = kMaxUdpAnswerBytes;
  options.tries = 1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline() - SteadyClock::now() + kAresTimeoutMargin);
  options.timeout = static_cast<int>(std::max<std::int64_t>(1, left.count()));
  int optmask = ExplicitConfiguration(&options) | ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ |
                ARES_OPT_TRIES | ARES_OPT_TIMEOUTMS;
  int status = s.query_channel->Init(&options, optmask);
  if (status != ARES_SUCCESS) {
    FailNow(FailureReason::kOther, std::string("cannot set up c-ares: ") + ares_strerror(status));
    return;
  }
  ares_addr_port_node node{};
  node.family = s.family;
  std::array<unsigned char, 16> server{};
  LiteralFamily(s.address, &server);
  std::memcpy(&node.addr, server.data(),
              s.family == AF_INET ? sizeof(in_addr) : sizeof(ares_in6_addr));
  node.udp_port = s.port;
  node.tcp_port = s.port;
  status = ares_set_servers_ports(s.query_channel->get(), &node);
  if (status != ARES_SUCCESS) {
    FailNow(FailureReason::kOther, "cannot use server " + s.where + ": " + ares_strerror(status));
    return;
  }
  if (source_family == AF_INET) {
    in_addr v4{};
    std::memcpy(&v4, source.data(), sizeof v4);
    ares_set_local_ip4(s.query_channel->get(), ntohl(v4.s_addr));
  } else if (source_family == AF_INET6) {
    ares_set_local_ip6(s.query_channel->get(), source.data());
  }

  Log("asking " + s.where + " over " + (tcp ? "tcp" : "udp") + " for \"" + dns.query_name + "\" " +
      dns.query_type + " " + dns.query_class +
      (dns.recursion_desired ? ", recursion desired" : ", no recursion") +
      (source_family != AF_UNSPEC ? ", from " + dns.source_ip_address : ""));
  s.query_started = SteadyClock::now();
  s.querying = true;
  ares_send(s.query_channel->get(), s.query.data(), static_cast<int>(s.query.size()), &OnSend,
            &s.answer);
  s.query_channel->Rearm();
  Advance();
}

void DnsProbe::SetQueryPhases(SteadyClock::time_point end) {
  State& s = *state_;
  if (s.query_channel) {
    s.socket_opened = s.query_channel->socket_opened();
    s.tcp = s.query_channel->tcp();
    s.connected = s.query_channel->connected();
  }
  auto& phases = result().phases;
  if (s.connected) {
    phases["connect"] = *s.connected - s.query_started;
    phases["request"] = end - *s.connected;
  } else {
    phases["connect"] = end - s.query_started;
  }
}

void DnsProbe::OnAnswer() {
  State& s = *state_;
  const config::DnsModule& dns = module().dns;
  SetQueryPhases(SteadyClock::now());
  s.query_channel.reset();

  switch (s.answer.status) {
    case ARES_SUCCESS:
      break;
    case ARES_ECONNREFUSED:
      if (!s.socket_opened) {
        FailNow(FailureReason::kOther,
                "cannot open a socket to " + s.where +
                    (dns.source_ip_address.empty()
                         ? std::string()
                         : " from source_ip_address " + dns.source_ip_address));
      } else if (s.tcp && s.connected) {
        FailNow(FailureReason::kOther,
                "the connection to " + s.where + " closed without an answer");
      } else {
        FailNow(FailureReason::kConnectRefused, "connection refused by " + s.where);
      }
      return;
    case ARES_ETIMEOUT:
      if (s.tcp && !s.connected) {
        FailNow(FailureReason::kConnectTimeout,
                "no connection to " + s.where + " within the timeout");
      } else {
        FailNow(FailureReason::kTimeout, "no answer from " + s.where + " within the timeout");
      }
      return;
    default:
      FailNow(FailureReason::kOther,
              "query to " + s.where + " failed: " + ares_strerror(s.answer.status));
      return;
  }

  std::string why;
  std::optional<internal::DnsMessage> message = internal::ParseDnsMessage(
      s.answer.bytes, static_cast<std::int64_t>(std::time(nullptr)), &why);
  if (!message) {
    FailNow(FailureReason::kOther, "malformed answer from " + s.where + ": " + why);
    return;
  }
  DnsFacts& facts = *result().dns;
  facts.query_succeeded = true;
  facts.rcode = DnsRcodeName(message->rcode);
  facts.answer_rrs = static_cast<int>(message->answer.size());
  facts.authority_rrs = static_cast<int>(message->authority.size());
  facts.additional_rrs = static_cast<int>(message->additional.size());
  if (s.type == kTypeSoa) {
    facts.serial = 0;
    for (const internal::DnsRecord& record : message->answer) {
      if (record.soa_serial) {
        facts.serial = record.soa_serial;
      }
    }
  }
  Log("answer from " + s.where + ": rcode " + facts.rcode +
      (message->truncated ? ", truncated" : "") + ", " + std::to_string(facts.answer_rrs) +
      " answer, " + std::to_string(facts.authority_rrs) + " authority, " +
      std::to_string(facts.additional_rrs) + " additional records");
  const std::array<std::pair<std::string_view, const std::vector<internal::DnsRecord>*>, 3>
      sections = {{{"answer", &message->answer},
                   {"authority", &message->authority},
                   {"additional", &message->additional}}};
  for (const auto& [name, records] : sections) {
    for (const internal::DnsRecord& record : *records) {
      Log(std::string(name) + ": " + Shown(record.text));
    }
  }

  bool rcode_valid = false;
  std::string valid_names;
  for (const std::string& name : dns.valid_rcodes) {
    std::optional<int> rcode = DnsRcodeFromName(name);
    if (!rcode) {
      FailNow(FailureReason::kOther, "unknown rcode \"" + name + "\" in valid_rcodes");
      return;
    }
    rcode_valid = rcode_valid || *rcode == message->rcode;
    valid_names += (valid_names.empty() ? "" : ", ") + name;
  }
  if (!rcode_valid) {
    FailNow(FailureReason::kDnsRcode, "rcode " + facts.rcode + " is not one of the valid rcodes (" +
                                          (valid_names.empty() ? "none" : valid_names) + ")");
    return;
  }
  Log("rcode " + facts.rcode + " is valid");

  const std::array<std::pair<std::string_view, const config::DnsRrValidator*>, 3> validators = {
      {{"validate_answer_rrs", &dns.validate_answer_rrs},
       {"validate_authority_rrs", &dns.validate_authority_rrs},
       {"validate_additional_rrs", &dns.validate_additional_rrs}}};
  for (std::size_t i = 0; i < validators.size(); ++i) {
    std::optional<std::string> failed =
        internal::ValidateRecords(*sections[i].second, *validators[i].second,
                                  [this](std::string line) { Log(std::move(line)); });
    if (failed) {
      FailNow(FailureReason::kDnsValidation, std::string(validators[i].first) + ": " + *failed);
      return;
    }
  }
  ProbeResult done = std::move(result());
  done.success = true;
  Log("probe succeeded");
  Finish(std::move(done));
}

ProbeResult DnsProbe::TimedOut() {
  State& s = *state_;
  FailureReason reason = FailureReason::kTimeout;
  std::string detail = "no answer within the timeout";
  SteadyClock::time_point now = SteadyClock::now();
  if (s.resolving) {
    result().phases["resolve"] = now - s.resolve_started;
    reason = FailureReason::kDns;
    detail = "resolving \"" + s.host + "\" did not finish within the timeout";
  } else if (s.querying) {
    SetQueryPhases(now);
    if (s.tcp && !s.connected) {
      reason = FailureReason::kConnectTimeout;
      detail = "no connection to " + s.where + " within the timeout";
    } else {
      detail = "no answer from " + s.where + " within the timeout";
    }
  }
  Log("probe failed: " + detail);
  ProbeResult timed_out = std::move(result());
  timed_out.success = false;
  timed_out.reason = reason;
  timed_out.detail = std::move(detail);
  return timed_out;
}

void DnsProbe::Abort() { Release(); }

void DnsProbe::FailNow(FailureReason reason, std::string detail) {
  Release();
  Fail(reason, std::move(detail));
}

void DnsProbe::Release() {
  if (!state_) {
    return;
  }
  State& s = *state_;
  s.resolving = false;
  s.querying = false;
  s.lookup_channel.reset();
  s.query_channel.reset();
}

}  // namespace nines::probes
