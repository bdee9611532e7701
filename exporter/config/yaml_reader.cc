#include "exporter/config/yaml_reader.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace nines::config::internal {
namespace {

constexpr std::size_t kMaxGotLength = 60;

std::string Quote(std::string_view text) {
  std::string out = "\"";
  std::size_t n = 0;
  for (char c : text) {
    if (n++ == kMaxGotLength) {
      out += "...";
      break;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

// A plain (unquoted) scalar: the only kind that may be read as a number or a boolean.
bool IsPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() != "!"; }

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

void ErrorList::At(const YAML::Node& node, std::string_view path, std::string_view message) {
  AtMark(node.Mark(), path, message);
}

void ErrorList::AtMark(const YAML::Mark& mark, std::string_view path, std::string_view message) {
  std::string line = file_;
  if (!mark.is_null()) {
    line += ':';
    line += std::to_string(mark.line + 1);
    line += ':';
    line += std::to_string(mark.column + 1);
  }
  line += ": ";
  if (!path.empty()) {
    line += path;
    line += ": ";
  }
  line += message;
  errors_.push_back(std::move(line));
}

void ErrorList::File(std::string_view message) {
  errors_.push_back(file_ + ": " + std::string(message));
}

std::string Got(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "(got " + Quote(node.Scalar()) + ")";
    case YAML::NodeType::Sequence:
      return "(got a list)";
    case YAML::NodeType::Map:
      return "(got a map)";
    case YAML::NodeType::Null:
      return "(got null)";
    case YAML::NodeType::Undefined:
      return "(got nothing)";
  }
  return "";
}

MapReader::MapReader(ErrorList& errors, const YAML::Node& node, std::string path)
    : errors_(errors), node_(node), path_(std::move(path)) {
  if (node_.IsNull() || !node_.IsDefined()) {
    return;
  }
  if (!node_.IsMap()) {
    errors_.At(node_, path_, "must be a map " + Got(node_));
    return;
  }
  valid_ = true;
  std::set<std::string, std::less<>> seen;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar()) {
      errors_.AtMark(entry.first.Mark(), path_, "keys must be strings");
      continue;
    }
    if (!seen.insert(entry.first.Scalar()).second) {
      errors_.AtMark(entry.first.Mark(), Child(entry.first.Scalar()), "duplicate key");
    }
  }
}

YAML::Node MapReader::Find(std::string_view key) {
  known_.emplace_back(key);
  if (!valid_) {
    return YAML::Node(YAML::NodeType::Undefined);
  }
  for (const auto& entry : node_) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) {
      if (entry.second.IsNull()) {
        break;
      }
      return entry.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

void MapReader::Invalid(std::string_view key, std::string_view message) {
  YAML::Node value = Find(key);
  errors_.At(value, Child(key), std::string(message) + " " + Got(value));
}

std::string MapReader::Child(std::string_view key) const {
  if (path_.empty()) {
    return std::string(key);
  }
  return path_ + "." + std::string(key);
}

void MapReader::Finish() {
  if (!valid_) {
    return;
  }
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar()) {
      continue;
    }
    const std::string& key = entry.first.Scalar();
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) {
      continue;
    }
    std::string message = "unknown key";
    std::string_view best;
    std::size_t best_distance = 3;  // suggest only near misses
    for (const std::string& candidate : known_) {
      std::size_t distance = EditDistance(key, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
    if (!best.empty()) {
      message += " (did you mean \"" + std::string(best) + "\"?)";
    }
    errors_.AtMark(entry.first.Mark(), Child(key), message);
  }
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, std::string* out) {
  if (!node.IsScalar()) {
    errors.At(node, path, "must be a string " + Got(node));
    return false;
  }
  *out = node.Scalar();
  return true;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, bool* out) {
  bool value = false;
  if (!IsPlainScalar(node) || !YAML::convert<bool>::decode(node, value)) {
    errors.At(node, path, "must be true or false " + Got(node));
    return false;
  }
  *out = value;
  return true;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, std::int64_t* out) {
  if (IsPlainScalar(node)) {
    const std::string& text = node.Scalar();
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && ptr == text.data() + text.size()) {
      *out = value;
      return true;
    }
    if (ec == std::errc::result_out_of_range) {
      errors.At(node, path, "number out of range " + Got(node));
      return false;
    }
  }
  errors.At(node, path, "must be a whole number " + Got(node));
  return false;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, int* out) {
  std::int64_t value = 0;
  if (!Decode(errors, node, path, &value)) {
    return false;
  }
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) {
    errors.At(node, path, "number out of range " + Got(node));
    return false;
  }
  *out = static_cast<int>(value);
  return true;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, double* out) {
  if (IsPlainScalar(node)) {
    const std::string& text = node.Scalar();
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(value)) {
      *out = value;
      return true;
    }
  }
  errors.At(node, path, "must be a number " + Got(node));
  return false;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, Duration* out) {
  if (node.IsScalar()) {
    std::string why;
    if (auto value = ParseDuration(node.Scalar(), &why)) {
      *out = *value;
      return true;
    }
    errors.At(node, path, "must be a duration like 15s or 1m30s: " + why + " " + Got(node));
    return false;
  }
  errors.At(node, path, "must be a duration like 15s or 1m30s " + Got(node));
  return false;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, IpProtocol* out) {
  if (node.IsScalar() && node.Scalar() == "ip4") {
    *out = IpProtocol::kIp4;
    return true;
  }
  if (node.IsScalar() && node.Scalar() == "ip6") {
    *out = IpProtocol::kIp6;
    return true;
  }
  errors.At(node, path, "must be ip4 or ip6 " + Got(node));
  return false;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, Regexp* out) {
  if (!node.IsScalar()) {
    errors.At(node, path, "must be a regular expression " + Got(node));
    return false;
  }
  RE2::Options options;
  options.set_log_errors(false);
  auto compiled = std::make_shared<const RE2>(node.Scalar(), options);
  if (!compiled->ok()) {
    errors.At(node, path, "invalid regular expression: " + compiled->error() + " " + Got(node));
    return false;
  }
  out->pattern = node.Scalar();
  out->compiled = std::move(compiled);
  return true;
}

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path,
            std::map<std::string, std::string>* out) {
  MapReader reader(errors, node, path);
  if (!node.IsMap()) {
    return node.IsNull();
  }
  bool ok = true;
  std::map<std::string, std::string> values;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      ok = false;  // reported by MapReader
      continue;
    }
    std::string value;
    if (Decode(errors, entry.second, reader.Child(entry.first.Scalar()), &value)) {
      values[entry.first.Scalar()] = std::move(value);
    } else {
      ok = false;
    }
  }
  if (ok) {
    *out = std::move(values);
  }
  return ok;
}

std::optional<std::int64_t> ParseByteSize(std::string_view text) {
  std::int64_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || number < 0) {
    return std::nullopt;
  }
  std::string_view unit = text.substr(static_cast<std::size_t>(ptr - text.data()));
  struct Scale {
    std::string_view a, b;
    int shift;
  };
  constexpr Scale kScales[] = {
      {"", "B", 0}, {"KB", "KiB", 10}, {"MB", "MiB", 20}, {"GB", "GiB", 30}, {"TB", "TiB", 40}};
  for (const Scale& scale : kScales) {
    if (unit == scale.a || unit == scale.b) {
      if (number > (std::numeric_limits<std::int64_t>::max() >> scale.shift)) {
        return std::nullopt;
      }
      return number << scale.shift;
    }
  }
  return std::nullopt;
}

}  // namespace nines::config::internal
