#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace nines::metrics {

/// Appends `value` as the Prometheus text format writes sample values, exactly as
/// client_golang does (Go's strconv 'g' with the shortest round-trip digits): "0.94",
/// "1.7e+09", "+Inf", "-Inf", "NaN". Every value reads back as the same double.
void AppendValue(double value, std::string& out);

/// Renders families in the text exposition format 0.0.4. Families without samples are
/// left out. Unlike prometheus-cpp's TextSerializer (16 significant digits), values
/// round-trip exactly, so node_exporter's numbers print identically.
std::string RenderText(const std::vector<prometheus::MetricFamily>& families);

}  // namespace nines::metrics
