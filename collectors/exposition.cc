#include "collectors/exposition.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace nines::collectors {
namespace {

// Go's 'g' format with the shortest digits uses %e when the decimal exponent is below -4
// or at least 6 (strconv.FormatFloat's "eprec = 6" for shortest).
constexpr int kMinFixedExponent = -4;
constexpr int kMaxFixedExponent = 5;
// Whole numbers below this print as plain integers in 'g' form: 999999 is "999999",
// 1e6 is "1e+06".
constexpr double kPlainIntegerLimit = 1e6;

// Escapes '\' and newlines, and '"' when `quote`. Copies the runs between them whole:
// most text has nothing to escape.
void AppendEscaped(std::string_view text, bool quote, std::string& out) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '\\' && c != '\n' && (c != '"' || !quote)) {
      continue;
    }
    out.append(text.data() + run, i - run);
    out += c == '\n' ? "\\n" : (c == '\\' ? "\\\\" : "\\\"");
    run = i + 1;
  }
  out.append(text.data() + run, text.size() - run);
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

// One sample line of `metric`: its labels, then `extra_name="extra_value"` when given (the
// `le` of a bucket, the `quantile` of a summary).
void AppendSample(std::string_view name, std::string_view suffix,
                  const prometheus::ClientMetric& metric, std::string_view extra_name,
                  std::string_view extra_value, double value, std::string& out) {
  out += name;
  out += suffix;
  bool first = true;
  for (const auto& label : metric.label) {
    AppendLabel(label.name, label.value, first, out);
    first = false;
  }
  if (!extra_name.empty()) {
    AppendLabel(extra_name, extra_value, first, out);
    first = false;
  }
  if (!first) {
    out += '}';
  }
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
  // Most samples are small counts: integer formatting is several times faster than the
  // shortest-digits search and prints the same. -0 takes the long way to keep its sign.
  if (std::fabs(value) < kPlainIntegerLimit && value == std::trunc(value) &&
      !(value == 0 && std::signbit(value))) {
    auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(),
                                   static_cast<std::int64_t>(value));
    out.append(buffer.data(), end);
    return;
  }
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

void AppendFamilyHeader(std::string_view name, std::string_view help, prometheus::MetricType type,
                        std::string& out) {
  out += "# HELP ";
  out += name;
  out += ' ';
  AppendEscaped(help, false, out);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += TypeName(type);
  out += '\n';
}

void AppendLabel(std::string_view name, std::string_view value, bool first, std::string& out) {
  out += first ? '{' : ',';
  out += name;
  out += "=\"";
  AppendEscaped(value, true, out);
  out += '"';
}

void AppendSamples(const prometheus::MetricFamily& family, std::string& out) {
  const std::string& name = family.name;
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

}  // namespace nines::collectors
