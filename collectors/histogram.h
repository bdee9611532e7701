#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "collectors/collector.h"

namespace nines::collectors {

/// Observations counted into fixed buckets, as a Prometheus histogram keeps them: a bucket
/// counts the observations <= its upper bound, and the implicit +Inf bucket all of them.
/// Not thread safe.
class BucketHistogram {
 public:
  /// `upper_bounds` in increasing order; non-finite bounds are dropped (+Inf is implicit).
  explicit BucketHistogram(std::vector<double> upper_bounds);

  /// Counts `value` (NaN lands in +Inf only, and makes the sum NaN, as in client_golang).
  void Observe(double value);
  /// Adds the histogram to `sink` as one sample of `name`.
  void AppendTo(std::string_view name, std::string_view help, const Labels& labels,
                MetricSink& sink) const;

  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> upper_bounds_;
  std::vector<std::uint64_t> counts_;  // per finite bucket, not cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace nines::collectors
