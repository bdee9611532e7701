#include "tests/integration/peers.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#ifndef NGINX
#error "NGINX must be the absolute path of the nginx binary"
#endif
#ifndef NGINX_EXPORTER
#error "NGINX_EXPORTER must be the absolute path of prometheus-nginx-exporter"
#endif
#ifndef BLACKBOX_EXPORTER
#error "BLACKBOX_EXPORTER must be the absolute path of prometheus-blackbox-exporter"
#endif

namespace nines::testing {

using namespace std::chrono_literals;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  // The casts are the sockets API's: sockaddr_in is passed as a sockaddr.
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    return 0;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

SilentListener::SilentListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  // The sockets API takes every address family through a generic sockaddr.
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (fd_ >= 0 && ::bind(fd_, generic, length) == 0 && ::listen(fd_, 64) == 0 &&
      ::getsockname(fd_, generic, &length) == 0) {
    port_ = ntohs(address.sin_port);
  }
}

SilentListener::~SilentListener() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::unique_ptr<Peer> Peer::Start(std::string_view name,
                                  const std::function<std::vector<std::string>(int port)>& argv_for,
                                  std::string_view ready_path) {
  std::string last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto peer = std::unique_ptr<Peer>(new Peer());
    peer->port_ = FreePort();
    peer->process_ = std::make_unique<Process>(ProcessOptions{.argv = argv_for(peer->port_)});
    for (int i = 0; i < 100; ++i) {
      if (Fetch("GET", peer->Url(ready_path), {}, FetchOptions{.timeout = 1000ms}).status != 0) {
        return peer;
      }
      if (!peer->process_->Running()) {
        break;  // the port was taken meanwhile, or the config is wrong: Describe says
      }
      std::this_thread::sleep_for(50ms);
    }
    last = peer->process_->Describe();
  }
  ADD_FAILURE() << name << " did not start:\n" << last;
  return nullptr;
}

std::string Peer::Url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

Nginx::~Nginx() {
  if (peer_ != nullptr && peer_->process().Running()) {
    peer_->process().Signal(SIGTERM);
    peer_->process().WaitForExit(5000ms);
  }
}

std::unique_ptr<Nginx> Nginx::Start(std::string_view server_body) {
  auto nginx = std::unique_ptr<Nginx>(new Nginx());
  nginx->dir_ = std::make_unique<TempDir>("nines-nginx");
  std::string body =
      server_body.empty() ? "location = / { return 200 \"ok\\n\"; }" : std::string(server_body);
  const std::filesystem::path& dir = nginx->dir_->path();
  nginx->peer_ = Peer::Start(
      "nginx",
      [&](int port) {
        std::string config =
            "worker_processes 1;\n"
            "daemon off;\n"
            "pid " +
            (dir / "nginx.pid").string() +
            ";\n"
            "error_log " +
            (dir / "error.log").string() +
            " warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "  access_log " +
            (dir / "access.log").string() +
            ";\n"
            "  client_body_temp_path " +
            (dir / "body").string() +
            ";\n"
            "  proxy_temp_path " +
            (dir / "proxy").string() +
            ";\n"
            "  fastcgi_temp_path " +
            (dir / "fastcgi").string() +
            ";\n"
            "  uwsgi_temp_path " +
            (dir / "uwsgi").string() +
            ";\n"
            "  scgi_temp_path " +
            (dir / "scgi").string() +
            ";\n"
            "  default_type text/plain;\n"
            "  log_format nines_default '$remote_addr - $remote_user [$time_local] "
            "\"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" "
            "$request_time $upstream_response_time';\n"
            "  server {\n"
            "    listen 127.0.0.1:" +
            std::to_string(port) +
            ";\n"
            "    " +
            body +
            "\n"
            "  }\n"
            "}\n";
        std::filesystem::path file = nginx->dir_->WriteFile("nginx.conf", config);
        return std::vector<std::string>{
            NGINX, "-p", dir.string(), "-c", file.string(), "-e", (dir / "error.log").string()};
      },
      "/");
  if (nginx->peer_ == nullptr) {
    return nullptr;
  }
  return nginx;
}

void Nginx::ReopenLogs() { peer_->process().Signal(SIGUSR1); }

std::string Nginx::AccessLogPath() const { return (dir_->path() / "access.log").string(); }

std::unique_ptr<Peer> StartNginxExporter(const std::string& stub_status_url) {
  return Peer::Start(
      "nginx-prometheus-exporter",
      [&](int port) {
        return std::vector<std::string>{NGINX_EXPORTER, "-nginx.scrape-uri=" + stub_status_url,
                                        "-web.listen-address=127.0.0.1:" + std::to_string(port)};
      },
      "/metrics");
}

std::unique_ptr<BlackboxExporter> BlackboxExporter::Start(std::string_view config_yaml) {
  auto blackbox = std::unique_ptr<BlackboxExporter>(new BlackboxExporter());
  blackbox->dir_ = std::make_unique<TempDir>("nines-blackbox");
  std::filesystem::path config = blackbox->dir_->WriteFile("blackbox.yml", config_yaml);
  blackbox->peer_ = Peer::Start(
      "blackbox_exporter",
      [&](int port) {
        return std::vector<std::string>{BLACKBOX_EXPORTER, "--config.file=" + config.string(),
                                        "--web.listen-address=127.0.0.1:" + std::to_string(port)};
      },
      "/-/healthy");
  if (blackbox->peer_ == nullptr) {
    return nullptr;
  }
  return blackbox;
}

}  // namespace nines::testing
