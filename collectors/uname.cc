#include "collectors/uname.h"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "collectors/factories.h"
#include "collectors/text.h"

namespace nines::collectors {
namespace internal {
namespace {

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

void AddUnameInfo(const UnameInfo& info, SampleSink& sink) {
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

  void Update(SampleSink& sink) const override {
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
