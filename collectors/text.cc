#include "collectors/text.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <stdexcept>
#include <system_error>

namespace nines::collectors {
namespace {

// Closes the descriptor however the read ends, an allocation failure included.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { ::close(fd_); }

  int get() const { return fd_; }

 private:
  const int fd_;
};

[[noreturn]] void ThrowReadError(int error, const std::string& path) {
  throw std::system_error(error, std::generic_category(), "cannot read " + path);
}

}  // namespace

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

std::string_view NextLine(std::string_view& text) {
  const std::size_t newline = text.find('\n');
  const std::string_view line = text.substr(0, newline);
  text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
  return line;
}

std::string_view NextField(std::string_view& rest) {
  std::size_t start = 0;
  while (start < rest.size() && IsSpace(rest[start])) {
    ++start;
  }
  std::size_t end = start;
  while (end < rest.size() && !IsSpace(rest[end])) {
    ++end;
  }
  const std::string_view field = rest.substr(start, end - start);
  rest.remove_prefix(end);
  return field;
}

std::size_t SplitFields(std::string_view text, std::size_t max,
                        std::vector<std::string_view>& out) {
  out.clear();
  std::size_t count = 0;
  for (std::string_view field = NextField(text); !field.empty(); field = NextField(text)) {
    if (out.size() < max) {
      out.push_back(field);
    }
    ++count;
  }
  return count;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char min_second = 0x80;
    unsigned char max_second = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead == 0xe0) {
        min_second = 0xa0;  // overlong
      } else if (lead == 0xed) {
        max_second = 0x9f;  // surrogates
      }
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead == 0xf0) {
        min_second = 0x90;  // overlong
      } else if (lead == 0xf4) {
        max_second = 0x8f;  // above U+10FFFF
      }
    } else {
      return false;  // a continuation byte, an overlong 0xc0/0xc1 lead, or 0xf5 and up
    }
    if (text.size() - i < length) {
      return false;
    }
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < min_second || second > max_second) {
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

std::optional<std::uint64_t> TryParseUint64(std::string_view token) {
  std::uint64_t value = 0;
  const char* const end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  if (ec == std::errc() && ptr == end) {
    return value;
  }
  return std::nullopt;
}

void ThrowBadUint64(std::string_view token, std::string_view what) {
  std::uint64_t magnitude = 0;
  const char* const end = token.data() + token.size();
  const char* problem = "not a number";
  if (std::from_chars(token.data(), end, magnitude).ec == std::errc::result_out_of_range) {
    problem = "out of range";
  } else if (token.size() > 1 && token.front() == '-') {
    // from_chars rejects a sign for unsigned types; "-5" deserves a clearer word than
    // "not a number", but "-x" and "--5" do not.
    const auto [ptr, ec] = std::from_chars(token.data() + 1, end, magnitude);
    if (ec != std::errc::invalid_argument && ptr == end) {
      problem = "negative";
    }
  }
  std::string message(what);
  if (!message.empty()) {
    message += ": ";
  }
  message += problem;
  message += " (got ";
  message += Quote(token);
  message += ')';
  throw std::runtime_error(message);
}

std::uint64_t ParseUint64(std::string_view token, std::string_view what) {
  if (const std::optional<std::uint64_t> value = TryParseUint64(token)) {
    return *value;
  }
  ThrowBadUint64(token, what);
}

// POSIX read rather than iostreams: the error then carries errno.
std::optional<std::string> ReadOptionalFile(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return std::nullopt;
    }
    ThrowReadError(error, path);
  }
  const FileDescriptor file(fd);
  std::string text;
  std::array<char, 16384> buffer{};
  while (true) {
    // One byte past max_bytes tells a file of max_bytes from a larger one.
    const std::size_t room = max_bytes - text.size();
    const std::size_t want = room < buffer.size() ? room + 1 : buffer.size();
    const ssize_t n = ::read(file.get(), buffer.data(), want);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ThrowReadError(errno, path);
    }
    if (n == 0) {
      return text;
    }
    text.append(buffer.data(), static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      throw std::runtime_error("cannot read " + path + ": larger than " +
                               std::to_string(max_bytes) + " bytes");
    }
  }
}

}  // namespace nines::collectors
