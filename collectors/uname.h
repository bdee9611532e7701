#pragma once

#include <sys/utsname.h>

#include <functional>
#include <memory>
#include <string>

#include "collectors/collector.h"

/// The `uname` collector (factory NewUnameCollector in collectors/factories.h): the gauge
/// `node_uname_info{domainname,machine,nodename,release,sysname,version} 1` from uname(2),
/// as node_exporter 1.5 exposes it (it calls the syscall too, not /proc/sys/kernel).
namespace nines::collectors::internal {

/// The fields of `struct utsname`, each up to its first NUL.
struct UnameInfo {
  std::string sysname;
  std::string release;
  std::string version;
  std::string machine;
  std::string nodename;
  std::string domainname;

  bool operator==(const UnameInfo&) const = default;
};

/// Copies the fields of `uts`. A field without a NUL is taken whole (the kernel always
/// ends them with one).
UnameInfo FromUtsname(const struct utsname& uts);

/// Adds `node_uname_info` with the labels of `info` (in client_golang's order: sorted by
/// name) to `sink`.
/// Throws std::runtime_error when a field is not valid UTF-8, which no label value may be,
/// e.g. `uname: nodename: not valid UTF-8 (got "\xff")`.
void AddUnameInfo(const UnameInfo& info, SampleSink& sink);

/// The signature of uname(2): fills `*buf` and returns 0, or returns -1 and sets errno.
using UnameSyscall = std::function<int(struct utsname* buf)>;

/// The uname collector with `syscall` in place of uname(2), so tests can fix its output.
/// Update throws std::runtime_error `uname(2) failed: <strerror>` when `syscall` fails.
std::unique_ptr<Collector> NewUnameCollectorWith(UnameSyscall syscall);

}  // namespace nines::collectors::internal
