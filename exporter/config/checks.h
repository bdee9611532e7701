#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "exporter/config/duration.h"

/// Small predicates the config loader validates values with.
namespace nines::config::internal {

/// The shortest probe interval accepted.
inline constexpr Duration kMinInterval = std::chrono::milliseconds(100);

/// What IsValidName accepts, for error messages.
inline constexpr const char* kNameRule =
    "must be 1 to 128 letters, digits, '_', '-' or '.', not starting with '-' or '.'";

/// Probe, server and SLO names: they become label values and URL path segments.
bool IsValidName(std::string_view name);
/// An RFC 9110 token (method names, header names, auth schemes).
bool IsToken(std::string_view text);
/// Whether `value` is one of `allowed`.
bool OneOf(std::string_view value, std::initializer_list<std::string_view> allowed);
/// `"text"`.
std::string Quoted(std::string_view text);
/// Splits "host:port" or "[v6]:port"; false when the shape is wrong.
bool SplitHostPort(std::string_view text, std::string* host, std::string* port);
/// A decimal port from 1 to 65535.
bool IsPort(std::string_view text);
/// An IPv4 or IPv6 address.
bool IsIpAddress(const std::string& text);
/// 127.0.0.0/8, ::1 or localhost.
bool IsLoopback(const std::string& host);
/// "10.0.0.0/8", "fe80::/10" or a bare address.
bool IsCidr(const std::string& text);
/// Host patterns such as "*.example.com".
bool IsHostPattern(std::string_view text);
/// A scheme://authority URL with one of `schemes` and a non-empty host.
bool IsUrlWithScheme(std::string_view url, std::initializer_list<std::string_view> schemes);

}  // namespace nines::config::internal
