#include "exporter/config/checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace nines::config::internal {
namespace {
constexpr std::size_t kMaxNameLength = 128;
}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return false;
  }
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  };
  return std::all_of(name.begin(), name.end(), ok) && name.front() != '.' && name.front() != '-';
}

bool IsToken(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  });
}

bool OneOf(std::string_view value, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

std::string Quoted(std::string_view text) {
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out += text;
  out += '"';
  return out;
}

bool SplitHostPort(std::string_view text, std::string* host, std::string* port) {
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    *host = std::string(text.substr(1, close - 1));
    *port = std::string(text.substr(close + 2));
    return true;
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || text.find(':') != colon) {
    return false;
  }
  *host = std::string(text.substr(0, colon));
  *port = std::string(text.substr(colon + 1));
  return true;
}

bool IsPort(std::string_view text) {
  int port = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && ptr == text.data() + text.size() && port >= 1 && port <= 65535;
}

bool IsIpAddress(const std::string& text) {
  std::array<unsigned char, 16> buffer{};
  return inet_pton(AF_INET, text.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer.data()) == 1;
}

bool IsLoopback(const std::string& host) {
  std::array<unsigned char, 16> buffer{};
  if (inet_pton(AF_INET, host.c_str(), buffer.data()) == 1) {
    return buffer[0] == 127;
  }
  return host == "::1" || host == "localhost";
}

bool IsCidr(const std::string& text) {
  auto slash = text.find('/');
  std::string address = text.substr(0, slash);
  std::array<unsigned char, 16> buffer{};
  int max_bits = 0;
  if (inet_pton(AF_INET, address.c_str(), buffer.data()) == 1) {
    max_bits = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), buffer.data()) == 1) {
    max_bits = 128;
  } else {
    return false;
  }
  if (slash == std::string::npos) {
    return true;
  }
  std::string_view bits = std::string_view(text).substr(slash + 1);
  int value = -1;
  auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
  return ec == std::errc() && ptr == bits.data() + bits.size() && value >= 0 && value <= max_bits;
}

bool IsHostPattern(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '*' || c == '_';
  });
}

bool IsUrlWithScheme(std::string_view url, std::initializer_list<std::string_view> schemes) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos || !OneOf(url.substr(0, sep), schemes)) {
    return false;
  }
  std::string_view rest = url.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return !authority.empty() && authority.front() != ':' &&
         authority.find_first_of(" \t") == std::string_view::npos;
}

}  // namespace nines::config::internal
