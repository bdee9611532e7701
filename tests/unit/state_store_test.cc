// Tests of exporter/state/store.h (the periodic, atomic save of the daemon's state) and of
// the access-log read positions saved through it (exporter/daemon/access_logs.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "collectors/access_log.h"
#include "exporter/config/loader.h"
#include "exporter/daemon/access_logs.h"
#include "exporter/state/store.h"
#include "tests/integration/process_runner.h"

namespace nines::state {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::Pair;

// Polls `condition` every 10ms for at most 5s.
bool Eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

TEST(StateStoreTest, CreatesAPrivateDirectoryAndStartsEmpty) {
  testing::TempDir dir;
  StateStore store(dir.path() / "a" / "b", 1h);
  std::string error;
  std::optional<Sections> sections = store.Load(&error);
  ASSERT_TRUE(sections) << error;
  EXPECT_TRUE(sections->empty());
  struct stat info {};
  ASSERT_EQ(::stat((dir.path() / "a" / "b").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

TEST(StateStoreTest, AStoragePathThatIsAFileIsAnError) {
  testing::TempDir dir;
  std::filesystem::path file = dir.WriteFile("file", "x");
  StateStore store(file, 1h);
  std::string error;
  EXPECT_FALSE(store.Load(&error));
  EXPECT_THAT(error, ::testing::HasSubstr(file.string()));
}

TEST(StateStoreTest, SavesWhatEverySaverAddsAndLoadsItBack) {
  testing::TempDir dir;
  {
    StateStore store(dir.path(), 1h);
    std::string error;
    ASSERT_TRUE(store.Load(&error));
    store.AddSaver([](Sections& sections) { sections["probe/a"] = "1"; });
    store.AddSaver([](Sections& sections) { sections["slo/b"] = std::string("\0\1", 2); });
    EXPECT_EQ(store.SaveNow(), "");
  }
  StateStore store(dir.path(), 1h);
  std::string error;
  std::optional<Sections> sections = store.Load(&error);
  ASSERT_TRUE(sections);
  EXPECT_THAT(*sections, ElementsAre(Pair("probe/a", "1"), Pair("slo/b", std::string("\0\1", 2))));
}

TEST(StateStoreTest, SavesEveryIntervalAndAtStop) {
  testing::TempDir dir;
  StateStore store(dir.path(), 20ms);
  std::string error;
  ASSERT_TRUE(store.Load(&error));
  std::atomic<int> generation{0};
  store.AddSaver([&](Sections& sections) { sections["n"] = std::to_string(++generation); });
  store.Start();
  EXPECT_TRUE(Eventually([&] { return generation >= 3; }));
  store.Stop();
  const int last = generation;
  store.Stop();  // idempotent: no further save
  EXPECT_EQ(generation, last);
  LoadedState loaded = ReadStateFile(store.file());
  ASSERT_EQ(loaded.status, LoadedState::Status::kLoaded);
  EXPECT_EQ(loaded.sections["n"], std::to_string(last));
}

TEST(StateStoreTest, ACorruptFileIsSetAsideAndReplaced) {
  testing::TempDir dir;
  dir.WriteFile(std::string(kStateFileName), "not a state file at all");
  StateStore store(dir.path(), 1h);
  std::string error;
  std::optional<Sections> sections = store.Load(&error);
  ASSERT_TRUE(sections);
  EXPECT_TRUE(sections->empty());
  store.AddSaver([](Sections& s) { s["x"] = "y"; });
  EXPECT_EQ(store.SaveNow(), "");
  int set_aside = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    set_aside += entry.path().filename().string().starts_with("nines.state.corrupt-") ? 1 : 0;
  }
  EXPECT_EQ(set_aside, 1);
  EXPECT_EQ(ReadStateFile(store.file()).status, LoadedState::Status::kLoaded);
}

TEST(StateStoreTest, AFailedSaveIsReportedAndTheNextOneWorks) {
  testing::TempDir dir;
  StateStore store(dir.path() / "state", 1h);
  std::string error;
  ASSERT_TRUE(store.Load(&error));
  store.AddSaver([](Sections& s) { s["x"] = "y"; });
  std::filesystem::remove_all(dir.path() / "state");
  EXPECT_THAT(store.SaveNow(), ::testing::HasSubstr((dir.path() / "state").string()));
  auto health = [&store] {
    std::map<std::string, double> values;
    for (const auto& family : store.Collect()) {
      values[family.name] = family.metric.at(0).gauge.value;
    }
    return values;
  };
  EXPECT_EQ(health()["nines_state_last_save_successful"], 0);
  std::filesystem::create_directory(dir.path() / "state");
  EXPECT_EQ(store.SaveNow(), "");
  EXPECT_EQ(health()["nines_state_last_save_successful"], 1);
  EXPECT_GT(health()["nines_state_last_save_success_timestamp_seconds"], 1.7e9);
}

// --- access-log read positions ------------------------------------------------------------

constexpr std::string_view kLine =
    R"(127.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "curl" 0.001 -)";

void Append(const std::filesystem::path& path, int lines) {
  std::ofstream out(path, std::ios::app);
  for (int i = 0; i < lines; ++i) {
    out << kLine << '\n';
  }
}

double LinesRead(const collectors::AccessLogMetrics& metrics) {
  for (const auto& family : metrics.Collect()) {
    if (family.name == "nines_log_lines_total") {
      return family.metric.at(0).counter.value;
    }
  }
  return -1;
}

std::shared_ptr<const config::Config> LogConfig(const std::filesystem::path& log) {
  auto result = config::LoadConfigText(
      "nginx:\n  - name: web\n    access_log: {path: " + log.string() + "}\n", "test.yml");
  if (!result.ok()) {
    throw std::runtime_error(result.errors.at(0));
  }
  return result.config;
}

TEST(LogPositionTest, ARestartResumesWhereTheSavedPositionSays) {
  testing::TempDir dir;
  const std::filesystem::path log = dir.path() / "access.log";
  Append(log, 5);  // before the first start: not counted
  Sections sections;
  {
    collectors::AccessLogMetrics metrics;
    daemon::AccessLogSources sources(metrics);
    ASSERT_EQ(sources.Apply(LogConfig(log)), "");
    Append(log, 7);
    ASSERT_TRUE(Eventually([&] { return LinesRead(metrics) == 7; }));
    const auto pause = metrics.PauseIngest();
    sources.Save(sections);
  }
  ASSERT_TRUE(sections.contains("log/web"));
  Append(log, 3);  // while nines is down
  collectors::AccessLogMetrics metrics;
  daemon::AccessLogSources sources(metrics);
  sources.SetResumePositions(sections);
  ASSERT_EQ(sources.Apply(LogConfig(log)), "");
  Append(log, 2);
  ASSERT_TRUE(Eventually([&] { return LinesRead(metrics) == 5; }));
  std::this_thread::sleep_for(300ms);  // more than a poll: nothing else arrives
  EXPECT_EQ(LinesRead(metrics), 5);
}

TEST(LogPositionTest, APositionInAnotherFileStartsTheNewFileFromItsStart) {
  testing::TempDir dir;
  const std::filesystem::path log = dir.path() / "access.log";
  Sections sections;
  {
    collectors::AccessLogMetrics metrics;
    daemon::AccessLogSources sources(metrics);
    ASSERT_EQ(sources.Apply(LogConfig(log)), "");
    Append(log, 4);
    ASSERT_TRUE(Eventually([&] { return LinesRead(metrics) == 4; }));
    sources.Save(sections);
  }
  // Rotated while nines was down: the new file's lines all came after the save.
  std::filesystem::rename(log, dir.path() / "access.log.1");
  Append(log, 6);
  collectors::AccessLogMetrics metrics;
  daemon::AccessLogSources sources(metrics);
  sources.SetResumePositions(sections);
  ASSERT_EQ(sources.Apply(LogConfig(log)), "");
  ASSERT_TRUE(Eventually([&] { return LinesRead(metrics) == 6; }));
}

TEST(LogPositionTest, APositionOfAnotherPathOrGarbageIsIgnored) {
  testing::TempDir dir;
  const std::filesystem::path log = dir.path() / "access.log";
  Append(log, 4);
  Sections sections;
  {
    collectors::AccessLogMetrics metrics;
    daemon::AccessLogSources sources(metrics);
    ASSERT_EQ(sources.Apply(LogConfig(dir.path() / "other.log")), "");
    sources.Save(sections);
  }
  sections["log/broken"] = "\xff";
  collectors::AccessLogMetrics metrics;
  daemon::AccessLogSources sources(metrics);
  sources.SetResumePositions(sections);
  ASSERT_EQ(sources.Apply(LogConfig(log)), "");
  Append(log, 1);
  // Not resumed from other.log's position: access.log is followed from its end.
  ASSERT_TRUE(Eventually([&] { return LinesRead(metrics) == 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(LinesRead(metrics), 1);
}

}  // namespace
}  // namespace nines::state
