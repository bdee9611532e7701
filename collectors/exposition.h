#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <string>
#include <string_view>

/// The Prometheus text exposition format 0.0.4, written byte for byte as client_golang (and
/// so node_exporter) writes it. The one place that knows the format: RenderText
/// (exporter/metrics/text_format.h) and TextSink (text_sink.h) both write through these
/// functions, so the two paths to a `/metrics` page cannot drift apart. Stateless; every
/// function may be called from any number of threads at once.
namespace nines::collectors {

/// Appends `value` as the text format writes sample values, exactly as client_golang does
/// (Go's strconv 'g' with the shortest round-trip digits): "0.94", "1.7e+09", "+Inf",
/// "-Inf", "NaN". Every value reads back as the same double.
void AppendValue(double value, std::string& out);

/// Appends `# HELP <name> <help>\n# TYPE <name> <type>\n`, with '\' and newlines in the help
/// escaped.
void AppendFamilyHeader(std::string_view name, std::string_view help, prometheus::MetricType type,
                        std::string& out);

/// Appends one label of a sample line: `{` before the first (`first`), `,` before the
/// others, then `name="value"` with '\', newlines and '"' in the value escaped. The caller
/// closes the braces with '}' after the last label, and writes none for a sample without
/// labels.
void AppendLabel(std::string_view name, std::string_view value, bool first, std::string& out);

/// Appends the sample lines of `family` (no header): one line per counter, gauge or untyped
/// metric, and the `_bucket`/`quantile`, `_sum` and `_count` lines of histograms and
/// summaries (a histogram without a +Inf bucket gets one, counting every observation).
void AppendSamples(const prometheus::MetricFamily& family, std::string& out);

}  // namespace nines::collectors
