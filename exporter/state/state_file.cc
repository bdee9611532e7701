#include "exporter/state/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <new>
#include <string_view>
#include <system_error>
#include <utility>

#include "exporter/state/codec.h"

namespace nines::state {
namespace {

constexpr std::string_view kMagic{"NINESST\n", 8};
static_assert(kMagic.size() == 8);

std::string ErrnoText(int error) { return std::generic_category().message(error); }

std::string Hex32(std::uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// Owns a file descriptor; closes it, ignoring errors, unless Close() was called.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Returns 0 or errno. Linux releases the descriptor even when close fails, and an EINTR
  // from close does not mean the data was lost (fsync already reported that), so neither
  // is retried.
  int Close() {
    const int result = ::close(std::exchange(fd_, -1));
    return result == 0 || errno == EINTR ? 0 : errno;
  }

 private:
  int fd_;
};

std::uint32_t Crc32(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib's length is a 32-bit uInt: feed big payloads in pieces.
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  while (!data.empty()) {
    const std::size_t n = std::min(data.size(), kChunk);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n));
    data.remove_prefix(n);
  }
  return static_cast<std::uint32_t>(crc);
}

void PutLe(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

std::uint64_t GetLe(std::string_view in, std::size_t offset, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= std::uint64_t{static_cast<unsigned char>(in[offset + static_cast<std::size_t>(i)])}
             << (8 * i);
  }
  return value;
}

// Returns 0 or errno.
int WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

// Reads up to `size` bytes into `*out` (resized to what was read, less at end of file).
// Returns 0 or errno.
int ReadUpTo(int fd, std::size_t size, std::string* out) {
  out->resize(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, out->data() + done, size - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      out->resize(done);
      return errno;
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  out->resize(done);
  return 0;
}

int FsyncRetrying(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

std::filesystem::path DirectoryOf(const std::filesystem::path& file) {
  std::filesystem::path dir = file.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

// "20261125T101500Z" for now.
std::string UtcStamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  char text[32] = "unknown-time";
  if (::gmtime_r(&now, &utc) != nullptr) {
    std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  }
  return text;
}

// The payload of a good file, or why it is not one.
struct Parsed {
  Sections sections;
  std::string reason;  // empty when good
};

Parsed DecodePayload(std::string_view payload) {
  Parsed parsed;
  Decoder in(payload);
  std::uint64_t count = 0;
  if (in.U64(&count) && count > in.remaining() / 2) {
    // A section takes at least two bytes (two empty strings).
    in.Fail("section count " + std::to_string(count) + " at byte 0 is more than the " +
            std::to_string(in.remaining()) + " bytes left could hold");
  }
  for (std::uint64_t i = 0; in.ok() && i < count; ++i) {
    const std::size_t start = in.offset();
    std::string name;
    std::string blob;
    if (!in.Str(&name) || !in.Str(&blob)) {
      break;
    }
    if (!parsed.sections.emplace(name, std::move(blob)).second) {
      in.Fail("section " + Quoted(name) + " at byte " + std::to_string(start) + " given twice");
    }
  }
  if (in.ok() && !in.AtEnd()) {
    in.Fail(std::to_string(in.remaining()) + " unread bytes after the last section at byte " +
            std::to_string(in.offset()));
  }
  if (!in.ok()) {
    parsed.sections.clear();
    parsed.reason = "undecodable payload (byte offsets within the payload): ";
    parsed.reason += in.error();
  }
  return parsed;
}

// Why `header` (the first bytes of the file, up to kHeaderBytes) is not a usable header, or
// an empty string. Sets `*payload_bytes` and `*stored_crc` when it is.
std::string CheckHeader(std::string_view header, std::uint64_t* payload_bytes,
                        std::uint32_t* stored_crc) {
  if (header.empty()) {
    return "empty file";
  }
  const std::string_view magic = header.substr(0, kMagic.size());
  if (magic != kMagic.substr(0, magic.size())) {
    std::string reason = "not a nines state file (bad magic, first bytes";
    for (const char c : magic) {
      char hex[4];
      std::snprintf(hex, sizeof hex, " %02x", static_cast<unsigned char>(c));
      reason += hex;
    }
    reason += ")";
    return reason;
  }
  if (header.size() < kHeaderBytes) {
    return "truncated header (" + std::to_string(header.size()) + " of " +
           std::to_string(kHeaderBytes) + " bytes)";
  }
  const auto version = static_cast<std::uint32_t>(GetLe(header, 8, 4));
  if (version > kFormatVersion) {
    return "written by format version " + std::to_string(version) + "; this nines reads version " +
           std::to_string(kFormatVersion);
  }
  if (version != kFormatVersion) {
    return "unknown format version " + std::to_string(version) + "; this nines reads version " +
           std::to_string(kFormatVersion);
  }
  *payload_bytes = GetLe(header, 12, 8);
  if (*payload_bytes > kMaxPayloadBytes) {
    return "payload length " + std::to_string(*payload_bytes) + " is above the limit of " +
           std::to_string(kMaxPayloadBytes) + " bytes";
  }
  *stored_crc = static_cast<std::uint32_t>(GetLe(header, 20, 4));
  return "";
}

// Reads and checks the file behind `fd`; an empty reason means `sections` is good.
Parsed ReadOpened(int fd) {
  Parsed parsed;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    parsed.reason = "cannot stat: " + ErrnoText(errno);
    return parsed;
  }
  if (S_ISDIR(st.st_mode)) {
    parsed.reason = "is a directory, not a state file";
    return parsed;
  }
  if (!S_ISREG(st.st_mode)) {
    parsed.reason = "not a regular file";
    return parsed;
  }
  std::string header;
  if (const int error = ReadUpTo(fd, kHeaderBytes, &header); error != 0) {
    parsed.reason = "cannot read: " + ErrnoText(error);
    return parsed;
  }
  std::uint64_t payload_bytes = 0;
  std::uint32_t stored_crc = 0;
  parsed.reason = CheckHeader(header, &payload_bytes, &stored_crc);
  if (!parsed.reason.empty()) {
    return parsed;
  }
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  const std::uint64_t want_bytes = kHeaderBytes + payload_bytes;
  if (file_bytes < want_bytes) {
    parsed.reason = "truncated payload (header says " + std::to_string(payload_bytes) +
                    " bytes, the file has " + std::to_string(file_bytes - kHeaderBytes) + ")";
    return parsed;
  }
  if (file_bytes > want_bytes) {
    parsed.reason = std::to_string(file_bytes - want_bytes) + " trailing bytes after the " +
                    std::to_string(payload_bytes) + "-byte payload";
    return parsed;
  }
  std::string payload;
  // One byte more than expected, to notice a file that grew since fstat.
  if (const int error = ReadUpTo(fd, static_cast<std::size_t>(payload_bytes) + 1, &payload);
      error != 0) {
    parsed.reason = "cannot read: " + ErrnoText(error);
    return parsed;
  }
  if (payload.size() != payload_bytes) {
    parsed.reason = "payload of " + std::to_string(payload.size()) +
                    " bytes where the header says " + std::to_string(payload_bytes) +
                    " (the file changed while it was read)";
    return parsed;
  }
  const std::uint32_t computed_crc = Crc32(payload);
  if (computed_crc != stored_crc) {
    parsed.reason = "checksum mismatch (stored " + Hex32(stored_crc) + ", computed " +
                    Hex32(computed_crc) + ")";
    return parsed;
  }
  return DecodePayload(payload);
}

// Renames `file` out of the way and says so in the result.
LoadedState SetAside(const std::filesystem::path& file, const std::string& reason) {
  LoadedState state;
  state.status = LoadedState::Status::kSetAside;
  state.message = file.string();
  state.message += ": ";
  state.message += reason;
  std::filesystem::path base = file;
  base += ".corrupt-";
  base += UtcStamp();
  // Two bad files within a second must not overwrite each other's evidence.
  constexpr int kMaxAttempts = 100;
  int error = 0;
  std::filesystem::path aside;
  for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
    aside = base;
    if (attempt > 1) {
      aside += "-";
      aside += std::to_string(attempt);
    }
    struct stat st {};
    if (::lstat(aside.c_str(), &st) == 0) {
      error = EEXIST;
      continue;
    }
    error = ::rename(file.c_str(), aside.c_str()) == 0 ? 0 : errno;
    break;
  }
  if (error == 0) {
    state.set_aside = aside;
    state.message += "; set aside as ";
    state.message += aside.string();
  } else {
    state.message += "; could not set it aside as ";
    state.message += aside.string();
    state.message += ": ";
    state.message += ErrnoText(error);
  }
  return state;
}

}  // namespace

std::optional<std::string> WriteStateFile(const std::filesystem::path& file,
                                          const Sections& sections) {
  Encoder payload;
  payload.U64(sections.size());
  for (const auto& [name, blob] : sections) {
    payload.Str(name);
    payload.Str(blob);
  }
  if (payload.data().size() > kMaxPayloadBytes) {
    std::string message = "cannot save ";
    message += file.string();
    message += ": the state takes " + std::to_string(payload.data().size()) +
               " bytes, above the limit of " + std::to_string(kMaxPayloadBytes);
    return message;
  }
  std::string header(kMagic);
  PutLe(header, kFormatVersion, 4);
  PutLe(header, payload.data().size(), 8);
  PutLe(header, Crc32(payload.data()), 4);

  std::filesystem::path temp = file;
  temp += ".tmp";
  const auto failure = [](std::string_view what, const std::filesystem::path& path, int error) {
    std::string message(what);
    message += " ";
    message += path.string();
    message += ": ";
    message += ErrnoText(error);
    return message;
  };

  // A stale temporary file from a killed save is removed first, so that O_EXCL below can
  // refuse to follow a symlink or reuse a file somebody else holds open.
  if (::unlink(temp.c_str()) != 0 && errno != ENOENT) {
    return failure("cannot remove the stale", temp, errno);
  }
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return failure("cannot create", temp, errno);
  }
  const auto abandon = [&](std::string message) {
    ::unlink(temp.c_str());
    return std::optional<std::string>(std::move(message));
  };
  if (int error = WriteAll(fd.get(), header); error != 0) {
    return abandon(failure("cannot write", temp, error));
  }
  if (int error = WriteAll(fd.get(), payload.data()); error != 0) {
    return abandon(failure("cannot write", temp, error));
  }
  if (int error = FsyncRetrying(fd.get()); error != 0) {
    return abandon(failure("cannot fsync", temp, error));
  }
  if (int error = fd.Close(); error != 0) {
    return abandon(failure("cannot close", temp, error));
  }
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    std::string what = "cannot rename ";
    what += temp.string();
    what += " to";
    return abandon(failure(what, file, errno));
  }
  // The rename is durable only once the directory entry is.
  const std::filesystem::path dir = DirectoryOf(file);
  std::string saved = "saved ";
  saved += file.string();
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) {
    return failure(saved + " but cannot open its directory to fsync it", dir, errno);
  }
  if (int error = FsyncRetrying(dir_fd.get()); error != 0) {
    return failure(saved + " but cannot fsync its directory", dir, error);
  }
  return std::nullopt;
}

LoadedState ReadStateFile(const std::filesystem::path& file) {
  std::string reason;
  try {
    // O_NONBLOCK: a FIFO in the file's place must not hang the start; it is set aside.
    const UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd.valid()) {
      const int error = errno;
      if (error == ENOENT) {
        LoadedState state;
        state.status = LoadedState::Status::kMissing;
        state.message = file.string();
        state.message += ": no saved state yet";
        return state;
      }
      reason = "cannot open: " + ErrnoText(error);
    } else {
      Parsed parsed = ReadOpened(fd.get());
      if (parsed.reason.empty()) {
        LoadedState state;
        state.status = LoadedState::Status::kLoaded;
        state.sections = std::move(parsed.sections);
        return state;
      }
      reason = std::move(parsed.reason);
    }
  } catch (const std::bad_alloc&) {
    // Only a payload near the size limit on a small machine gets here.
    reason = "out of memory while reading";
  }
  return SetAside(file, reason);
}

}  // namespace nines::state
