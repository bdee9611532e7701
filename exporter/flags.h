#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "collectors/collector.h"

/// Command-line flags in the node_exporter style (`--web.listen-address=:9469`).
namespace nines {

/// Parsed flag values. Member initializers are the defaults shown by --help.
struct Flags {
  std::string config_file;  // "" = the built-in default config
  bool config_check = false;
  std::string listen_address = ":9469";
  std::string telemetry_path = "/metrics";
  int max_connections = 16;
  /// The most continuous probe runs in flight at once (`--probe.max-in-flight`).
  int probe_max_in_flight = 256;
  /// The most `/probe` requests served at once (`--probe.endpoint-max-concurrent`); 0 on
  /// the command line means half the web server's workers, which ParseFlags fills in.
  int probe_endpoint_max_concurrent = 0;
  /// `--storage.path`: where state is saved; "" = nowhere.
  std::string storage_path;
  std::chrono::milliseconds storage_save_interval = std::chrono::minutes(1);
  std::string log_level = "info";
  std::string log_format = "logfmt";
  /// `--path.*` and `--collector.<name>.*` option flags.
  collectors::CollectorOptions collector_options;
  /// The host collectors to run, resolved from the table's defaults,
  /// `--collector.disable-defaults`, `--collector.<name>` and `--no-collector.<name>`.
  std::vector<std::string> enabled_collectors;
};

/// What the command line asks for.
struct FlagsResult {
  enum class Action { kRun, kHelp, kVersion, kError };
  Action action = Action::kRun;
  Flags flags;
  std::string message;  // help text for kHelp, the error for kError
};

/// Parses argv (argv[0] is the program name). Never throws; unknown flags, bad values and
/// stray arguments give kError with a one-line message. Validates what a flag alone can
/// tell (log level and format, listen address shape, telemetry path).
FlagsResult ParseFlags(const std::vector<std::string>& args);

}  // namespace nines
