// nines: wiring only. Flags, logging, then the daemon or a one-shot command.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "exporter/daemon/daemon.h"
#include "exporter/flags.h"
#include "exporter/logging.h"
#include "exporter/rules_command.h"
#include "exporter/version.h"

int main(int argc, char** argv) {
  // glibc gives each thread that allocates under contention an arena of its own, up to 8
  // per CPU, and keeps what is freed in each: the web server's workers, each building a
  // /metrics page now and then, held about 5 MiB between them (bench/memory_bench). Two
  // arenas cost nothing measurable at this daemon's allocation rate. An explicit
  // MALLOC_ARENA_MAX in the environment is left to decide.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, 2);
  }
  std::vector<std::string> args(argv, argv + argc);
  if (args.size() > 1 && args[1] == "rules") {
    return nines::RunRulesCommand({args.begin() + 2, args.end()});
  }
  nines::daemon::BlockSignals();
  nines::FlagsResult parsed = nines::ParseFlags(args);
  switch (parsed.action) {
    case nines::FlagsResult::Action::kHelp:
      std::fputs(parsed.message.c_str(), stdout);
      return 0;
    case nines::FlagsResult::Action::kVersion:
      std::printf("nines, version %s (revision: %s)\n  compiler: %s, C++ %ld\n", nines::kVersion,
                  nines::kRevision, __VERSION__, __cplusplus);
      return 0;
    case nines::FlagsResult::Action::kError:
      std::fprintf(stderr, "nines: error: %s\n", parsed.message.c_str());
      return 2;
    case nines::FlagsResult::Action::kRun:
      break;
  }
  const nines::Flags& flags = parsed.flags;
  if (flags.config_check) {
    return nines::daemon::CheckConfig(flags);
  }
  nines::logging::Setup(*nines::logging::ParseLevel(flags.log_level),
                        *nines::logging::ParseFormat(flags.log_format));
  return nines::daemon::Run(flags);
}
