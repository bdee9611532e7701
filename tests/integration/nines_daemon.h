// Shared pieces of the integration tests: a nines daemon on an ephemeral loopback port,
// promtool, and a parser of the Prometheus text format.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/process_runner.h"

namespace nines::testing {

/// A nines daemon on an ephemeral loopback port, its config file in a temp dir of its own.
/// The destructor kills it (SIGKILL) if it still runs.
class Daemon {
 public:
  /// Starts nines with `config_text` and `extra_args`, and waits until it listens. Returns
  /// nullptr after adding a test failure that says why when it does not.
  static std::unique_ptr<Daemon> Start(std::string_view config_text,
                                       const std::vector<std::string>& extra_args = {});

  std::string Url(std::string_view path) const;
  const std::filesystem::path& ConfigPath() const { return config_path_; }
  void WriteConfig(std::string_view text) const;
  Process& Child() { return *process_; }
  int port() const { return port_; }
  /// The command, status and log of the daemon, for failure messages.
  std::string Describe() const { return process_->Describe(); }

 private:
  Daemon();

  TempDir dir_;
  std::filesystem::path config_path_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

/// `promtool check metrics < page` must exit 0: it exits 3 for lint problems (a missing
/// HELP, a counter without _total), which are failures here too, with two exceptions that
/// dashboards depend on: node_exporter's camelCase node_memory_* names and
/// nginx-prometheus-exporter's nginx_connections_accepted/handled counters.
::testing::AssertionResult PromtoolAccepts(std::string_view page);

/// The lines of `text`, without their newlines.
std::vector<std::string> Lines(std::string_view text);

/// One sample of a text exposition page.
struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// One metric family of a text exposition page.
struct Family {
  std::string type;  // "counter", "gauge", ... or "" when no TYPE line was seen
  std::string help;
  /// Samples keyed by their label set rendered as `{a="1",b="2"}` (sorted by name).
  std::map<std::string, Sample> samples;
};

/// Parses the Prometheus text format into families by name. Histogram and summary
/// samples (`_bucket`, `_sum`, `_count`) land in their family. Lines that do not parse
/// add a test failure.
std::map<std::string, Family> ParseExposition(std::string_view page);

/// The first sample of `family` on `page` whose labels include every one of `labels` (in
/// label set order); nullptr when there is none.
const Sample* FindSample(const std::map<std::string, Family>& page, const std::string& family,
                         const std::map<std::string, std::string>& labels);

/// The sum of every sample of family `name` on `page` (0 when it has none), e.g. a counter
/// over all its label sets.
double SumOfFamily(std::string_view page, const std::string& name);

}  // namespace nines::testing
