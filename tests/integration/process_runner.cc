#include "tests/integration/process_runner.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <ostream>
#include <sstream>
#include <system_error>
#include <thread>

namespace nines::testing {
namespace {

using std::chrono::steady_clock;

// Often enough that waits add little latency, rarely enough to cost no CPU worth noting.
constexpr std::chrono::milliseconds kPollInterval(5);

[[noreturn]] void ThrowErrno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

// What has been written so far; a file not created yet reads as empty.
std::string ReadIfExists(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return "";
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::strchr(" \t\r\n", text.front()) != nullptr) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::strchr(" \t\r\n", text.back()) != nullptr) {
    text.remove_suffix(1);
  }
  return text;
}

// The child's environment: ours, with `additions` replacing variables of the same name.
std::vector<std::string> ChildEnvironment(
    const std::vector<std::pair<std::string, std::string>>& additions) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    std::string_view name = text.substr(0, text.find('='));
    bool replaced = std::any_of(additions.begin(), additions.end(),
                                [&](const auto& addition) { return addition.first == name; });
    if (!replaced) {
      env.emplace_back(text);
    }
  }
  for (const auto& [name, value] : additions) {
    std::string entry = name;
    entry += '=';
    entry += value;
    env.push_back(std::move(entry));
  }
  return env;
}

// posix_spawn wants mutable, null-terminated arrays of C strings.
std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& s : strings) {
    pointers.push_back(s.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

// Owners of the posix_spawn attribute objects, so every exit path destroys them.
struct FileActions {
  FileActions() {
    if (int error = posix_spawn_file_actions_init(&actions); error != 0) {
      ThrowErrno(error, "posix_spawn_file_actions_init");
    }
  }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;

  posix_spawn_file_actions_t actions;
};

struct SpawnAttributes {
  SpawnAttributes() {
    if (int error = posix_spawnattr_init(&attributes); error != 0) {
      ThrowErrno(error, "posix_spawnattr_init");
    }
  }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;

  posix_spawnattr_t attributes;
};

std::string OutputDirPrefix(const std::vector<std::string>& argv) {
  std::string name = argv.empty() ? "process" : std::filesystem::path(argv[0]).filename().string();
  return "nines-test-" + name;
}

}  // namespace

// ---- TempDir ----

TempDir::TempDir(std::string_view prefix) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::filesystem::path base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  std::string pattern = (base / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    ThrowErrno(errno, "mkdtemp " + pattern);
  }
  path_ = std::filesystem::absolute(pattern);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::WriteFile(std::string_view name, std::string_view contents) const {
  std::filesystem::path file = path_ / name;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) {
    ThrowErrno(errno, "cannot write " + file.string());
  }
  return file;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ThrowErrno(errno, "cannot open " + path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---- ExitStatus ----

ExitStatus ExitStatus::FromWaitStatus(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return Signaled(WTERMSIG(wait_status));
  }
  return Exited(WEXITSTATUS(wait_status));
}

std::string ToString(const ExitStatus& status) {
  if (status.signal == 0) {
    return "exit code " + std::to_string(status.code);
  }
  const char* name = sigabbrev_np(status.signal);
  return "killed by " +
         (name != nullptr ? "SIG" + std::string(name) : "signal " + std::to_string(status.signal));
}

void PrintTo(const ExitStatus& status, std::ostream* out) { *out << ToString(status); }

// ---- Process ----

Process::Process(const ProcessOptions& options)
    : argv_(options.argv), output_dir_(OutputDirPrefix(options.argv)) {
  if (argv_.empty()) {
    ThrowErrno(EINVAL, "Process: argv is empty");
  }
  stdout_path_ = output_dir_.path() / "stdout";
  stderr_path_ = output_dir_.path() / "stderr";
  std::string stdin_path = options.stdin_file.empty() ? "/dev/null" : options.stdin_file.string();

  FileActions files;
  constexpr int kOutputFlags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND;
  int error = posix_spawn_file_actions_addopen(&files.actions, STDIN_FILENO, stdin_path.c_str(),
                                               O_RDONLY, 0);
  if (error == 0) {
    error = posix_spawn_file_actions_addopen(&files.actions, STDOUT_FILENO, stdout_path_.c_str(),
                                             kOutputFlags, 0644);
  }
  if (error == 0) {
    error = posix_spawn_file_actions_addopen(&files.actions, STDERR_FILENO, stderr_path_.c_str(),
                                             kOutputFlags, 0644);
  }
  // Descriptors the test holds (sockets, libcurl's) are none of the child's business and
  // would show in its process_open_fds.
  if (error == 0) {
    error = posix_spawn_file_actions_addclosefrom_np(&files.actions, STDERR_FILENO + 1);
  }
  if (error != 0) {
    ThrowErrno(error, "posix_spawn_file_actions");
  }

  // The child starts with no blocked signals and default dispositions, whatever the test
  // runner left in place (a SIGPIPE ignored, a SIGHUP blocked).
  SpawnAttributes attributes;
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  error = posix_spawnattr_setflags(&attributes.attributes,
                                   POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (error == 0) {
    error = posix_spawnattr_setsigmask(&attributes.attributes, &none);
  }
  if (error == 0) {
    error = posix_spawnattr_setsigdefault(&attributes.attributes, &all);
  }
  if (error != 0) {
    ThrowErrno(error, "posix_spawnattr");
  }

  std::vector<std::string> argv = argv_;
  std::vector<std::string> env = ChildEnvironment(options.env);
  std::vector<char*> argv_pointers = CStrings(argv);
  std::vector<char*> env_pointers = CStrings(env);
  error = posix_spawn(&pid_, argv_[0].c_str(), &files.actions, &attributes.attributes,
                      argv_pointers.data(), env_pointers.data());
  if (error != 0) {
    pid_ = -1;
    exit_status_ = ExitStatus::Exited(127);
    ThrowErrno(error, "posix_spawn " + argv_[0]);
  }
}

Process::~Process() {
  if (pid_ <= 0 || PollExit()) {
    return;
  }
  ::kill(pid_, SIGKILL);
  int wait_status = 0;
  while (::waitpid(pid_, &wait_status, 0) < 0 && errno == EINTR) {
  }
}

bool Process::Signal(int signal) {
  if (exit_status_) {
    return false;
  }
  return ::kill(pid_, signal) == 0;
}

bool Process::PollExit() {
  if (exit_status_) {
    return true;
  }
  int wait_status = 0;
  pid_t result = 0;
  do {
    result = ::waitpid(pid_, &wait_status, WNOHANG);
  } while (result < 0 && errno == EINTR);
  if (result == pid_) {
    exit_status_ = ExitStatus::FromWaitStatus(wait_status);
    return true;
  }
  if (result < 0) {
    // ECHILD: someone else reaped it; the status is lost.
    exit_status_ = ExitStatus::Exited(-1);
    return true;
  }
  return false;
}

bool Process::Running() { return !PollExit(); }

std::optional<ExitStatus> Process::WaitForExit(std::chrono::milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  while (!PollExit()) {
    if (steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return exit_status_;
}

const std::filesystem::path& Process::OutputPath(Stream stream) const {
  return stream == Stream::kStdout ? stdout_path_ : stderr_path_;
}

std::string Process::Output(Stream stream) const { return ReadIfExists(OutputPath(stream)); }

std::size_t Process::OutputSize(Stream stream) const {
  std::error_code error;
  std::uintmax_t size = std::filesystem::file_size(OutputPath(stream), error);
  return error ? 0 : static_cast<std::size_t>(size);
}

std::optional<std::string> Process::WaitForLine(std::string_view needle,
                                                std::chrono::milliseconds timeout, Stream stream,
                                                std::size_t from) {
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    // Check for the end before reading, so the last read sees everything it wrote.
    bool ended = PollExit();
    std::string text = Output(stream);
    std::string_view rest = from < text.size() ? std::string_view(text).substr(from) : "";
    while (!rest.empty()) {
      std::size_t end = rest.find('\n');
      if (end == std::string_view::npos && !ended) {
        break;  // a line still being written
      }
      std::string_view line = rest.substr(0, end);
      if (line.find(needle) != std::string_view::npos) {
        return std::string(line);
      }
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    }
    if (ended || steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string Process::Describe() {
  PollExit();
  std::string text = "command:";
  for (const std::string& arg : argv_) {
    text += ' ';
    text += arg;
  }
  text += "\npid: " + std::to_string(pid_);
  text += exit_status_ ? "\nstatus: " + ToString(*exit_status_) : "\nstatus: running";
  text += "\n--- stdout ---\n" + Output(Stream::kStdout);
  text += "\n--- stderr ---\n" + Output(Stream::kStderr);
  text += "\n--- end ---";
  return text;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t close = stat.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  // Fields 3.. follow the command; utime and stime are fields 14 and 15.
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index >= 14) {
      ticks += std::stod(field);
    }
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

RunResult RunToExit(const ProcessOptions& options, std::chrono::milliseconds timeout) {
  Process process(options);
  RunResult result;
  result.status = process.WaitForExit(timeout);
  result.out = process.Output(Stream::kStdout);
  result.err = process.Output(Stream::kStderr);
  return result;
}

// ---- HTTP ----

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) {
      return value;
    }
  }
  return std::nullopt;
}

namespace {

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<HttpResponse*>(user)->body.append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    response->headers.clear();  // a new response (after 100 Continue, say) starts over
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    response->headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                   std::string(Trim(line.substr(colon + 1))));
  }
  return size * count;
}

}  // namespace

HttpResponse Fetch(std::string_view method, const std::string& url,
                   const std::vector<std::string>& headers, const FetchOptions& options) {
  // curl_global_init is not thread-safe; a function-local static runs it exactly once.
  static const CURLcode kGlobalInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  HttpResponse response;
  if (kGlobalInit != CURLE_OK) {
    response.error = curl_easy_strerror(kGlobalInit);
    return response;
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    response.error = "curl_easy_init failed";
    return response;
  }
  CURL* handle = curl.get();
  std::unique_ptr<curl_slist, CurlDeleter> header_list;
  auto add_header = [&header_list](const std::string& line) {
    curl_slist* list = curl_slist_append(header_list.get(), line.c_str());
    if (list != nullptr) {
      static_cast<void>(header_list.release());
      header_list.reset(list);
    }
  };
  for (const std::string& line : headers) {
    add_header(line);
  }
  add_header("Expect:");  // no 100-continue round trip for bodies

  std::string method_text(method);
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(handle, CURLOPT_PROXY, "");  // $http_proxy must not catch loopback traffic
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "nines-integration-test");
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &response);
  if (options.decode_content) {
    curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");  // every coding libcurl decodes
  } else {
    curl_easy_setopt(handle, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  }
  if (method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else if (method == "POST" || !options.body.empty()) {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, options.body.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(options.body.size()));
    if (method != "POST") {
      curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method_text.c_str());
    }
  } else if (method != "GET") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  }

  std::array<char, CURL_ERROR_SIZE> error_buffer{};
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer.data());

  CURLcode result = curl_easy_perform(handle);
  if (result != CURLE_OK) {
    response = HttpResponse{};
    response.error = error_buffer[0] != '\0' ? error_buffer.data() : curl_easy_strerror(result);
    return response;
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace nines::testing
