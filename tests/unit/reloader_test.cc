#include "exporter/daemon/reloader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <fstream>

namespace nines::daemon {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

double GaugeValue(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.metric.empty()) {
      return family.metric[0].gauge.value;
    }
  }
  ADD_FAILURE() << "no " << name;
  return -1;
}

class ReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("nines-reloader-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    path_ = dir_ / "nines.yml";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& text) { std::ofstream(path_) << text; }
  double Successful() { return GaugeValue(*registry_, "nines_config_last_reload_successful"); }
  double Timestamp() {
    return GaugeValue(*registry_, "nines_config_last_reload_success_timestamp_seconds");
  }

  fs::path dir_;
  fs::path path_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  metrics::SelfMetrics self_{*registry_};
};

TEST_F(ReloaderTest, BadReloadKeepsRunningConfig) {
  Write("defaults: {interval: 20s}\n");
  Reloader reloader(path_.string(), self_);
  ASSERT_THAT(reloader.Reload(), ElementsAre());
  auto first = reloader.Current();
  EXPECT_EQ(first->defaults.interval, std::chrono::seconds(20));
  EXPECT_EQ(Successful(), 1);
  double stamp = Timestamp();
  EXPECT_GT(stamp, 1.7e9);

  Write("defaults: {interval: -1s}\n");
  std::vector<std::string> errors = reloader.Reload();
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_THAT(errors[0], HasSubstr("defaults.interval: must be a duration"));
  EXPECT_EQ(reloader.Current(), first);
  EXPECT_EQ(Successful(), 0);
  EXPECT_EQ(Timestamp(), stamp);

  Write("defaults: {interval: 30s}\n");
  EXPECT_THAT(reloader.Reload(), ElementsAre());
  EXPECT_EQ(reloader.Current()->defaults.interval, std::chrono::seconds(30));
  EXPECT_EQ(Successful(), 1);
  EXPECT_GE(Timestamp(), stamp);
}

TEST_F(ReloaderTest, DeletedFileKeepsRunningConfig) {
  Write("{}\n");
  Reloader reloader(path_.string(), self_);
  ASSERT_THAT(reloader.Reload(), ElementsAre());
  auto first = reloader.Current();
  fs::remove(path_);
  EXPECT_THAT(reloader.Reload(),
              ElementsAre(path_.string() + ": cannot open config file: No such file or directory"));
  EXPECT_EQ(reloader.Current(), first);
  EXPECT_EQ(Successful(), 0);
}

TEST_F(ReloaderTest, FailedApplyRollsBackEarlierAppliers) {
  Write("defaults: {interval: 20s}\n");
  Reloader reloader(path_.string(), self_);
  std::vector<std::string> first_saw;
  bool fail_second = false;
  reloader.OnApply([&](const std::shared_ptr<const config::Config>& config) {
    first_saw.push_back(config::FormatDuration(config->defaults.interval));
    return std::string();
  });
  reloader.OnApply([&](const std::shared_ptr<const config::Config>&) {
    return fail_second ? std::string("cannot bind syslog listener") : std::string();
  });
  ASSERT_THAT(reloader.Reload(), ElementsAre());
  Write("defaults: {interval: 40s}\n");
  fail_second = true;
  EXPECT_THAT(reloader.Reload(), ElementsAre(path_.string() + ": cannot bind syslog listener"));
  EXPECT_THAT(first_saw, ElementsAre("20s", "40s", "20s"));
  EXPECT_EQ(reloader.Current()->defaults.interval, std::chrono::seconds(20));
  EXPECT_EQ(Successful(), 0);
}

TEST_F(ReloaderTest, BuiltinDefault) {
  Reloader reloader("", self_);
  ASSERT_THAT(reloader.Reload(), ElementsAre());
  EXPECT_EQ(reloader.Current()->source, "<built-in default>");
}

}  // namespace
}  // namespace nines::daemon
