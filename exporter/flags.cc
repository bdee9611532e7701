#include "exporter/flags.h"

#include <boost/program_options.hpp>
#include <sstream>

#include "exporter/logging.h"
#include "exporter/web/listen_address.h"

namespace nines {
namespace po = boost::program_options;

namespace {

constexpr int kMaxConnectionsLimit = 1024;

po::options_description Describe(Flags* flags, bool* help, bool* version) {
  po::options_description options("Flags");
  // clang-format off
  options.add_options()
    ("help,h", po::bool_switch(help), "Show this help and exit.")
    ("version", po::bool_switch(version), "Show version information and exit.")
    ("config.file", po::value(&flags->config_file)->value_name("PATH"),
     "nines YAML config file. Without it nines runs its built-in default config.")
    ("config.check", po::bool_switch(&flags->config_check),
     "Validate the config (the file, or the built-in default), print OK or every error, "
     "and exit 0 or 1.")
    ("web.listen-address",
     po::value(&flags->listen_address)->default_value(flags->listen_address)
         ->value_name("HOST:PORT"),
     "Address to serve /metrics and the other endpoints on; `:PORT` means all IPv4 "
     "interfaces.")
    ("web.telemetry-path",
     po::value(&flags->telemetry_path)->default_value(flags->telemetry_path)->value_name("PATH"),
     "Path under which to expose metrics.")
    ("web.max-connections",
     po::value(&flags->max_connections)->default_value(flags->max_connections)
         ->value_name("N"),
     "Worker threads of the HTTP server: the most connections served at once.")
    ("log.level", po::value(&flags->log_level)->default_value(flags->log_level)
         ->value_name("LEVEL"),
     "Only log messages with the given severity or above: debug, info, warn, error.")
    ("log.format", po::value(&flags->log_format)->default_value(flags->log_format)
         ->value_name("FORMAT"),
     "Output format of log messages: logfmt or json.");
  // clang-format on
  return options;
}

}  // namespace

FlagsResult ParseFlags(const std::vector<std::string>& args) {
  FlagsResult result;
  bool help = false;
  bool version = false;
  po::options_description options = Describe(&result.flags, &help, &version);
  try {
    std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
    po::variables_map values;
    // No positional arguments: a stray word is an error, not silently ignored.
    po::store(
        po::command_line_parser(rest)
            .options(options)
            .positional(po::positional_options_description())
            .style(po::command_line_style::unix_style & ~po::command_line_style::allow_guessing)
            .run(),
        values);
    po::notify(values);
  } catch (const po::error& e) {
    result.action = FlagsResult::Action::kError;
    result.message = std::string(e.what()) + ", try --help";
    return result;
  }
  if (help) {
    std::ostringstream text;
    text << "usage: nines [<flags>]\n\n"
         << "A Prometheus exporter that probes services continuously and measures their "
            "availability, latency and SLOs.\n\n"
         << options;
    result.action = FlagsResult::Action::kHelp;
    result.message = text.str();
    return result;
  }
  if (version) {
    result.action = FlagsResult::Action::kVersion;
    return result;
  }
  auto fail = [&](std::string message) {
    result.action = FlagsResult::Action::kError;
    result.message = std::move(message);
    return result;
  };
  const Flags& flags = result.flags;
  if (!logging::ParseLevel(flags.log_level)) {
    return fail("--log.level: must be debug, info, warn or error (got \"" + flags.log_level +
                "\")");
  }
  if (!logging::ParseFormat(flags.log_format)) {
    return fail("--log.format: must be logfmt or json (got \"" + flags.log_format + "\")");
  }
  std::string why;
  if (!web::ParseListenAddress(flags.listen_address, &why)) {
    return fail("--web.listen-address: " + why + " (got \"" + flags.listen_address + "\")");
  }
  if (flags.telemetry_path.size() < 2 || flags.telemetry_path.front() != '/' ||
      flags.telemetry_path.starts_with("/-/") ||
      flags.telemetry_path.find_first_of("?# ") != std::string::npos) {
    return fail(
        "--web.telemetry-path: must be a path like /metrics, not / and not under /-/ (got \"" +
        flags.telemetry_path + "\")");
  }
  if (flags.max_connections < 1 || flags.max_connections > kMaxConnectionsLimit) {
    return fail("--web.max-connections: must be from 1 to 1024 (got " +
                std::to_string(flags.max_connections) + ")");
  }
  if (flags.config_check) {
    result.action = FlagsResult::Action::kRun;
  }
  return result;
}

}  // namespace nines
