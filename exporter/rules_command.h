#pragma once

#include <ostream>
#include <string>
#include <vector>

/// `nines rules`: prints the Prometheus rules for the SLOs of a config (exporter/slo/rules.h).
namespace nines {

/// Runs `nines rules` with `args`, the arguments after `rules`:
/// `--config.file=PATH [--format=prometheus|prometheusrule] [--name=NAME] [--help]`.
/// Writes the rules (or --help's text) to `out` and errors to `err`. Returns the exit
/// status: 0 on success, 1 when the config does not load (every error printed, one a line,
/// as `--config.check` prints them) or the output cannot be written, 2 for bad flags.
/// Never throws except on allocation.
int RunRulesCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// RunRulesCommand on stdout and stderr.
int RunRulesCommand(const std::vector<std::string>& args);

}  // namespace nines
