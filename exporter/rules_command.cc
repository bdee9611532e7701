#include "exporter/rules_command.h"

#include <boost/program_options.hpp>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>

#include "exporter/config/loader.h"
#include "exporter/slo/rules.h"
#include "exporter/version.h"

namespace nines {
namespace po = boost::program_options;

namespace {

constexpr std::size_t kMaxObjectName = 253;

struct RulesFlags {
  bool help = false;
  std::string config_file;
  std::string format = "prometheus";
  std::string name = slo::RulesOptions().name;
};

po::options_description Describe(RulesFlags* flags) {
  po::options_description options("Flags", 100, 50);
  // clang-format off
  options.add_options()
    ("help,h", po::bool_switch(&flags->help), "Show this help and exit.")
    ("config.file", po::value(&flags->config_file)->value_name("PATH"),
     "nines YAML config file whose slos: to generate rules for (required).")
    ("format", po::value(&flags->format)->default_value(flags->format)->value_name("FORMAT"),
     "prometheus: a Prometheus rule file; prometheusrule: a Prometheus Operator "
     "PrometheusRule object holding the same groups.")
    ("name", po::value(&flags->name)->default_value(flags->name)->value_name("NAME"),
     "metadata.name of the PrometheusRule (--format=prometheusrule).");
  // clang-format on
  return options;
}

// A Kubernetes object name (RFC 1123 subdomain): lowercase letters, digits, '-' and '.',
// starting and ending with a letter or digit.
bool IsObjectName(std::string_view name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > kMaxObjectName || !alnum(name.front()) || !alnum(name.back())) {
    return false;
  }
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

int RunRulesCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  RulesFlags flags;
  po::options_description options = Describe(&flags);
  auto fail = [&err](std::string_view message) {
    err << "nines rules: error: " << message << '\n';
    return 2;
  };
  try {
    po::variables_map values;
    // No positional arguments: a stray word is an error, not silently ignored.
    po::store(
        po::command_line_parser(args)
            .options(options)
            .positional(po::positional_options_description())
            .style(po::command_line_style::unix_style & ~po::command_line_style::allow_guessing)
            .run(),
        values);
    po::notify(values);
  } catch (const po::error& e) {
    std::string message = e.what();
    message += ", try --help";
    return fail(message);
  }
  if (flags.help) {
    out << "usage: nines rules --config.file=PATH [<flags>]\n\n"
        << "Prints Prometheus recording rules and multi-window, multi-burn-rate alerts for the\n"
           "SLOs in the config, named and labelled like sloth's (https://github.com/slok/sloth)\n"
           "so that sloth's Grafana dashboards work on them.\n\n"
        << options;
    out.flush();
    return out ? 0 : 1;
  }
  std::optional<slo::RulesFormat> format = slo::ParseRulesFormat(flags.format);
  if (!format) {
    std::string message = "--format: must be prometheus or prometheusrule (got \"";
    message += flags.format;
    message += "\")";
    return fail(message);
  }
  if (!IsObjectName(flags.name)) {
    std::string message =
        "--name: must be a Kubernetes object name: lowercase letters, digits, '-' and '.', "
        "starting and ending with a letter or digit, at most 253 characters (got \"";
    message += flags.name;
    message += "\")";
    return fail(message);
  }
  if (flags.config_file.empty()) {
    return fail("--config.file is required, try --help");
  }
  config::LoadResult loaded = config::LoadConfigFile(flags.config_file);
  if (!loaded.ok()) {
    for (const std::string& error : loaded.errors) {
      err << error << '\n';
    }
    return 1;
  }
  slo::RulesOptions rules_options;
  rules_options.name = flags.name;
  rules_options.source = flags.config_file;
  rules_options.version = kVersion;
  out << slo::GenerateRules(loaded.config->slos, *format, rules_options);
  out.flush();
  if (!out) {
    err << "nines rules: error: cannot write the rules to the output\n";
    return 1;
  }
  return 0;
}

int RunRulesCommand(const std::vector<std::string>& args) {
  return RunRulesCommand(args, std::cout, std::cerr);
}

}  // namespace nines
