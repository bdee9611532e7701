#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "collectors/collector.h"
#include "collectors/text_families.h"

namespace nines::collectors {

/// A SampleSink that writes each sample straight into a TextFamilies as exposition text,
/// byte for byte what MetricSink followed by metrics::RenderText prints, without building
/// prometheus-cpp's model. Samples of one name land in one family, started by the first of
/// them; a later sample of that name with another type is dropped (with an error logged),
/// since a family has one type. Not thread safe; one per collector per scrape.
class TextSink final : public SampleSink {
 public:
  /// Writes into `out`, which must outlive the sink; nothing else may add to `out` while
  /// the sink may still Discard().
  explicit TextSink(TextFamilies& out);

  /// Removes from `out` every family and sample this sink wrote (a collector that failed
  /// halfway contributes nothing). The sink may be used again afterwards.
  void Discard();

 protected:
  void AddValue(std::string_view name, std::string_view help, prometheus::MetricType type,
                double value, const Labels& labels) override;
  void AddHistogram(std::string_view name, std::string_view help,
                    std::span<const double> upper_bounds,
                    std::span<const std::uint64_t> cumulative_counts, double sum,
                    std::uint64_t count, const Labels& labels) override;

 private:
  // The family of `name`, started with `help` and `type` if it is new; false when it
  // exists with another type.
  bool Family(std::string_view name, std::string_view help, prometheus::MetricType type,
              TextFamilies::FamilyId& family);
  // The slot of `name` in slots_: the one holding its family, or the empty one where it
  // would go.
  std::size_t Slot(std::string_view name) const;
  void Grow();

  TextFamilies& out_;
  TextFamilies::Mark mark_;
  // The families this sink started, found by name through an open-addressing hash table:
  // a slot holds an index into families_ plus one (0 is empty). Faster than a std::map
  // with string keys, and it copies no names (they live in out_).
  std::vector<TextFamilies::FamilyId> families_;
  std::vector<std::size_t> slots_;
};

}  // namespace nines::collectors
