#include "exporter/web/listen_address.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>

namespace nines::web {

std::string ListenAddress::ToCivetPort() const {
  return host.empty() ? std::to_string(port) : host + ":" + std::to_string(port);
}

std::string ListenAddress::ToString() const { return host + ":" + std::to_string(port); }

std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<ListenAddress> {
    if (error != nullptr) {
      *error = why;
    }
    return std::nullopt;
  };
  if (text.starts_with('[')) {
    return fail("IPv6 listen addresses are not supported; use an IPv4 address");
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fail("must be host:port or :port");
  }
  ListenAddress address;
  address.host = std::string(text.substr(0, colon));
  if (address.host.find(':') != std::string::npos) {
    return fail("IPv6 listen addresses are not supported; use an IPv4 address");
  }
  if (address.host == "localhost") {
    address.host = "127.0.0.1";
  }
  std::array<unsigned char, 4> buffer{};
  if (!address.host.empty() && inet_pton(AF_INET, address.host.c_str(), buffer.data()) != 1) {
    return fail("host must be an IPv4 address or localhost");
  }
  std::string_view port = text.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || address.port < 0 ||
      address.port > 65535) {
    return fail("port must be a number from 0 to 65535");
  }
  return address;
}

}  // namespace nines::web
