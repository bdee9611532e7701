#include "exporter/flags.h"

#include <re2/re2.h>
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <map>
#include <sstream>

#include "collectors/registry.h"
#include "exporter/config/duration.h"
#include "exporter/logging.h"
#include "exporter/web/listen_address.h"

namespace nines {
namespace po = boost::program_options;

namespace {

constexpr int kMaxConnectionsLimit = 1024;
constexpr int kMaxInFlightLimit = 65536;

// Flag values that need checking or resolving after parsing.
struct RawFlags {
  bool help = false;
  bool version = false;
  bool disable_defaults = false;
  std::string mount_timeout = "5s";
  std::string save_interval = "1m";
  std::map<std::string, bool, std::less<>> enable;   // --collector.<name>
  std::map<std::string, bool, std::less<>> disable;  // --no-collector.<name>
};

po::options_description Describe(Flags* flags, RawFlags* raw) {
  bool* help = &raw->help;
  bool* version = &raw->version;
  collectors::CollectorOptions& collector = flags->collector_options;
  po::options_description options("Flags", 100, 50);
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
    ("probe.max-in-flight",
     po::value(&flags->probe_max_in_flight)->default_value(flags->probe_max_in_flight)
         ->value_name("N"),
     "The most continuous probe runs in flight at once; a due probe over the cap waits, "
     "and is counted in nines_probe_skipped_total if its next run comes first.")
    ("probe.endpoint-max-concurrent",
     po::value(&flags->probe_endpoint_max_concurrent)
         ->default_value(flags->probe_endpoint_max_concurrent)->value_name("N"),
     "The most /probe requests served at once; more get 429 Too Many Requests at once, so "
     "that /metrics always finds a free worker. 0: half of --web.max-connections.")
    ("storage.path", po::value(&flags->storage_path)->value_name("DIR"),
     "Directory where availability and SLO windows and access-log read positions are saved, "
     "so they survive restarts. Without it nothing is saved.")
    ("storage.save-interval",
     po::value(&raw->save_interval)->default_value(raw->save_interval)->value_name("DURATION"),
     "How often the state is saved (and at shutdown): at most this much is lost on a crash.")
    ("log.level", po::value(&flags->log_level)->default_value(flags->log_level)
         ->value_name("LEVEL"),
     "Only log messages with the given severity or above: debug, info, warn, error.")
    ("log.format", po::value(&flags->log_format)->default_value(flags->log_format)
         ->value_name("FORMAT"),
     "Output format of log messages: logfmt or json.")
    ("path.procfs", po::value(&collector.paths.procfs)->default_value(collector.paths.procfs)
         ->value_name("PATH"), "procfs mountpoint.")
    ("path.sysfs", po::value(&collector.paths.sysfs)->default_value(collector.paths.sysfs)
         ->value_name("PATH"), "sysfs mountpoint.")
    ("path.rootfs", po::value(&collector.paths.rootfs)->default_value(collector.paths.rootfs)
         ->value_name("PATH"), "rootfs mountpoint.")
    ("path.udev.data",
     po::value(&collector.paths.udev_data)->default_value(collector.paths.udev_data)
         ->value_name("PATH"), "udev data path.")
    ("collector.disable-defaults", po::bool_switch(&raw->disable_defaults),
     "Set all collectors to disabled by default.")
    ("collector.filesystem.mount-points-exclude",
     po::value(&collector.filesystem_mount_points_exclude)
         ->default_value(collector.filesystem_mount_points_exclude)->value_name("REGEXP"),
     "Regexp of mount points to exclude for filesystem collector.")
    ("collector.filesystem.fs-types-exclude",
     po::value(&collector.filesystem_fs_types_exclude)
         ->default_value(collector.filesystem_fs_types_exclude)->value_name("REGEXP"),
     "Regexp of filesystem types to exclude for filesystem collector.")
    ("collector.filesystem.mount-timeout",
     po::value(&raw->mount_timeout)->default_value(raw->mount_timeout)->value_name("DURATION"),
     "How long to wait for a mount to respond before marking it as stale.")
    ("collector.netdev.device-exclude",
     po::value(&collector.netdev_device_exclude)->value_name("REGEXP"),
     "Regexp of net devices to exclude (mutually exclusive to device-include).")
    ("collector.netdev.device-include",
     po::value(&collector.netdev_device_include)->value_name("REGEXP"),
     "Regexp of net devices to include (mutually exclusive to device-exclude).")
    ("collector.diskstats.device-exclude",
     po::value(&collector.diskstats_device_exclude)
         ->default_value(collector.diskstats_device_exclude)->value_name("REGEXP"),
     "Regexp of diskstats devices to exclude (mutually exclusive to device-include).")
    ("collector.diskstats.device-include",
     po::value(&collector.diskstats_device_include)->value_name("REGEXP"),
     "Regexp of diskstats devices to include (mutually exclusive to device-exclude).");
  // clang-format on
  for (const collectors::CollectorSpec& spec : collectors::AllCollectors()) {
    std::string name(spec.name);
    std::string enable = fmt::format("collector.{}", name);
    std::string enable_help =
        fmt::format("Enable the {} collector (default: {}). {}", name,
                    spec.enabled_by_default ? "enabled" : "disabled", spec.help);
    std::string disable = fmt::format("no-collector.{}", name);
    std::string disable_help = fmt::format("Disable the {} collector.", name);
    // program_options copies the names and texts.
    options.add_options()(enable.c_str(), po::bool_switch(&raw->enable[name]), enable_help.c_str())(
        disable.c_str(), po::bool_switch(&raw->disable[name]), disable_help.c_str());
  }
  return options;
}

// "" when `pattern` is a valid RE2 regexp, else why not.
std::string RegexpProblem(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(pattern, options);
  return re.ok() ? "" : re.error();
}

}  // namespace

FlagsResult ParseFlags(const std::vector<std::string>& args) {
  FlagsResult result;
  RawFlags raw;
  po::options_description options = Describe(&result.flags, &raw);
  const bool& help = raw.help;
  const bool& version = raw.version;
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
         << "Commands:\n"
         << "  nines rules --config.file=PATH   print Prometheus rules for the configured SLOs "
            "(nines rules --help)\n\n"
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
  std::string why_address;
  if (!web::ParseListenAddress(flags.listen_address, &why_address)) {
    return fail("--web.listen-address: " + why_address + " (got \"" + flags.listen_address + "\")");
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
  if (flags.probe_max_in_flight < 1 || flags.probe_max_in_flight > kMaxInFlightLimit) {
    return fail("--probe.max-in-flight: must be from 1 to 65536 (got " +
                std::to_string(flags.probe_max_in_flight) + ")");
  }
  const int most_concurrent = std::max(1, flags.max_connections - 1);
  if (flags.probe_endpoint_max_concurrent == 0) {
    result.flags.probe_endpoint_max_concurrent = std::max(1, flags.max_connections / 2);
  } else if (flags.probe_endpoint_max_concurrent < 0 ||
             flags.probe_endpoint_max_concurrent > most_concurrent) {
    return fail("--probe.endpoint-max-concurrent: must be from 1 to " +
                std::to_string(most_concurrent) +
                " (one less than --web.max-connections, so that /metrics is always served), "
                "or 0 for half of it (got " +
                std::to_string(flags.probe_endpoint_max_concurrent) + ")");
  }
  std::string why;
  auto save_interval = config::ParseDuration(raw.save_interval, &why);
  if (!save_interval || *save_interval < std::chrono::seconds(1)) {
    return fail("--storage.save-interval: must be a duration of at least 1s like 1m (got \"" +
                raw.save_interval + "\")");
  }
  result.flags.storage_save_interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(*save_interval);
  auto timeout = config::ParseDuration(raw.mount_timeout, &why);
  if (!timeout || *timeout <= config::Duration::zero()) {
    return fail(
        "--collector.filesystem.mount-timeout: must be a positive duration like 5s (got \"" +
        raw.mount_timeout + "\")");
  }
  result.flags.collector_options.filesystem_mount_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  const collectors::CollectorOptions& collector = flags.collector_options;
  const std::pair<const char*, const std::string*> regexps[] = {
      {"--collector.filesystem.mount-points-exclude", &collector.filesystem_mount_points_exclude},
      {"--collector.filesystem.fs-types-exclude", &collector.filesystem_fs_types_exclude},
      {"--collector.netdev.device-exclude", &collector.netdev_device_exclude},
      {"--collector.netdev.device-include", &collector.netdev_device_include},
      {"--collector.diskstats.device-exclude", &collector.diskstats_device_exclude},
      {"--collector.diskstats.device-include", &collector.diskstats_device_include},
  };
  for (const auto& [flag, pattern] : regexps) {
    if (std::string problem = RegexpProblem(*pattern); !problem.empty()) {
      return fail(std::string(flag) + ": invalid regular expression: " + problem + " (got \"" +
                  *pattern + "\")");
    }
  }
  if (!collector.netdev_device_exclude.empty() && !collector.netdev_device_include.empty()) {
    return fail(
        "--collector.netdev.device-exclude and --collector.netdev.device-include are "
        "mutually exclusive");
  }
  // diskstats' exclude has a default, so only an explicit include conflicts with an
  // explicit exclude; an include alone replaces the default exclude.
  if (!collector.diskstats_device_include.empty()) {
    if (collector.diskstats_device_exclude !=
        collectors::CollectorOptions().diskstats_device_exclude) {
      return fail(
          "--collector.diskstats.device-exclude and --collector.diskstats.device-include "
          "are mutually exclusive");
    }
    result.flags.collector_options.diskstats_device_exclude.clear();
  }
  for (const collectors::CollectorSpec& spec : collectors::AllCollectors()) {
    std::string name(spec.name);
    if (raw.enable[name] && raw.disable[name]) {
      return fail(
          fmt::format("--collector.{0} and --no-collector.{0} contradict each other", name));
    }
    bool enabled = raw.disable_defaults ? false : spec.enabled_by_default;
    if (raw.enable[name]) {
      enabled = true;
    }
    if (raw.disable[name]) {
      enabled = false;
    }
    if (enabled) {
      result.flags.enabled_collectors.push_back(name);
    }
  }
  return result;
}

}  // namespace nines
