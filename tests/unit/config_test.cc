#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "exporter/config/default_config.h"
#include "exporter/config/loader.h"

namespace nines::config {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

fs::path ConfigFixtures() { return fs::path(NINES_FIXTURES_DIR) / "config"; }

// Each invalid-*.yml fixture states the errors it must produce in `# want:` lines, with
// FILE standing for its path.
std::vector<std::string> WantedErrors(const fs::path& fixture) {
  std::ifstream in(fixture);
  std::vector<std::string> wanted;
  std::string line;
  const std::string prefix = "# want: ";
  while (std::getline(in, line)) {
    if (line.starts_with(prefix)) {
      std::string want = line.substr(prefix.size());
      want.replace(0, 4, fixture.string());
      wanted.push_back(want);
    }
  }
  return wanted;
}

std::vector<fs::path> Fixtures(std::string_view prefix) {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(ConfigFixtures())) {
    if (entry.path().filename().string().starts_with(prefix)) {
      paths.push_back(entry.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string FixtureName(const ::testing::TestParamInfo<fs::path>& param_info) {
  std::string name = param_info.param.stem().string();
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

class InvalidConfigTest : public ::testing::TestWithParam<fs::path> {};

TEST_P(InvalidConfigTest, ReportsExactErrors) {
  std::vector<std::string> wanted = WantedErrors(GetParam());
  ASSERT_FALSE(wanted.empty()) << GetParam() << " has no '# want:' line";
  LoadResult result = LoadConfigFile(GetParam().string());
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.errors, wanted);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, InvalidConfigTest, ::testing::ValuesIn(Fixtures("invalid-")),
                         FixtureName);

class ValidConfigTest : public ::testing::TestWithParam<fs::path> {};

TEST_P(ValidConfigTest, Loads) {
  LoadResult result = LoadConfigFile(GetParam().string());
  EXPECT_THAT(result.errors, IsEmpty());
  EXPECT_TRUE(result.ok());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ValidConfigTest, ::testing::ValuesIn(Fixtures("valid-")),
                         FixtureName);

TEST(LoadConfigFile, MissingFile) {
  LoadResult result = LoadConfigFile("/nonexistent/nines.yml");
  EXPECT_THAT(result.errors,
              ElementsAre("/nonexistent/nines.yml: cannot open config file: No such file or "
                          "directory"));
}

TEST(LoadConfigFile, Directory) {
  LoadResult result = LoadConfigFile(ConfigFixtures().string());
  EXPECT_THAT(result.errors, ElementsAre(ConfigFixtures().string() + ": not a regular file"));
}

TEST(LoadConfigFile, UnreadableFile) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "root reads files whatever their mode";
  }
  fs::path path = fs::temp_directory_path() / "nines-unreadable.yml";
  std::ofstream(path) << "defaults: {}\n";
  fs::permissions(path, fs::perms::none);
  LoadResult result = LoadConfigFile(path.string());
  fs::remove(path);
  EXPECT_THAT(result.errors,
              ElementsAre(path.string() + ": cannot open config file: Permission denied"));
}

// /proc/self/mem is a regular file that opens but cannot be read at offset 0 (EIO), even
// for root, which ignores file modes.
TEST(LoadConfigFile, ReadError) {
  LoadResult result = LoadConfigFile("/proc/self/mem");
  EXPECT_THAT(result.errors,
              ElementsAre("/proc/self/mem: cannot read config file: Input/output error"));
}

TEST(LoadConfigText, BuiltinDefaultIsValid) {
  LoadResult result =
      LoadConfigText(DefaultConfigText("http://127.0.0.1:9469"), kBuiltinConfigName);
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  EXPECT_EQ(result.config->source, kBuiltinConfigName);
  ASSERT_EQ(result.config->probes.size(), 1U);
  EXPECT_EQ(result.config->probes[0].name, "nines");
  EXPECT_EQ(result.config->probes[0].target, "http://127.0.0.1:9469/-/healthy");
}

TEST(LoadConfigText, DefaultsAndResolution) {
  LoadResult result = LoadConfigText(R"(
defaults: {interval: 30s, timeout: 3s}
modules:
  slow_http: {prober: http, timeout: 8s}
probes:
  - {name: a, module: slow_http, target: http://127.0.0.1/}
  - {name: b, prober: tcp, target: "127.0.0.1:22", interval: 1m, timeout: 250ms}
  - {name: c, module: http_2xx, target: 127.0.0.1:8080/health}
)",
                                     "t.yml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  const Config& config = *result.config;
  ASSERT_EQ(config.probes.size(), 3U);
  EXPECT_EQ(config.probes[0].interval, std::chrono::seconds(30));
  EXPECT_EQ(config.probes[0].timeout, std::chrono::seconds(8));  // the module's
  EXPECT_EQ(config.probes[0].module.prober, probes::ProbeKind::kHttp);
  EXPECT_EQ(config.probes[0].module_name, "slow_http");
  EXPECT_EQ(config.probes[1].interval, std::chrono::minutes(1));
  EXPECT_EQ(config.probes[1].timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(config.probes[1].module.prober, probes::ProbeKind::kTcp);
  EXPECT_EQ(config.probes[2].timeout, std::chrono::seconds(3));  // built-in http_2xx
  EXPECT_EQ(config.probes[2].buckets, DefaultProbeBuckets());
  EXPECT_EQ(config.probes[2].down_after, 1);
  EXPECT_TRUE(config.modules.contains("tcp_connect"));
  EXPECT_TRUE(config.probe_endpoint.enabled);
  EXPECT_THAT(config.probe_endpoint.deny, ElementsAre("169.254.0.0/16", "fe80::/10"));
}

TEST(LoadConfigText, HttpModuleOptions) {
  LoadResult result = LoadConfigText(R"(
modules:
  m:
    prober: http
    http:
      valid_status_codes: [200, 204]
      method: POST
      headers: {X-Test: "1"}
      body_size_limit: 2KiB
      compression: gzip
      follow_redirects: false
      fail_if_not_ssl: true
      preferred_ip_protocol: ip4
      authorization: {credentials: token}
      fail_if_header_matches: [{header: Server, regexp: "^Apache"}]
)",
                                     "t.yml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  const HttpModule& http = result.config->modules.at("m").http;
  EXPECT_THAT(http.valid_status_codes, ElementsAre(200, 204));
  EXPECT_EQ(http.method, "POST");
  EXPECT_EQ(http.headers.at("X-Test"), "1");
  EXPECT_EQ(http.body_size_limit, 2048);
  EXPECT_EQ(http.compression, "gzip");
  EXPECT_FALSE(http.follow_redirects);
  EXPECT_TRUE(http.fail_if_not_ssl);
  EXPECT_EQ(http.preferred_ip_protocol, IpProtocol::kIp4);
  ASSERT_TRUE(http.authorization.has_value());
  EXPECT_EQ(http.authorization->type, "Bearer");
  EXPECT_EQ(http.authorization->credentials, "token");
  ASSERT_EQ(http.fail_if_header_matches.size(), 1U);
  EXPECT_NE(http.fail_if_header_matches[0].regexp.compiled, nullptr);
}

TEST(LoadConfigText, NginxAndSlos) {
  LoadResult result = LoadConfigText(R"(
probes:
  - {name: web, prober: http, target: "http://127.0.0.1:8080/"}
nginx:
  - name: edge
    stub_status: unix:/run/nginx/status.sock
    access_log: {syslog: "127.0.0.1:5531"}
slos:
  - {name: avail, objective: 99.9, sli: {probe: web}}
  - {name: fast, objective: 99, period: 7d, sli: {access_log: edge, latency_threshold: 300ms}}
)",
                                     "t.yml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  const Config& config = *result.config;
  ASSERT_EQ(config.nginx.size(), 1U);
  ASSERT_TRUE(config.nginx[0].access_log.has_value());
  EXPECT_EQ(config.nginx[0].access_log->format, kDefaultAccessLogFormat);
  ASSERT_EQ(config.slos.size(), 2U);
  EXPECT_EQ(config.slos[0].period, std::chrono::hours(24 * 30));
  EXPECT_DOUBLE_EQ(config.slos[1].objective_percent, 99);
  EXPECT_EQ(config.slos[1].period, std::chrono::hours(24 * 7));
  EXPECT_EQ(config.slos[1].sli.latency_threshold, std::chrono::milliseconds(300));
}

TEST(LoadConfigText, NullSectionsAreEmpty) {
  LoadResult result = LoadConfigText("defaults:\nprobes:\nmodules:\n", "t.yml");
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
}

TEST(LoadConfigText, ScalarWhereMapExpected) {
  LoadResult result = LoadConfigText("defaults: 5\n", "t.yml");
  EXPECT_THAT(result.errors, ElementsAre("t.yml:1:11: defaults: must be a map (got \"5\")"));
}

TEST(LoadConfigText, QuotedNumberIsNotANumber) {
  LoadResult result = LoadConfigText(
      "probes:\n  - {name: w, prober: http, target: 'http://x/', down_after: '3'}\n", "t.yml");
  EXPECT_THAT(result.errors,
              ElementsAre("t.yml:2:62: probes[0].down_after: must be a whole number (got \"3\")"));
}

TEST(LoadConfigText, ModuleAndInlineProberConflict) {
  LoadResult result = LoadConfigText(
      "probes:\n  - {name: w, module: http_2xx, prober: tcp, target: 'http://x/'}\n", "t.yml");
  EXPECT_THAT(result.errors,
              ElementsAre("t.yml:2:41: probes[0].prober: cannot be combined with module: put "
                          "options in the module, or drop module"));
}

TEST(LoadConfigText, UnknownKeyInsideModuleOptions) {
  LoadResult result =
      LoadConfigText("modules:\n  m:\n    prober: http\n    http: {metod: GET}\n", "t.yml");
  EXPECT_THAT(result.errors, ElementsAre("t.yml:4:12: modules.m.http.metod: unknown key (did "
                                         "you mean \"method\"?)"));
}

TEST(LoadConfigText, BinaryGarbageDoesNotCrash) {
  std::string garbage;
  for (int i = 0; i < 256; ++i) {
    garbage.push_back(static_cast<char>(i));
  }
  LoadResult result = LoadConfigText(garbage, "t.yml");
  EXPECT_FALSE(result.ok());
  ASSERT_FALSE(result.errors.empty());
  EXPECT_THAT(result.errors[0], HasSubstr("t.yml"));
}

}  // namespace
}  // namespace nines::config
