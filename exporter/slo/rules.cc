#include "exporter/slo/rules.h"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <set>
#include <system_error>
#include <utility>

namespace nines::slo {
namespace {

using config::Duration;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;

// The series the SLI rules read (DESIGN.md's metric contract).
constexpr std::string_view kEventsMetric = "nines_slo_events_total";
constexpr std::string_view kErrorsMetric = "nines_slo_errors_total";

// The windows every SLO gets an SLI recording for (those no longer than its period): the
// alert windows, as sloth records them.
constexpr std::array<Duration, 7> kSliWindows = {minutes(5), minutes(30), hours(1), hours(2),
                                                 hours(6),   days(1),     days(3)};

struct ConditionSpec {
  Severity severity;
  int budget_percent;
  Duration long_window;
  Duration short_window;
};

// The Google SRE workbook's multi-window, multi-burn-rate alerts (chapter "Alerting on
// SLOs"), defined by the budget they spend rather than by their 30d factors.
constexpr std::array<ConditionSpec, 4> kConditions = {{
    {Severity::kPage, 2, hours(1), minutes(5)},
    {Severity::kPage, 5, hours(6), minutes(30)},
    {Severity::kTicket, 10, days(1), hours(2)},
    {Severity::kTicket, 10, days(3), hours(6)},
}};

BurnRateCondition MakeCondition(const ConditionSpec& spec, Duration period) {
  // period / long_window reduced to lowest terms first, so the usual periods give exact
  // decimals (30d: 2 * 720 / 100 = 14.4, not 14.400000000000002).
  std::int64_t divisor = std::gcd(period.count(), spec.long_window.count());
  std::int64_t periods = period.count() / divisor;  // exact: divisor divides both
  std::int64_t longs = spec.long_window.count() / divisor;
  double factor =
      spec.budget_percent * static_cast<double>(periods) / (100 * static_cast<double>(longs));
  return {spec.severity, spec.budget_percent, spec.long_window, spec.short_window, factor};
}

// Shortest decimal that reads back as `value`, never in exponent form (PromQL and people
// read 0.00001 more easily than 1e-05).
std::string FormatNumber(double value) {
  std::array<char, 400> buffer{};
  auto result =
      std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::fixed);
  return {buffer.data(), result.ptr};
}

// `value` rounded to 12 significant digits: objectives are written in decimal, and
// 1 - 0.999 should read 0.001, not 0.0010000000000000009.
double Snap(double value) {
  std::array<char, 64> buffer{};
  auto written = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                               std::chars_format::general, 12);
  double snapped = value;
  std::from_chars(buffer.data(), written.ptr, snapped);
  return snapped;
}

// A burn-rate factor for people: at most two decimals (14.4, 13.44, 0.93, 1).
std::string FormatFactor(double factor) {
  std::array<char, 400> buffer{};
  auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), factor,
                              std::chars_format::fixed, 2);
  std::string text(buffer.data(), result.ptr);
  while (text.back() == '0') {
    text.pop_back();
  }
  if (text.back() == '.') {
    text.pop_back();
  }
  return text;
}

// The next code point of `text` at `*pos`, advancing past it; U+FFFD for a byte that does
// not start a valid UTF-8 sequence (then only that byte is consumed), so escapers treat
// broken input the same way everywhere and the output stays valid UTF-8.
char32_t NextCodePoint(std::string_view text, std::size_t* pos) {
  constexpr char32_t kReplacement = 0xFFFD;
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(*pos);
  if (lead < 0x80) {
    ++*pos;
    return lead;
  }
  std::size_t length = 0;
  char32_t code = 0;
  char32_t min = 0;
  if ((lead & 0xE0U) == 0xC0U) {
    length = 2;
    code = lead & 0x1FU;
    min = 0x80;
  } else if ((lead & 0xF0U) == 0xE0U) {
    length = 3;
    code = lead & 0x0FU;
    min = 0x800;
  } else if ((lead & 0xF8U) == 0xF0U) {
    length = 4;
    code = lead & 0x07U;
    min = 0x10000;
  } else {
    ++*pos;
    return kReplacement;
  }
  if (*pos + length > text.size()) {
    ++*pos;
    return kReplacement;
  }
  for (std::size_t i = 1; i < length; ++i) {
    unsigned char next = byte(*pos + i);
    if ((next & 0xC0U) != 0x80U) {
      ++*pos;
      return kReplacement;
    }
    code = (code << 6U) | (next & 0x3FU);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
    ++*pos;
    return kReplacement;
  }
  *pos += length;
  return code;
}

void AppendUtf8(char32_t code, std::string* out) {
  if (code < 0x80) {
    out->push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out->push_back(static_cast<char>(0xC0U | (code >> 6U)));
    out->push_back(static_cast<char>(0x80U | (code & 0x3FU)));
  } else if (code < 0x10000) {
    out->push_back(static_cast<char>(0xE0U | (code >> 12U)));
    out->push_back(static_cast<char>(0x80U | ((code >> 6U) & 0x3FU)));
    out->push_back(static_cast<char>(0x80U | (code & 0x3FU)));
  } else {
    out->push_back(static_cast<char>(0xF0U | (code >> 18U)));
    out->push_back(static_cast<char>(0x80U | ((code >> 12U) & 0x3FU)));
    out->push_back(static_cast<char>(0x80U | ((code >> 6U) & 0x3FU)));
    out->push_back(static_cast<char>(0x80U | (code & 0x3FU)));
  }
}

// Code points YAML does not allow unescaped (outside its printable set), and the invalid
// input NextCodePoint turned into U+FFFD so both escapers can spell it out. Tab is left to
// the callers.
bool NeedsEscape(char32_t code) {
  return code < 0x20 || code == 0x7F || (code >= 0x80 && code <= 0x9F) || code == 0xFEFF ||
         code == 0xFFFE || code == 0xFFFF;
}

void AppendHexEscape(char32_t code, std::string* out) {
  constexpr std::string_view kHex = "0123456789abcdef";
  int digits = code < 0x100 ? 2 : (code < 0x10000 ? 4 : 8);
  out->push_back('\\');
  out->push_back(digits == 2 ? 'x' : (digits == 4 ? 'u' : 'U'));
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out->push_back(kHex[(code >> static_cast<unsigned>(shift)) & 0xFU]);
  }
}

// Escapes shared by PromQL (Go's) and YAML double-quoted strings; `\xNN` means the code
// point U+00NN in YAML, so only code points below 0x100 use it, never raw bytes.
std::string DoubleQuoted(std::string_view text) {
  std::string out = "\"";
  for (std::size_t pos = 0; pos < text.size();) {
    char32_t code = NextCodePoint(text, &pos);
    switch (code) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
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
        // Prometheus' lexer rejects U+FFFD itself in a string, so it is always escaped.
        if (NeedsEscape(code) || code == 0xFFFD) {
          AppendHexEscape(code, &out);
        } else {
          AppendUtf8(code, &out);
        }
    }
  }
  out += '"';
  return out;
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Whether a plain scalar would be read as something other than a string (null, a YAML 1.1
// or 1.2 boolean, a number, a timestamp): such label values must be quoted, or a
// PrometheusRule applied with kubectl fails its schema (labels are strings).
bool ResolvesToNonString(std::string_view text) {
  static const std::set<std::string, std::less<>> kWords = {
      "~", "null", "true", "false", "yes",   "no",    "y",
      "n", "on",   "off",  ".inf",  "+.inf", "-.inf", ".nan"};
  if (kWords.contains(Lowercase(text))) {
    return true;
  }
  std::string_view rest = text;
  if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) {
    rest.remove_prefix(1);
  }
  if (rest.starts_with(".")) {
    rest.remove_prefix(1);
  }
  if (rest.empty() || !IsDigit(rest.front())) {
    return false;
  }
  if (rest.starts_with("0x") || rest.starts_with("0o") || rest.starts_with("0b")) {
    return true;
  }
  return rest.find_first_not_of("0123456789+-._:eE") == std::string_view::npos;
}

// Whether `text` can be written as a plain YAML scalar and read back unchanged, as a
// string. Deliberately narrow: printable ASCII words and sentences.
bool IsPlainSafe(std::string_view text) {
  if (text.empty() || text.front() == ' ' || text.back() == ' ' || text.back() == ':') {
    return false;
  }
  char first = text.front();
  if (!IsAsciiAlnum(first) && first != '_' && first != '.' && first != '/' && first != '(') {
    return false;
  }
  constexpr std::string_view kAllowed = " _./-:()%,+=<>@";
  for (char c : text) {
    if (!IsAsciiAlnum(c) && kAllowed.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return text.find(": ") == std::string_view::npos && !ResolvesToNonString(text);
}

// `text` as a one-line YAML scalar: plain when that is safe, else single-quoted, else
// (control characters and the like) double-quoted with escapes.
std::string YamlScalar(std::string_view text) {
  if (IsPlainSafe(text)) {
    return std::string(text);
  }
  bool single_ok = true;
  for (std::size_t pos = 0; pos < text.size() && single_ok;) {
    char32_t code = NextCodePoint(text, &pos);
    single_ok = !NeedsEscape(code) && code != 0xFFFD;
  }
  if (!single_ok) {
    return DoubleQuoted(text);
  }
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') {
      out += '\'';
    }
  }
  out += '\'';
  return out;
}

// Alert labels and annotations are Go templates in Prometheus: a literal `{{` must be
// printed by a template action.
std::string TemplateLiteral(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  for (std::size_t at = text.find("{{"); at != std::string_view::npos;
       at = text.find("{{", start)) {
    out.append(text.substr(start, at - start));
    out += R"({{ "{{" }})";
    start = at + 2;
  }
  out.append(text.substr(start));
  return out;
}

// A comment's text, on one line and printable.
std::string CommentText(std::string_view text) {
  std::string out;
  for (std::size_t pos = 0; pos < text.size();) {
    char32_t code = NextCodePoint(text, &pos);
    if (NeedsEscape(code) || code == 0xFFFD || code == '\t') {
      out += '?';
    } else {
      AppendUtf8(code, &out);
    }
  }
  return out;
}

// Writes YAML line by line at a base indentation (2 under a PrometheusRule's `spec:`).
// Sequences sit at their key's indentation, as Prometheus' and sloth's rule files write
// them.
class YamlWriter {
 public:
  explicit YamlWriter(int base) : base_(base) {}

  void Line(int indent, std::string_view text) {
    out_.append(static_cast<std::size_t>(base_) + static_cast<std::size_t>(indent), ' ');
    out_.append(text);
    out_ += '\n';
  }
  void Comment(int indent, std::string_view text) {
    std::string line = "# ";
    line += CommentText(text);
    Line(indent, line);
  }
  // `key: value` with the value quoted as needed.
  void Field(int indent, std::string_view key, std::string_view value) {
    std::string line(key);
    line += ": ";
    line += YamlScalar(value);
    Line(indent, line);
  }
  // An expression: a plain scalar when it is short and simple, else a literal block.
  void Expr(int indent, std::string_view expr) {
    if (expr.find('\n') == std::string_view::npos && IsPlainSafe(expr)) {
      Field(indent, "expr", expr);
      return;
    }
    Line(indent, "expr: |");
    std::size_t start = 0;
    while (start <= expr.size()) {
      std::size_t end = expr.find('\n', start);
      if (end == std::string_view::npos) {
        end = expr.size();
      }
      Line(indent + 2, expr.substr(start, end - start));
      start = end + 1;
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  int base_;
  std::string out_;
};

// What every rule of one SLO shares.
struct SloFacts {
  const config::Slo* slo = nullptr;
  std::string service;
  std::string id;
  std::string selector;  // {sloth_id="...", sloth_service="...", sloth_slo="..."}
  std::string period;    // the period as a window: 30d
  double objective_ratio = 0;
  double error_budget = 0;
  std::vector<BurnRateCondition> conditions;
  std::vector<BurnRateCondition> dropped;
};

SloFacts Facts(const config::Slo& slo) {
  SloFacts facts;
  facts.slo = &slo;
  facts.service = SlothService(slo);
  facts.id = facts.service;
  facts.id += '-';
  facts.id += slo.name;
  facts.selector = "{sloth_id=";
  facts.selector += PromQlString(facts.id);
  facts.selector += ", sloth_service=";
  facts.selector += PromQlString(facts.service);
  facts.selector += ", sloth_slo=";
  facts.selector += PromQlString(slo.name);
  facts.selector += '}';
  facts.period = FormatWindow(slo.period);
  facts.objective_ratio = Snap(slo.objective_percent / 100);
  facts.error_budget = Snap((100 - slo.objective_percent) / 100);
  facts.conditions = BurnRateConditions(slo.period);
  facts.dropped = DroppedBurnRateConditions(slo.period);
  return facts;
}

void SlothLabels(YamlWriter& yaml, int indent, const SloFacts& facts) {
  yaml.Field(indent, "sloth_id", facts.id);
  yaml.Field(indent, "sloth_service", facts.service);
  yaml.Field(indent, "sloth_slo", facts.slo->name);
}

std::string SliRecordName(std::string_view window) {
  std::string name = "slo:sli_error:ratio_rate";
  name += window;
  return name;
}

void SliRecordings(YamlWriter& yaml, const SloFacts& facts, const std::string& group) {
  yaml.Field(0, "- name", group);
  yaml.Line(2, "rules:");
  std::vector<std::string> windows;
  for (Duration window : kSliWindows) {
    if (window <= facts.slo->period) {
      windows.push_back(FormatWindow(window));
    }
  }
  // By name: a period of 1d and a few nanoseconds is the 1d window too.
  if (windows.empty() || windows.back() != facts.period) {
    windows.push_back(facts.period);
  }
  std::string slo_selector = "{slo=";
  slo_selector += PromQlString(facts.slo->name);
  slo_selector += '}';
  for (const std::string& name : windows) {
    std::string range = "[";
    range += name;
    range += "]))";
    std::string expr = "sum(rate(";
    expr += kErrorsMetric;
    expr += slo_selector;
    expr += range;
    expr += "\n/\nsum(rate(";
    expr += kEventsMetric;
    expr += slo_selector;
    expr += range;
    yaml.Field(2, "- record", SliRecordName(name));
    yaml.Expr(4, expr);
    yaml.Line(4, "labels:");
    SlothLabels(yaml, 6, facts);
    yaml.Field(6, "sloth_window", name);
  }
}

// `metric{selector}\n/ on(...) group_left\nslo:error_budget:ratio{selector}`: a ratio as a
// multiple of the error budget, as sloth writes it.
std::string BurnRateExpr(std::string_view metric, const SloFacts& facts) {
  std::string expr(metric);
  expr += facts.selector;
  expr += "\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio";
  expr += facts.selector;
  return expr;
}

void MetaRecordings(YamlWriter& yaml, const SloFacts& facts, const std::string& group,
                    const RulesOptions& options) {
  yaml.Field(0, "- name", group);
  yaml.Line(2, "rules:");
  auto record = [&](std::string_view name, const std::string& expr) {
    yaml.Field(2, "- record", name);
    yaml.Expr(4, expr);
    yaml.Line(4, "labels:");
    SlothLabels(yaml, 6, facts);
  };
  auto vector = [](double value) {
    std::string expr = "vector(";
    expr += FormatNumber(value);
    expr += ')';
    return expr;
  };
  record("slo:objective:ratio", vector(facts.objective_ratio));
  record("slo:error_budget:ratio", vector(facts.error_budget));
  double period_days = std::chrono::duration<double, days::period>(facts.slo->period).count();
  record("slo:time_period:days", vector(Snap(period_days)));
  record("slo:current_burn_rate:ratio", BurnRateExpr(SliRecordName("5m"), facts));
  record("slo:period_burn_rate:ratio", BurnRateExpr(SliRecordName(facts.period), facts));
  std::string remaining = "1 - slo:period_burn_rate:ratio";
  remaining += facts.selector;
  record("slo:period_error_budget_remaining:ratio", remaining);
  // sloth_slo_info's labels, in sloth's (sorted) order.
  yaml.Field(2, "- record", "sloth_slo_info");
  yaml.Expr(4, "vector(1)");
  yaml.Line(4, "labels:");
  yaml.Field(6, "sloth_id", facts.id);
  yaml.Field(6, "sloth_mode", "nines-rules");
  yaml.Field(6, "sloth_objective", FormatNumber(facts.slo->objective_percent));
  yaml.Field(6, "sloth_service", facts.service);
  yaml.Field(6, "sloth_slo", facts.slo->name);
  yaml.Field(6, "sloth_spec", "nines");
  yaml.Field(6, "sloth_version", options.version.empty() ? "unknown" : options.version);
}

// `max(slo:sli_error:ratio_rate<window>{...} > (factor * budget)) without (sloth_window)`
std::string WindowAbove(Duration window, double factor, const SloFacts& facts) {
  std::string text = "max(";
  text += SliRecordName(FormatWindow(window));
  text += facts.selector;
  text += " > (";
  text += FormatNumber(factor);
  text += " * ";
  text += FormatNumber(facts.error_budget);
  text += ")) without (sloth_window)";
  return text;
}

std::string AlertExpr(const std::vector<const BurnRateCondition*>& conditions,
                      const SloFacts& facts) {
  std::string expr;
  for (const BurnRateCondition* condition : conditions) {
    if (!expr.empty()) {
      expr += "\nor\n";
    }
    expr += "(\n    ";
    expr += WindowAbove(condition->short_window, condition->factor, facts);
    expr += "\n    and\n    ";
    expr += WindowAbove(condition->long_window, condition->factor, facts);
    expr += "\n)";
  }
  return expr;
}

// "web-availability (99.9% over 30d) is burning its error budget at over 14.4x (1h and 5m
// windows) or 6x (6h and 30m windows)."
std::string AlertDescription(const std::vector<const BurnRateCondition*>& conditions,
                             const SloFacts& facts) {
  std::string text = facts.slo->name;
  text += " (";
  text += FormatNumber(facts.slo->objective_percent);
  text += "% over ";
  text += facts.period;
  text += ") is burning its error budget at over ";
  bool first = true;
  for (const BurnRateCondition* condition : conditions) {
    if (!first) {
      text += " or ";
    }
    first = false;
    text += FormatFactor(condition->factor);
    text += "x (";
    text += FormatWindow(condition->long_window);
    text += " and ";
    text += FormatWindow(condition->short_window);
    text += " windows)";
  }
  text += '.';
  return text;
}

std::string DroppedComment(Severity severity, const std::vector<const BurnRateCondition*>& kept,
                           const std::vector<const BurnRateCondition*>& dropped,
                           const SloFacts& facts) {
  std::string text;
  if (kept.empty()) {
    text = "No ";
    text += SeverityName(severity);
    text += " alert: the ";
    for (std::size_t i = 0; i < dropped.size(); ++i) {
      if (i > 0) {
        text += " and ";
      }
      text += FormatWindow(dropped[i]->long_window);
    }
    text += dropped.size() == 1 ? " window is" : " windows are";
  } else {
    text = "The ";
    text += SeverityName(severity);
    text += " alert leaves out ";
    for (std::size_t i = 0; i < dropped.size(); ++i) {
      if (i > 0) {
        text += " and ";
      }
      text += "the ";
      text += FormatWindow(dropped[i]->long_window);
      text += '/';
      text += FormatWindow(dropped[i]->short_window);
      text += " condition";
    }
    text += ": its long window is";
  }
  text += " longer than the ";
  text += facts.period;
  text += " SLO period.";
  return text;
}

void Alert(YamlWriter& yaml, Severity severity, const SloFacts& facts,
           const std::vector<const BurnRateCondition*>& conditions) {
  std::string_view name = SeverityName(severity);
  yaml.Field(2, "- alert", AlertName(facts.slo->name));
  yaml.Expr(4, AlertExpr(conditions, facts));
  // No `for:`, like sloth: the long window already demands a sustained burn, and the short
  // window ends the alert minutes after the burn stops; `for` would only delay pages.
  yaml.Line(4, "labels:");
  yaml.Field(6, "severity", name);
  yaml.Field(6, "sloth_id", TemplateLiteral(facts.id));
  yaml.Field(6, "sloth_service", TemplateLiteral(facts.service));
  yaml.Field(6, "sloth_severity", name);
  yaml.Field(6, "sloth_slo", TemplateLiteral(facts.slo->name));
  yaml.Line(4, "annotations:");
  yaml.Field(6, "description", TemplateLiteral(AlertDescription(conditions, facts)));
  std::string summary = facts.slo->name;
  summary += " is burning its error budget too fast";
  yaml.Field(6, "summary", TemplateLiteral(summary));
}

// The alerts group, or only comments when every condition is left out.
void Alerts(YamlWriter& yaml, const SloFacts& facts, const std::string& group) {
  if (!facts.conditions.empty()) {
    yaml.Field(0, "- name", group);
    yaml.Line(2, "rules:");
  }
  for (Severity severity : {Severity::kPage, Severity::kTicket}) {
    std::vector<const BurnRateCondition*> kept;
    std::vector<const BurnRateCondition*> dropped;
    for (const BurnRateCondition& condition : facts.conditions) {
      if (condition.severity == severity) {
        kept.push_back(&condition);
      }
    }
    for (const BurnRateCondition& condition : facts.dropped) {
      if (condition.severity == severity) {
        dropped.push_back(&condition);
      }
    }
    if (!dropped.empty()) {
      yaml.Comment(facts.conditions.empty() ? 0 : 2,
                   DroppedComment(severity, kept, dropped, facts));
    }
    if (!kept.empty()) {
      Alert(yaml, severity, facts, kept);
    }
  }
}

// "web-availability: 99.9% over 30d, SLI probe web" for the comment above an SLO's groups.
std::string SloComment(const config::Slo& slo) {
  std::string text = "SLO ";
  text += slo.name;
  text += ": ";
  text += FormatNumber(slo.objective_percent);
  text += "% over ";
  text += FormatWindow(slo.period);
  text += ", SLI ";
  if (!slo.sli.probe.empty()) {
    text += "probe ";
    text += slo.sli.probe;
  } else {
    text += "access_log ";
    text += slo.sli.access_log;
  }
  if (slo.sli.latency_threshold) {
    text += ", latency_threshold ";
    text += config::FormatDuration(*slo.sli.latency_threshold);
  }
  return text;
}

// Group names must be unique in a file; sloth_ids can collide (service `a-b` with SLO `c`,
// service `a` with SLO `b-c`), so a repeat gets a numeric suffix.
std::string UniqueGroupName(std::string_view prefix, std::string_view id,
                            std::set<std::string>* used) {
  std::string name(prefix);
  name += id;
  if (used->insert(name).second) {
    return name;
  }
  for (int n = 2;; ++n) {
    std::string candidate = name;
    candidate += '-';
    candidate += std::to_string(n);
    if (used->insert(candidate).second) {
      return candidate;
    }
  }
}

void Header(YamlWriter& yaml, const RulesOptions& options) {
  std::string generated = "Generated by `nines rules`";
  if (!options.version.empty()) {
    generated += " (nines ";
    generated += options.version;
    generated += ')';
  }
  if (!options.source.empty()) {
    generated += " from ";
    generated += options.source;
  }
  generated += ". Do not edit; regenerate.";
  yaml.Comment(0, generated);
  yaml.Comment(0, "SLO recording rules and multi-window, multi-burn-rate alerts named and");
  yaml.Comment(0, "labelled like sloth's, so sloth's Grafana dashboards work on them. Every SLI");
  yaml.Comment(0, "window, the period included, is the exact ratio of nines_slo_errors_total to");
  yaml.Comment(0, "nines_slo_events_total (sloth averages the 5m ratios over the period).");
  yaml.Comment(0, "Burn-rate factor = budget spent * period / long window: page 2% in 1h (5m)");
  yaml.Comment(0, "or 5% in 6h (30m), ticket 10% in 1d (2h) or 10% in 3d (6h); 14.4, 6, 3, 1");
  yaml.Comment(0, "for 30d. No `for:`: the short window ends an alert soon after the burn stops.");
}

}  // namespace

std::optional<RulesFormat> ParseRulesFormat(std::string_view text) {
  if (text == "prometheus") {
    return RulesFormat::kPrometheus;
  }
  if (text == "prometheusrule") {
    return RulesFormat::kPrometheusRule;
  }
  return std::nullopt;
}

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kPage:
      return "page";
    case Severity::kTicket:
      return "ticket";
  }
  return "page";
}

std::vector<BurnRateCondition> BurnRateConditions(Duration period) {
  std::vector<BurnRateCondition> conditions;
  for (const ConditionSpec& spec : kConditions) {
    if (spec.long_window <= period) {
      conditions.push_back(MakeCondition(spec, period));
    }
  }
  return conditions;
}

std::vector<BurnRateCondition> DroppedBurnRateConditions(Duration period) {
  std::vector<BurnRateCondition> conditions;
  for (const ConditionSpec& spec : kConditions) {
    if (spec.long_window > period) {
      conditions.push_back(MakeCondition(spec, period));
    }
  }
  return conditions;
}

std::string FormatWindow(Duration window) {
  using std::chrono::milliseconds;
  auto ms = std::chrono::duration_cast<milliseconds>(window).count();
  if (ms <= 0) {
    return "0s";
  }
  constexpr std::array<std::pair<std::string_view, std::int64_t>, 5> kUnits = {{
      {"d", 86'400'000},
      {"h", 3'600'000},
      {"m", 60'000},
      {"s", 1'000},
      {"ms", 1},
  }};
  std::string out;
  for (const auto& [unit, size] : kUnits) {
    if (ms >= size) {
      out += std::to_string(ms / size);
      out += unit;
      ms %= size;
    }
  }
  return out;
}

std::string PromQlString(std::string_view text) { return DoubleQuoted(text); }

std::string AlertName(std::string_view slo_name) {
  std::string name;
  bool word_start = true;
  for (char c : slo_name) {
    if (!IsAsciiAlnum(c)) {
      word_start = true;
      continue;
    }
    if (word_start && c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
    word_start = false;
    name += c;
  }
  if (name.empty() || IsDigit(name.front())) {
    name.insert(0, "Slo");
  }
  name += "ErrorBudgetBurn";
  return name;
}

std::string SlothService(const config::Slo& slo) {
  return slo.sli.probe.empty() ? slo.sli.access_log : slo.sli.probe;
}

std::string GenerateRules(const std::vector<config::Slo>& slos, RulesFormat format,
                          const RulesOptions& options) {
  YamlWriter top(0);
  Header(top, options);
  int base = 0;
  switch (format) {
    case RulesFormat::kPrometheus:
      break;
    case RulesFormat::kPrometheusRule:
      top.Line(0, "apiVersion: monitoring.coreos.com/v1");
      top.Line(0, "kind: PrometheusRule");
      top.Line(0, "metadata:");
      top.Field(2, "name", options.name);
      top.Line(0, "spec:");
      base = 2;
      break;
  }
  std::string out = top.Take();
  YamlWriter yaml(base);
  if (slos.empty()) {
    yaml.Line(0, "groups: []");
    return out + yaml.Take();
  }
  yaml.Line(0, "groups:");
  std::set<std::string> used;
  for (const config::Slo& slo : slos) {
    SloFacts facts = Facts(slo);
    yaml.Comment(0, SloComment(slo));
    SliRecordings(yaml, facts, UniqueGroupName("sloth-slo-sli-recordings-", facts.id, &used));
    MetaRecordings(yaml, facts, UniqueGroupName("sloth-slo-meta-recordings-", facts.id, &used),
                   options);
    Alerts(yaml, facts, UniqueGroupName("sloth-slo-alerts-", facts.id, &used));
  }
  return out + yaml.Take();
}

}  // namespace nines::slo
