#include "collectors/meminfo.h"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "collectors/proc_file.h"
#include "collectors/text.h"

namespace nines::collectors {
namespace internal {
namespace {

// Error messages are built only on failure: this runs for every line of every scrape.
[[noreturn]] void Fail(std::size_t line_number, std::string_view key, std::string_view problem) {
  std::string message = "line " + std::to_string(line_number);
  if (!key.empty()) {
    message += ": ";
    message += key;
  }
  message += ": ";
  message += problem;
  throw std::runtime_error(message);
}

// node_exporter applies the regexp `\((.*)\)` -> "_${1}" to the name: the first '(' up to
// the last ')' after it. Only the kernel's one-pair names ("Active(anon)") make valid metric
// names that way; the caller rejects the rest.
std::string MetricName(std::string_view key) {
  const std::size_t open = key.find('(');
  const std::size_t close = key.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::string(key);
  }
  std::string name;
  name.reserve(key.size());
  name.append(key.substr(0, open));
  name += '_';
  name.append(key.substr(open + 1, close - open - 1));
  name.append(key.substr(close + 1));
  return name;
}

// The name follows "node_memory_", so it may start with a digit.
bool IsMetricNameTail(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == ':';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<MeminfoField> ParseMeminfo(std::string_view text) {
  std::vector<MeminfoField> fields;
  fields.reserve(64);                     // 56 lines on Linux 6.x
  std::vector<std::size_t> line_numbers;  // of each field
  line_numbers.reserve(64);
  std::size_t line_number = 0;
  while (!text.empty()) {
    std::string_view rest = NextLine(text);
    ++line_number;

    const std::string_view key_field = NextField(rest);
    if (key_field.empty()) {
      continue;  // blank line
    }
    if (key_field.back() != ':') {
      Fail(line_number, {}, "field name does not end in ':' (got " + Quote(key_field) + ")");
    }
    // Once the name is valid, `key` holds only metric name characters and "()", so it goes
    // into messages unquoted.
    const std::string_view key = key_field.substr(0, key_field.size() - 1);
    std::string name = MetricName(key);
    if (!IsMetricNameTail(name)) {
      Fail(line_number, {},
           "field name does not make a valid metric name (got " + Quote(key_field) + ")");
    }

    const std::string_view value_field = NextField(rest);
    if (value_field.empty()) {
      Fail(line_number, key, "missing value");
    }
    double value = static_cast<double>(ParseUint64(value_field, [&] {
      return "line " + std::to_string(line_number) + ": " + std::string(key);
    }));
    const std::string_view unit = NextField(rest);
    if (!unit.empty()) {
      // The kernel prints every sized field in kB; node_exporter presumes it.
      if (unit != "kB") {
        Fail(line_number, key, "unknown unit (got " + Quote(unit) + ")");
      }
      value *= 1024;
      name += "_bytes";
    }
    if (const std::string_view extra = NextField(rest); !extra.empty()) {
      Fail(line_number, key, "unexpected data after the value (got " + Quote(extra) + ")");
    }
    fields.push_back(MeminfoField{std::move(name), value});
    line_numbers.push_back(line_number);
  }

  // node_exporter keeps the last of repeated names (a Go map); two samples of one name would
  // make the page invalid, and either value may be the wrong one. Sorting indices costs no
  // allocation per line, unlike a set of names; by length first, which settles most
  // comparisons without reading the names and still puts equal names side by side.
  std::vector<std::size_t> order(fields.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&fields](std::size_t a, std::size_t b) {
    const std::string& x = fields[a].name;
    const std::string& y = fields[b].name;
    if (x.size() != y.size()) {
      return x.size() < y.size();
    }
    const int order_of_names = x.compare(y);
    return order_of_names < 0 || (order_of_names == 0 && a < b);
  });
  for (std::size_t i = 1; i < order.size(); ++i) {
    if (fields[order[i]].name == fields[order[i - 1]].name) {
      throw std::runtime_error("line " + std::to_string(line_numbers[order[i]]) + ": metric name " +
                               Quote(fields[order[i]].name) + " repeated (first from line " +
                               std::to_string(line_numbers[order[i - 1]]) + ")");
    }
  }
  return fields;
}

}  // namespace internal

namespace {

class MeminfoCollector final : public Collector {
 public:
  explicit MeminfoCollector(std::string path) : file_(std::move(path)) {}

  void Update(SampleSink& sink) const override {
    const std::string text = file_.Read();
    std::vector<internal::MeminfoField> fields;
    try {
      fields = internal::ParseMeminfo(text);
    } catch (const std::runtime_error& e) {
      // node_exporter fails the whole collector on a bad line too.
      throw std::runtime_error(file_.path() + ": " + e.what());
    }
    std::string metric = "node_memory_";
    std::string help = "Memory information field ";
    const std::size_t metric_prefix = metric.size();
    const std::size_t help_prefix = help.size();
    for (const auto& field : fields) {
      metric.resize(metric_prefix);
      metric += field.name;
      help.resize(help_prefix);
      help += field.name;
      help += '.';
      // node_exporter makes any name ending in "_total" a counter. No kernel prints one
      // (HugePages_Total has a capital T), but the rule is kept so output types agree.
      if (field.name.ends_with("_total")) {
        sink.Counter(metric, help, field.value);
      } else {
        sink.Gauge(metric, help, field.value);
      }
    }
  }

 private:
  const ProcFile file_;
};

}  // namespace

std::unique_ptr<Collector> NewMeminfoCollector(const CollectorOptions& options) {
  return std::make_unique<MeminfoCollector>(options.paths.Proc("meminfo"));
}

}  // namespace nines::collectors
