#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nines::web {

/// A validated `--web.listen-address`.
struct ListenAddress {
  std::string host;  // IPv4 address; "" = all interfaces
  int port = 0;

  /// CivetWeb's `listening_ports` spelling: "127.0.0.1:9469" or "9469".
  std::string ToCivetPort() const;
  /// As users write it: "127.0.0.1:9469" or ":9469".
  std::string ToString() const;
};

/// Parses `host:port` or `:port`. The host must be an IPv4 address or `localhost`
/// (Debian 12's CivetWeb has no IPv6 listener). On failure returns std::nullopt and
/// sets `error`.
std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error);

}  // namespace nines::web
