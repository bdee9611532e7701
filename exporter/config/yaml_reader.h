#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/config/config.h"
#include "exporter/config/duration.h"

/// Helpers that turn YAML nodes into typed values and collect errors in the one format
/// users see: `file:line:col: key.path: what is wrong (got X)`.
namespace nines::config::internal {

/// Collects errors for one file. Not thread safe; one per load.
class ErrorList {
 public:
  explicit ErrorList(std::string file) : file_(std::move(file)) {}

  /// Records an error at `node`'s position (1-based line and column in the message).
  void At(const YAML::Node& node, std::string_view path, std::string_view message);
  /// Records an error at a mark (for keys and parser errors).
  void AtMark(const YAML::Mark& mark, std::string_view path, std::string_view message);
  /// Records an error about the whole file, without a position.
  void File(std::string_view message);

  const std::string& file() const { return file_; }
  std::vector<std::string> Take() { return std::move(errors_); }
  bool empty() const { return errors_.empty(); }
  std::size_t size() const { return errors_.size(); }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

/// "(got X)": a short, quoted rendering of what a node holds, for error messages.
std::string Got(const YAML::Node& node);

/// Reads one YAML mapping. Each Get marks its key as known; Finish() reports the keys
/// nobody asked for as unknown, with a "did you mean" hint when one is close.
class MapReader {
 public:
  /// `node` must be a map or null (null reads as empty); anything else is reported.
  MapReader(ErrorList& errors, const YAML::Node& node, std::string path);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  /// The value of `key`, or an undefined node when absent or null.
  YAML::Node Find(std::string_view key);
  /// Whether `key` is present with a non-null value (and marks it known).
  bool Has(std::string_view key) { return Find(key).IsDefined(); }

  /// Decodes `key` into `out` when present; returns false (and leaves `out`) when absent
  /// or invalid, having recorded the error.
  template <typename T>
  bool Get(std::string_view key, T* out) {
    YAML::Node value = Find(key);
    if (!value.IsDefined()) {
      return false;
    }
    return Decode(errors_, value, Child(key), out);
  }

  /// Like Get, and reports the key as missing when absent.
  template <typename T>
  bool Require(std::string_view key, T* out) {
    if (!Has(key)) {
      errors_.At(node_, path_.empty() ? std::string(key) : Child(key), "missing required key");
      return false;
    }
    return Get(key, out);
  }

  /// Reports the value of `key` as invalid: `message (got <value>)` at its position.
  void Invalid(std::string_view key, std::string_view message);

  /// `path.key`, the key path of a child.
  std::string Child(std::string_view key) const;
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  ErrorList& errors() { return errors_; }

  /// Reports unknown keys. Call after every Get.
  void Finish();

 private:
  ErrorList& errors_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = false;
  std::vector<std::string> known_;
};

// Decoders: one per value type. Each records an error and returns false on bad input.
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, std::string* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, bool* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, int* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, std::int64_t* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, double* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, Duration* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, IpProtocol* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, Regexp* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path,
            std::map<std::string, std::string>* out);

template <typename T>
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path,
            std::optional<T>* out) {
  T value{};
  if (!Decode(errors, node, path, &value)) {
    return false;
  }
  *out = std::move(value);
  return true;
}

template <typename T>
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path,
            std::vector<T>* out) {
  if (!node.IsSequence()) {
    errors.At(node, path, "must be a list " + Got(node));
    return false;
  }
  std::vector<T> values;
  bool ok = true;
  std::size_t i = 0;
  for (const YAML::Node& item : node) {
    T value{};
    if (Decode(errors, item, path + "[" + std::to_string(i) + "]", &value)) {
      values.push_back(std::move(value));
    } else {
      ok = false;
    }
    ++i;
  }
  if (ok) {
    *out = std::move(values);
  }
  return ok;
}

/// Parses a byte size as blackbox writes `body_size_limit`: a number of bytes, or a
/// number with a base-2 unit (KB/KiB = 1024, MB/MiB, GB/GiB, TB/TiB).
std::optional<std::int64_t> ParseByteSize(std::string_view text);

}  // namespace nines::config::internal
