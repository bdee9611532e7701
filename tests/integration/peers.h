// The real programs nines is tested against, each started on a free loopback port with a
// config of its own under a temporary directory, and stopped (SIGKILL) with the object.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/process_runner.h"

namespace nines::testing {

/// A loopback TCP port that was free a moment ago (for programs that cannot report the
/// port they got for :0). 0 when none could be found.
int FreePort();

/// A TCP listener on 127.0.0.1 that never accepts: connections complete in the kernel's
/// backlog and then hear nothing (a hanging server). port() is 0 when it could not listen.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

/// A program listening on a loopback port.
class Peer {
 public:
  /// Starts `argv_for(port)` on a free port until GET http://127.0.0.1:PORT`ready_path`
  /// answers (any status), retrying on another port when the chosen one was taken
  /// meanwhile. nullptr after a test failure that says why when it never answers.
  static std::unique_ptr<Peer> Start(
      std::string_view name, const std::function<std::vector<std::string>(int port)>& argv_for,
      std::string_view ready_path);

  int port() const { return port_; }
  /// "http://127.0.0.1:PORT" followed by `path`.
  std::string Url(std::string_view path) const;
  Process& process() { return *process_; }

 private:
  Peer() = default;

  int port_ = 0;
  std::unique_ptr<Process> process_;
};

/// nginx (the Debian binary) in the foreground with its prefix, logs and pid file in a
/// temporary directory, listening on 127.0.0.1. `server_body` is pasted into the `server`
/// block: `location` blocks, extra `listen unix:...;` lines. Without it nginx serves
/// `location = / { return 200 "ok\n"; }`. The log format `nines_default` (combined, then
/// `$request_time $upstream_response_time`: nines' default) is defined. The destructor stops nginx
/// with SIGTERM and waits, so its worker processes end too (a SIGKILL of the master would orphan
/// them).
class Nginx {
 public:
  static std::unique_ptr<Nginx> Start(std::string_view server_body = "");
  ~Nginx();
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  int port() const { return peer_->port(); }
  std::string Url(std::string_view path) const { return peer_->Url(path); }
  /// The access log nginx writes.
  std::string AccessLogPath() const;
  /// Makes nginx reopen its log files (SIGUSR1, what logrotate's postrotate sends).
  void ReopenLogs();

 private:
  Nginx() = default;

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Peer> peer_;
};

/// nginx-prometheus-exporter (the Debian binary) reading `stub_status_url`.
std::unique_ptr<Peer> StartNginxExporter(const std::string& stub_status_url);

/// blackbox_exporter (the Debian binary) with `config_yaml` as its config file.
class BlackboxExporter {
 public:
  static std::unique_ptr<BlackboxExporter> Start(std::string_view config_yaml);

  std::string Url(std::string_view path) const { return peer_->Url(path); }
  pid_t Pid() const { return peer_->process().pid(); }

 private:
  BlackboxExporter() = default;

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Peer> peer_;
};

}  // namespace nines::testing
