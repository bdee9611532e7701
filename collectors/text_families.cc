#include "collectors/text_families.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>

#include "collectors/exposition.h"

namespace nines::collectors {
namespace {

// Where the name starts in a header: after "# HELP ".
constexpr std::size_t kNameOffset = 7;

}  // namespace

TextFamilies::FamilyId TextFamilies::AddFamily(std::string_view name, std::string_view help,
                                               prometheus::MetricType type) {
  const std::size_t begin = text_.size();
  AppendFamilyHeader(name, help, type, text_);
  families_.push_back(Family{
      .header_begin = begin, .name_size = name.size(), .header_end = text_.size(), .type = type});
  return families_.size() - 1;
}

void TextFamilies::AddFamily(const prometheus::MetricFamily& family) {
  const FamilyId id = AddFamily(family.name, family.help, family.type);
  AddSample(id, [&family](std::string& out) { AppendSamples(family, out); });
}

std::string_view TextFamilies::Name(FamilyId family) const {
  const Family& f = families_[family];
  return std::string_view(text_).substr(f.header_begin + kNameOffset, f.name_size);
}

void TextFamilies::AddChunk(FamilyId family, std::size_t begin) {
  const std::size_t end = text_.size();
  if (end == begin) {
    return;
  }
  Family& f = families_[family];
  // Consecutive samples of one family make one chunk: most collectors write a family's
  // samples in a row.
  if (f.last_chunk != kNone && chunks_[f.last_chunk].end == begin) {
    chunks_[f.last_chunk].end = end;
    return;
  }
  chunks_.push_back(Chunk{.begin = begin, .end = end});
  const std::size_t chunk = chunks_.size() - 1;
  if (f.last_chunk == kNone) {
    f.first_chunk = chunk;
  } else {
    chunks_[f.last_chunk].next = chunk;
  }
  f.last_chunk = chunk;
}

void TextFamilies::Rollback(const Mark& mark) {
  text_.resize(mark.text);
  families_.erase(families_.begin() + static_cast<std::ptrdiff_t>(mark.families), families_.end());
  chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(mark.chunks), chunks_.end());
}

std::string TextFamilies::Render() const {
  std::vector<FamilyId> order(families_.size());
  std::iota(order.begin(), order.end(), FamilyId{0});
  // By name, and families of one name in the order added (what a stable sort does, without
  // its buffer).
  std::sort(order.begin(), order.end(), [this](FamilyId a, FamilyId b) {
    const int by_name = Name(a).compare(Name(b));
    return by_name < 0 || (by_name == 0 && a < b);
  });
  std::string out;
  out.reserve(text_.size());
  std::size_t i = 0;
  while (i < order.size()) {
    const Family& first = families_[order[i]];
    const std::string_view name = Name(order[i]);
    std::size_t end = i + 1;
    while (end < order.size() && Name(order[end]) == name) {
      ++end;
    }
    bool has_samples = false;
    for (std::size_t k = i; k < end; ++k) {
      const Family& family = families_[order[k]];
      if (family.type != first.type) {
        spdlog::error(
            "metric family {} is produced twice with different types; dropping the "
            "second",
            name);
        continue;
      }
      has_samples = has_samples || family.first_chunk != kNone;
    }
    if (has_samples) {
      out.append(text_, first.header_begin, first.header_end - first.header_begin);
      for (std::size_t k = i; k < end; ++k) {
        const Family& family = families_[order[k]];
        if (family.type != first.type) {
          continue;
        }
        for (std::size_t c = family.first_chunk; c != kNone; c = chunks_[c].next) {
          out.append(text_, chunks_[c].begin, chunks_[c].end - chunks_[c].begin);
        }
      }
    }
    i = end;
  }
  return out;
}

}  // namespace nines::collectors
