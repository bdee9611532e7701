#include "tests/integration/nines_daemon.h"

#include <charconv>
#include <cmath>

#ifndef NINES_BINARY
#error "NINES_BINARY must be the absolute path of the nines executable"
#endif
#ifndef PROMTOOL
#error "PROMTOOL must be the absolute path of promtool"
#endif

namespace nines::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kListeningOn = "listening on 127.0.0.1:";

// Parses a sample value: a float, or +Inf, -Inf, NaN.
std::optional<double> ParseValue(std::string_view text) {
  if (text == "+Inf") {
    return INFINITY;
  }
  if (text == "-Inf") {
    return -INFINITY;
  }
  if (text == "NaN") {
    return NAN;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// Parses `{a="x",b="y\"z"}` starting at text[0] == '{'; returns the length consumed or
// 0 on a syntax error.
std::size_t ParseLabels(std::string_view text, std::map<std::string, std::string>* labels) {
  std::size_t i = 1;
  while (i < text.size() && text[i] != '}') {
    std::size_t eq = text.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= text.size() || text[eq + 1] != '"') {
      return 0;
    }
    std::string name(text.substr(i, eq - i));
    std::string value;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value += text[j] == 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.size()) {
      return 0;
    }
    (*labels)[name] = value;
    i = j + 1;
    if (i < text.size() && text[i] == ',') {
      ++i;
    }
  }
  return i < text.size() ? i + 1 : 0;
}

// The family a sample name belongs to, given the TYPE lines seen so far.
std::string FamilyOf(const std::string& name, const std::map<std::string, Family>& families) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.ends_with(suffix)) {
      std::string base = name.substr(0, name.size() - suffix.size());
      auto it = families.find(base);
      if (it != families.end() &&
          (it->second.type == "histogram" || it->second.type == "summary")) {
        return base;
      }
    }
  }
  return name;
}

}  // namespace

Daemon::Daemon() : dir_("nines-test-daemon") {}

std::unique_ptr<Daemon> Daemon::Start(std::string_view config_text,
                                      const std::vector<std::string>& extra_args) {
  std::unique_ptr<Daemon> daemon(new Daemon());
  daemon->config_path_ = daemon->dir_.WriteFile("nines.yml", config_text);
  std::vector<std::string> argv = {NINES_BINARY, "--web.listen-address=127.0.0.1:0",
                                   "--config.file=" + daemon->config_path_.string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  daemon->process_ = std::make_unique<Process>(ProcessOptions{.argv = argv});
  std::optional<std::string> line = daemon->process_->WaitForLine(kListeningOn, 5s);
  if (!line) {
    ADD_FAILURE() << "nines did not log \"" << kListeningOn << "<port>\" within 5 s\n"
                  << daemon->process_->Describe();
    return nullptr;
  }
  std::size_t start = line->find(kListeningOn) + kListeningOn.size();
  int port = 0;
  auto [ptr, ec] = std::from_chars(line->data() + start, line->data() + line->size(), port);
  if (ec != std::errc() || port < 1 || port > 65535) {
    ADD_FAILURE() << "no port in the line: " << *line;
    return nullptr;
  }
  daemon->port_ = port;
  return daemon;
}

std::string Daemon::Url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void Daemon::WriteConfig(std::string_view text) const { dir_.WriteFile("nines.yml", text); }

::testing::AssertionResult PromtoolAccepts(std::string_view page) {
  TempDir dir("nines-test-promtool");
  std::filesystem::path file = dir.WriteFile("metrics.prom", page);
  RunResult result = RunToExit({.argv = {PROMTOOL, "check", "metrics"}, .stdin_file = file}, 15s);
  if (result.status == ExitStatus::Exited(0)) {
    return ::testing::AssertionSuccess();
  }
  // Two peers' names fail promtool's lint and are a contract with their dashboards, so
  // exactly those lint lines are accepted: node_exporter's camelCase /proc/meminfo names
  // (node_memory_MemTotal_bytes, ...) and nginx-prometheus-exporter's two counters without
  // _total. Any other problem still fails.
  if (result.status == ExitStatus::Exited(3)) {
    bool only_peer_names = true;
    for (const std::string& line : Lines(result.out + result.err)) {
      bool meminfo = line.starts_with("node_memory_") &&
                     line.ends_with(" should be written in 'snake_case' not 'camelCase'");
      bool nginx = (line.starts_with("nginx_connections_accepted ") ||
                    line.starts_with("nginx_connections_handled ")) &&
                   line.ends_with(" counter metrics should have \"_total\" suffix");
      if (!line.empty() && !meminfo && !nginx) {
        only_peer_names = false;
      }
    }
    if (only_peer_names) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure()
         << "promtool check metrics: "
         << (result.status ? ToString(*result.status) : "still running after 15 s")
         << "\n--- stdout ---\n"
         << result.out << "\n--- stderr ---\n"
         << result.err << "\n--- page ---\n"
         << page;
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
  return lines;
}

std::map<std::string, Family> ParseExposition(std::string_view page) {
  std::map<std::string, Family> families;
  for (const std::string& line : Lines(page)) {
    if (line.empty()) {
      continue;
    }
    if (line.starts_with("# TYPE ") || line.starts_with("# HELP ")) {
      std::string_view rest = std::string_view(line).substr(7);
      std::size_t space = rest.find(' ');
      std::string name(rest.substr(0, space));
      std::string text(space == std::string_view::npos ? "" : rest.substr(space + 1));
      (line[2] == 'T' ? families[name].type : families[name].help) = text;
      continue;
    }
    if (line.starts_with('#')) {
      continue;
    }
    std::size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos) {
      ADD_FAILURE() << "unparsable sample line: " << line;
      continue;
    }
    std::string name = line.substr(0, name_end);
    Sample sample;
    std::size_t value_start = name_end;
    if (line[name_end] == '{') {
      std::size_t used = ParseLabels(std::string_view(line).substr(name_end), &sample.labels);
      if (used == 0) {
        ADD_FAILURE() << "unparsable labels: " << line;
        continue;
      }
      value_start = name_end + used;
    }
    std::string_view rest = std::string_view(line).substr(value_start);
    while (rest.starts_with(' ')) {
      rest.remove_prefix(1);
    }
    rest = rest.substr(0, rest.find(' '));  // drop a timestamp
    std::optional<double> value = ParseValue(rest);
    if (!value) {
      ADD_FAILURE() << "unparsable value: " << line;
      continue;
    }
    sample.value = *value;
    std::string key = name + "{";
    bool first = true;
    for (const auto& [label, label_value] : sample.labels) {
      key += first ? "" : ",";
      key += label;
      key += "=\"";
      key += label_value;
      key += '"';
      first = false;
    }
    key += "}";
    families[FamilyOf(name, families)].samples[key] = std::move(sample);
  }
  return families;
}

const Sample* FindSample(const std::map<std::string, Family>& page, const std::string& family,
                         const std::map<std::string, std::string>& labels) {
  auto it = page.find(family);
  if (it == page.end()) {
    return nullptr;
  }
  for (const auto& [key, sample] : it->second.samples) {
    bool match = true;
    for (const auto& [name, value] : labels) {
      auto label = sample.labels.find(name);
      match = match && label != sample.labels.end() && label->second == value;
    }
    if (match) {
      return &sample;
    }
  }
  return nullptr;
}

double SumOfFamily(std::string_view page, const std::string& name) {
  double total = 0;
  std::map<std::string, Family> families = ParseExposition(page);
  for (const auto& [key, sample] : families[name].samples) {
    total += sample.value;
  }
  return total;
}

}  // namespace nines::testing
