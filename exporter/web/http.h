#pragma once

#include <string>
#include <utility>
#include <vector>

namespace nines::web {

/// One HTTP request as handlers see it: plain data, so handlers are tested without a
/// server.
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded path, without the query
  std::string query;   // raw query string, without '?'
  std::string accept_encoding;
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
