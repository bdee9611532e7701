// The text path of `/metrics` (TextSink, TextFamilies, Gatherer::Render, HostCollector::
// CollectText) must print byte for byte what the model path (MetricSink, Gatherer::Gather,
// RenderText) prints; these tests compare the two on the same samples, and cover what
// only the text path has (Discard, the kept-open ProcFile and ProcDir).
#include "collectors/text_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "collectors/factories.h"
#include "collectors/filesystem.h"
#include "collectors/host_collector.h"
#include "collectors/proc_file.h"
#include "collectors/registry.h"
#include "collectors/text_families.h"
#include "exporter/metrics/gatherer.h"
#include "exporter/metrics/text_format.h"

namespace nines::collectors {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Samples that exercise every formatting rule: escaping in help texts and label values,
// families interleaved (as per-device collectors write them), histograms with and without
// labels, and values with every shape AppendValue knows.
void AddSamples(SampleSink& sink) {
  const double inf = std::numeric_limits<double>::infinity();
  for (const char* device : {"sda", "nvme0n1", "we\"ird\\dev\nice"}) {
    sink.Counter("disk_reads_total", "Reads completed.", 1234567, {{"device", device}});
    sink.Gauge("disk_io_now", "I/Os in progress \\ with a\nnewline and \"quotes\".", 0.1,
               {{"device", device}, {"model", ""}});
  }
  sink.Gauge("value_shapes", "Values.", 0, {{"v", "zero"}});
  sink.Gauge("value_shapes", "Values.", -0.0, {{"v", "negative zero"}});
  sink.Gauge("value_shapes", "Values.", 999999, {{"v", "largest plain integer"}});
  sink.Gauge("value_shapes", "Values.", 1e6, {{"v", "1e6"}});
  sink.Gauge("value_shapes", "Values.", -42, {{"v", "negative"}});
  sink.Gauge("value_shapes", "Values.", 1.7e9, {{"v", "large"}});
  sink.Gauge("value_shapes", "Values.", 0.000122672, {{"v", "small"}});
  sink.Gauge("value_shapes", "Values.", 1e-5, {{"v", "tiny"}});
  sink.Gauge("value_shapes", "Values.", std::nan(""), {{"v", "nan"}});
  sink.Gauge("value_shapes", "Values.", inf, {{"v", "inf"}});
  sink.Gauge("value_shapes", "Values.", -inf, {{"v", "-inf"}});
  sink.Gauge("a_first_by_name", "Sorted first.", 1);
  const std::array<double, 3> bounds = {0.005, 0.5, 10};
  const std::array<std::uint64_t, 3> counts = {1, 5, 7};
  sink.Histogram("latency_seconds", "Latency.", bounds, counts, 12.25, 9, {{"probe", "web"}});
  sink.Histogram("latency_seconds", "Latency.", bounds, counts, 0.5, 7, {{"probe", "dns"}});
  sink.Histogram("plain_seconds", "No labels.", bounds, counts, 3, 7);
}

// The families sorted by name, as Gatherer::Gather sorts them, rendered by RenderText.
std::string RenderSorted(std::vector<prometheus::MetricFamily> families) {
  std::stable_sort(families.begin(), families.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  return metrics::RenderText(families);
}

std::string ModelPage(const std::function<void(SampleSink&)>& add) {
  MetricSink sink;
  add(sink);
  return RenderSorted(sink.Take());
}

std::string TextPage(const std::function<void(SampleSink&)>& add) {
  TextFamilies families;
  TextSink sink(families);
  add(sink);
  return families.Render();
}

TEST(TextSink, PrintsWhatTheModelPrints) {
  const std::string page = TextPage(AddSamples);
  EXPECT_EQ(page, ModelPage(AddSamples));
  // Spot checks that the comparison compares something.
  EXPECT_THAT(page,
              HasSubstr("disk_reads_total{device=\"we\\\"ird\\\\dev\\nice\"} 1.234567e+06\n"));
  EXPECT_THAT(page, HasSubstr("# HELP disk_io_now I/Os in progress \\\\ with a\\nnewline and "
                              "\"quotes\".\n"));
  EXPECT_THAT(page, HasSubstr("value_shapes{v=\"negative zero\"} -0\n"));
  EXPECT_THAT(page, HasSubstr("latency_seconds_bucket{probe=\"web\",le=\"+Inf\"} 9\n"));
  EXPECT_THAT(page, HasSubstr("plain_seconds_bucket{le=\"0.005\"} 1\n"));
}

TEST(TextSink, ManyFamiliesGrowTheIndex) {
  const auto add = [](SampleSink& sink) {
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < 300; ++i) {
        sink.Gauge("family_" + std::to_string(i), "Help.", round,
                   {{"round", std::to_string(round)}});
      }
    }
  };
  EXPECT_EQ(TextPage(add), ModelPage(add));
}

TEST(TextSink, DropsASampleOfAnotherTypeThanItsFamily) {
  const std::string page = TextPage([](SampleSink& sink) {
    sink.Gauge("mixed", "Help.", 1);
    sink.Counter("mixed", "Help.", 2);
  });
  EXPECT_EQ(page, "# HELP mixed Help.\n# TYPE mixed gauge\nmixed 1\n");
}

TEST(TextSink, HistogramRejectsMismatchedCounts) {
  TextFamilies families;
  TextSink sink(families);
  const std::array<double, 2> bounds = {1, 2};
  const std::array<std::uint64_t, 1> counts = {1};
  EXPECT_THROW(sink.Histogram("h", "H.", bounds, counts, 1, 1), std::invalid_argument);
  EXPECT_EQ(families.Render(), "");
}

TEST(TextSink, DiscardRemovesOnlyWhatTheSinkWrote) {
  TextFamilies families;
  TextSink kept(families);
  kept.Gauge("kept", "Kept.", 1);
  TextSink failed(families);
  failed.Gauge("failed", "Failed.", 2);
  failed.Counter("failed_total", "Failed.", 3);
  failed.Discard();
  EXPECT_EQ(families.Render(), "# HELP kept Kept.\n# TYPE kept gauge\nkept 1\n");
  // A discarded sink starts over.
  failed.Gauge("again", "Again.", 4);
  EXPECT_EQ(families.Render(),
            "# HELP again Again.\n# TYPE again gauge\nagain 4\n"
            "# HELP kept Kept.\n# TYPE kept gauge\nkept 1\n");
}

// A source that serves the same samples through both interfaces, as HostCollector does.
class BothWays : public prometheus::Collectable, public TextCollectable {
 public:
  explicit BothWays(std::function<void(SampleSink&)> add) : add_(std::move(add)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    MetricSink sink;
    add_(sink);
    return sink.Take();
  }
  void CollectText(TextFamilies& out) const override {
    TextSink sink(out);
    add_(sink);
  }

 private:
  std::function<void(SampleSink&)> add_;
};

// A source of families given in advance.
class FixedFamilies : public prometheus::Collectable {
 public:
  explicit FixedFamilies(std::vector<prometheus::MetricFamily> families)
      : families_(std::move(families)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return families_; }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

TEST(Gatherer, RenderIsRenderTextOfGather) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("shared")
      .Help("From the registry.")
      .Register(*registry)
      .Add({{"from", "registry"}})
      .Set(1);
  prometheus::BuildCounter()
      .Name("disk_reads_total")
      .Help("Registry's.")
      .Register(*registry)
      .Add({{"device", "registry"}})
      .Increment();
  auto other = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("zeta").Help("z").Register(*other).Add({}).Increment();
  metrics::Gatherer gatherer;
  gatherer.Add(registry);
  // A family without samples, whose type wins over the text source's counter.
  gatherer.Add(std::make_shared<FixedFamilies>(std::vector<prometheus::MetricFamily>{
      {"empty_first", "Empty.", prometheus::MetricType::Gauge, {}}}));
  gatherer.Add(std::make_shared<BothWays>([](SampleSink& sink) {
    AddSamples(sink);
    sink.Gauge("shared", "From the text source.", 2, {{"from", "text"}});
    sink.Counter("empty_first", "Text's.", 3);
    sink.Gauge("zeta", "Conflicts with the counter after it.", 4);
  }));
  gatherer.Add(other);
  const std::string page = gatherer.Render();
  EXPECT_EQ(page, metrics::RenderText(gatherer.Gather()));
  EXPECT_THAT(page, HasSubstr("# HELP shared From the registry.\n# TYPE shared gauge\n"
                              "shared{from=\"registry\"} 1\nshared{from=\"text\"} 2\n"));
  EXPECT_THAT(page, Not(HasSubstr("empty_first")));
  EXPECT_THAT(page, HasSubstr("# TYPE zeta gauge\nzeta 4\n"));
}

// A collector that writes some samples and then fails.
class FailingCollector final : public Collector {
 public:
  void Update(SampleSink& sink) const override {
    sink.Gauge("node_half_written", "Never served.", 1);
    throw std::runtime_error("broken on purpose");
  }
};

// Every table collector on the fixture trees, with statfs and the clock faked so that two
// scrapes agree.
std::vector<HostCollector::Entry> FixtureCollectors() {
  const std::string fixtures = NINES_FIXTURES_DIR;
  CollectorOptions options;
  options.paths.procfs = fixtures + "/proc";
  options.paths.sysfs = fixtures + "/sys";
  options.paths.udev_data = fixtures + "/udev/data";
  options.now = [] {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  };
  std::vector<HostCollector::Entry> entries;
  for (const CollectorSpec& spec : AllCollectors()) {
    if (spec.name == "filesystem") {
      entries.push_back({"filesystem", internal::NewFilesystemCollectorWithStatFs(
                                           options, [](const std::string&) {
                                             return internal::StatFsResult{.error = 0,
                                                                           .block_size = 4096,
                                                                           .blocks = 1000,
                                                                           .blocks_free = 500,
                                                                           .blocks_available = 400,
                                                                           .files = 100,
                                                                           .files_free = 50};
                                           })});
    } else {
      entries.push_back({std::string(spec.name), spec.factory(options)});
    }
  }
  entries.push_back({"failing", std::make_unique<FailingCollector>()});
  return entries;
}

// The page without the duration lines, which differ from scrape to scrape.
std::string WithoutDurations(const std::string& page) {
  std::string out;
  std::size_t start = 0;
  while (start < page.size()) {
    const std::size_t end = page.find('\n', start) + 1;
    const std::string_view line(page.data() + start, end - start);
    if (!line.starts_with("nines_scrape_collector_duration_seconds{")) {
      out += line;
    }
    start = end;
  }
  return out;
}

TEST(HostCollector, CollectTextPrintsWhatCollectPrints) {
  HostCollector host(FixtureCollectors());
  TextFamilies families;
  host.CollectText(families);
  const std::string text = WithoutDurations(families.Render());
  const std::string model = WithoutDurations(RenderSorted(host.Collect()));
  EXPECT_EQ(text, model);
  EXPECT_THAT(text, HasSubstr("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}"));
  EXPECT_THAT(text, HasSubstr("node_filesystem_avail_bytes{"));
  EXPECT_THAT(text, HasSubstr("nines_scrape_collector_success{collector=\"failing\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("nines_scrape_collector_success{collector=\"meminfo\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("node_half_written")));
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "nines-proc-file-XXXXXX");
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string Write(const std::string& name, const std::string& text) const {
    std::string path = (path_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(ProcFile, ReadsAFileThatIsReplacedOnEveryRead) {
  TempDir dir;
  const std::string path = dir.Write("stat", "first\n");
  ProcFile file(path);
  EXPECT_EQ(file.Read(), "first\n");
  // A fixture replaced by a new file (a new inode) is read anew: only procfs and sysfs
  // files are kept open.
  const std::string next = dir.Write("stat.new", "second\n");
  std::filesystem::rename(next, path);
  EXPECT_EQ(file.Read(), "second\n");
  std::filesystem::remove(path);
  EXPECT_EQ(file.ReadOptional(), std::nullopt);
  try {
    file.Read();
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_THAT(e.what(), HasSubstr("cannot read " + path + ": "));
  }
}

TEST(ProcFile, ReadsLargeFilesWhole) {
  TempDir dir;
  const std::string text(100000, 'x');
  ProcFile file(dir.Write("big", text));
  EXPECT_EQ(file.Read(), text);
}

TEST(ProcFile, ThrowsForADirectory) {
  TempDir dir;
  ProcFile file(dir.path().string());
  EXPECT_THROW(file.Read(), std::system_error);
}

TEST(ProcFile, KeptProcfsFileIsReadAnew) {
  // /proc/self/io counts the bytes this process read, so each read differs from the one
  // before when the descriptor is read again from offset 0.
  ProcFile file("/proc/self/io");
  const std::optional<std::string> first = file.ReadOptional();
  if (!first) {
    GTEST_SKIP() << "no /proc/self/io";
  }
  const std::string second = file.Read();
  ASSERT_THAT(*first, HasSubstr("rchar:"));
  EXPECT_NE(second, *first);
  EXPECT_THAT(second, HasSubstr("rchar:"));
}

TEST(ProcDir, ListsTheEntriesAsTheyAreNow) {
  TempDir dir;
  ProcDir listing(dir.path().string());
  EXPECT_EQ(listing.List(), std::vector<std::string>{});
  dir.Write("a", "");
  EXPECT_EQ(listing.List(), std::vector<std::string>{"a"});
  EXPECT_EQ(ProcDir((dir.path() / "missing").string()).List(), std::nullopt);
  EXPECT_EQ(ProcDir((dir.path() / "a" / "b").string()).List(), std::nullopt);  // ENOTDIR
}

TEST(ProcDir, KeptProcfsDirectoryIsListedAnew) {
  ProcDir fds("/proc/self/fd");
  const std::optional<std::vector<std::string>> before = fds.List();
  ASSERT_TRUE(before.has_value());
  const int fd = ::dup(0);
  ASSERT_GE(fd, 0);
  const std::optional<std::vector<std::string>> after = fds.List();
  ::close(fd);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->size(), before->size() + 1);
  EXPECT_EQ(fds.List()->size(), before->size());
}

}  // namespace
}  // namespace nines::collectors
