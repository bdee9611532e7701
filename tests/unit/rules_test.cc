#include "exporter/slo/rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "exporter/config/loader.h"
#include "exporter/rules_command.h"
#include "exporter/version.h"
#include "tests/unit/golden.h"

namespace nines::slo {
namespace {

namespace fs = std::filesystem;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// The SLOs of the golden files: a 30d probe availability SLO, a 7d access-log latency SLO,
// a 1d SLO (the 3d ticket condition drops) and a 12h one (no ticket alert at all).
constexpr std::string_view kSeveralSlos = R"(
probes:
  - name: web
    prober: http
    target: http://127.0.0.1:8080/
nginx:
  - name: frontend
    access_log: {path: /var/log/nginx/access.log}
slos:
  - name: web-availability
    objective: 99.9
    period: 30d
    sli: {probe: web}
  - name: frontend-latency
    objective: 99
    period: 7d
    sli: {access_log: frontend, latency_threshold: 300ms}
  - name: frontend-daily
    objective: 99.5
    period: 1d
    sli: {access_log: frontend}
  - name: frontend-half-day
    objective: 95
    period: 12h
    sli: {access_log: frontend}
)";

RulesOptions TestOptions() {
  RulesOptions options;
  options.source = "several.yml";
  options.version = "1.2.3";
  return options;
}

std::vector<config::Slo> LoadSlos(std::string_view text) {
  config::LoadResult result = config::LoadConfigText(text, "several.yml");
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  return result.ok() ? result.config->slos : std::vector<config::Slo>{};
}

config::Slo ProbeSlo(std::string name, std::string probe, double objective = 99.9,
                     config::Duration period = days(30)) {
  config::Slo slo;
  slo.name = std::move(name);
  slo.objective_percent = objective;
  slo.period = period;
  slo.sli.probe = std::move(probe);
  return slo;
}

std::vector<double> Factors(const std::vector<BurnRateCondition>& conditions) {
  std::vector<double> factors;
  factors.reserve(conditions.size());
  for (const BurnRateCondition& condition : conditions) {
    factors.push_back(condition.factor);
  }
  return factors;
}

// The rules of every group, by group name.
std::map<std::string, YAML::Node> GroupsByName(const YAML::Node& groups) {
  std::map<std::string, YAML::Node> by_name;
  for (const YAML::Node& group : groups) {
    by_name[group["name"].as<std::string>()] = group;
  }
  return by_name;
}

TEST(RulesBurnRateConditionsTest, ThirtyDaysGivesTheWorkbookFactors) {
  std::vector<BurnRateCondition> conditions = BurnRateConditions(days(30));
  EXPECT_THAT(Factors(conditions), ElementsAre(14.4, 6, 3, 1));
  ASSERT_EQ(conditions.size(), 4U);
  EXPECT_EQ(conditions[0].severity, Severity::kPage);
  EXPECT_EQ(conditions[0].long_window, hours(1));
  EXPECT_EQ(conditions[0].short_window, minutes(5));
  EXPECT_EQ(conditions[0].budget_percent, 2);
  EXPECT_EQ(conditions[1].severity, Severity::kPage);
  EXPECT_EQ(conditions[1].long_window, hours(6));
  EXPECT_EQ(conditions[1].short_window, minutes(30));
  EXPECT_EQ(conditions[1].budget_percent, 5);
  EXPECT_EQ(conditions[2].severity, Severity::kTicket);
  EXPECT_EQ(conditions[2].long_window, days(1));
  EXPECT_EQ(conditions[2].short_window, hours(2));
  EXPECT_EQ(conditions[2].budget_percent, 10);
  EXPECT_EQ(conditions[3].severity, Severity::kTicket);
  EXPECT_EQ(conditions[3].long_window, days(3));
  EXPECT_EQ(conditions[3].short_window, hours(6));
  EXPECT_EQ(conditions[3].budget_percent, 10);
  EXPECT_THAT(DroppedBurnRateConditions(days(30)), IsEmpty());
}

TEST(RulesBurnRateConditionsTest, ScalesTheFactorsToThePeriod) {
  // Exact decimals, not merely close: they are printed into the alert expressions.
  EXPECT_THAT(Factors(BurnRateConditions(days(28))), ElementsAre(13.44, 5.6, 2.8, 28.0 / 30));
  EXPECT_THAT(Factors(BurnRateConditions(days(7))), ElementsAre(3.36, 1.4, 0.7, 7.0 / 30));
  EXPECT_THAT(Factors(BurnRateConditions(days(90))), ElementsAre(43.2, 18, 9, 3));
}

TEST(RulesBurnRateConditionsTest, LeavesOutConditionsLongerThanThePeriod) {
  EXPECT_THAT(Factors(BurnRateConditions(days(3))), ElementsAre(1.44, 0.6, 0.3, 0.1));
  EXPECT_THAT(Factors(BurnRateConditions(days(1))), ElementsAre(0.48, 0.2, 0.1));
  ASSERT_EQ(DroppedBurnRateConditions(days(1)).size(), 1U);
  EXPECT_EQ(DroppedBurnRateConditions(days(1))[0].long_window, days(3));
  EXPECT_THAT(Factors(BurnRateConditions(hours(12))), ElementsAre(0.24, 0.1));
  EXPECT_EQ(DroppedBurnRateConditions(hours(12)).size(), 2U);
  EXPECT_THAT(Factors(BurnRateConditions(hours(1))), ElementsAre(0.02));
  EXPECT_EQ(DroppedBurnRateConditions(hours(1)).size(), 3U);
}

TEST(RulesFormatWindowTest, UsesPrometheusDurationsUpToDays) {
  EXPECT_EQ(FormatWindow(minutes(5)), "5m");
  EXPECT_EQ(FormatWindow(hours(1)), "1h");
  EXPECT_EQ(FormatWindow(minutes(90)), "1h30m");
  EXPECT_EQ(FormatWindow(days(1)), "1d");
  EXPECT_EQ(FormatWindow(days(7)), "7d");
  EXPECT_EQ(FormatWindow(days(30)), "30d");
  EXPECT_EQ(FormatWindow(days(365)), "365d");
  EXPECT_EQ(FormatWindow(hours(36)), "1d12h");
  EXPECT_EQ(FormatWindow(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatWindow(config::Duration(1)), "0s");
}

TEST(RulesPromQlStringTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(PromQlString("web"), R"("web")");
  EXPECT_EQ(PromQlString(R"(a"b\c)"), R"("a\"b\\c")");
  EXPECT_EQ(PromQlString("a\nb\tc\rd"), R"("a\nb\tc\rd")");
  EXPECT_EQ(PromQlString(std::string("a\x01"
                                     "b\x7f",
                                     4)),
            R"("a\x01b\x7f")");
  EXPECT_EQ(PromQlString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  // Invalid UTF-8 becomes U+FFFD, which Prometheus' lexer only takes escaped.
  EXPECT_EQ(PromQlString("a\xff"), R"("a\ufffd")");
  EXPECT_EQ(PromQlString("{{ $labels }}"), R"("{{ $labels }}")");
}

TEST(RulesAlertNameTest, IsTheSloNameInCamelCase) {
  EXPECT_EQ(AlertName("web-availability"), "WebAvailabilityErrorBudgetBurn");
  EXPECT_EQ(AlertName("api.v2_latency"), "ApiV2LatencyErrorBudgetBurn");
  EXPECT_EQ(AlertName("checkoutAPI"), "CheckoutAPIErrorBudgetBurn");
  EXPECT_EQ(AlertName("9lives"), "Slo9livesErrorBudgetBurn");
  EXPECT_EQ(AlertName("--"), "SloErrorBudgetBurn");
  EXPECT_EQ(AlertName("we\"b {{x}}"), "WeBXErrorBudgetBurn");
}

TEST(ParseRulesFormatTest, KnowsBothFormats) {
  EXPECT_EQ(ParseRulesFormat("prometheus"), RulesFormat::kPrometheus);
  EXPECT_EQ(ParseRulesFormat("prometheusrule"), RulesFormat::kPrometheusRule);
  EXPECT_EQ(ParseRulesFormat("PrometheusRule"), std::nullopt);
  EXPECT_EQ(ParseRulesFormat(""), std::nullopt);
}

TEST(GenerateRulesTest, MatchesGoldenFile) {
  std::vector<config::Slo> slos = LoadSlos(kSeveralSlos);
  ASSERT_EQ(slos.size(), 4U);
  nines::testing::ExpectGoldenText(GenerateRules(slos, RulesFormat::kPrometheus, TestOptions()),
                                   "rules/several_slos.yml");
}

TEST(GenerateRulesTest, PrometheusRuleMatchesGoldenFile) {
  std::vector<config::Slo> slos = LoadSlos(kSeveralSlos);
  nines::testing::ExpectGoldenText(GenerateRules(slos, RulesFormat::kPrometheusRule, TestOptions()),
                                   "rules/several_slos_prometheusrule.yml");
}

TEST(GenerateRulesTest, IsDeterministic) {
  std::vector<config::Slo> slos = LoadSlos(kSeveralSlos);
  EXPECT_EQ(GenerateRules(slos, RulesFormat::kPrometheus, TestOptions()),
            GenerateRules(slos, RulesFormat::kPrometheus, TestOptions()));
}

TEST(GenerateRulesTest, FollowsSlothNamesAndLabels) {
  YAML::Node file =
      YAML::Load(GenerateRules(LoadSlos(kSeveralSlos), RulesFormat::kPrometheus, TestOptions()));
  std::map<std::string, YAML::Node> groups = GroupsByName(file["groups"]);
  ASSERT_EQ(groups.count("sloth-slo-sli-recordings-web-web-availability"), 1U);
  ASSERT_EQ(groups.count("sloth-slo-meta-recordings-web-web-availability"), 1U);
  ASSERT_EQ(groups.count("sloth-slo-alerts-web-web-availability"), 1U);
  ASSERT_EQ(groups.count("sloth-slo-sli-recordings-frontend-frontend-latency"), 1U);

  std::vector<std::string> records;
  for (const YAML::Node& rule : groups["sloth-slo-sli-recordings-web-web-availability"]["rules"]) {
    records.push_back(rule["record"].as<std::string>());
    EXPECT_EQ(rule["labels"]["sloth_id"].as<std::string>(), "web-web-availability");
    EXPECT_EQ(rule["labels"]["sloth_service"].as<std::string>(), "web");
    EXPECT_EQ(rule["labels"]["sloth_slo"].as<std::string>(), "web-availability");
  }
  EXPECT_THAT(records, ElementsAre("slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m",
                                   "slo:sli_error:ratio_rate1h", "slo:sli_error:ratio_rate2h",
                                   "slo:sli_error:ratio_rate6h", "slo:sli_error:ratio_rate1d",
                                   "slo:sli_error:ratio_rate3d", "slo:sli_error:ratio_rate30d"));
  YAML::Node period_rule = groups["sloth-slo-sli-recordings-web-web-availability"]["rules"][7];
  EXPECT_EQ(period_rule["labels"]["sloth_window"].as<std::string>(), "30d");
  EXPECT_EQ(period_rule["expr"].as<std::string>(),
            "sum(rate(nines_slo_errors_total{slo=\"web-availability\"}[30d]))\n/\n"
            "sum(rate(nines_slo_events_total{slo=\"web-availability\"}[30d]))\n");

  // 7d: the period is its own window; 1d: the period is the 1d window, not a second one.
  std::vector<std::string> latency_windows;
  for (const YAML::Node& rule :
       groups["sloth-slo-sli-recordings-frontend-frontend-latency"]["rules"]) {
    latency_windows.push_back(rule["labels"]["sloth_window"].as<std::string>());
  }
  EXPECT_THAT(latency_windows, ElementsAre("5m", "30m", "1h", "2h", "6h", "1d", "3d", "7d"));
  std::vector<std::string> daily_windows;
  for (const YAML::Node& rule :
       groups["sloth-slo-sli-recordings-frontend-frontend-daily"]["rules"]) {
    daily_windows.push_back(rule["labels"]["sloth_window"].as<std::string>());
  }
  EXPECT_THAT(daily_windows, ElementsAre("5m", "30m", "1h", "2h", "6h", "1d"));

  std::vector<std::string> meta;
  std::map<std::string, std::string> meta_exprs;
  for (const YAML::Node& rule : groups["sloth-slo-meta-recordings-web-web-availability"]["rules"]) {
    meta.push_back(rule["record"].as<std::string>());
    meta_exprs[meta.back()] = rule["expr"].as<std::string>();
  }
  EXPECT_THAT(meta,
              ElementsAre("slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days",
                          "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
                          "slo:period_error_budget_remaining:ratio", "sloth_slo_info"));
  EXPECT_EQ(meta_exprs["slo:objective:ratio"], "vector(0.999)");
  EXPECT_EQ(meta_exprs["slo:error_budget:ratio"], "vector(0.001)");
  EXPECT_EQ(meta_exprs["slo:time_period:days"], "vector(30)");
  EXPECT_THAT(meta_exprs["slo:period_burn_rate:ratio"], StartsWith("slo:sli_error:ratio_rate30d{"));
  YAML::Node info = groups["sloth-slo-meta-recordings-web-web-availability"]["rules"][6]["labels"];
  EXPECT_EQ(info["sloth_objective"].as<std::string>(), "99.9");
  EXPECT_EQ(info["sloth_version"].as<std::string>(), "1.2.3");
  // Quoted, so it stays a string for kubectl's schema check of a PrometheusRule.
  EXPECT_EQ(info["sloth_objective"].Tag(), "!");

  YAML::Node alerts = groups["sloth-slo-alerts-web-web-availability"]["rules"];
  ASSERT_EQ(alerts.size(), 2U);
  EXPECT_EQ(alerts[0]["alert"].as<std::string>(), "WebAvailabilityErrorBudgetBurn");
  EXPECT_EQ(alerts[0]["labels"]["severity"].as<std::string>(), "page");
  EXPECT_EQ(alerts[0]["labels"]["sloth_severity"].as<std::string>(), "page");
  EXPECT_EQ(alerts[0]["labels"]["sloth_slo"].as<std::string>(), "web-availability");
  EXPECT_FALSE(alerts[0]["for"]);
  EXPECT_EQ(alerts[0]["expr"].as<std::string>(),
            "(\n"
            "    max(slo:sli_error:ratio_rate5m{sloth_id=\"web-web-availability\", "
            "sloth_service=\"web\", sloth_slo=\"web-availability\"} > (14.4 * 0.001)) without "
            "(sloth_window)\n"
            "    and\n"
            "    max(slo:sli_error:ratio_rate1h{sloth_id=\"web-web-availability\", "
            "sloth_service=\"web\", sloth_slo=\"web-availability\"} > (14.4 * 0.001)) without "
            "(sloth_window)\n"
            ")\n"
            "or\n"
            "(\n"
            "    max(slo:sli_error:ratio_rate30m{sloth_id=\"web-web-availability\", "
            "sloth_service=\"web\", sloth_slo=\"web-availability\"} > (6 * 0.001)) without "
            "(sloth_window)\n"
            "    and\n"
            "    max(slo:sli_error:ratio_rate6h{sloth_id=\"web-web-availability\", "
            "sloth_service=\"web\", sloth_slo=\"web-availability\"} > (6 * 0.001)) without "
            "(sloth_window)\n"
            ")\n");
  EXPECT_EQ(alerts[0]["annotations"]["description"].as<std::string>(),
            "web-availability (99.9% over 30d) is burning its error budget at over 14.4x (1h "
            "and 5m windows) or 6x (6h and 30m windows).");
  EXPECT_EQ(alerts[1]["labels"]["severity"].as<std::string>(), "ticket");
  EXPECT_EQ(alerts[1]["annotations"]["description"].as<std::string>(),
            "web-availability (99.9% over 30d) is burning its error budget at over 3x (1d "
            "and 2h windows) or 1x (3d and 6h windows).");
  EXPECT_THAT(alerts[1]["expr"].as<std::string>(), HasSubstr("(3 * 0.001)"));
  EXPECT_THAT(alerts[1]["expr"].as<std::string>(), HasSubstr("(1 * 0.001)"));
}

TEST(GenerateRulesTest, ScalesThresholdsToThePeriod) {
  std::string rules = GenerateRules({ProbeSlo("four-weeks", "web", 99.9, days(28))},
                                    RulesFormat::kPrometheus, TestOptions());
  EXPECT_THAT(rules, HasSubstr("ratio_rate5m{sloth_id=\"web-four-weeks\", sloth_service=\"web\", "
                               "sloth_slo=\"four-weeks\"} > (13.44 * 0.001))"));
  EXPECT_THAT(rules, HasSubstr("> (5.6 * 0.001))"));
  EXPECT_THAT(rules, HasSubstr("> (2.8 * 0.001))"));
  EXPECT_THAT(rules, HasSubstr("> (0.9333333333333333 * 0.001))"));
  EXPECT_THAT(rules, HasSubstr("at over 2.8x (1d and 2h windows) or 0.93x (3d and 6h windows)."));
  EXPECT_THAT(rules, HasSubstr("slo:sli_error:ratio_rate28d"));
  EXPECT_THAT(rules, HasSubstr("vector(28)"));
}

TEST(GenerateRulesTest, RecordsAPeriodThatIsAFixedWindowOnce) {
  for (config::Duration period : {config::Duration(days(1)), days(1) + config::Duration(1)}) {
    std::string rules = GenerateRules({ProbeSlo("daily", "web", 99, period)},
                                      RulesFormat::kPrometheus, TestOptions());
    std::vector<std::string> windows;
    for (const YAML::Node& rule : YAML::Load(rules)["groups"][0]["rules"]) {
      windows.push_back(rule["labels"]["sloth_window"].as<std::string>());
    }
    EXPECT_THAT(windows, ElementsAre("5m", "30m", "1h", "2h", "6h", "1d"));
  }
}

TEST(GenerateRulesTest, SaysWhichConditionsItLeavesOut) {
  std::string rules =
      GenerateRules(LoadSlos(kSeveralSlos), RulesFormat::kPrometheus, TestOptions());
  EXPECT_THAT(rules, HasSubstr("  # The ticket alert leaves out the 3d/6h condition: its long "
                               "window is longer than the 1d SLO period.\n"));
  EXPECT_THAT(rules, HasSubstr("  # No ticket alert: the 1d and 3d windows are longer than the "
                               "12h SLO period.\n"));
  YAML::Node groups = YAML::Load(rules)["groups"];
  YAML::Node daily = GroupsByName(groups)["sloth-slo-alerts-frontend-frontend-daily"]["rules"];
  ASSERT_EQ(daily.size(), 2U);
  EXPECT_THAT(daily[1]["expr"].as<std::string>(), Not(HasSubstr("ratio_rate3d")));
  EXPECT_EQ(daily[1]["annotations"]["description"].as<std::string>(),
            "frontend-daily (99.5% over 1d) is burning its error budget at over 0.1x (1d and 2h "
            "windows).");
  YAML::Node half_day =
      GroupsByName(groups)["sloth-slo-alerts-frontend-frontend-half-day"]["rules"];
  ASSERT_EQ(half_day.size(), 1U);
  EXPECT_EQ(half_day[0]["labels"]["severity"].as<std::string>(), "page");
}

TEST(GenerateRulesTest, NoSlosGiveAnEmptyGroupList) {
  std::string rules = GenerateRules({}, RulesFormat::kPrometheus, TestOptions());
  EXPECT_THAT(rules, ::testing::EndsWith("\ngroups: []\n"));
  YAML::Node file = YAML::Load(rules);
  EXPECT_TRUE(file["groups"].IsSequence());
  EXPECT_EQ(file["groups"].size(), 0U);
  std::string wrapped = GenerateRules({}, RulesFormat::kPrometheusRule, TestOptions());
  EXPECT_THAT(wrapped, ::testing::EndsWith("\nspec:\n  groups: []\n"));
}

// Names the config loader would refuse still come out as valid YAML, PromQL and templates,
// and read back as themselves.
TEST(GenerateRulesTest, EscapesOddNames) {
  const std::string odd = "we\"b\\x {{ $labels.x }}\n#caf\xc3\xa9: yes";
  std::vector<config::Slo> slos = {
      ProbeSlo(odd, "a b"),
      ProbeSlo("true", "1e5"),
      ProbeSlo("tab\there", "'quoted'"),
  };
  std::string rules = GenerateRules(slos, RulesFormat::kPrometheus, TestOptions());
  nines::testing::ExpectGoldenText(rules, "rules/odd_names.yml");

  YAML::Node groups = YAML::Load(rules)["groups"];
  std::map<std::string, YAML::Node> by_name = GroupsByName(groups);
  std::string id = "a b-";
  id += odd;
  std::string sli_group = "sloth-slo-sli-recordings-";
  sli_group += id;
  std::string alert_group = "sloth-slo-alerts-";
  alert_group += id;
  ASSERT_EQ(by_name.count(sli_group), 1U);
  YAML::Node sli = by_name[sli_group]["rules"][0];
  EXPECT_EQ(sli["labels"]["sloth_slo"].as<std::string>(), odd);
  EXPECT_EQ(sli["labels"]["sloth_id"].as<std::string>(), id);
  EXPECT_EQ(sli["labels"]["sloth_service"].as<std::string>(), "a b");
  EXPECT_THAT(sli["expr"].as<std::string>(),
              HasSubstr("{slo=\"we\\\"b\\\\x {{ $labels.x }}\\n#caf\xc3\xa9: yes\"}[5m]"));
  YAML::Node alert = by_name[alert_group]["rules"][0];
  // Alert labels and annotations are Go templates: `{{` is printed by an action.
  EXPECT_EQ(alert["labels"]["sloth_slo"].as<std::string>(),
            "we\"b\\x {{ \"{{\" }} $labels.x }}\n#caf\xc3\xa9: yes");
  EXPECT_THAT(alert["expr"].as<std::string>(),
              HasSubstr("sloth_slo=\"we\\\"b\\\\x {{ $labels.x }}\\n#caf\xc3\xa9: yes\"}"));

  YAML::Node truthy = by_name["sloth-slo-sli-recordings-1e5-true"]["rules"][0]["labels"];
  EXPECT_EQ(truthy["sloth_slo"].as<std::string>(), "true");
  EXPECT_EQ(truthy["sloth_slo"].Tag(), "!");      // quoted: not a boolean
  EXPECT_EQ(truthy["sloth_service"].Tag(), "!");  // not a number
  YAML::Node tabbed = by_name["sloth-slo-sli-recordings-'quoted'-tab\there"]["rules"][0];
  EXPECT_EQ(tabbed["labels"]["sloth_slo"].as<std::string>(), "tab\there");
  EXPECT_EQ(tabbed["labels"]["sloth_service"].as<std::string>(), "'quoted'");
  // The SLO comment stays on one line.
  EXPECT_THAT(rules, HasSubstr("\n# SLO we\"b\\x {{ $labels.x }}?#caf\xc3\xa9: yes: 99.9% over "
                               "30d, SLI probe a b\n"));
}

TEST(GenerateRulesTest, RepeatedGroupNamesGetASuffix) {
  // sloth_id a-b-c twice: service a-b with SLO c, service a with SLO b-c.
  std::string rules = GenerateRules({ProbeSlo("c", "a-b"), ProbeSlo("b-c", "a")},
                                    RulesFormat::kPrometheus, TestOptions());
  std::map<std::string, YAML::Node> groups = GroupsByName(YAML::Load(rules)["groups"]);
  EXPECT_EQ(groups.size(), 6U);
  EXPECT_EQ(groups.count("sloth-slo-alerts-a-b-c"), 1U);
  EXPECT_EQ(groups.count("sloth-slo-alerts-a-b-c-2"), 1U);
  EXPECT_EQ(groups["sloth-slo-alerts-a-b-c-2"]["rules"][0]["labels"]["sloth_slo"].as<std::string>(),
            "b-c");
}

TEST(GenerateRulesTest, PrometheusRuleWrapsTheSameGroups) {
  std::vector<config::Slo> slos = LoadSlos(kSeveralSlos);
  RulesOptions options = TestOptions();
  options.name = "shop-slos";
  YAML::Node wrapped = YAML::Load(GenerateRules(slos, RulesFormat::kPrometheusRule, options));
  EXPECT_EQ(wrapped["apiVersion"].as<std::string>(), "monitoring.coreos.com/v1");
  EXPECT_EQ(wrapped["kind"].as<std::string>(), "PrometheusRule");
  EXPECT_EQ(wrapped["metadata"]["name"].as<std::string>(), "shop-slos");
  YAML::Node plain = YAML::Load(GenerateRules(slos, RulesFormat::kPrometheus, options));
  EXPECT_EQ(YAML::Dump(wrapped["spec"]["groups"]), YAML::Dump(plain["groups"]));
  EXPECT_EQ(wrapped.size(), 4U);
  EXPECT_EQ(wrapped["spec"].size(), 1U);
}

// `--config.file=PATH`, built piecewise (GCC 12's -Wrestrict misfires on "literal" + string).
std::string ConfigFlag(std::string_view path) {
  std::string flag = "--config.file=";
  flag += path;
  return flag;
}

// A config file in a fresh temporary directory, removed with it.
class RulesCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "nines-rules-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string WriteConfig(std::string_view name, std::string_view text) {
    fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  int Run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return RunRulesCommand(args, out_, err_);
  }

  fs::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(RulesCommandTest, PrintsTheRulesOfTheConfig) {
  std::string path = WriteConfig("nines.yml", kSeveralSlos);
  ASSERT_EQ(Run({ConfigFlag(path)}), 0) << err_.str();
  EXPECT_EQ(err_.str(), "");
  RulesOptions options;
  options.source = path;
  options.version = kVersion;
  EXPECT_EQ(out_.str(), GenerateRules(LoadSlos(kSeveralSlos), RulesFormat::kPrometheus, options));

  ASSERT_EQ(Run({"--config.file", path, "--format=prometheusrule", "--name=shop.slos-1"}), 0);
  YAML::Node wrapped = YAML::Load(out_.str());
  EXPECT_EQ(wrapped["kind"].as<std::string>(), "PrometheusRule");
  EXPECT_EQ(wrapped["metadata"]["name"].as<std::string>(), "shop.slos-1");
  EXPECT_EQ(wrapped["spec"]["groups"].size(), 12U);  // 4 SLOs, 3 groups each
}

TEST_F(RulesCommandTest, NoSlosPrintAnEmptyGroupList) {
  std::string path = WriteConfig("empty.yml", "probes: []\n");
  ASSERT_EQ(Run({ConfigFlag(path)}), 0) << err_.str();
  EXPECT_THAT(out_.str(), ::testing::EndsWith("\ngroups: []\n"));
}

TEST_F(RulesCommandTest, HelpPrintsUsage) {
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("usage: nines rules --config.file=PATH [<flags>]\n"));
  EXPECT_THAT(out_.str(), HasSubstr("--format"));
  EXPECT_THAT(out_.str(), HasSubstr("--name"));
  EXPECT_EQ(Run({"-h"}), 0);
}

TEST_F(RulesCommandTest, FlagErrorsExitTwo) {
  std::string path = WriteConfig("nines.yml", kSeveralSlos);
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{}, "nines rules: error: --config.file is required, try --help\n"},
      {{ConfigFlag(path), "--format=json"},
       "nines rules: error: --format: must be prometheus or prometheusrule (got \"json\")\n"},
      {{ConfigFlag(path), "--format=prometheusrule", "--name=Shop_SLOs"},
       "nines rules: error: --name: must be a Kubernetes object name: lowercase letters, "
       "digits, '-' and '.', starting and ending with a letter or digit, at most 253 "
       "characters (got \"Shop_SLOs\")\n"},
      {{ConfigFlag(path), "--name=-x"},
       "nines rules: error: --name: must be a Kubernetes object name: lowercase letters, "
       "digits, '-' and '.', starting and ending with a letter or digit, at most 253 "
       "characters (got \"-x\")\n"},
      {{"--no-such-flag"},
       "nines rules: error: unrecognised option '--no-such-flag', try --help\n"},
      {{ConfigFlag(path), "stray"},
       "nines rules: error: too many positional options have been specified on the command "
       "line, try --help\n"},
      {{"--config.file"},
       "nines rules: error: the required argument for option '--config.file' is missing, try "
       "--help\n"},
      {{"--conf"}, "nines rules: error: unrecognised option '--conf', try --help\n"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Run(c.args), 2) << ::testing::PrintToString(c.args);
    EXPECT_EQ(err_.str(), c.error) << ::testing::PrintToString(c.args);
    EXPECT_EQ(out_.str(), "") << ::testing::PrintToString(c.args);
  }
}

TEST_F(RulesCommandTest, ConfigErrorsExitOne) {
  std::string bad = WriteConfig("bad.yml",
                                "probes:\n"
                                "  - name: web\n"
                                "    prober: http\n"
                                "    target: http://127.0.0.1:8080/\n"
                                "slos:\n"
                                "  - name: web-availability\n"
                                "    objective: 100\n"
                                "    sli: {probe: web}\n");
  EXPECT_EQ(Run({ConfigFlag(bad)}), 1);
  EXPECT_EQ(err_.str(), bad +
                            ":7:16: slos[0].objective: must be a percentage above 0 and below "
                            "100 (got \"100\")\n");
  EXPECT_EQ(out_.str(), "");

  std::string missing = (dir_ / "missing.yml").string();
  EXPECT_EQ(Run({ConfigFlag(missing)}), 1);
  EXPECT_THAT(err_.str(), StartsWith(missing));
  EXPECT_EQ(out_.str(), "");
}

}  // namespace
}  // namespace nines::slo
