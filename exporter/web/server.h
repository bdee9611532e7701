#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "exporter/web/http.h"
#include "exporter/web/listen_address.h"

class CivetServer;

namespace nines::web {

/// A handler for one exact path. Called concurrently from the server's worker threads,
/// whose stacks are small (Debian builds CivetWeb with USE_STACK_SIZE=102400): a handler
/// that recurses deeply or needs large buffers runs that work on a thread of its own.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  ListenAddress address;
  int threads = 16;
};

/// The one HTTP server of the daemon (CivetWeb underneath): exact-path routing, keep-alive
/// with TCP_NODELAY, bounded worker threads and request timeouts. Routes are added before
/// Start() and never change after.
class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Routes `path` (exact match) to `handler`. Call before Start().
  void Route(const std::string& path, Handler handler);
  /// Routes every path that starts with `prefix` and has no exact route to `handler`; the
  /// longest matching prefix wins. Call before Start().
  void RoutePrefix(const std::string& prefix, Handler handler);

  /// Binds and starts serving. Throws std::runtime_error with the reason (for example
  /// "address already in use") when the address cannot be bound.
  void Start();

  /// Stops serving and joins the worker threads (CivetWeb takes up to about 2 s).
  void Stop();

  /// The bound port (useful with port 0). Valid after Start().
  int port() const { return port_; }

  /// Dispatches a request to its route: 404 for unknown paths. Public for tests.
  Response Dispatch(const Request& request) const;

 private:
  class CivetAdapter;

  ServerOptions options_;
  std::map<std::string, Handler, std::less<>> routes_;
  std::map<std::string, Handler, std::greater<>> prefix_routes_;  // longest first among equals
  std::unique_ptr<CivetAdapter> adapter_;
  std::unique_ptr<CivetServer> civet_;
  int port_ = 0;
};

}  // namespace nines::web
