#include "collectors/netdev.h"

#include <fcntl.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "collectors/collector.h"
#include "collectors/factories.h"

namespace nines::collectors {
namespace internal {
namespace {

// Bad values go into error messages and logs verbatim, so they are escaped (a garbage
// file must not put control bytes into a terminal) and cut short (a garbage file may be
// one long line).
constexpr std::size_t kMaxQuotedBytes = 64;

std::string Quote(std::string_view value) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string quoted = "\"";
  for (std::size_t i = 0; i < value.size() && i < kMaxQuotedBytes; ++i) {
    const auto byte = static_cast<unsigned char>(value[i]);
    if (byte == '"' || byte == '\\') {
      quoted += '\\';
      quoted += value[i];
    } else if (byte < 0x20 || byte >= 0x7f) {
      quoted += "\\x";
      quoted += kHex[byte >> 4];
      quoted += kHex[byte & 0xf];
    } else {
      quoted += value[i];
    }
  }
  if (value.size() > kMaxQuotedBytes) {
    quoted += "...";
  }
  quoted += '"';
  return quoted;
}

[[noreturn]] void ThrowBadUint64(std::string_view token, const std::string& what) {
  const std::string prefix = what.empty() ? what : what + ": ";
  std::uint64_t magnitude = 0;
  const char* const end = token.data() + token.size();
  if (std::from_chars(token.data(), end, magnitude).ec == std::errc::result_out_of_range) {
    throw std::runtime_error(prefix + "out of range (got " + Quote(token) + ")");
  }
  // from_chars rejects a sign for unsigned types; "-5" deserves a clearer word.
  if (token.size() > 1 && token.front() == '-') {
    const auto [ptr, ec] = std::from_chars(token.data() + 1, end, magnitude);
    if (ec != std::errc::invalid_argument && ptr == end) {
      throw std::runtime_error(prefix + "negative (got " + Quote(token) + ")");
    }
  }
  throw std::runtime_error(prefix + "not a number (got " + Quote(token) + ")");
}

// Parses an unsigned decimal. On failure throws "<what()>: <problem> (got "<token>")";
// `what` is only called then, so the hot path builds no strings.
template <typename What>
std::uint64_t ParseUint64(std::string_view token, What what) {
  std::uint64_t value = 0;
  const char* const end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  if (ec == std::errc() && ptr == end) {
    return value;
  }
  ThrowBadUint64(token, what());
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// Splits `text` at runs of whitespace into `out` (cleared first) and returns the number
// of fields; stores at most `max`, so a garbage line cannot make it allocate without
// bound.
std::size_t SplitFields(std::string_view text, std::size_t max,
                        std::vector<std::string_view>& out) {
  out.clear();
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) {
      ++i;
    }
    const std::size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) {
      ++i;
    }
    if (i > start) {
      if (out.size() < max) {
        out.push_back(text.substr(start, i - start));
      }
      ++count;
    }
  }
  return count;
}

// Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF), as Go's
// utf8.ValidString and the exposition format require of label values.
bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    if (byte >= 0xc2 && byte <= 0xdf) {
      length = 2;
    } else if (byte >= 0xe0 && byte <= 0xef) {
      length = 3;
      low = byte == 0xe0 ? 0xa0 : 0x80;
      high = byte == 0xed ? 0x9f : 0xbf;
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      length = 4;
      low = byte == 0xf0 ? 0x90 : 0x80;
      high = byte == 0xf4 ? 0x8f : 0xbf;
    } else {
      return false;
    }
    if (text.size() - i < length) {
      return false;
    }
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) {
      return false;
    }
    for (std::size_t k = 2; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xbf) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

// The kernel's dev_valid_name(): 1 to IFNAMSIZ - 1 bytes, not "." or "..", no '/', ':'
// or whitespace. Control bytes and invalid UTF-8 cannot come from a real kernel either
// and would corrupt the exposition.
bool IsValidDeviceName(std::string_view name) {
  constexpr std::size_t kMaxNameBytes = 15;
  if (name.empty() || name.size() > kMaxNameBytes || name == "." || name == "..") {
    return false;
  }
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || byte <= 0x20 || byte == 0x7f) {
      return false;
    }
  }
  return IsValidUtf8(name);
}

// The column names of the second header line, receive then transmit.
constexpr std::array<std::string_view, 8> kReceiveHeader = {
    "bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast"};
constexpr std::array<std::string_view, 8> kTransmitHeader = {
    "bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed"};

template <std::size_t N>
bool FieldsAre(std::string_view text, const std::array<std::string_view, N>& want,
               std::vector<std::string_view>& scratch) {
  return SplitFields(text, N, scratch) == N &&
         std::equal(scratch.begin(), scratch.end(), want.begin(), want.end());
}

void CheckHeader(std::string_view line) {
  // " face |bytes    packets ... multicast|bytes    packets ... compressed"
  const std::size_t first = line.find('|');
  const std::size_t second = first == std::string_view::npos ? first : line.find('|', first + 1);
  std::vector<std::string_view> scratch;
  if (second == std::string_view::npos ||
      !FieldsAre(line.substr(first + 1, second - first - 1), kReceiveHeader, scratch) ||
      !FieldsAre(line.substr(second + 1), kTransmitHeader, scratch)) {
    throw std::runtime_error("line 2: unexpected header (got " + Quote(line) + ")");
  }
}

}  // namespace

std::vector<NetDevLine> ParseNetDev(std::string_view text) {
  std::vector<NetDevLine> devices;
  devices.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));
  std::vector<std::string_view> fields;
  fields.reserve(kNetDevColumns.size() + 1);
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++number;
    // Line 1 ("Inter-|   Receive ...|  Transmit") only groups the columns.
    if (number == 1) {
      continue;
    }
    if (number == 2) {
      CheckHeader(line);
      continue;
    }
    if (Trim(line).empty()) {
      continue;
    }
    const auto where = [number] { return "line " + std::to_string(number); };
    // Names cannot hold ':', and a long first counter follows the colon without a space
    // ("eth0:18446744073709551615"), so the first ':' ends the name.
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      throw std::runtime_error(where() + ": no ':' after the device name (got " + Quote(line) +
                               ")");
    }
    const std::string_view name = Trim(line.substr(0, colon));
    if (!IsValidDeviceName(name)) {
      throw std::runtime_error(where() + ": invalid device name (got " + Quote(name) + ")");
    }
    const auto device_where = [&] { return where() + ": device " + Quote(name); };
    const std::size_t count = SplitFields(line.substr(colon + 1), kNetDevColumns.size(), fields);
    if (count != kNetDevColumns.size()) {
      throw std::runtime_error(device_where() + ": " + std::to_string(count) + " values, want 16");
    }
    NetDevLine& device = devices.emplace_back();
    device.device = std::string(name);
    for (std::size_t i = 0; i < kNetDevColumns.size(); ++i) {
      device.values[i] = ParseUint64(
          fields[i], [&] { return device_where() + ": " + std::string(kNetDevColumns[i]); });
    }
  }
  if (number < 2) {
    throw std::runtime_error("line 2: missing header");
  }
  std::sort(devices.begin(), devices.end(),
            [](const NetDevLine& a, const NetDevLine& b) { return a.device < b.device; });
  const auto twice = std::adjacent_find(
      devices.begin(), devices.end(),
      [](const NetDevLine& a, const NetDevLine& b) { return a.device == b.device; });
  if (twice != devices.end()) {
    throw std::runtime_error("device " + Quote(twice->device) + " appears twice");
  }
  return devices;
}

std::uint64_t ParseSysfsCounter(std::string_view text) {
  if (text.ends_with('\n')) {
    text.remove_suffix(1);
  }
  return ParseUint64(text, [] { return std::string(); });
}

}  // namespace internal

namespace {

using internal::kNetDevColumns;
using internal::NetDevLine;

// Reads a small sysfs file; nullopt when it does not exist (a kernel before 4.6 has no
// rx_nohandler; a device in /proc/net/dev may be missing from a sysfs mounted for
// another network namespace). Other errors throw "cannot read <path>: <strerror>".
std::optional<std::string> ReadOptionalSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return std::nullopt;
    }
    throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  }
  // A counter is at most 20 digits and '\n'; more than that is garbage and is read only
  // far enough for the parser to reject it.
  std::array<char, 64> buffer{};
  std::size_t size = 0;
  while (size < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error("cannot read " + path + ": " + std::strerror(error));
    }
    if (n == 0) {
      break;
    }
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return std::string(buffer.data(), size);
}

std::unique_ptr<RE2> CompileFilter(const std::string& pattern, std::string_view flag) {
  if (pattern.empty()) {
    return nullptr;
  }
  RE2::Options options;
  options.set_log_errors(false);
  auto regex = std::make_unique<RE2>(pattern, options);
  if (!regex->ok()) {
    throw std::invalid_argument(std::string(flag) + ": invalid regular expression: " +
                                regex->error() + " (got \"" + pattern + "\")");
  }
  return regex;
}

class NetdevCollector : public Collector {
 public:
  NetdevCollector(Paths paths, std::unique_ptr<RE2> exclude, std::unique_ptr<RE2> include)
      : paths_(std::move(paths)), exclude_(std::move(exclude)), include_(std::move(include)) {
    for (std::size_t column = 0; column < kNetDevColumns.size(); ++column) {
      const std::string key(kNetDevColumns[column]);
      names_[column] = "node_network_" + key + "_total";
      helps_[column] = "Network device statistic " + key + ".";
    }
  }

  void Update(MetricSink& sink) const override {
    const std::string path = paths_.Proc("net/dev");
    const std::string text = ReadFile(path);
    std::vector<NetDevLine> devices;
    try {
      devices = internal::ParseNetDev(text);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
    // node_exporter's deviceFilter: an unanchored match of either pattern.
    std::erase_if(devices, [this](const NetDevLine& device) {
      return (exclude_ != nullptr && RE2::PartialMatch(device.device, *exclude_)) ||
             (include_ != nullptr && !RE2::PartialMatch(device.device, *include_));
    });

    std::vector<Labels> labels;
    labels.reserve(devices.size());
    for (const NetDevLine& device : devices) {
      labels.push_back({{"device", device.device}});
    }
    for (std::size_t column = 0; column < kNetDevColumns.size(); ++column) {
      for (std::size_t i = 0; i < devices.size(); ++i) {
        sink.Counter(names_[column], helps_[column], static_cast<double>(devices[i].values[column]),
                     labels[i]);
      }
    }
    for (std::size_t i = 0; i < devices.size(); ++i) {
      if (const std::optional<std::uint64_t> nohandler = ReadNoHandler(devices[i].device)) {
        sink.Counter("node_network_receive_nohandler_total",
                     "Network device statistic receive_nohandler.", static_cast<double>(*nohandler),
                     labels[i]);
      }
    }
  }

 private:
  // node_exporter takes rx_nohandler from the same rtnl_link_stats64 over netlink. A
  // missing file (kernels before 4.6) or a bad one costs only this series, so it is
  // skipped rather than failing the collector.
  std::optional<std::uint64_t> ReadNoHandler(const std::string& device) const {
    const std::string path = paths_.Sys("class/net/" + device + "/statistics/rx_nohandler");
    std::optional<std::string> text;
    try {
      text = ReadOptionalSmallFile(path);
    } catch (const std::runtime_error& e) {
      spdlog::debug("netdev: no receive_nohandler for {}: {}", device, e.what());
      return std::nullopt;
    }
    if (!text) {
      return std::nullopt;
    }
    try {
      return internal::ParseSysfsCounter(*text);
    } catch (const std::runtime_error& e) {
      spdlog::debug("netdev: no receive_nohandler for {}: {}: {}", device, path, e.what());
      return std::nullopt;
    }
  }

  const Paths paths_;
  const std::unique_ptr<RE2> exclude_;
  const std::unique_ptr<RE2> include_;
  std::array<std::string, kNetDevColumns.size()> names_;
  std::array<std::string, kNetDevColumns.size()> helps_;
};

}  // namespace

std::unique_ptr<Collector> NewNetdevCollector(const CollectorOptions& options) {
  if (!options.netdev_device_exclude.empty() && !options.netdev_device_include.empty()) {
    throw std::invalid_argument(
        "--collector.netdev.device-exclude and --collector.netdev.device-include are "
        "mutually exclusive");
  }
  return std::make_unique<NetdevCollector>(
      options.paths,
      CompileFilter(options.netdev_device_exclude, "--collector.netdev.device-exclude"),
      CompileFilter(options.netdev_device_include, "--collector.netdev.device-include"));
}

}  // namespace nines::collectors
