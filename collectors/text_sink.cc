#include "collectors/text_sink.h"

#include <spdlog/spdlog.h>

#include <functional>
#include <limits>
#include <string>

#include "collectors/exposition.h"

namespace nines::collectors {
namespace {

constexpr std::size_t kInitialSlots = 64;  // a power of two, enough for most collectors

// `name<suffix>{labels[,le="<bound>"]} ` up to the value.
void AppendSeries(std::string_view name, std::string_view suffix, const Labels& labels,
                  const double* le, std::string& out) {
  out += name;
  out += suffix;
  bool first = true;
  for (const auto& [label_name, label_value] : labels) {
    AppendLabel(label_name, label_value, first, out);
    first = false;
  }
  if (le != nullptr) {
    out += first ? "{le=\"" : ",le=\"";
    AppendValue(*le, out);
    out += '"';
    first = false;
  }
  if (!first) {
    out += '}';
  }
  out += ' ';
}

void AppendLine(std::string_view name, std::string_view suffix, const Labels& labels,
                const double* le, double value, std::string& out) {
  AppendSeries(name, suffix, labels, le, out);
  AppendValue(value, out);
  out += '\n';
}

}  // namespace

TextSink::TextSink(TextFamilies& out) : out_(out), mark_(out.GetMark()) {}

void TextSink::Discard() {
  out_.Rollback(mark_);
  families_.clear();
  slots_.clear();
}

void TextSink::AddValue(std::string_view name, std::string_view help, prometheus::MetricType type,
                        double value, const Labels& labels) {
  TextFamilies::FamilyId family = 0;
  if (!Family(name, help, type, family)) {
    return;
  }
  out_.AddSample(family,
                 [&](std::string& out) { AppendLine(name, "", labels, nullptr, value, out); });
}

void TextSink::AddHistogram(std::string_view name, std::string_view help,
                            std::span<const double> upper_bounds,
                            std::span<const std::uint64_t> cumulative_counts, double sum,
                            std::uint64_t count, const Labels& labels) {
  TextFamilies::FamilyId family = 0;
  if (!Family(name, help, prometheus::MetricType::Histogram, family)) {
    return;
  }
  out_.AddSample(family, [&](std::string& out) {
    for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
      AppendLine(name, "_bucket", labels, &upper_bounds[i],
                 static_cast<double>(cumulative_counts[i]), out);
    }
    const double inf = std::numeric_limits<double>::infinity();
    AppendLine(name, "_bucket", labels, &inf, static_cast<double>(count), out);
    AppendLine(name, "_sum", labels, nullptr, sum, out);
    AppendLine(name, "_count", labels, nullptr, static_cast<double>(count), out);
  });
}

bool TextSink::Family(std::string_view name, std::string_view help, prometheus::MetricType type,
                      TextFamilies::FamilyId& family) {
  if (slots_.empty()) {
    slots_.assign(kInitialSlots, 0);
  }
  std::size_t slot = Slot(name);
  if (slots_[slot] != 0) {
    family = families_[slots_[slot] - 1];
    if (out_.Type(family) != type) {
      spdlog::error("metric {}: a sample of another type than its family's; dropped", name);
      return false;
    }
    return true;
  }
  family = out_.AddFamily(name, help, type);
  families_.push_back(family);
  slots_[slot] = families_.size();
  // At most half full, so that probe sequences stay short.
  if (families_.size() * 2 > slots_.size()) {
    Grow();
  }
  return true;
}

std::size_t TextSink::Slot(std::string_view name) const {
  const std::size_t mask = slots_.size() - 1;
  const std::size_t hash = std::hash<std::string_view>{}(name);
  for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    if (slots_[slot] == 0 || out_.Name(families_[slots_[slot] - 1]) == name) {
      return slot;
    }
  }
}

void TextSink::Grow() {
  slots_.assign(slots_.size() * 2, 0);
  for (std::size_t i = 0; i < families_.size(); ++i) {
    slots_[Slot(out_.Name(families_[i]))] = i + 1;
  }
}

}  // namespace nines::collectors
