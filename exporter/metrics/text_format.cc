#include "exporter/metrics/text_format.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace nines::metrics {
namespace {

// Go's 'g' format with the shortest digits uses %e when the decimal exponent is below -4
// or at least 6 (strconv.FormatFloat's "eprec = 6" for shortest).
constexpr int kMinFixedExponent = -4;
constexpr int kMaxFixedExponent = 5;

void AppendEscaped(std::string_view text, bool quote, std::string& out) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

void AppendLabels(const std::vector<prometheus::ClientMetric::Label>& labels,
                  std::string_view extra_name, std::string_view extra_value, std::string& out) {
  if (labels.empty() && extra_name.empty()) {
    return;
  }
  out += '{';
  bool first = true;
  for (const auto& label : labels) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += label.name;
    out += "=\"";
    AppendEscaped(label.value, true, out);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) {
      out += ',';
    }
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void AppendSample(std::string_view name, std::string_view suffix,
                  const prometheus::ClientMetric& metric, std::string_view extra_name,
                  std::string_view extra_value, double value, std::string& out) {
  out += name;
  out += suffix;
  AppendLabels(metric.label, extra_name, extra_value, out);
  out += ' ';
  AppendValue(value, out);
  if (metric.timestamp_ms != 0) {
    out += ' ';
    out += std::to_string(metric.timestamp_ms);
  }
  out += '\n';
}

std::string ValueText(double value) {
  std::string text;
  AppendValue(value, text);
  return text;
}

const char* TypeName(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    case prometheus::MetricType::Untyped:
      return "untyped";
  }
  return "untyped";
}

void AppendFamily(const prometheus::MetricFamily& family, std::string& out) {
  const std::string& name = family.name;
  out += "# HELP ";
  out += name;
  out += ' ';
  AppendEscaped(family.help, false, out);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += TypeName(family.type);
  out += '\n';
  for (const prometheus::ClientMetric& metric : family.metric) {
    switch (family.type) {
      case prometheus::MetricType::Counter:
        AppendSample(name, "", metric, "", "", metric.counter.value, out);
        break;
      case prometheus::MetricType::Gauge:
        AppendSample(name, "", metric, "", "", metric.gauge.value, out);
        break;
      case prometheus::MetricType::Untyped:
        AppendSample(name, "", metric, "", "", metric.untyped.value, out);
        break;
      case prometheus::MetricType::Summary:
        for (const auto& quantile : metric.summary.quantile) {
          AppendSample(name, "", metric, "quantile", ValueText(quantile.quantile), quantile.value,
                       out);
        }
        AppendSample(name, "_sum", metric, "", "", metric.summary.sample_sum, out);
        AppendSample(name, "_count", metric, "", "",
                     static_cast<double>(metric.summary.sample_count), out);
        break;
      case prometheus::MetricType::Histogram: {
        bool has_inf = false;
        for (const auto& bucket : metric.histogram.bucket) {
          has_inf = has_inf || std::isinf(bucket.upper_bound);
          AppendSample(name, "_bucket", metric, "le", ValueText(bucket.upper_bound),
                       static_cast<double>(bucket.cumulative_count), out);
        }
        if (!has_inf) {
          AppendSample(name, "_bucket", metric, "le", "+Inf",
                       static_cast<double>(metric.histogram.sample_count), out);
        }
        AppendSample(name, "_sum", metric, "", "", metric.histogram.sample_sum, out);
        AppendSample(name, "_count", metric, "", "",
                     static_cast<double>(metric.histogram.sample_count), out);
        break;
      }
    }
  }
}

}  // namespace

void AppendValue(double value, std::string& out) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  std::array<char, 64> buffer{};
  // The shortest round-trip digits, in scientific form: "d.ddde+XX".
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                 std::chars_format::scientific);
  std::string_view scientific(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
  std::size_t e = scientific.find('e');
  int exponent = 0;
  std::from_chars(scientific.data() + e + 1 + (scientific[e + 1] == '+' ? 1 : 0),
                  scientific.data() + scientific.size(), exponent);
  if (exponent < kMinFixedExponent || exponent > kMaxFixedExponent) {
    out += scientific;
    return;
  }
  auto [fixed_end, fixed_ec] =
      std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::fixed);
  out.append(buffer.data(), fixed_end);
}

std::string RenderText(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  std::size_t samples = 0;
  for (const auto& family : families) {
    samples += family.metric.size();
  }
  out.reserve(samples * 64 + families.size() * 96);
  for (const auto& family : families) {
    if (!family.metric.empty()) {
      AppendFamily(family, out);
    }
  }
  return out;
}

}  // namespace nines::metrics
