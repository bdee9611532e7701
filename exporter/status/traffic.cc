#include "exporter/status/traffic.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace nines::status {

Traffic::Traffic(WallClock now) : now_(std::move(now)) {}

void Traffic::SetServers(const std::vector<std::string>& servers) {
  const slo::TimePoint now = now_();
  std::lock_guard lock(mutex_);
  std::map<std::string, Server, std::less<>> next;
  for (const std::string& name : servers) {
    if (auto it = servers_.find(name); it != servers_.end()) {
      next.emplace(name, std::move(it->second));
    } else {
      next.emplace(name, Server{now, std::make_unique<slo::RollingCounter>(kWindow)});
    }
  }
  servers_ = std::move(next);
}

void Traffic::Record(std::string_view server,
                     std::span<const collectors::AccessLogMetrics::Request> requests) {
  const slo::TimePoint now = now_();
  std::uint64_t good = 0;
  for (const auto& request : requests) {
    good += request.status < 500 ? 1 : 0;
  }
  std::lock_guard lock(mutex_);
  if (auto it = servers_.find(server); it != servers_.end()) {
    it->second.window->Add(now, good, requests.size());
  }
}

std::optional<Traffic::Rates> Traffic::Read(std::string_view server) const {
  const slo::TimePoint now = now_();
  std::lock_guard lock(mutex_);
  auto it = servers_.find(server);
  if (it == servers_.end()) {
    return std::nullopt;
  }
  const slo::WindowTotals totals = it->second.window->Totals(now);
  const double seconds =
      std::chrono::duration<double>(std::min<slo::Duration>(now - it->second.since, kWindow))
          .count();
  Rates rates;
  rates.requests_per_second =
      seconds > 0 ? totals.total / seconds : std::numeric_limits<double>::quiet_NaN();
  rates.error_ratio = totals.total > 0 ? (totals.total - totals.good) / totals.total
                                       : std::numeric_limits<double>::quiet_NaN();
  return rates;
}

}  // namespace nines::status
