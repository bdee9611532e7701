#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/access_log.h"
#include "exporter/slo/window.h"

/// Request rate and error ratio of each nginx server over the last 5 minutes, for the
/// status page, from the requests its access log shows.
namespace nines::status {

class Traffic {
 public:
  using WallClock = std::function<slo::TimePoint()>;
  /// The window rates are measured over.
  static constexpr std::chrono::minutes kWindow{5};

  explicit Traffic(WallClock now = [] { return slo::Clock::now(); });

  /// The servers with an access log (at start and on reload); a kept server keeps its
  /// window, a new one starts measuring now.
  void SetServers(const std::vector<std::string>& servers);
  /// Counts requests of `server` read now (the access-log observer).
  void Record(std::string_view server,
              std::span<const collectors::AccessLogMetrics::Request> requests);

  struct Rates {
    /// Requests per second over the window, or over the time since the server was set when
    /// that is shorter; NaN at the very instant it was set.
    double requests_per_second = 0;
    /// Responses with a 5xx status over requests in the window; NaN without requests.
    double error_ratio = 0;
  };
  /// The rates of `server`, or nullopt for a server that is not set.
  std::optional<Rates> Read(std::string_view server) const;

 private:
  struct Server {
    slo::TimePoint since;
    std::unique_ptr<slo::RollingCounter> window;  // good = below 500
  };

  WallClock now_;
  mutable std::mutex mutex_;
  std::map<std::string, Server, std::less<>> servers_;
};

}  // namespace nines::status
