#include "exporter/web/gzip.h"

#include <zlib.h>

#include <stdexcept>

#include "exporter/web/http.h"

namespace nines::web {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// A q-value of zero ("q=0", "q=0.0", "q=0.000") refuses the coding.
bool IsZeroQ(std::string_view params) {
  while (!params.empty()) {
    auto semicolon = params.find(';');
    std::string_view param = Trim(params.substr(0, semicolon));
    params =
        semicolon == std::string_view::npos ? std::string_view() : params.substr(semicolon + 1);
    if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
      std::string_view value = param.substr(2);
      return value.find_first_not_of("0.") == std::string_view::npos && !value.empty();
    }
  }
  return false;
}

}  // namespace

bool AcceptsGzip(std::string_view accept_encoding) {
  while (!accept_encoding.empty()) {
    auto comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding =
        comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    auto semicolon = item.find(';');
    std::string_view coding = Trim(item.substr(0, semicolon));
    std::string_view params =
        semicolon == std::string_view::npos ? std::string_view() : item.substr(semicolon + 1);
    if ((internal::EqualsIgnoringAsciiCase(coding, "gzip") || coding == "*") && !IsZeroQ(params)) {
      return true;
    }
  }
  return false;
}

std::string Gzip(std::string_view data) {
  z_stream stream{};
  // windowBits 15 + 16 selects the gzip wrapper; level 1 favours CPU over the last bytes.
  if (deflateInit2(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("gzip: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&stream, static_cast<uLong>(data.size())));
  // zlib's API is not const-correct; it does not write through next_in.
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) {
    throw std::runtime_error("gzip: deflate did not finish");
  }
  return out;
}

}  // namespace nines::web
