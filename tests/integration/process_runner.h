// Helpers for integration tests that run real programs (nines, promtool, nginx,
// Prometheus) as child processes and talk HTTP to them on loopback.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nines::testing {

/// A fresh directory under $TMPDIR (or /tmp), removed with all its contents when the
/// object is destroyed. Not thread-safe.
class TempDir {
 public:
  /// Creates the directory; its name starts with `prefix`. Throws std::system_error.
  explicit TempDir(std::string_view prefix = "nines-test");
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The absolute path of the directory.
  const std::filesystem::path& path() const { return path_; }

  /// Creates or replaces the file `name` in the directory with `contents` and returns its
  /// path. Throws std::system_error when the file cannot be written.
  std::filesystem::path WriteFile(std::string_view name, std::string_view contents) const;

 private:
  std::filesystem::path path_;
};

/// The whole content of the file at `path`. Throws std::system_error when it cannot be
/// read.
std::string ReadFile(const std::filesystem::path& path);

/// How a child process ended: an exit code, or the signal that killed it.
struct ExitStatus {
  int code = -1;   ///< The exit code, or -1 when a signal killed the process.
  int signal = 0;  ///< The signal that killed the process, or 0 when it exited.

  /// A process that called exit(code).
  static ExitStatus Exited(int code) { return {code, 0}; }
  /// A process killed by `signal`.
  static ExitStatus Signaled(int signal) { return {-1, signal}; }
  /// Decodes a status from waitpid().
  static ExitStatus FromWaitStatus(int wait_status);

  bool operator==(const ExitStatus&) const = default;
};

/// "exit code 0" or "killed by SIGKILL".
std::string ToString(const ExitStatus& status);

/// Lets GoogleTest print an ExitStatus in assertion messages.
void PrintTo(const ExitStatus& status, std::ostream* out);

/// What to run.
struct ProcessOptions {
  /// argv[0] is the path of the executable; it is not searched for in $PATH.
  std::vector<std::string> argv{};
  /// Variables added to the test's own environment, replacing any of the same name.
  std::vector<std::pair<std::string, std::string>> env{};
  /// The file the child reads as stdin; /dev/null when empty.
  std::filesystem::path stdin_file{};
};

/// One of the two captured output streams of a child.
enum class Stream { kStdout, kStderr };

/// A child process started with posix_spawn whose stdout and stderr go to files in a
/// temporary directory of its own. The destructor kills (SIGKILL) and reaps the child if
/// it is still running, so a failing test never leaves a process behind (a test process
/// that crashes still can). Not thread-safe: use one object from one thread.
class Process {
 public:
  /// Starts the child. Throws std::system_error when it cannot be spawned (for example
  /// when argv[0] does not exist or is not executable) or when argv is empty.
  explicit Process(const ProcessOptions& options);
  ~Process();

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  /// The child's process id.
  pid_t pid() const { return pid_; }

  /// Sends `signal` to the child. Returns false when the child was already reaped or
  /// kill() failed.
  bool Signal(int signal);

  /// Waits up to `timeout` for the child to end and reaps it. Returns its status, or
  /// nullopt when it is still running at the deadline.
  std::optional<ExitStatus> WaitForExit(std::chrono::milliseconds timeout);

  /// Whether the child has not been seen to end yet (it is reaped when it has).
  bool Running();

  /// Everything the child has written to `stream` so far.
  std::string Output(Stream stream) const;

  /// The number of bytes written to `stream` so far: pass it as `from` to WaitForLine to
  /// look only at what comes after.
  std::size_t OutputSize(Stream stream) const;

  /// Waits up to `timeout` for a complete line containing `needle` in `stream`, looking
  /// at bytes from offset `from` on. Returns the line without its newline, or nullopt at
  /// the deadline or when the child ends without writing one (an unterminated last line
  /// counts once the child has ended).
  std::optional<std::string> WaitForLine(std::string_view needle, std::chrono::milliseconds timeout,
                                         Stream stream = Stream::kStderr, std::size_t from = 0);

  /// The file that receives `stream`.
  const std::filesystem::path& OutputPath(Stream stream) const;

  /// The command line, the exit status (reaping the child if it has ended) and both
  /// outputs: for failure messages.
  std::string Describe();

 private:
  // Reaps the child if it has ended; returns whether it has.
  bool PollExit();

  std::vector<std::string> argv_;
  TempDir output_dir_;
  std::filesystem::path stdout_path_;
  std::filesystem::path stderr_path_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_status_;
};

/// User plus system CPU seconds a process has used, from /proc/PID/stat; 0 when the
/// process is gone.
double CpuSeconds(pid_t pid);

/// The result of RunToExit.
struct RunResult {
  std::optional<ExitStatus> status;  ///< nullopt when the child did not end in time.
  std::string out;                   ///< Everything written to stdout.
  std::string err;                   ///< Everything written to stderr.
};

/// Runs a child to its end, waiting up to `timeout`; a child still running then is
/// killed. Throws like Process::Process.
RunResult RunToExit(const ProcessOptions& options, std::chrono::milliseconds timeout);

/// Options of Fetch.
struct FetchOptions {
  /// Sends an Accept-Encoding header for the codings libcurl supports and decodes the
  /// body. When false, the body is returned as received, whatever Content-Encoding says.
  bool decode_content = false;
  /// The request body, sent for any method when not empty (and always for POST).
  std::string body{};
  /// The limit for the whole request, connection included.
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
};

/// An HTTP response as received.
struct HttpResponse {
  /// The HTTP status, or 0 when there was no response; `error` then says why.
  int status = 0;
  /// libcurl's error message when the request failed.
  std::string error;
  /// The response header fields in the order received, names as sent by the server.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The value of the first header field named `name` (case-insensitive), if any.
  std::optional<std::string> Header(std::string_view name) const;
};

/// Sends one HTTP/1.1 request with libcurl, never through a proxy, and returns the final
/// response. `headers` are extra request header lines such as "Accept-Encoding: gzip".
/// Thread-safe. Never throws for network errors: see HttpResponse::status.
HttpResponse Fetch(std::string_view method, const std::string& url,
                   const std::vector<std::string>& headers = {}, const FetchOptions& options = {});

}  // namespace nines::testing
