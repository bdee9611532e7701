// mtail doing what nines does with an nginx access log in the default format (combined,
// then $request_time $upstream_response_time): a request counter by status and a
// $request_time histogram with nines' default buckets. Shared by the benchmarks that
// compare the two.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

#ifndef MTAIL
#error "MTAIL must be the absolute path of mtail"
#endif

namespace nines::bench {

inline constexpr const char* kMtailProgram = R"(counter requests_total by status
histogram request_duration_seconds buckets 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10

/^\S+ \S+ \S+ \[[^\]]+\] "[^"]*" (?P<status>\d{3}) \d+ "[^"]*" "[^"]*" (?P<request_time>\d+\.\d+) \S+$/ {
  requests_total[$status]++
  request_duration_seconds = float($request_time)
}
)";

/// Starts mtail with kMtailProgram (written under `dir`) following `log`; nullptr when it
/// never answers.
inline std::unique_ptr<testing::Peer> StartMtail(const testing::TempDir& dir,
                                                 const std::filesystem::path& log) {
  std::filesystem::create_directories(dir.path() / "progs");
  dir.WriteFile("progs/access.mtail", kMtailProgram);
  return testing::Peer::Start(
      "mtail",
      [&](int port) {
        return std::vector<std::string>{
            MTAIL,         "-progs",     (dir.path() / "progs").string(),
            "-logs",       log.string(), "-address",
            "127.0.0.1",   "-port",      std::to_string(port),
            "-logtostderr"};
      },
      "/metrics");
}

}  // namespace nines::bench
