#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace nines::collectors {

/// Metric families from any number of sources, already written in the text exposition
/// format (exposition.h), and merged into one `/metrics` page by Render(). Every family
/// keeps its `# HELP`/`# TYPE` header and its sample lines in one shared buffer, so a
/// scrape allocates a few buffers rather than a prometheus::MetricFamily per family and a
/// prometheus::ClientMetric per sample. Not thread safe: one per page being built.
///
/// Families may be added in any order, and several may share a name (one per source, say):
/// Render() merges them as prometheus-cpp's model would be merged by name.
class TextFamilies {
 public:
  /// Identifies a family for AddSample; valid until Rollback() removes it.
  using FamilyId = std::size_t;

  /// Everything added so far, for Rollback().
  struct Mark {
    std::size_t text = 0;
    std::size_t families = 0;
    std::size_t chunks = 0;
  };

  /// Reserves room for `bytes` of text (headers and samples), the size of a page.
  void Reserve(std::size_t bytes) { text_.reserve(bytes); }

  /// Starts a family without samples: writes its header.
  FamilyId AddFamily(std::string_view name, std::string_view help, prometheus::MetricType type);

  /// Adds one sample (or the lines of one histogram) to `family`: `write(std::string& out)`
  /// appends the lines, each ending in '\n', to `out`, which it must not otherwise change.
  template <typename Write>
  void AddSample(FamilyId family, Write&& write) {
    const std::size_t begin = text_.size();
    write(text_);
    AddChunk(family, begin);
  }

  /// Adds a family built by prometheus-cpp (a prometheus::Collectable's), with its samples.
  void AddFamily(const prometheus::MetricFamily& family);

  /// The name of `family`; valid until the next call that adds something.
  std::string_view Name(FamilyId family) const;
  prometheus::MetricType Type(FamilyId family) const { return families_[family].type; }

  /// A mark to roll back to: families and samples added after it can be removed.
  Mark GetMark() const { return {text_.size(), families_.size(), chunks_.size()}; }

  /// Removes every family and sample added since `mark` (say, those of a collector that
  /// failed halfway). Samples added since then to families older than the mark must not
  /// exist: a writer that rolls back adds only to families it started itself.
  void Rollback(const Mark& mark);

  /// The page: families sorted by name (stably: families of one name stay in the order
  /// added) and merged, so that each name has one header (the first family's) followed by
  /// the samples of all of them. A family whose type differs from the first one of its name
  /// is dropped, with an error logged. Names without samples are left out. Byte for byte
  /// what metrics::RenderText prints for the same families merged that way.
  std::string Render() const;

 private:
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

  // A run of sample lines in text_ that belongs to one family, and the next run of it.
  struct Chunk {
    std::size_t begin;
    std::size_t end;
    std::size_t next = kNone;
  };
  struct Family {
    std::size_t header_begin;  // "# HELP <name> ..."
    std::size_t name_size;
    std::size_t header_end;
    prometheus::MetricType type;
    std::size_t first_chunk = kNone;
    std::size_t last_chunk = kNone;
  };

  void AddChunk(FamilyId family, std::size_t begin);

  std::string text_;
  std::vector<Family> families_;
  std::vector<Chunk> chunks_;
};

/// A source of `/metrics` families that writes them straight as text, the faster sibling of
/// prometheus::Collectable. Implementations are thread safe.
class TextCollectable {
 public:
  virtual ~TextCollectable() = default;

  /// Adds this source's families to `out`.
  virtual void CollectText(TextFamilies& out) const = 0;
};

}  // namespace nines::collectors
