#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

/// The file source of the access-log pipeline: LogTail follows one log file by name, like
/// `tail -F`, and hands out its complete lines, surviving log rotation without losing or
/// repeating a line.
///
/// Model. LogTail does no waiting of its own: a thread the caller owns calls Poll()
/// periodically (every 250 ms is plenty), and each call reads everything appended since the
/// last one and checks the path for rotation with one fstat() and one stat(). An idle Poll()
/// costs three system calls. inotify is not used: it would only let the caller wake earlier,
/// and the stat-based checks are needed anyway, because inotify loses events when its queue
/// overflows and reports nothing on network file systems.
///
/// Rotation. Each Poll() first compares the open file's size with the read offset
/// (fstat), reads it to its end, then compares the file at the path with it (stat):
/// - rename and create (logrotate `create`, the nginx default): the path names another file
///   (device or inode differ). The old file is read to its end once more, then the new file
///   is followed from offset 0. The old descriptor stays open for
///   LogTailOptions::rotate_wait and is read first on every Poll(), because the writer keeps
///   appending to it until it reopens its log (nginx does on SIGUSR1, each worker on its
///   own). Lines written to the old file after rotate_wait are lost, and so are its unread
///   lines when nines stops during rotate_wait: Position() is already in the new file.
/// - delete and recreate: the path names no file. The old descriptor is kept and read for
///   rotate_wait as above (its writer may still append to it, st_nlink 0); meanwhile the
///   state is kWaiting, and the file that appears at the path is followed from offset 0.
///   The path naming no file between a rename and the create is the same case.
/// - copytruncate: the same file is now shorter than the read offset, so it is read again
///   from offset 0 and an unterminated line read before the truncation is dropped (the copy
///   has it). Limits inherent in copytruncate, which polling more often narrows but no
///   reader removes: lines appended after the last Poll() and before the truncation are in
///   the copy only; lines written between the copy and the truncation are in neither file;
///   when the writer appends more than the old offset between two Poll() calls, the
///   truncation looks like growth, the start of the new content is skipped and the first
///   line read may be a fragment. Writers without O_APPEND (nginx uses it) leave a hole of
///   NUL bytes up to their old offset, which then reads as content.
/// A line left unterminated in a file that is closed after rotate_wait is delivered as a
/// line, since nothing can complete it any more.
///
/// Lines are the bytes between two '\n'; '\r' and every other byte are content. A line
/// longer than LogTailOptions::max_line_bytes is never buffered: its bytes are dropped up to
/// its '\n' and it is counted in Stats::oversize_lines.
namespace nines::collectors {

/// Where a LogTail stands in a file, for saving across restarts: the file's device and inode
/// and the offset of the first byte of the first line not yet delivered. All zero when no
/// file has been opened (inode 0 names no file, so resuming from it reads the next file that
/// appears from its start).
struct LogPosition {
  std::uint64_t device = 0;  ///< st_dev of the file.
  std::uint64_t inode = 0;   ///< st_ino of the file.
  std::uint64_t offset = 0;  ///< Byte offset of the next line to deliver.

  bool operator==(const LogPosition&) const = default;
};

/// Where a LogTail starts reading the file that is at its path when it is constructed. A
/// file that appears later is always read from its start. When the file exists but cannot
/// be opened at construction, the choice applies to that same file (same inode) once it
/// can be, as of its size at construction, so lines appended meanwhile are delivered.
enum class LogStart {
  /// After the file's last byte: lines already in the file are not delivered. When the file
  /// ends in an unterminated line, the rest of that line is skipped too.
  kAtEnd,
  /// At offset 0.
  kAtBeginning,
  /// At LogTailOptions::position when the file at the path has its device and inode:
  /// delivery resumes exactly where it stopped (an offset past the file's end means it was
  /// truncated meanwhile, and it is read from 0). Any other file at the path is read from
  /// offset 0: the log was rotated while nines was down, and what remained unread in the
  /// rotated file is lost unless the caller reads it. An offset inside a line (the byte
  /// before it is not '\n') skips to the start of the next line.
  kAtPosition,
};

/// How a LogTail reads.
struct LogTailOptions {
  /// Where to start in the file that exists at construction.
  LogStart start = LogStart::kAtEnd;
  /// The saved position, used when `start` is kAtPosition.
  LogPosition position{};
  /// The longest line delivered, without its '\n'. Longer lines are skipped.
  std::size_t max_line_bytes = std::size_t{64} * 1024;
  /// How long a file that was renamed or deleted away stays open and is read after the
  /// path has moved on, for the lines its writer appends until it reopens its log.
  /// fluent-bit's in_tail waits 5 s by default too (Rotate_Wait).
  std::chrono::milliseconds rotate_wait = std::chrono::seconds(5);
  /// At most this many bytes are read by one Poll() call, so a large backlog (resuming
  /// after a long stop) does not hold the caller's thread for long; Poll() then reports
  /// `more` and the caller polls again at once.
  std::size_t max_bytes_per_poll = std::size_t{16} * 1024 * 1024;
  /// The clock that times rotate_wait; the steady clock when empty. For tests.
  std::function<std::chrono::steady_clock::time_point()> clock{};
};

/// What a LogTail is doing.
enum class LogTailState {
  /// A file is open and followed.
  kFollowing,
  /// The path does not exist (yet, or again after a delete): not an error, the file is
  /// opened as soon as it appears.
  kWaiting,
  /// The path exists but cannot be read (permission denied, a directory, an I/O error).
  /// LogTail::message() says why; every Poll() tries again.
  kError,
};

/// "following", "waiting" or "error".
std::string_view ToString(LogTailState state);

/// Follows the file at one path by name, through rotations (see the top of this file).
/// Construction and Poll() never throw for file system errors: they report them through
/// state() and message(). Not thread-safe: use one object from one thread at a time.
class LogTail {
 public:
  /// Lifetime counters, for self-monitoring.
  struct Stats {
    std::uint64_t lines = 0;           ///< Lines delivered.
    std::uint64_t oversize_lines = 0;  ///< Lines skipped as longer than max_line_bytes.
    std::uint64_t rotations = 0;       ///< Times the path came to name another file or none.
    std::uint64_t truncations = 0;     ///< Times the followed file shrank (copytruncate).
    std::uint64_t read_errors = 0;     ///< Failed read() calls.
  };

  /// What one Poll() call did.
  struct PollResult {
    LogTailState state = LogTailState::kWaiting;  ///< state() after the call.
    std::size_t lines = 0;                        ///< Lines delivered by this call.
    /// The call stopped at max_bytes_per_poll with data left: call again without waiting.
    bool more = false;
  };

  /// Opens the file at `path` if it exists and positions it as `options` say. Never throws
  /// for file system errors: a missing file leaves state() kWaiting, an unreadable one
  /// kError. Throws std::invalid_argument when max_line_bytes or max_bytes_per_poll is 0.
  explicit LogTail(std::string path, LogTailOptions options = {});
  ~LogTail();

  LogTail(const LogTail&) = delete;
  LogTail& operator=(const LogTail&) = delete;

  /// Reads what was appended since the last call (to the rotated-away file still being
  /// drained first, then to the file at the path), calls `on_line` with each complete line
  /// without its '\n', handles rotation, and returns the state. The view passed to `on_line`
  /// is valid only during that call. A partial last line is kept until its '\n' arrives.
  /// When `on_line` throws, the exception propagates; the line it was given counts as
  /// delivered and the next call resumes with the line after it.
  PollResult Poll(const std::function<void(std::string_view line)>& on_line);

  /// The position to save for resuming (LogStart::kAtPosition): in the file at the path,
  /// or in the rotated-away file while the path names no file. An unterminated line is
  /// read again on resume; an oversize line being skipped is skipped (and counted) again.
  LogPosition Position() const;

  /// The current state.
  LogTailState state() const { return state_; }

  /// Why the state is what it is: "waiting for <path>", "cannot open <path>: Permission
  /// denied", "cannot read <path>: Input/output error"; empty while following.
  const std::string& message() const { return message_; }

  /// The followed path.
  const std::string& path() const { return path_; }

  /// Lifetime counters.
  const Stats& stats() const { return stats_; }

 private:
  // One open file and the reading state that belongs to it.
  struct File {
    File() = default;
    File(File&& other) noexcept;
    File& operator=(File&& other) noexcept;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    ~File();

    int fd = -1;
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    // The offset of the next byte to read.
    std::uint64_t offset = 0;
    // The offset just past the last '\n' consumed: the first byte of the pending line.
    std::uint64_t line_start = 0;
    // The unterminated line read so far, at most max_line_bytes.
    std::string partial;
    // Dropping bytes up to the next '\n' (an oversize line, or starting mid-line).
    bool discarding = false;
    // Until when a rotated-away file is still read.
    std::chrono::steady_clock::time_point close_at{};
  };

  // Why a file's read loop stopped.
  enum class ReadEnd { kEndOfFile, kBudget, kError };

  std::chrono::steady_clock::time_point Now() const;
  // Opens the path and positions the file; returns nullopt and sets the state when it
  // cannot. `at_construction`: LogTailOptions::start applies to the file.
  std::optional<File> OpenPath(bool at_construction);
  // Positions a freshly opened file as LogTailOptions::start says, `end` being its size at
  // construction.
  void ApplyStart(File& file, std::uint64_t end);
  // Positions a freshly opened file at `offset`, discarding up to the next '\n' when the
  // byte before it is not one.
  static void SeekTo(File& file, std::uint64_t offset);
  // Restarts `file` at offset 0 when it became shorter than the read offset.
  void CheckTruncation(File& file);
  // Reads `file` to its end or until the budget is spent, delivering lines.
  ReadEnd ReadAvailable(File& file, const std::function<void(std::string_view)>& on_line,
                        std::size_t& budget, std::size_t& lines);
  // Splits one chunk read at `chunk_offset` into lines.
  void Deliver(File& file, std::string_view chunk, std::uint64_t chunk_offset,
               const std::function<void(std::string_view)>& on_line, std::size_t& lines);
  // Closes the rotated-away file, delivering its unterminated last line.
  void FinishDraining(const std::function<void(std::string_view)>& on_line, std::size_t& lines);
  // Moves the current file to draining, finishing any file already draining.
  void StartDraining(const std::function<void(std::string_view)>& on_line, std::size_t& lines);
  void SetState(LogTailState state, std::string message);

  std::string path_;
  LogTailOptions options_;
  std::optional<File> current_;
  std::optional<File> draining_;
  // The file at the path at construction when it could not be opened then: the start
  // option applies to it once it can be, from its size then (kAtEnd).
  std::optional<LogPosition> start_file_;
  // errno of the last failed read.
  int read_errno_ = 0;
  std::unique_ptr<char[]> buffer_;
  std::size_t buffer_size_ = 0;
  LogTailState state_ = LogTailState::kWaiting;
  std::string message_;
  Stats stats_;
};

}  // namespace nines::collectors
