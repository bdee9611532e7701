#include "collectors/uname.h"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "collectors/factories.h"

namespace nines::collectors {
namespace internal {
namespace {

// Bad values go into error messages verbatim, so they are escaped (control bytes must not
// reach a log) and cut short.
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

// As Go's utf8.ValidString: shortest forms only, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;  // bounds of the second byte
    unsigned char high = 0xbf;
    if (byte >= 0xc2 && byte <= 0xdf) {
      length = 2;
    } else if (byte >= 0xe0 && byte <= 0xef) {
      length = 3;
      if (byte == 0xe0) {
        low = 0xa0;  // overlong
      } else if (byte == 0xed) {
        high = 0x9f;  // surrogates
      }
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      length = 4;
      if (byte == 0xf0) {
        low = 0x90;  // overlong
      } else if (byte == 0xf4) {
        high = 0x8f;  // above U+10FFFF
      }
    } else {
      return false;
    }
    if (text.size() - i < length) {
      return false;
    }
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      const unsigned char lo = k == 1 ? low : 0x80;
      const unsigned char hi = k == 1 ? high : 0xbf;
      if (next < lo || next > hi) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

template <std::size_t N>
std::string Field(const char (&field)[N]) {
  return std::string(field, ::strnlen(field, N));
}

}  // namespace

UnameInfo FromUtsname(const struct utsname& uts) {
  UnameInfo info;
  info.sysname = Field(uts.sysname);
  info.release = Field(uts.release);
  info.version = Field(uts.version);
  info.machine = Field(uts.machine);
  info.nodename = Field(uts.nodename);
  info.domainname = Field(uts.domainname);
  return info;
}

void AddUnameInfo(const UnameInfo& info, MetricSink& sink) {
  // client_golang prints labels sorted by name; the same order keeps the pages identical.
  const Labels labels = {{"domainname", info.domainname}, {"machine", info.machine},
                         {"nodename", info.nodename},     {"release", info.release},
                         {"sysname", info.sysname},       {"version", info.version}};
  // node_exporter's client_golang panics on a label value that is not UTF-8; failing the
  // collector keeps the exporter up. sethostname(2) accepts any bytes.
  for (const auto& [name, value] : labels) {
    if (!IsValidUtf8(value)) {
      throw std::runtime_error("uname: " + name + ": not valid UTF-8 (got " + Quote(value) + ")");
    }
  }
  sink.Gauge("node_uname_info", "Labeled system information as provided by the uname system call.",
             1, labels);
}

namespace {

class UnameCollector final : public Collector {
 public:
  explicit UnameCollector(UnameSyscall syscall) : syscall_(std::move(syscall)) {}

  void Update(MetricSink& sink) const override {
    struct utsname uts {};
    if (syscall_(&uts) != 0) {
      throw std::runtime_error(std::string("uname(2) failed: ") + std::strerror(errno));
    }
    AddUnameInfo(FromUtsname(uts), sink);
  }

 private:
  const UnameSyscall syscall_;
};

}  // namespace

std::unique_ptr<Collector> NewUnameCollectorWith(UnameSyscall syscall) {
  return std::make_unique<UnameCollector>(std::move(syscall));
}

}  // namespace internal

std::unique_ptr<Collector> NewUnameCollector(const CollectorOptions& /*options*/) {
  return internal::NewUnameCollectorWith([](struct utsname* buf) { return ::uname(buf); });
}

}  // namespace nines::collectors
