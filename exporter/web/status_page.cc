#include "exporter/web/status_page.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>

#include "exporter/web/handlers.h"
#include "probes/probe.h"

namespace nines::web {
namespace {

using status::DayRecord;
using status::LatencyRecord;
using status::NginxView;
using status::ProbeState;
using status::ProbeView;
using status::RunRecord;
using status::SloView;
using status::StatusView;

// The palette. Every colour but --line is used for text on --bg somewhere, so each is at
// least 4.5:1 against --bg, which also covers the 3:1 that graphics (bars, lines) need;
// --line only draws borders and the outline of days without runs (graphics, 3:1). Ratios
// are WCAG 2 contrast ratios from relative luminance, light theme against #ffffff, dark
// theme against #0d1117. The state colours never carry meaning alone: states have a text
// label and a symbol, daily bars a height per class and a tooltip, p99 a dashed line.
constexpr std::string_view kStyle =
    ":root {\n"
    "  color-scheme: light dark;\n"
    "  --bg: #ffffff;\n"
    "  --fg: #1f2328;\n"     // 15.80:1
    "  --muted: #59636e;\n"  // 6.11:1
    "  --line: #818b98;\n"   // 3.45:1 (graphics only)
    "  --up: #1a7f37;\n"     // 5.08:1
    "  --warn: #9a6700;\n"   // 4.87:1
    "  --down: #cf222e;\n"   // 5.36:1
    "  --p50: #0969da;\n"    // 5.19:1, also links
    "  --p99: #8250df;\n"    // 5.05:1
    "}\n"
    "@media (prefers-color-scheme: dark) {\n"
    "  :root {\n"
    "    --bg: #0d1117;\n"
    "    --fg: #e6edf3;\n"     // 16.02:1
    "    --muted: #9198a1;\n"  // 6.50:1
    "    --line: #656c76;\n"   // 3.57:1 (graphics only)
    "    --up: #3fb950;\n"     // 7.45:1
    "    --warn: #d29922;\n"   // 7.50:1
    "    --down: #f85149;\n"   // 5.65:1
    "    --p50: #4493f8;\n"    // 6.11:1, also links
    "    --p99: #ab7df8;\n"    // 6.33:1
    "  }\n"
    "}\n"
    R"(* { box-sizing: border-box; }
body {
  margin: 0 auto; max-width: 64rem; padding: 0 1rem 1rem;
  background: var(--bg); color: var(--fg);
  font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
a { color: var(--p50); }
header { border-bottom: 1px solid var(--line); padding: 1rem 0 .5rem; }
footer { border-top: 1px solid var(--line); margin-top: 2rem; padding-top: .5rem; }
header p, footer p { margin: .25rem 0; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 0; overflow-wrap: anywhere; }
section { margin: 1.5rem 0; }
.probe { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; }
.probe-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1rem; }
.meta, .target, .legend, .axis, footer { color: var(--muted); }
.target { margin: .25rem 0 .5rem; overflow-wrap: anywhere; }
.state { font-weight: 700; white-space: nowrap; }
.up { color: var(--up); }
.warn { color: var(--warn); }
.down { color: var(--down); }
.none { color: var(--muted); }
.alert { border: 2px solid var(--down); border-left-width: .5rem; padding: .5rem .75rem; margin: .5rem 0; }
.alert p { margin: 0; }
.alert strong { color: var(--down); }
table { border-collapse: collapse; margin: .5rem 0; font-size: .875rem; }
caption { text-align: left; font-weight: 600; }
th, td { padding: .25rem .75rem .25rem 0; text-align: left; vertical-align: top; }
th:last-child, td:last-child { padding-right: 0; }
thead th { border-bottom: 1px solid var(--line); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
svg { display: block; width: 100%; }
.days { height: 2.5rem; margin-top: .75rem; }
.day-ok { fill: var(--up); }
.day-warn { fill: var(--warn); }
.day-bad { fill: var(--down); }
.day-none { fill: none; stroke: var(--line); stroke-width: 1px; }
.hit { fill: transparent; }
.spark-row { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem 1rem; margin-top: .75rem; }
svg.spark { flex: 1 1 16rem; width: auto; min-width: 0; height: 3rem; }
.spark-row .legend { flex: 0 1 15rem; }
.p50, .p99 { fill: none; stroke-width: 2px; stroke-linejoin: round; stroke-linecap: round; }
.p50 { stroke: var(--p50); }
.p99 { stroke: var(--p99); stroke-dasharray: 4 3; }
.axis { display: flex; justify-content: space-between; font-size: .875rem; }
.legend { display: flex; flex-wrap: wrap; gap: 0 1rem; margin: .25rem 0; font-size: .875rem; }
svg.key { display: inline-block; width: 1.5rem; height: .75rem; vertical-align: middle; }
svg.key-bar { width: .5rem; height: 1rem; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .25rem 1rem; margin: .75rem 0 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
code { font-size: .875em; overflow-wrap: anywhere; }
time { white-space: nowrap; }
meter { width: 6rem; vertical-align: middle; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 30rem) {
  body { padding: 0 .75rem .75rem; }
  .probe { padding: .5rem .75rem; }
  th, td { padding-right: .5rem; }
  dl { grid-template-columns: minmax(0, 1fr); }
  dd { margin-bottom: .5rem; }
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.stack tr { display: block; padding: .25rem 0; border-bottom: 1px solid var(--line); }
  table.stack th, table.stack td { display: flex; justify-content: space-between; gap: 1rem; padding: .125rem 0; text-align: left; }
  table.stack td::before { content: attr(data-label); color: var(--muted); }
}
)";

constexpr std::string_view kCheck = "\u2713";   // ✓
constexpr std::string_view kCross = "\u2715";   // ✕
constexpr std::string_view kDash = "\u2013";    // –
constexpr std::string_view kMiddot = "\u00b7";  // ·
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

constexpr double kSecondsPerDay = 86400;
// A day with failures but at least this availability is drawn as degraded, below as bad.
constexpr double kDegradedDay = 0.99;
// Certificates expiring sooner than this are flagged.
constexpr double kCertWarnDays = 14;
// Error budget below this fraction is flagged (and the meter's `low`).
constexpr double kBudgetLow = 0.25;
constexpr double kBudgetHigh = 0.5;

// Daily bar geometry, in viewBox units: one slot per retained day, newest at the right.
constexpr int kDaySlotWidth = 8;
constexpr int kDayBarWidth = 6;
constexpr int kDayHeight = 40;
// Sparkline geometry: one x unit per 5-minute slot.
constexpr int kSparkHeight = 50;
constexpr double kSparkPad = 3;

// Text for HTML and SVG content and attribute values: valid UTF-8 without controls, then
// escaped.
std::string Esc(std::string_view text) { return HtmlEscape(internal::SanitizeUtf8(text, true)); }

// Percent-encodes everything but RFC 3986's unreserved characters, for a URL query value
// or path segment.
std::string UrlEncode(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
        (byte >= '0' && byte <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", byte);
    }
  }
  return out;
}

double ToSeconds(status::TimePoint time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

std::string DateOfDay(std::int64_t day) {
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day}}};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
}

// A <time> element, or a dash.
std::string TimeElement(double unix_seconds) {
  const std::optional<std::string> text = internal::Rfc3339(unix_seconds);
  if (!text) {
    return std::string(kDash);
  }
  return fmt::format(R"(<time datetime="{0}">{0}</time>)", *text);
}

// A dash that screen readers read as "no data".
std::string NoData() {
  return fmt::format(R"(<span aria-hidden="true">{}</span><span class="vh">no data</span>)", kDash);
}

std::string PercentOrNoData(double ratio) {
  return std::isfinite(ratio) ? FormatPercent(ratio) : NoData();
}

std::string_view ReasonName(probes::FailureReason reason) {
  const std::string_view name = probes::FailureReasonName(reason);
  return name.empty() ? "unknown" : name;
}

struct StateLabel {
  std::string_view css;
  std::string_view text;
  std::string_view symbol;
  std::string_view json;
};

StateLabel LabelOf(ProbeState state) {
  switch (state) {
    case ProbeState::kUp:
      return {"up", "Up", kCheck, "up"};
    case ProbeState::kFailing:
      return {"warn", "Down", "!", "down"};
    case ProbeState::kDown:
      return {"down", "Confirmed down", kCross, "confirmed_down"};
    case ProbeState::kUnknown:
      break;
  }
  return {"none", "No data", "", "unknown"};
}

std::string StateBadge(ProbeState state) {
  const StateLabel label = LabelOf(state);
  std::string out = fmt::format(R"(<span class="state {}">{})", label.css, label.text);
  if (!label.symbol.empty()) {
    out += fmt::format(R"( <span aria-hidden="true">{}</span>)", label.symbol);
  }
  out += "</span>";
  return out;
}

std::string Plural(std::uint64_t count, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", count, count == 1 ? one : many);
}

// The document's head and the opening of its body.
void AppendHead(std::string& out, std::string_view title, const StatusPageOptions& options) {
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n";
  if (options.refresh_seconds > 0) {
    out += fmt::format("<meta http-equiv=\"refresh\" content=\"{}\"/>\n", options.refresh_seconds);
  }
  out += "<title>";
  out += title;
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n";
}

// --- status page pieces ---

void AppendReloadState(std::string& out, const StatusView& view) {
  if (view.last_reload_successful) {
    out += fmt::format(
        R"(<p class="up"><span aria-hidden="true">{}</span> Config loaded OK at {}.</p>)", kCheck,
        TimeElement(view.last_reload_seconds));
  } else {
    out += fmt::format(
        "<div class=\"alert\" role=\"alert\"><p><strong><span aria-hidden=\"true\">{}</span> "
        "The last config reload failed.</strong> nines is running the previous config, "
        "loaded at {}. The log says why.</p></div>",
        kCross, TimeElement(view.last_reload_seconds));
  }
  out += '\n';
}

void AppendSummary(std::string& out, const StatusView& view) {
  if (view.probes.empty()) {
    return;
  }
  std::array<std::uint64_t, 4> counts{};  // up, down, confirmed down, unknown
  for (const ProbeView& probe : view.probes) {
    switch (probe.state) {
      case ProbeState::kUp:
        ++counts[0];
        break;
      case ProbeState::kFailing:
        ++counts[1];
        break;
      case ProbeState::kDown:
        ++counts[2];
        break;
      case ProbeState::kUnknown:
        ++counts[3];
        break;
    }
  }
  constexpr std::array<std::string_view, 4> kNames = {"up", "down", "confirmed down",
                                                      "without data"};
  std::string parts;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) {
      continue;
    }
    if (!parts.empty()) {
      parts += ", ";
    }
    parts += fmt::format("{} {}", counts[i], kNames[i]);
  }
  out += fmt::format("<p>{}: {}.</p>\n", Plural(view.probes.size(), "probe", "probes"), parts);
}

void AppendUptimeTable(std::string& out, const ProbeView& probe) {
  if (probe.uptime.empty()) {
    return;
  }
  out += "<div class=\"scroll\"><table>\n<caption>Uptime</caption>\n<thead><tr>";
  for (const status::UptimeWindow& window : probe.uptime) {
    out += fmt::format(R"(<th scope="col" class="num">{}</th>)", Esc(window.name));
  }
  out += "</tr></thead>\n<tbody><tr>";
  for (const status::UptimeWindow& window : probe.uptime) {
    out += fmt::format(R"(<td class="num">{}</td>)", PercentOrNoData(window.ratio));
  }
  out += "</tr></tbody>\n</table></div>\n";
}

enum class DayClass { kNoRuns, kOk, kDegraded, kBad };

DayClass ClassOf(const DayRecord& day) {
  if (day.runs == 0) {
    return DayClass::kNoRuns;
  }
  if (day.failures == 0) {
    return DayClass::kOk;
  }
  return day.Availability() >= kDegradedDay ? DayClass::kDegraded : DayClass::kBad;
}

// Bar height per class: the worse the day, the shorter its bar, so the bar says it without
// colour; a day without runs is a short outline.
int BarHeight(DayClass day_class) {
  switch (day_class) {
    case DayClass::kOk:
      return kDayHeight;
    case DayClass::kDegraded:
      return kDayHeight * 2 / 3;
    case DayClass::kBad:
      return kDayHeight / 3;
    case DayClass::kNoRuns:
      break;
  }
  return kDayHeight / 5;
}

std::string_view BarClass(DayClass day_class) {
  switch (day_class) {
    case DayClass::kOk:
      return "day-ok";
    case DayClass::kDegraded:
      return "day-warn";
    case DayClass::kBad:
      return "day-bad";
    case DayClass::kNoRuns:
      break;
  }
  return "day-none";
}

std::string DayTooltip(const DayRecord& day) {
  std::string text = DateOfDay(day.day);
  text += ": ";
  if (day.runs == 0) {
    text += "no runs";
    return text;
  }
  text += FormatPercent(day.Availability());
  text += " available, ";
  if (day.failures == 0) {
    text += Plural(day.runs, "run", "runs");
    return text;
  }
  text += fmt::format("{} of {} failed", day.failures, Plural(day.runs, "run", "runs"));
  if (!day.worst_reason.empty()) {
    text += ", worst failure: ";
    text += day.worst_reason;
  }
  return text;
}

// A small SVG sample of a daily bar, for the legend.
std::string BarKey(DayClass day_class) {
  const int height = BarHeight(day_class);
  return fmt::format(
      R"(<svg class="key key-bar" viewBox="0 0 {} {}" preserveAspectRatio="none" aria-hidden="true"><rect class="{}" x="0.5" y="{}" width="{}" height="{}" vector-effect="non-scaling-stroke"/></svg>)",
      kDayBarWidth + 1, kDayHeight + 1, BarClass(day_class), kDayHeight - height + 0.5,
      kDayBarWidth, height);
}

void AppendDays(std::string& out, const ProbeView& probe) {
  if (probe.days.empty()) {
    out += "<p>Daily availability: no runs recorded yet.</p>\n";
    return;
  }
  const auto slots = static_cast<std::int64_t>(status::kHistoryDays);
  const std::int64_t today = probe.days.back().day;
  // Slots left of the first retained day stay empty: the axis always spans kHistoryDays.
  const std::int64_t first_slot_day = today - slots + 1;

  std::array<std::uint64_t, 4> counts{};  // per DayClass
  const DayRecord* lowest = nullptr;
  std::string bars;
  for (const DayRecord& day : probe.days) {
    const std::int64_t slot = day.day - first_slot_day;
    if (slot < 0 || slot >= slots) {
      continue;
    }
    const DayClass day_class = ClassOf(day);
    ++counts[static_cast<std::size_t>(day_class)];
    if (day.runs > 0 && (lowest == nullptr || day.Availability() < lowest->Availability())) {
      lowest = &day;
    }
    const std::int64_t x = slot * kDaySlotWidth;
    const int height = BarHeight(day_class);
    bars += fmt::format(
        "<g><title>{}</title><rect class=\"hit\" x=\"{}\" y=\"0\" width=\"{}\" height=\"{}\"/>",
        Esc(DayTooltip(day)), x, kDaySlotWidth, kDayHeight);
    if (day_class == DayClass::kNoRuns) {
      bars += fmt::format(
          "<rect class=\"day-none\" x=\"{}.5\" y=\"{}.5\" width=\"{}\" height=\"{}\" "
          "vector-effect=\"non-scaling-stroke\"/></g>\n",
          x + 1, kDayHeight - height - 1, kDayBarWidth - 1, height);
    } else {
      bars += fmt::format("<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></g>\n",
                          BarClass(day_class), x + 1, kDayHeight - height, kDayBarWidth, height);
    }
  }

  std::string summary = fmt::format(
      "Daily availability, last {}: {} without failures, {} with failures, {} without runs",
      Plural(probe.days.size(), "day", "days"), counts[static_cast<std::size_t>(DayClass::kOk)],
      counts[static_cast<std::size_t>(DayClass::kDegraded)] +
          counts[static_cast<std::size_t>(DayClass::kBad)],
      counts[static_cast<std::size_t>(DayClass::kNoRuns)]);
  if (lowest != nullptr && lowest->failures > 0) {
    summary += fmt::format("; lowest {} on {}", FormatPercent(lowest->Availability()),
                           DateOfDay(lowest->day));
  }
  summary += '.';

  out += fmt::format(
      "<svg class=\"days\" viewBox=\"0 0 {} {}\" preserveAspectRatio=\"none\" role=\"img\" "
      "aria-label=\"{}\">\n",
      slots * kDaySlotWidth, kDayHeight, Esc(summary));
  out += bars;
  out += "</svg>\n";
  out += fmt::format(
      "<div class=\"axis\" aria-hidden=\"true\"><span>{}</span><span>{} (today, "
      "UTC)</span></div>\n",
      DateOfDay(first_slot_day), DateOfDay(today));
}

// The key to the daily bars, once for the page.
void AppendDaysLegend(std::string& out, const std::vector<ProbeView>& probes) {
  if (std::none_of(probes.begin(), probes.end(),
                   [](const ProbeView& probe) { return !probe.days.empty(); })) {
    return;
  }
  out += fmt::format(
      "<p class=\"legend\"><span>Daily bars, UTC days:</span><span>{} no failures</span>"
      "<span>{} failures, at least {} available</span><span>{} below {}</span>"
      "<span>{} no runs</span><span>Hover a day for its numbers.</span></p>\n",
      BarKey(DayClass::kOk), BarKey(DayClass::kDegraded), FormatPercent(kDegradedDay),
      BarKey(DayClass::kBad), FormatPercent(kDegradedDay), BarKey(DayClass::kNoRuns));
}

std::string LineKey(std::string_view css_class) {
  return fmt::format(
      R"(<svg class="key" viewBox="0 0 24 12" aria-hidden="true"><path class="{}" d="M2 6H22"/></svg>)",
      css_class);
}

void AppendLatency(std::string& out, const ProbeView& probe, double now_seconds) {
  const auto slot_seconds =
      static_cast<double>(std::chrono::seconds(status::kLatencySlotWidth).count());
  const auto slots = static_cast<std::int64_t>(status::kLatencySlots);
  const LatencyRecord* latest = nullptr;
  double max_seconds = 0;
  double peak_p99 = 0;
  for (const LatencyRecord& record : probe.latency) {
    if (record.runs == 0 || !std::isfinite(record.p50_seconds) ||
        !std::isfinite(record.p99_seconds)) {
      continue;
    }
    latest = &record;
    max_seconds = std::max({max_seconds, record.p50_seconds, record.p99_seconds});
    peak_p99 = std::max(peak_p99, record.p99_seconds);
  }
  if (latest == nullptr) {
    out += "<p>Latency: no runs in the last 24 hours.</p>\n";
    return;
  }
  if (max_seconds <= 0) {
    max_seconds = 1e-3;
  }
  // Slot indices are aligned to the epoch, as ProbeHistory's are; the rightmost is now's
  // (or the newest record's, should the view have no time).
  const double anchor = std::isfinite(now_seconds) ? now_seconds : ToSeconds(latest->start);
  const double now_slot = std::floor(anchor / slot_seconds);

  // Runs of consecutive slots, as (x, p50, p99); a gap of slots without runs breaks the line.
  struct Point {
    double x, p50, p99;
  };
  std::vector<std::vector<Point>> segments;
  std::int64_t previous = std::numeric_limits<std::int64_t>::min();
  for (const LatencyRecord& record : probe.latency) {
    if (record.runs == 0 || !std::isfinite(record.p50_seconds) ||
        !std::isfinite(record.p99_seconds)) {
      continue;
    }
    const double index = std::floor(ToSeconds(record.start) / slot_seconds) -
                         (now_slot - static_cast<double>(slots - 1));
    if (!(index >= 0 && index < static_cast<double>(slots))) {
      continue;
    }
    const auto x_index = static_cast<std::int64_t>(index);
    if (segments.empty() || x_index != previous + 1) {
      segments.emplace_back();
    }
    segments.back().push_back({index + 0.5, record.p50_seconds, record.p99_seconds});
    previous = x_index;
  }
  const auto path = [&segments, max_seconds](double Point::*value) {
    std::string d;
    for (const std::vector<Point>& segment : segments) {
      for (std::size_t i = 0; i < segment.size(); ++i) {
        const double y = kSparkHeight - kSparkPad -
                         segment[i].*value / max_seconds * (kSparkHeight - 2 * kSparkPad);
        d += fmt::format("{}{:.1f} {:.1f}", i == 0 ? (d.empty() ? "M" : " M") : "L", segment[i].x,
                         y);
      }
      if (segment.size() == 1) {
        d += "h0";  // a lone slot: a zero-length line, drawn as a dot by the round caps
      }
    }
    return d;
  };

  const std::string title =
      fmt::format("Latency over the last 24 hours, p50 and p99 per 5 minutes; p99 peaked at {}",
                  FormatLatency(peak_p99));
  out += "<div class=\"spark-row\">\n";
  out += fmt::format(
      "<svg class=\"spark\" viewBox=\"0 0 {} {}\" preserveAspectRatio=\"none\" role=\"img\" "
      "aria-label=\"{}\">\n<title>{}</title>\n",
      slots, kSparkHeight, Esc(title), Esc(title));
  out += fmt::format(
      "<path class=\"p99\" d=\"{}\" vector-effect=\"non-scaling-stroke\"/>\n"
      "<path class=\"p50\" d=\"{}\" vector-effect=\"non-scaling-stroke\"/>\n</svg>\n",
      path(&Point::p99), path(&Point::p50));
  out += fmt::format(
      "<p class=\"legend\"><span>Latest 5 minutes, from {}:</span>"
      "<span>{} p50 <strong>{}</strong></span><span>{} p99 <strong>{}</strong></span>"
      "<span>24 h peak p99: {}</span></p>\n</div>\n",
      TimeElement(ToSeconds(latest->start)), LineKey("p50"), FormatLatency(latest->p50_seconds),
      LineKey("p99"), FormatLatency(latest->p99_seconds), FormatLatency(peak_p99));
}

std::string RunSummary(const RunRecord& run) {
  std::string out = TimeElement(ToSeconds(run.time));
  out += ' ';
  out += kMiddot;
  out += ' ';
  if (run.success) {
    out += fmt::format(R"(<span class="up"><span aria-hidden="true">{}</span> success</span>)",
                       kCheck);
  } else {
    out += fmt::format(R"(<span class="down"><span aria-hidden="true">{}</span> failed: {}</span>)",
                       kCross, Esc(ReasonName(run.reason)));
  }
  out += fmt::format(" in {}", FormatLatency(run.duration_seconds));
  return out;
}

std::string CertificateText(double expiry_seconds, double now_seconds) {
  const std::optional<std::string> time = internal::Rfc3339(expiry_seconds);
  // Both within Rfc3339's range, so the day counts below fit their integers.
  if (!time || !internal::Rfc3339(now_seconds)) {
    return NoData();
  }
  const std::string date = time->substr(0, 10);
  const std::string element = fmt::format(R"(<time datetime="{}">{}</time>)", *time, date);
  const double left = expiry_seconds - now_seconds;
  if (left <= 0) {
    const auto ago = static_cast<std::uint64_t>(-left / kSecondsPerDay);
    return fmt::format(
        R"(<span class="down"><span aria-hidden="true">{}</span> expired on {} ({})</span>)",
        kCross, element, ago == 0 ? "today" : Plural(ago, "day ago", "days ago"));
  }
  const auto days = static_cast<std::uint64_t>(left / kSecondsPerDay);
  const std::string in = days == 0 ? std::string("in less than a day")
                                   : fmt::format("in {}", Plural(days, "day", "days"));
  if (left < kCertWarnDays * kSecondsPerDay) {
    return fmt::format(
        R"(<span class="warn"><span aria-hidden="true">!</span> expires soon: {}, {}</span>)",
        element, in);
  }
  return fmt::format("expires {}, {}", element, in);
}

void AppendProbe(std::string& out, const ProbeView& probe, std::size_t index, double now_seconds) {
  out += fmt::format(
      "<section class=\"probe\" aria-labelledby=\"probe-{0}\">\n<div class=\"probe-head\">"
      "<h2 id=\"probe-{0}\">{1}</h2>{2}</div>\n",
      index, Esc(probe.name), StateBadge(probe.state));
  out += fmt::format("<p class=\"target\">{} <code>{}</code></p>\n", Esc(probe.kind),
                     Esc(probe.target));
  AppendUptimeTable(out, probe);
  AppendDays(out, probe);
  AppendLatency(out, probe, now_seconds);

  out += "<dl>\n<dt>Last check</dt><dd>";
  out += probe.last_run ? RunSummary(*probe.last_run) : "no runs yet";
  out += "</dd>\n<dt>Last failure</dt><dd>";
  if (probe.last_failure) {
    out += RunSummary(*probe.last_failure);
    if (!probe.last_failure->detail.empty()) {
      out += fmt::format("<br/><code>{}</code>", Esc(probe.last_failure->detail));
    }
  } else {
    out += "none recorded";
  }
  out += "</dd>\n";
  if (probe.cert_expiry_seconds) {
    out += fmt::format("<dt>Certificate</dt><dd>{}</dd>\n",
                       CertificateText(*probe.cert_expiry_seconds, now_seconds));
  }
  const std::string name = UrlEncode(probe.name);
  out += fmt::format(
      "<dt>More</dt><dd><a href=\"logs?probe={0}\">Recent results and failures</a> {1} "
      "<a href=\"badge/{0}.svg?window={2}\">Uptime badge</a></dd>\n</dl>\n</section>\n",
      name, kMiddot, kDefaultBadgeWindow);
}

std::string BurnRateText(double rate) {
  if (!std::isfinite(rate)) {
    return NoData();
  }
  std::string number =
      rate < 10 ? fmt::format("{:.2f}\u00d7", rate) : fmt::format("{:.1f}\u00d7", rate);
  if (rate > 1) {
    return fmt::format(R"(<span class="warn"><span aria-hidden="true">!</span> {}</span>)", number);
  }
  return number;
}

std::string BudgetText(double budget) {
  if (!std::isfinite(budget)) {
    return NoData();
  }
  const double value = std::clamp(budget, 0.0, 1.0);
  std::string out =
      fmt::format(R"(<meter min="0" max="1" low="{}" high="{}" optimum="1" value="{}">{}</meter> )",
                  kBudgetLow, kBudgetHigh, value, FormatPercent(value));
  if (budget < 0) {
    out += fmt::format(
        R"(<span class="down"><span aria-hidden="true">{}</span> overspent by {}</span>)", kCross,
        FormatPercent(-budget));
  } else if (budget < kBudgetLow) {
    out += fmt::format(R"(<span class="warn"><span aria-hidden="true">!</span> {} left</span>)",
                       FormatPercent(budget));
  } else {
    out += fmt::format("{} left", FormatPercent(budget));
  }
  return out;
}

void AppendSlos(std::string& out, const std::vector<SloView>& slos) {
  out += "<section aria-labelledby=\"slos\">\n<h2 id=\"slos\">Service level objectives</h2>\n";
  if (slos.empty()) {
    out += "<p>No SLOs are configured.</p>\n</section>\n";
    return;
  }
  // On narrow screens each SLO becomes a block of labelled lines (class `stack`); the
  // region stays focusable so that keyboards can scroll it where it is still too wide.
  out +=
      "<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-labelledby=\"slos\">"
      "<table class=\"stack\">\n"
      "<thead><tr><th scope=\"col\">SLO</th>"
      "<th scope=\"col\" class=\"num\">Objective</th><th scope=\"col\" class=\"num\">Actual</th>"
      "<th scope=\"col\">Error budget</th><th scope=\"col\" class=\"num\">Burn rate (1h)</th>"
      "</tr></thead>\n<tbody>\n";
  for (const SloView& slo : slos) {
    std::string actual;
    if (!std::isfinite(slo.sli)) {
      actual = NoData();
    } else if (slo.sli >= slo.objective) {
      actual = fmt::format(R"({} <span class="up"><span aria-hidden="true">{}</span> met</span>)",
                           FormatPercent(slo.sli), kCheck);
    } else {
      actual =
          fmt::format(R"({} <span class="down"><span aria-hidden="true">{}</span> missed</span>)",
                      FormatPercent(slo.sli), kCross);
    }
    out += fmt::format(
        "<tr><th scope=\"row\">{}</th><td class=\"num\" data-label=\"Objective\">{} over {}</td>"
        "<td class=\"num\" data-label=\"Actual\">{}</td><td data-label=\"Error budget\">{}</td>"
        "<td class=\"num\" data-label=\"Burn rate (1h)\">{}</td></tr>\n",
        Esc(slo.name), FormatPercent(slo.objective), Esc(slo.period), actual,
        BudgetText(slo.budget_remaining), BurnRateText(slo.burn_rate_1h));
  }
  out += "</tbody>\n</table></div>\n</section>\n";
}

std::string RateText(double per_second) {
  if (!std::isfinite(per_second)) {
    return NoData();
  }
  if (per_second < 10) {
    return fmt::format("{:.2f}/s", per_second);
  }
  if (per_second < 100) {
    return fmt::format("{:.1f}/s", per_second);
  }
  return fmt::format("{:.0f}/s", per_second);
}

std::string ErrorRatioText(double ratio) {
  if (!std::isfinite(ratio)) {
    return NoData();
  }
  if (ratio > 0 && ratio < 0.0001) {
    return "&lt; 0.01%";
  }
  return FormatPercent(ratio);
}

void AppendNginx(std::string& out, const std::vector<NginxView>& servers) {
  out += "<section aria-labelledby=\"nginx\">\n<h2 id=\"nginx\">nginx</h2>\n";
  if (servers.empty()) {
    out += "<p>No nginx servers are configured.</p>\n</section>\n";
    return;
  }
  out +=
      "<div class=\"scroll\"><table>\n<caption>Last 5 minutes</caption>\n"
      "<thead><tr><th scope=\"col\">Server</th><th scope=\"col\" class=\"num\">Requests</th>"
      "<th scope=\"col\" class=\"num\">Errors (5xx)</th></tr></thead>\n<tbody>\n";
  for (const NginxView& server : servers) {
    out += fmt::format(
        "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        Esc(server.name), RateText(server.requests_per_second), ErrorRatioText(server.error_ratio));
  }
  out += "</tbody>\n</table></div>\n</section>\n";
}

std::string RelativeLink(std::string_view path) {
  while (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  return path.empty() ? std::string("./") : Esc(path);
}

// --- logs ---

// `heading_id` names the scrollable region, as in AppendSlos.
void AppendRunTable(std::string& out, const std::vector<RunRecord>& runs, bool with_result,
                    std::string_view heading_id) {
  out += fmt::format(
      "<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-labelledby=\"{}\"><table>\n"
      "<thead><tr><th scope=\"col\">Time (UTC)</th>",
      heading_id);
  if (with_result) {
    out += "<th scope=\"col\">Result</th>";
  }
  out +=
      "<th scope=\"col\">Reason</th><th scope=\"col\" class=\"num\">Duration</th>"
      "<th scope=\"col\">Detail</th></tr></thead>\n<tbody>\n";
  for (const RunRecord& run : runs) {
    out += fmt::format("<tr><th scope=\"row\">{}</th>", TimeElement(ToSeconds(run.time)));
    if (with_result) {
      out +=
          run.success
              ? fmt::format(R"(<td class="up"><span aria-hidden="true">{}</span> success</td>)",
                            kCheck)
              : fmt::format(R"(<td class="down"><span aria-hidden="true">{}</span> failure</td>)",
                            kCross);
    }
    out += fmt::format(
        "<td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
        run.success ? std::string() : Esc(ReasonName(run.reason)),
        FormatLatency(run.duration_seconds),
        run.detail.empty() ? std::string() : fmt::format("<code>{}</code>", Esc(run.detail)));
  }
  out += "</tbody>\n</table></div>\n";
}

// --- JSON ---

// A small JSON writer: pretty-printed, two spaces per level, keys in call order. Objects
// begun with `one_line` are written on one line (the many small records: days, slots).
class JsonWriter {
 public:
  void BeginObject(bool one_line = false) { Open('{', one_line); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('[', false); }
  void EndArray() { Close(']'); }

  void Key(std::string_view key) {
    Separate();
    out_ += internal::JsonQuote(key);
    out_ += ": ";
    after_key_ = true;
  }
  void String(std::string_view value) {
    BeforeValue();
    out_ += internal::JsonQuote(value);
  }
  void Number(double value) {
    BeforeValue();
    out_ += std::isfinite(value) ? fmt::format("{}", value) : "null";
  }
  void Integer(std::uint64_t value) {
    BeforeValue();
    out_ += fmt::format("{}", value);
  }
  void Bool(bool value) {
    BeforeValue();
    out_ += value ? "true" : "false";
  }
  void Null() {
    BeforeValue();
    out_ += "null";
  }
  // An RFC 3339 string, or null.
  void Time(double unix_seconds) {
    const std::optional<std::string> text = internal::Rfc3339(unix_seconds);
    if (text) {
      String(*text);
    } else {
      Null();
    }
  }
  // The pair every time in the document is written as: `name` (RFC 3339, or null) and
  // `name_seconds` (Unix seconds, or null).
  void TimeFields(std::string_view name, double unix_seconds) {
    Key(name);
    Time(unix_seconds);
    Key(std::string(name) + "_seconds");
    Number(unix_seconds);
  }

  std::string Take() {
    out_ += '\n';
    return std::move(out_);
  }

 private:
  struct Container {
    bool empty = true;  // nothing written in it yet
    bool one_line = false;
  };

  void Open(char bracket, bool one_line) {
    BeforeValue();
    out_ += bracket;
    // Inside a one-line container everything stays on that line.
    open_.push_back({true, one_line || (!open_.empty() && open_.back().one_line)});
  }
  void Close(char bracket) {
    const Container closed = open_.back();
    open_.pop_back();
    if (!closed.empty && !closed.one_line) {
      Newline();
    }
    out_ += bracket;
  }
  void BeforeValue() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    Separate();
  }
  void Separate() {
    if (open_.empty()) {
      return;
    }
    Container& current = open_.back();
    if (!current.empty) {
      out_ += current.one_line ? ", " : ",";
    }
    if (!current.one_line) {
      Newline();
    }
    current.empty = false;
  }
  void Newline() {
    out_ += '\n';
    out_.append(2 * open_.size(), ' ');
  }

  std::string out_;
  std::vector<Container> open_;
  bool after_key_ = false;
};

void WriteRun(JsonWriter& json, const RunRecord& run) {
  const double time = ToSeconds(run.time);
  json.BeginObject();
  json.TimeFields("time", time);
  json.Key("success");
  json.Bool(run.success);
  json.Key("reason");
  if (run.success) {
    json.Null();
  } else {
    json.String(ReasonName(run.reason));
  }
  json.Key("detail");
  json.String(run.detail);
  json.Key("duration_seconds");
  json.Number(run.duration_seconds);
  json.EndObject();
}

void WriteProbe(JsonWriter& json, const ProbeView& probe) {
  json.BeginObject();
  json.Key("name");
  json.String(probe.name);
  json.Key("kind");
  json.String(probe.kind);
  json.Key("target");
  json.String(probe.target);
  json.Key("state");
  json.String(LabelOf(probe.state).json);
  json.Key("uptime");
  json.BeginObject(true);
  for (const status::UptimeWindow& window : probe.uptime) {
    json.Key(window.name);
    json.Number(window.ratio);
  }
  json.EndObject();
  json.Key("days");
  json.BeginArray();
  for (const DayRecord& day : probe.days) {
    json.BeginObject(true);
    json.Key("date");
    json.String(DateOfDay(day.day));
    json.Key("runs");
    json.Integer(day.runs);
    json.Key("failures");
    json.Integer(day.failures);
    json.Key("availability");
    json.Number(day.runs == 0 ? std::numeric_limits<double>::quiet_NaN() : day.Availability());
    json.Key("worst_reason");
    if (day.worst_reason.empty()) {
      json.Null();
    } else {
      json.String(day.worst_reason);
    }
    json.EndObject();
  }
  json.EndArray();
  json.Key("latency");
  json.BeginArray();
  for (const LatencyRecord& record : probe.latency) {
    const double start = ToSeconds(record.start);
    json.BeginObject(true);
    json.TimeFields("start", start);
    json.Key("runs");
    json.Integer(record.runs);
    json.Key("p50_seconds");
    json.Number(record.p50_seconds);
    json.Key("p99_seconds");
    json.Number(record.p99_seconds);
    json.EndObject();
  }
  json.EndArray();
  json.Key("last_run");
  if (probe.last_run) {
    WriteRun(json, *probe.last_run);
  } else {
    json.Null();
  }
  json.Key("last_failure");
  if (probe.last_failure) {
    WriteRun(json, *probe.last_failure);
  } else {
    json.Null();
  }
  const double expiry =
      probe.cert_expiry_seconds.value_or(std::numeric_limits<double>::quiet_NaN());
  json.TimeFields("cert_expiry", expiry);
  json.EndObject();
}

// --- badge ---

// Verdana's advance widths for ' ' to '~', in units of 1/2048 em.
constexpr std::array<int, 95> kVerdanaWidths = {
    720,  821,  1067, 1876, 1423, 2434, 1640, 600,  1024, 1024, 1423, 1876, 720,  1024, 720,  1024,
    1423, 1423, 1423, 1423, 1423, 1423, 1423, 1423, 1423, 1423, 1024, 1024, 1876, 1876, 1876, 1219,
    2048, 1401, 1405, 1431, 1577, 1294, 1178, 1587, 1540, 862,  1024, 1415, 1145, 1714, 1532, 1617,
    1241, 1617, 1426, 1401, 1257, 1499, 1401, 2025, 1403, 1255, 1405, 1024, 1024, 1024, 1876, 1423,
    1423, 1229, 1276, 1067, 1276, 1208, 720,  1276, 1296, 562,  721,  1186, 562,  1992, 1296, 1243,
    1276, 1276, 874,  1067, 807,  1296, 1186, 1665, 1186, 1186, 1067, 1270, 1024, 1270, 1876};

constexpr double kBadgeFontSize = 11;
constexpr int kBadgePadding = 5;  // each side of each text, as shields.io's flat style

struct BadgeColor {
  double at_least;
  std::string_view color;
};
// White text on each: 5.08, 5.12, 4.87, 5.36:1.
constexpr std::array<BadgeColor, 4> kBadgeColors = {{
    {0.999, "#1a7f37"},
    {0.99, "#4d7a00"},
    {0.95, "#9a6700"},
    {-std::numeric_limits<double>::infinity(), "#cf222e"},
}};
constexpr std::string_view kBadgeNoData = "#59636e";  // 6.11:1
constexpr std::string_view kBadgeLabel = "#555";      // 7.46:1

constexpr std::array<std::string_view, 5> kWindows = {"1h", "24h", "7d", "30d", "90d"};

}  // namespace

// --- public ---

std::string StatusPageStyle() { return std::string(kStyle); }

std::string StatusPageStyleHash() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(kStyle.data(), kStyle.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
      1) {
    return {};
  }
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> base64{};
  const int written = EVP_EncodeBlock(base64.data(), digest.data(), static_cast<int>(length));
  std::string out = "sha256-";
  out.append(reinterpret_cast<const char*>(base64.data()), static_cast<std::size_t>(written));
  return out;
}

std::string StatusPageContentSecurityPolicy() {
  const std::string hash = StatusPageStyleHash();
  // Without a hash (OpenSSL failed) no style is allowed: an unstyled page, still safe.
  std::string style = hash.empty() ? "'none'" : fmt::format("'{}'", hash);
  return fmt::format(
      "default-src 'none'; style-src {}; img-src 'self'; base-uri 'none'; "
      "form-action 'none'; frame-ancestors 'none'",
      style);
}

std::string RenderStatusPage(const StatusView& view, const StatusPageOptions& options) {
  std::string out;
  out.reserve(16384 + view.probes.size() * 16384);
  AppendHead(out, "nines status", options);
  out += "<header>\n<h1>nines status</h1>\n";
  const double uptime = view.now_seconds - view.started_seconds;
  out += fmt::format("<p class=\"meta\">nines {} {} up {} {} as of {}</p>\n", Esc(view.version),
                     kMiddot, FormatDurationShort(uptime), kMiddot, TimeElement(view.now_seconds));
  AppendReloadState(out, view);
  AppendSummary(out, view);
  AppendDaysLegend(out, view.probes);
  out += "</header>\n<main>\n";
  if (view.probes.empty()) {
    out +=
        "<section aria-labelledby=\"probes\">\n<h2 id=\"probes\">Probes</h2>\n"
        "<p>No probes are configured.</p>\n</section>\n";
  }
  for (std::size_t i = 0; i < view.probes.size(); ++i) {
    AppendProbe(out, view.probes[i], i, view.now_seconds);
  }
  AppendSlos(out, view.slos);
  AppendNginx(out, view.nginx);
  out +=
      "</main>\n<footer>\n<p>The same data as JSON: <a href=\"api/v1/status\">api/v1/status</a> ";
  out += kMiddot;
  out += fmt::format(" <a href=\"{}\">Metrics</a>", RelativeLink(options.telemetry_path));
  if (options.refresh_seconds > 0) {
    out += fmt::format(" {} This page reloads every {} s.", kMiddot, options.refresh_seconds);
  }
  out += "</p>\n</footer>\n</body>\n</html>\n";
  return out;
}

std::string RenderLogs(const ProbeView& probe, const std::vector<RunRecord>& recent,
                       const std::vector<RunRecord>& failures, const StatusPageOptions& options) {
  std::string out;
  const std::string name = Esc(probe.name);
  std::string title = name;
  title += " ";
  title += kMiddot;
  title += " nines logs";
  AppendHead(out, title, options);
  out += fmt::format(
      "<header>\n<p><a href=\"./\">All probes</a></p>\n<h1>Logs of {}</h1>\n"
      "<p class=\"target\">{} <code>{}</code> {} {}</p>\n</header>\n<main>\n",
      name, Esc(probe.kind), Esc(probe.target), kMiddot, StateBadge(probe.state));
  out += "<section aria-labelledby=\"recent\">\n<h2 id=\"recent\">Last results</h2>\n";
  out += fmt::format("<p class=\"meta\">Newest first; the last {} runs are kept.</p>\n",
                     status::kRecentResults);
  if (recent.empty()) {
    out += "<p>No runs yet.</p>\n";
  } else {
    AppendRunTable(out, recent, true, "recent");
  }
  out +=
      "</section>\n<section aria-labelledby=\"failures\">\n"
      "<h2 id=\"failures\">Last failures</h2>\n";
  out += fmt::format(
      "<p class=\"meta\">Newest first; the last {} failures are kept apart from the results, "
      "so a run of successes does not push them out.</p>\n",
      status::kRecentFailures);
  if (failures.empty()) {
    out += "<p>No failures recorded.</p>\n";
  } else {
    AppendRunTable(out, failures, false, "failures");
  }
  out += "</section>\n</main>\n</body>\n</html>\n";
  return out;
}

std::string RenderStatusJson(const StatusView& view) {
  JsonWriter json;
  json.BeginObject();
  json.Key("version");
  json.String(view.version);
  json.TimeFields("time", view.now_seconds);
  json.TimeFields("started", view.started_seconds);
  json.Key("uptime_seconds");
  json.Number(view.now_seconds - view.started_seconds);
  json.Key("config");
  json.BeginObject();
  json.Key("last_reload_successful");
  json.Bool(view.last_reload_successful);
  json.TimeFields("last_reload", view.last_reload_seconds);
  json.EndObject();
  json.Key("probes");
  json.BeginArray();
  for (const ProbeView& probe : view.probes) {
    WriteProbe(json, probe);
  }
  json.EndArray();
  json.Key("slos");
  json.BeginArray();
  for (const SloView& slo : view.slos) {
    json.BeginObject();
    json.Key("name");
    json.String(slo.name);
    json.Key("period");
    json.String(slo.period);
    json.Key("objective");
    json.Number(slo.objective);
    json.Key("sli");
    json.Number(slo.sli);
    json.Key("error_budget_remaining");
    json.Number(slo.budget_remaining);
    json.Key("burn_rate_1h");
    json.Number(slo.burn_rate_1h);
    json.EndObject();
  }
  json.EndArray();
  json.Key("nginx");
  json.BeginArray();
  for (const NginxView& server : view.nginx) {
    json.BeginObject();
    json.Key("name");
    json.String(server.name);
    json.Key("requests_per_second");
    json.Number(server.requests_per_second);
    json.Key("error_ratio");
    json.Number(server.error_ratio);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.Take();
}

std::string RenderBadge(const ProbeView& probe, std::string_view window) {
  double ratio = std::numeric_limits<double>::quiet_NaN();
  for (const status::UptimeWindow& uptime : probe.uptime) {
    if (uptime.name == window) {
      ratio = uptime.ratio;
      break;
    }
  }
  std::string label = "uptime ";
  label += internal::SanitizeUtf8(window, true);
  std::string value = "no data";
  std::string_view color = kBadgeNoData;
  if (std::isfinite(ratio)) {
    value = FormatPercent(ratio);
    for (const BadgeColor& threshold : kBadgeColors) {
      if (ratio >= threshold.at_least) {
        color = threshold.color;
        break;
      }
    }
  }
  const double label_text = std::round(internal::BadgeTextWidth(label));
  const double value_text = std::round(internal::BadgeTextWidth(value));
  const double label_width = label_text + 2 * kBadgePadding;
  const double value_width = value_text + 2 * kBadgePadding;
  const double width = label_width + value_width;
  std::string title = internal::SanitizeUtf8(probe.name, true);
  title += ": ";
  title += label;
  title += ' ';
  title += value;
  const std::string escaped_label = HtmlEscape(label);

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"20\" role=\"img\" "
      "aria-label=\"{1}\">\n<title>{1}</title>\n"
      "<linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" "
      "stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\n"
      "<clipPath id=\"r\"><rect width=\"{0}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\n"
      "<g clip-path=\"url(#r)\"><rect width=\"{2}\" height=\"20\" fill=\"{3}\"/>"
      "<rect x=\"{2}\" width=\"{4}\" height=\"20\" fill=\"{5}\"/>"
      "<rect width=\"{0}\" height=\"20\" fill=\"url(#s)\"/></g>\n",
      width, HtmlEscape(title), label_width, kBadgeLabel, value_width, color);
  out += fmt::format(
      "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu "
      "Sans,sans-serif\" "
      "text-rendering=\"geometricPrecision\" font-size=\"{}\">\n",
      kBadgeFontSize);
  for (const auto& [text, center, length] :
       {std::tuple{std::string_view(escaped_label), label_width / 2, label_text},
        std::tuple{std::string_view(value), label_width + value_width / 2, value_text}}) {
    out += fmt::format(
        "<text aria-hidden=\"true\" x=\"{0}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\" "
        "textLength=\"{1}\">{2}</text><text x=\"{0}\" y=\"14\" textLength=\"{1}\">{2}</text>\n",
        center, length, text);
  }
  out += "</g>\n</svg>\n";
  return out;
}

bool IsUptimeWindow(std::string_view window) {
  return std::find(kWindows.begin(), kWindows.end(), window) != kWindows.end();
}

std::optional<int> ParseRefreshSeconds(std::string_view value) {
  if (value.empty() || value.size() > 4) {
    return std::nullopt;
  }
  int seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    seconds = seconds * 10 + (c - '0');
  }
  if (seconds < kMinRefreshSeconds || seconds > kMaxRefreshSeconds) {
    return std::nullopt;
  }
  return seconds;
}

std::string FormatPercent(double ratio) {
  if (!std::isfinite(ratio)) {
    return std::string(kDash);
  }
  std::string sign;
  if (ratio < 0) {
    sign = "-";
    ratio = -ratio;
  }
  const double percent = ratio * 100;
  // Four decimals from 99.99% so that 99.999% shows its nines; two otherwise.
  const int decimals = percent + 1e-9 >= 99.99 && ratio < 1 ? 4 : 2;
  const double scale = decimals == 4 ? 1e4 : 1e2;
  // Truncate; the epsilon absorbs representation error (0.999 * 100 = 99.89999...).
  double scaled = std::floor(percent * scale + 1e-6);
  if (ratio < 1 && scaled >= 100 * scale) {
    scaled = 100 * scale - 1;
  }
  std::string text = fmt::format("{:.{}f}", scaled / scale, decimals);
  while (text.back() == '0') {
    text.pop_back();
  }
  if (text.back() == '.') {
    text.pop_back();
  }
  return sign + text + "%";
}

std::string FormatDurationShort(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return std::string(kDash);
  }
  if (seconds >= 1e15) {
    return fmt::format("{:.0f}d", std::floor(seconds / kSecondsPerDay));
  }
  const auto total = static_cast<std::uint64_t>(seconds);
  struct Unit {
    std::uint64_t seconds;
    char name;
  };
  constexpr std::array<Unit, 4> kUnits = {{{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}};
  for (std::size_t i = 0; i < kUnits.size(); ++i) {
    const std::uint64_t major = total / kUnits[i].seconds;
    if (major == 0 && i + 1 < kUnits.size()) {
      continue;
    }
    std::string out = fmt::format("{}{}", major, kUnits[i].name);
    if (i + 1 < kUnits.size()) {
      const std::uint64_t minor = total % kUnits[i].seconds / kUnits[i + 1].seconds;
      if (minor != 0) {
        out += fmt::format(" {}{}", minor, kUnits[i + 1].name);
      }
    }
    return out;
  }
  return "0s";
}

std::string FormatLatency(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return std::string(kDash);
  }
  const double ms = seconds * 1000;
  if (ms < 1) {
    return fmt::format("{:.2f} ms", ms);
  }
  if (ms < 9.95) {
    return fmt::format("{:.1f} ms", ms);
  }
  if (ms < 999.5) {
    return fmt::format("{:.0f} ms", ms);
  }
  if (seconds < 9.995) {
    return fmt::format("{:.2f} s", seconds);
  }
  return fmt::format("{:.1f} s", seconds);
}

namespace internal {

namespace {

// The length of the valid UTF-8 sequence at `text[i]`, or 0 when it is invalid, with
// `*skip` set to the length of its maximal invalid subpart (Unicode 15, section 3.9).
std::size_t SequenceLength(std::string_view text, std::size_t i, std::size_t* skip) {
  const auto lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) {
    return 1;
  }
  std::size_t continuation = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation = 1;
  } else if (lead == 0xE0) {
    continuation = 2;
    low = 0xA0;
  } else if (lead == 0xED) {
    continuation = 2;
    high = 0x9F;  // no surrogates
  } else if (lead >= 0xE1 && lead <= 0xEF) {
    continuation = 2;
  } else if (lead == 0xF0) {
    continuation = 3;
    low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    continuation = 3;
  } else if (lead == 0xF4) {
    continuation = 3;
    high = 0x8F;  // nothing above U+10FFFF
  } else {
    *skip = 1;
    return 0;
  }
  for (std::size_t k = 1; k <= continuation; ++k) {
    if (i + k >= text.size()) {
      *skip = k;
      return 0;
    }
    const auto byte = static_cast<unsigned char>(text[i + k]);
    if (byte < (k == 1 ? low : 0x80) || byte > (k == 1 ? high : 0xBF)) {
      *skip = k;
      return 0;
    }
  }
  return continuation + 1;
}

}  // namespace

std::string SanitizeUtf8(std::string_view text, bool for_markup) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t skip = 0;
    const std::size_t length = SequenceLength(text, i, &skip);
    if (length == 0) {
      out += kReplacement;
      i += skip;
      continue;
    }
    const std::string_view sequence = text.substr(i, length);
    i += length;
    if (for_markup) {
      const auto lead = static_cast<unsigned char>(sequence[0]);
      const bool c0 = length == 1 && lead < 0x20 && lead != '\t' && lead != '\n' && lead != '\r';
      const bool del_or_c1 =
          (length == 1 && lead == 0x7F) ||
          (length == 2 && lead == 0xC2 && static_cast<unsigned char>(sequence[1]) < 0xA0);
      const bool nonchar = sequence == "\xEF\xBF\xBE" || sequence == "\xEF\xBF\xBF";
      if (c0 || del_or_c1 || nonchar) {
        out += kReplacement;
        continue;
      }
    }
    out += sequence;
  }
  return out;
}

std::string JsonQuote(std::string_view text) {
  const std::string valid = SanitizeUtf8(text, false);
  std::string out;
  out.reserve(valid.size() + 2);
  out += '"';
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const char c = valid[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else if (valid.compare(i, 3, "\u2028") == 0 || valid.compare(i, 3, "\u2029") == 0) {
          // Valid JSON either way; escaped so the text can be pasted into JavaScript.
          out += valid[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::optional<std::string> Rfc3339(double unix_seconds) {
  // 9999-12-31T23:59:59Z
  constexpr double kLast = 253402300799;
  if (!std::isfinite(unix_seconds) || unix_seconds < 0 || unix_seconds >= kLast + 1) {
    return std::nullopt;
  }
  const auto seconds = static_cast<std::int64_t>(std::floor(unix_seconds));
  const std::int64_t day = seconds / 86400;
  const std::int64_t of_day = seconds % 86400;
  return fmt::format("{}T{:02}:{:02}:{:02}Z", DateOfDay(day), of_day / 3600, of_day % 3600 / 60,
                     of_day % 60);
}

double BadgeTextWidth(std::string_view text) {
  double units = 0;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 && byte < 0xC0) {
      continue;  // a UTF-8 continuation byte: its character was counted at its lead byte
    }
    units += byte >= 0x20 && byte < 0x7F ? kVerdanaWidths[byte - 0x20] : kVerdanaWidths['0' - 0x20];
  }
  return units * kBadgeFontSize / 2048;
}

}  // namespace internal

}  // namespace nines::web
