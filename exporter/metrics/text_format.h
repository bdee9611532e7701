#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "collectors/exposition.h"

namespace nines::metrics {

/// See collectors/exposition.h: the text format's sample values, as client_golang writes
/// them.
using collectors::AppendValue;

/// Renders families in the text exposition format 0.0.4, in the order given. Families
/// without samples are left out. Unlike prometheus-cpp's TextSerializer (16 significant
/// digits), values round-trip exactly, so node_exporter's numbers print identically.
std::string RenderText(const std::vector<prometheus::MetricFamily>& families);

}  // namespace nines::metrics
