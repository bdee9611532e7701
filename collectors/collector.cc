#include "collectors/collector.h"

#include <cerrno>
#include <limits>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "collectors/text.h"

namespace nines::collectors {
namespace {

std::string Join(const std::string& base, std::string_view relative) {
  std::string out = base;
  while (out.size() > 1 && out.back() == '/') {
    out.pop_back();
  }
  while (!relative.empty() && relative.front() == '/') {
    relative.remove_prefix(1);
  }
  if (relative.empty()) {
    return out;
  }
  if (out != "/") {
    out += '/';
  }
  out += relative;
  return out;
}

}  // namespace

std::string Paths::Proc(std::string_view relative) const { return Join(procfs, relative); }
std::string Paths::Sys(std::string_view relative) const { return Join(sysfs, relative); }
std::string Paths::Root(std::string_view absolute) const { return Join(rootfs, absolute); }
std::string Paths::Udev(std::string_view relative) const { return Join(udev_data, relative); }

std::string ReadFile(const std::string& path) {
  std::optional<std::string> text = ReadOptionalFile(path);
  if (!text) {
    // ReadOptionalFile returns nullopt for ENOENT alone.
    throw std::system_error(ENOENT, std::generic_category(), "cannot read " + path);
  }
  return *std::move(text);
}

void SampleSink::Gauge(std::string_view name, std::string_view help, double value,
                       const Labels& labels) {
  AddValue(name, help, prometheus::MetricType::Gauge, value, labels);
}

void SampleSink::Counter(std::string_view name, std::string_view help, double value,
                         const Labels& labels) {
  AddValue(name, help, prometheus::MetricType::Counter, value, labels);
}

void SampleSink::Histogram(std::string_view name, std::string_view help,
                           std::span<const double> upper_bounds,
                           std::span<const std::uint64_t> cumulative_counts, double sum,
                           std::uint64_t count, const Labels& labels) {
  if (upper_bounds.size() != cumulative_counts.size()) {
    throw std::invalid_argument("histogram " + std::string(name) + ": " +
                                std::to_string(upper_bounds.size()) + " bucket bounds but " +
                                std::to_string(cumulative_counts.size()) + " bucket counts");
  }
  AddHistogram(name, help, upper_bounds, cumulative_counts, sum, count, labels);
}

prometheus::ClientMetric& MetricSink::Add(std::string_view name, std::string_view help,
                                          prometheus::MetricType type, const Labels& labels) {
  // Most samples join a family already seen: look up without building a string.
  auto it = index_.find(name);
  if (it == index_.end()) {
    it = index_.emplace(std::string(name), families_.size()).first;
    prometheus::MetricFamily family;
    family.name = std::string(name);
    family.help = std::string(help);
    family.type = type;
    families_.push_back(std::move(family));
  }
  prometheus::MetricFamily& family = families_[it->second];
  prometheus::ClientMetric& metric = family.metric.emplace_back();
  metric.label.reserve(labels.size());
  for (const auto& [label_name, label_value] : labels) {
    metric.label.push_back({label_name, label_value});
  }
  return metric;
}

void MetricSink::AddValue(std::string_view name, std::string_view help, prometheus::MetricType type,
                          double value, const Labels& labels) {
  prometheus::ClientMetric& metric = Add(name, help, type, labels);
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
}

void MetricSink::AddHistogram(std::string_view name, std::string_view help,
                              std::span<const double> upper_bounds,
                              std::span<const std::uint64_t> cumulative_counts, double sum,
                              std::uint64_t count, const Labels& labels) {
  prometheus::ClientMetric::Histogram& histogram =
      Add(name, help, prometheus::MetricType::Histogram, labels).histogram;
  histogram.sample_count = count;
  histogram.sample_sum = sum;
  histogram.bucket.reserve(upper_bounds.size() + 1);
  for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
    histogram.bucket.push_back({cumulative_counts[i], upper_bounds[i]});
  }
  // prometheus-cpp's own histograms end with the +Inf bucket too, so every serializer
  // finds the layout it expects.
  histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
}

std::vector<prometheus::MetricFamily> MetricSink::Take() {
  index_.clear();
  return std::exchange(families_, {});
}

}  // namespace nines::collectors
