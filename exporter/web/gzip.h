#pragma once

#include <string>
#include <string_view>

namespace nines::web {

/// Whether an `Accept-Encoding` header value accepts gzip (a `gzip` or `*` coding whose
/// q-value is not 0).
bool AcceptsGzip(std::string_view accept_encoding);

/// Compresses `data` into a gzip stream. Throws std::runtime_error if zlib fails
/// (it only does when out of memory).
std::string Gzip(std::string_view data);

}  // namespace nines::web
