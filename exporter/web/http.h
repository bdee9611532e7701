#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nines::web {

namespace internal {

/// `c` with ASCII capitals made lowercase (locale-independent, as HTTP wants).
constexpr char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// `text` with ASCII capitals made lowercase.
inline std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = AsciiLower(c);
  }
  return out;
}

/// Whether `a` and `b` are equal when ASCII letters are compared without case.
inline bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace internal

/// One HTTP request as handlers see it: plain data, so handlers are tested without a
/// server.
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded path, without the query
  std::string query;   // raw query string, without '?'
  std::string accept_encoding;
  /// Every request header as received (name, value), in order; names keep their case.
  std::vector<std::pair<std::string, std::string>> headers{};

  /// The value of the first header called `name` (compared case-insensitively, as HTTP
  /// header names are), or "" when there is none, like Go's `Header.Get`.
  std::string_view Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (internal::EqualsIgnoringAsciiCase(key, name)) {
        return value;
      }
    }
    return {};
  }
};

/// A handler's answer. The server adds Content-Length and sends no body for HEAD.
struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  /// A plain-text response.
  static Response Text(int status, std::string body) {
    Response response;
    response.status = status;
    response.body = std::move(body);
    return response;
  }

  /// 405 with the `Allow` header listing `allowed` (e.g. "GET, HEAD").
  static Response MethodNotAllowed(const std::string& allowed) {
    Response response = Text(405, "method not allowed; use " + allowed + "\n");
    response.headers.emplace_back("Allow", allowed);
    return response;
  }
};

}  // namespace nines::web
