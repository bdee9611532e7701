#include "collectors/histogram.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

namespace nines::collectors {

BucketHistogram::BucketHistogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)) {
  std::erase_if(upper_bounds_, [](double bound) { return !std::isfinite(bound); });
  counts_.assign(upper_bounds_.size(), 0);
}

void BucketHistogram::Observe(double value) {
  // The first bucket whose bound is >= value; NaN compares false everywhere and so
  // falls through to +Inf, as in client_golang.
  auto it = std::find_if(upper_bounds_.begin(), upper_bounds_.end(),
                         [value](double bound) { return value <= bound; });
  if (it != upper_bounds_.end()) {
    ++counts_[static_cast<std::size_t>(std::distance(upper_bounds_.begin(), it))];
  }
  ++count_;
  sum_ += value;
}

void BucketHistogram::AppendTo(std::string_view name, std::string_view help, const Labels& labels,
                               MetricSink& sink) const {
  std::vector<std::uint64_t> cumulative(counts_.size());
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    running += counts_[i];
    cumulative[i] = running;
  }
  sink.Histogram(name, help, upper_bounds_, cumulative, sum_, count_, labels);
}

}  // namespace nines::collectors
