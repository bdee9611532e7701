#pragma once

#include "exporter/flags.h"

namespace nines::daemon {

/// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread so every thread started later
/// inherits the mask and Run() receives them with sigwait. Call first thing in main().
void BlockSignals();

/// Runs the daemon until SIGTERM or SIGINT: loads the config, serves HTTP, reloads on
/// SIGHUP and `POST /-/reload`. Returns the process exit code: 0 after a clean stop, 1
/// when the config is invalid or the address cannot be bound.
int Run(const Flags& flags);

/// `--config.check`: prints "OK" to stdout, or every error to stderr. Returns 0 or 1.
int CheckConfig(const Flags& flags);

}  // namespace nines::daemon
