// Tests of the filesystem collector.
//
// Fixtures: tests/fixtures/proc/1/mounts is this machine's /proc/1/mounts (kernel 6.x),
// less one line naming the sandbox the tests were written in. tests/fixtures/old/proc/mounts
// is written by hand in the shape of a CentOS 7 (kernel 3.10) host: a "rootfs" line, cgroup
// v1 mounts, an NFS mount, a mount point with a space (\040) mounted twice, and no
// proc/1/mounts beside it (as under hidepid), so it also exercises the fallback to
// proc/mounts. statfs is faked in the golden tests, so the numbers are fixed.
#include "collectors/filesystem.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "collectors/factories.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::DecodeMountPoint;
using internal::HasReadOnlyOption;
using internal::MountEntry;
using internal::NewFilesystemCollectorWithStatFs;
using internal::ParseMounts;
using internal::StatFsFunction;
using internal::StatFsResult;
using internal::StripRootfsPrefix;
using prometheus::MetricFamily;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

using Clock = std::chrono::steady_clock;

// The message of the exception `fn()` throws, or "(no error)".
template <typename Exception, typename Fn>
std::string ErrorFrom(Fn fn) {
  try {
    fn();
  } catch (const Exception& e) {
    return e.what();
  }
  return "(no error)";
}

// ---------------------------------------------------------------------------------------
// ParseMounts

TEST(ParseMountsTest, ParsesKernelLines) {
  EXPECT_THAT(
      ParseMounts("proc /proc proc rw,relatime 0 0\n"
                  "/dev/vda / ext4 rw,relatime,discard 0 0\n"
                  "tmpfs /run/user/0 tmpfs ro,nosuid,nodev,size=4k,mode=755 0 0\n"),
      ElementsAre(MountEntry{"proc", "/proc", "proc", "rw,relatime"},
                  MountEntry{"/dev/vda", "/", "ext4", "rw,relatime,discard"},
                  MountEntry{"tmpfs", "/run/user/0", "tmpfs", "ro,nosuid,nodev,size=4k,mode=755"}));
}

TEST(ParseMountsTest, EmptyTextHasNoMounts) { EXPECT_THAT(ParseMounts(""), IsEmpty()); }

TEST(ParseMountsTest, LastLineNeedsNoNewline) {
  EXPECT_THAT(ParseMounts("a /b c d"), ElementsAre(MountEntry{"a", "/b", "c", "d"}));
}

TEST(ParseMountsTest, SplitsOnRunsOfSpacesAndTabsAndDropsCarriageReturns) {
  EXPECT_THAT(ParseMounts("  a\t\t/b  c \t d 0 0\r\n"),
              ElementsAre(MountEntry{"a", "/b", "c", "d"}));
}

TEST(ParseMountsTest, IgnoresFieldsAfterTheFourth) {
  EXPECT_THAT(ParseMounts("a /b c d 0 0 extra fields here\na /e c d\n"),
              ElementsAre(MountEntry{"a", "/b", "c", "d"}, MountEntry{"a", "/e", "c", "d"}));
}

TEST(ParseMountsTest, DecodesSpaceAndTabInMountPointOnly) {
  EXPECT_THAT(ParseMounts("my\\040dev /mnt/a\\040b\\011c ext4 rw 0 0\n"),
              ElementsAre(MountEntry{"my\\040dev", "/mnt/a b\tc", "ext4", "rw"}));
}

TEST(ParseMountsTest, KeepsNewlineAndBackslashEscapesAsNodeExporterDoes) {
  EXPECT_THAT(ParseMounts("tmpfs /mnt/back\\134slash\\012nl tmpfs rw 0 0\n"),
              ElementsAre(MountEntry{"tmpfs", "/mnt/back\\134slash\\012nl", "tmpfs", "rw"}));
}

TEST(ParseMountsTest, FewerThanFourFieldsFailsTheFile) {
  EXPECT_EQ(ErrorFrom<std::runtime_error>([] { ParseMounts("a /b c d\na /b c\n"); }),
            "line 2: malformed mount line: 3 fields, want at least 4 (got \"a /b c\")");
}

TEST(ParseMountsTest, TruncatedLastLineFailsTheFile) {
  EXPECT_EQ(ErrorFrom<std::runtime_error>([] { ParseMounts("a /b c d 0 0\n/dev/sd"); }),
            "line 2: malformed mount line: 1 fields, want at least 4 (got \"/dev/sd\")");
}

TEST(ParseMountsTest, EmptyLineFailsTheFile) {
  EXPECT_EQ(ErrorFrom<std::runtime_error>([] { ParseMounts("a /b c d\n\na /e c d\n"); }),
            "line 2: malformed mount line: 0 fields, want at least 4 (got \"\")");
  EXPECT_EQ(ErrorFrom<std::runtime_error>([] { ParseMounts("\n"); }),
            "line 1: malformed mount line: 0 fields, want at least 4 (got \"\")");
}

TEST(ParseMountsTest, BinaryJunkFailsWithTheJunkEscaped) {
  EXPECT_EQ(ErrorFrom<std::runtime_error>(
                [] { ParseMounts(std::string_view("\x01\xff\"\\ \x00z\n", 8)); }),
            "line 1: malformed mount line: 2 fields, want at least 4 (got "
            "\"\\x01\\xff\\\"\\\\ \\x00z\")");
}

TEST(ParseMountsTest, LongGarbageIsCutShortInTheMessage) {
  const std::string garbage(200, 'x');
  EXPECT_EQ(ErrorFrom<std::runtime_error>([&] { ParseMounts(garbage); }),
            "line 1: malformed mount line: 1 fields, want at least 4 (got \"" +
                std::string(64, 'x') + "...\")");
}

TEST(ParseMountsTest, SkipsLinesWhoseLabelsAreNotUtf8) {
  EXPECT_THAT(
      ParseMounts("a /ok c d\n"
                  "a /latin1-\xe9t\xe9 c d\n"        // Latin-1 bytes
                  "\xc0\xaf /overlong c d\n"         // overlong '/'
                  "a /surrogate-\xed\xa0\x80 c d\n"  // UTF-16 surrogate
                  "a /big c-\xf4\x90\x80\x80 d\n"    // above U+10FFFF
                  "a /cut-\xe2\x82 c d\n"            // truncated sequence
                  "a /caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80 c opts-\xff\n"),
      ElementsAre(MountEntry{"a", "/ok", "c", "d"},
                  MountEntry{"a", "/caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80", "c", "opts-\xff"}));
}

// ---------------------------------------------------------------------------------------
// DecodeMountPoint, StripRootfsPrefix, HasReadOnlyOption

TEST(DecodeMountPointTest, DecodesOnlySpaceAndTab) {
  EXPECT_EQ(DecodeMountPoint("/plain"), "/plain");
  EXPECT_EQ(DecodeMountPoint("/a\\040b"), "/a b");
  EXPECT_EQ(DecodeMountPoint("/a\\011b"), "/a\tb");
  EXPECT_EQ(DecodeMountPoint("\\040\\040"), "  ");
  EXPECT_EQ(DecodeMountPoint("/a\\\\040"), "/a\\ ");
  EXPECT_EQ(DecodeMountPoint("/a\\012b\\134"), "/a\\012b\\134");
  EXPECT_EQ(DecodeMountPoint("/a\\04"), "/a\\04");
  EXPECT_EQ(DecodeMountPoint("/a\\"), "/a\\");
  EXPECT_EQ(DecodeMountPoint(""), "");
}

TEST(StripRootfsPrefixTest, RootfsSlashChangesNothing) {
  EXPECT_EQ(StripRootfsPrefix("/", "/"), "/");
  EXPECT_EQ(StripRootfsPrefix("/host/boot", "/"), "/host/boot");
}

TEST(StripRootfsPrefixTest, StripsWholeComponentsOnly) {
  EXPECT_EQ(StripRootfsPrefix("/host", "/host"), "/");
  EXPECT_EQ(StripRootfsPrefix("/host/", "/host"), "/");
  EXPECT_EQ(StripRootfsPrefix("/host/boot", "/host"), "/boot");
  EXPECT_EQ(StripRootfsPrefix("/host/boot", "/host/"), "/boot");
  EXPECT_EQ(StripRootfsPrefix("/host/boot", "/host//"), "/boot");
  EXPECT_EQ(StripRootfsPrefix("/hostfs", "/host"), "/hostfs");
  EXPECT_EQ(StripRootfsPrefix("/proc", "/host"), "/proc");
  EXPECT_EQ(StripRootfsPrefix("/", "/host"), "/");
}

TEST(HasReadOnlyOptionTest, LooksForTheWholeOption) {
  EXPECT_TRUE(HasReadOnlyOption("ro"));
  EXPECT_TRUE(HasReadOnlyOption("ro,relatime"));
  EXPECT_TRUE(HasReadOnlyOption("nosuid,ro"));
  EXPECT_TRUE(HasReadOnlyOption("a,ro,b"));
  EXPECT_FALSE(HasReadOnlyOption("rw,relatime"));
  EXPECT_FALSE(HasReadOnlyOption("errors=remount-ro"));
  EXPECT_FALSE(HasReadOnlyOption("rootcontext=x,ro2"));
  EXPECT_FALSE(HasReadOnlyOption(""));
}

TEST(SystemStatFsTest, StatsARealPathAndReportsErrno) {
  const StatFsResult root = internal::SystemStatFs("/");
  EXPECT_EQ(root.error, 0);
  EXPECT_GT(root.block_size, 0u);
  EXPECT_GT(root.blocks, 0u);
  EXPECT_LE(root.blocks_available, root.blocks);
  EXPECT_EQ(internal::SystemStatFs("/nonexistent/nines").error, ENOENT);
}

// ---------------------------------------------------------------------------------------
// The collector, with a fake statfs.

// A statfs fake whose state outlives the collector (a worker stuck in it may do so).
// Paths without a result fail with ENOENT; blocked paths wait until released.
class FakeStatFs {
 public:
  void Set(const std::string& path, StatFsResult result) {
    std::lock_guard lock(state_->mu);
    state_->results[path] = result;
  }
  void SetDelay(const std::string& path, std::chrono::milliseconds delay) {
    std::lock_guard lock(state_->mu);
    state_->delays[path] = delay;
  }
  void SetThrows(const std::string& path) {
    std::lock_guard lock(state_->mu);
    state_->throws.insert(path);
  }
  void Block(const std::string& path) {
    std::lock_guard lock(state_->mu);
    state_->blocked.insert(path);
  }
  void Release(const std::string& path) {
    std::lock_guard lock(state_->mu);
    state_->blocked.erase(path);
    state_->cv.notify_all();
  }
  int Calls(const std::string& path) const {
    std::lock_guard lock(state_->mu);
    auto it = state_->calls.find(path);
    return it == state_->calls.end() ? 0 : it->second;
  }
  std::map<std::string, int> AllCalls() const {
    std::lock_guard lock(state_->mu);
    return state_->calls;
  }
  // Waits until `count` calls on `path` have returned from the fake.
  bool WaitReturned(const std::string& path, int count) const {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, 5s, [&] { return state_->returned[path] >= count; });
  }

  StatFsFunction Function() const {
    return [state = state_](const std::string& path) {
      std::unique_lock lock(state->mu);
      ++state->calls[path];
      state->cv.wait(lock, [&] { return !state->blocked.contains(path); });
      if (auto it = state->delays.find(path); it != state->delays.end()) {
        const auto delay = it->second;
        lock.unlock();
        std::this_thread::sleep_for(delay);
        lock.lock();
      }
      ++state->returned[path];
      state->cv.notify_all();
      if (state->throws.contains(path)) {
        throw std::runtime_error("fake statfs failure");
      }
      auto it = state->results.find(path);
      return it == state->results.end() ? StatFsResult{.error = ENOENT} : it->second;
    };
  }

 private:
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, StatFsResult> results;
    std::map<std::string, std::chrono::milliseconds> delays;
    std::set<std::string> throws;
    std::set<std::string> blocked;
    std::map<std::string, int> calls;
    std::map<std::string, int> returned;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

StatFsResult Stats(std::uint64_t block_size, std::uint64_t blocks, std::uint64_t blocks_free,
                   std::uint64_t blocks_available, std::uint64_t files, std::uint64_t files_free) {
  return StatFsResult{.error = 0,
                      .block_size = block_size,
                      .blocks = blocks,
                      .blocks_free = blocks_free,
                      .blocks_available = blocks_available,
                      .files = files,
                      .files_free = files_free};
}

// A procfs tree in a fresh temporary directory, removed at the end of the test.
class TempProc {
 public:
  TempProc() {
    std::string pattern = ::testing::TempDir() + "nines_filesystem_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    root_ = pattern;
  }
  ~TempProc() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempProc(const TempProc&) = delete;
  TempProc& operator=(const TempProc&) = delete;

  void Write(const std::string& relative, std::string_view text) const {
    const std::filesystem::path path = root_ / "proc" / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }
  std::string Procfs() const { return (root_ / "proc").string(); }

 private:
  std::filesystem::path root_;
};

CollectorOptions OptionsFor(const std::string& procfs) {
  CollectorOptions options;
  options.paths.procfs = procfs;
  options.paths.rootfs = "/";
  return options;
}

std::vector<MetricFamily> Scrape(const Collector& collector) {
  MetricSink sink;
  collector.Update(sink);
  return sink.Take();
}

// The value of the `name` series with mountpoint `mount_point`, if there is one.
std::optional<double> Value(const std::vector<MetricFamily>& families, std::string_view name,
                            std::string_view mount_point) {
  for (const MetricFamily& family : families) {
    if (family.name != name) {
      continue;
    }
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "mountpoint" && label.value == mount_point) {
          return metric.gauge.value;
        }
      }
    }
  }
  return std::nullopt;
}

// "device fstype mountpoint" of every series of `name`, in order.
std::vector<std::string> SeriesOf(const std::vector<MetricFamily>& families,
                                  std::string_view name) {
  std::vector<std::string> series;
  for (const MetricFamily& family : families) {
    if (family.name != name) {
      continue;
    }
    for (const auto& metric : family.metric) {
      std::string line;
      for (const auto& label : metric.label) {
        line += (line.empty() ? "" : " ") + label.name + "=" + label.value;
      }
      series.push_back(line);
    }
  }
  return series;
}

TEST(FilesystemCollectorTest, GoldenThisMachine) {
  FakeStatFs fake;
  // Numbers like this machine's root filesystem.
  fake.Set("/", Stats(4096, 66053021, 61579737, 20610525, 16777216, 16349277));
  auto collector = NewFilesystemCollectorWithStatFs(
      OptionsFor(std::string(NINES_FIXTURES_DIR) + "/proc"), fake.Function());
  nines::testing::ExpectGolden(Scrape(*collector), "filesystem");
}

TEST(FilesystemCollectorTest, GoldenOldKernelFallsBackToProcMounts) {
  FakeStatFs fake;
  fake.Set("/", Stats(4096, 13100800, 11000000, 10500000, 26214400, 26000000));
  fake.Set("/boot", Stats(4096, 259584, 200000, 200000, 524288, 523900));
  fake.Set("/home", Stats(4096, 6553600, 6000000, 5900000, 13107200, 13100000));
  fake.Set("/mnt/backups", StatFsResult{.error = ESTALE});
  fake.Set("/srv/media library", Stats(1024, 1000000, 250000, 200000, 65536, 60000));
  fake.Set("/run", Stats(4096, 482055, 481000, 481000, 482055, 481500));
  fake.Set("/run/user/1000", Stats(4096, 97005, 97005, 97005, 97005, 96990));
  auto collector = NewFilesystemCollectorWithStatFs(
      OptionsFor(std::string(NINES_FIXTURES_DIR) + "/old/proc"), fake.Function());
  nines::testing::ExpectGolden(Scrape(*collector), "filesystem_old");
  // rootfs and the real root are both "/": one statfs. The media mount, listed twice,
  // once. Excluded mounts are never statted.
  EXPECT_EQ(fake.AllCalls(), (std::map<std::string, int>{{"/", 1},
                                                         {"/boot", 1},
                                                         {"/home", 1},
                                                         {"/mnt/backups", 1},
                                                         {"/run", 1},
                                                         {"/run/user/1000", 1},
                                                         {"/srv/media library", 1}}));
}

TEST(FilesystemCollectorTest, PrefersPid1MountsOverProcMounts) {
  TempProc proc;
  proc.Write("1/mounts", "/dev/a /pid1 ext4 rw 0 0\n");
  proc.Write("mounts", "/dev/b /self ext4 rw 0 0\n");
  FakeStatFs fake;
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  EXPECT_THAT(SeriesOf(Scrape(*collector), "node_filesystem_device_error"),
              ElementsAre("device=/dev/a fstype=ext4 mountpoint=/pid1"));
}

TEST(FilesystemCollectorTest, FallsBackToProcMountsWhenPid1IsHidden) {
  TempProc proc;
  proc.Write("mounts", "/dev/b /self ext4 rw 0 0\n");
  FakeStatFs fake;
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  EXPECT_THAT(SeriesOf(Scrape(*collector), "node_filesystem_device_error"),
              ElementsAre("device=/dev/b fstype=ext4 mountpoint=/self"));
}

TEST(FilesystemCollectorTest, Pid1MountsUnreadableForAnotherReasonFails) {
  TempProc proc;
  proc.Write("1/mounts/not-a-file", "");
  proc.Write("mounts", "/dev/b /self ext4 rw 0 0\n");
  FakeStatFs fake;
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  EXPECT_EQ(ErrorFrom<std::runtime_error>([&] { Scrape(*collector); }),
            "cannot read " + proc.Procfs() + "/1/mounts: Is a directory");
}

TEST(FilesystemCollectorTest, NoMountsFileFails) {
  TempProc proc;
  proc.Write("stat", "");
  FakeStatFs fake;
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  EXPECT_EQ(ErrorFrom<std::runtime_error>([&] { Scrape(*collector); }),
            "cannot read " + proc.Procfs() + "/mounts: No such file or directory");
}

TEST(FilesystemCollectorTest, MalformedMountsFailNamingTheFile) {
  TempProc proc;
  proc.Write("1/mounts", "/dev/a / ext4 rw 0 0\n/dev/b /x\n");
  FakeStatFs fake;
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  EXPECT_EQ(ErrorFrom<std::runtime_error>([&] { Scrape(*collector); }),
            proc.Procfs() +
                "/1/mounts: line 2: malformed mount line: 2 fields, want at least 4 (got "
                "\"/dev/b /x\")");
  EXPECT_THAT(fake.AllCalls(), IsEmpty());
}

TEST(FilesystemCollectorTest, EmptyMountsGiveNoSeries) {
  TempProc proc;
  proc.Write("1/mounts", "");
  FakeStatFs fake;
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  EXPECT_THAT(Scrape(*collector), IsEmpty());
}

TEST(FilesystemCollectorTest, AppliesTheUpstreamDefaultExcludes) {
  TempProc proc;
  proc.Write("1/mounts",
             "/dev/a / ext4 rw 0 0\n"
             "tmpfs /dev/shm tmpfs rw 0 0\n"
             "tmpfs /devices tmpfs rw 0 0\n"
             "proc /proc proc rw 0 0\n"
             "tmpfs /run tmpfs rw 0 0\n"
             "tmpfs /run/credentials tmpfs rw 0 0\n"
             "tmpfs /run/credentials/getty.service tmpfs rw 0 0\n"
             "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n"
             "/dev/a /var/lib/docker ext4 rw 0 0\n"
             "overlay /var/lib/docker/overlay2/abc/merged xfs rw 0 0\n"
             "shm /var/lib/containers/storage/overlay-containers/x/shm tmpfs rw 0 0\n"
             "nsfs /run/netns/x nsfs rw 0 0\n"
             "overlay /merged overlay rw 0 0\n"
             "cgroup2 /cg cgroup2 rw 0 0\n"
             "/dev/loop0 /snap/core/1 squashfs ro 0 0\n"
             "fuse /mnt/fuse fuse.sshfs rw 0 0\n");
  FakeStatFs fake;
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  EXPECT_THAT(SeriesOf(Scrape(*collector), "node_filesystem_device_error"),
              ElementsAre("device=/dev/a fstype=ext4 mountpoint=/",
                          "device=/dev/a fstype=ext4 mountpoint=/var/lib/docker",
                          "device=fuse fstype=fuse.sshfs mountpoint=/mnt/fuse",
                          "device=tmpfs fstype=tmpfs mountpoint=/devices",
                          "device=tmpfs fstype=tmpfs mountpoint=/run",
                          "device=tmpfs fstype=tmpfs mountpoint=/run/credentials"));
}

TEST(FilesystemCollectorTest, AppliesCustomExcludes) {
  TempProc proc;
  proc.Write("1/mounts",
             "/dev/a / ext4 rw 0 0\n"
             "/dev/b /data xfs rw 0 0\n"
             "tmpfs /dev/shm tmpfs rw 0 0\n"
             "proc /proc proc rw 0 0\n");
  CollectorOptions options = OptionsFor(proc.Procfs());
  options.filesystem_mount_points_exclude = "^/data$";
  options.filesystem_fs_types_exclude = "^ext";
  FakeStatFs fake;
  auto collector = NewFilesystemCollectorWithStatFs(options, fake.Function());
  EXPECT_THAT(SeriesOf(Scrape(*collector), "node_filesystem_device_error"),
              ElementsAre("device=proc fstype=proc mountpoint=/proc",
                          "device=tmpfs fstype=tmpfs mountpoint=/dev/shm"));
}

TEST(FilesystemCollectorTest, InvalidExcludePatternsNameTheFlag) {
  CollectorOptions options;
  options.filesystem_mount_points_exclude = "(";
  EXPECT_EQ(ErrorFrom<std::invalid_argument>([&] { NewFilesystemCollector(options); }),
            "--collector.filesystem.mount-points-exclude: invalid regular expression: "
            "missing ): ( (got \"(\")");
  options = CollectorOptions();
  options.filesystem_fs_types_exclude = "a**";
  EXPECT_EQ(ErrorFrom<std::invalid_argument>([&] { NewFilesystemCollector(options); }),
            "--collector.filesystem.fs-types-exclude: invalid regular expression: "
            "bad repetition operator: ** (got \"a**\")");
}

TEST(FilesystemCollectorTest, NonPositiveTimeoutIsRejected) {
  CollectorOptions options;
  options.filesystem_mount_timeout = 0ms;
  EXPECT_EQ(ErrorFrom<std::invalid_argument>([&] { NewFilesystemCollector(options); }),
            "--collector.filesystem.mount-timeout: must be positive (got 0ms)");
}

TEST(FilesystemCollectorTest, HugeTimeoutIsAccepted) {
  TempProc proc;
  proc.Write("1/mounts", "/dev/a /data ext4 rw 0 0\n");
  CollectorOptions options = OptionsFor(proc.Procfs());
  options.filesystem_mount_timeout = std::chrono::milliseconds::max();
  FakeStatFs fake;
  fake.Set("/data", Stats(2, 3, 1, 1, 1, 1));
  auto collector = NewFilesystemCollectorWithStatFs(options, fake.Function());
  EXPECT_EQ(Value(Scrape(*collector), "node_filesystem_size_bytes", "/data"), 6);
}

TEST(FilesystemCollectorTest, DuplicateMountKeepsTheFirst) {
  TempProc proc;
  proc.Write("1/mounts",
             "/dev/a /data ext4 rw 0 0\n"
             "/dev/a /data ext4 ro 0 0\n"
             "/dev/b /data ext4 ro 0 0\n");
  FakeStatFs fake;
  fake.Set("/data", Stats(4096, 10, 5, 4, 100, 50));
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  const auto families = Scrape(*collector);
  EXPECT_THAT(SeriesOf(families, "node_filesystem_readonly"),
              ElementsAre("device=/dev/a fstype=ext4 mountpoint=/data",
                          "device=/dev/b fstype=ext4 mountpoint=/data"));
  ASSERT_EQ(families.size(), 7u);
  for (const MetricFamily& family : families) {
    ASSERT_EQ(family.metric.size(), 2u) << family.name;
  }
  // The first /dev/a line (rw), and /dev/b (ro); the path is statted once.
  EXPECT_EQ(families.back().name, "node_filesystem_readonly");
  EXPECT_EQ(families.back().metric[0].gauge.value, 0);
  EXPECT_EQ(families.back().metric[1].gauge.value, 1);
  EXPECT_EQ(fake.Calls("/data"), 1);
}

TEST(FilesystemCollectorTest, FailedStatfsReportsOnlyDeviceError) {
  TempProc proc;
  proc.Write("1/mounts", "/dev/a /gone ext4 ro 0 0\n/dev/b /throws ext4 rw 0 0\n");
  FakeStatFs fake;
  fake.SetThrows("/throws");
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  const auto families = Scrape(*collector);
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "node_filesystem_device_error");
  EXPECT_THAT(SeriesOf(families, "node_filesystem_device_error"),
              ElementsAre("device=/dev/a fstype=ext4 mountpoint=/gone",
                          "device=/dev/b fstype=ext4 mountpoint=/throws"));
  EXPECT_EQ(Value(families, "node_filesystem_device_error", "/gone"), 1);
  EXPECT_EQ(Value(families, "node_filesystem_device_error", "/throws"), 1);
}

TEST(FilesystemCollectorTest, StripsTheRootfsPrefixAndStatsUnderRootfs) {
  TempProc proc;
  proc.Write("1/mounts",
             "/dev/a /host ext4 rw 0 0\n"
             "/dev/b /host/data xfs rw 0 0\n"
             "/dev/c /hostfs xfs rw 0 0\n"
             "/dev/d /etc/hosts ext4 rw 0 0\n");
  CollectorOptions options = OptionsFor(proc.Procfs());
  options.paths.rootfs = "/host";
  FakeStatFs fake;
  fake.Set("/host", Stats(1, 1, 1, 1, 1, 1));
  fake.Set("/host/data", Stats(2, 2, 2, 2, 2, 2));
  auto collector = NewFilesystemCollectorWithStatFs(options, fake.Function());
  const auto families = Scrape(*collector);
  EXPECT_THAT(SeriesOf(families, "node_filesystem_device_error"),
              ElementsAre("device=/dev/a fstype=ext4 mountpoint=/",
                          "device=/dev/b fstype=xfs mountpoint=/data",
                          "device=/dev/c fstype=xfs mountpoint=/hostfs",
                          "device=/dev/d fstype=ext4 mountpoint=/etc/hosts"));
  EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/"), 1);
  EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/data"), 4);
  EXPECT_EQ(fake.AllCalls(),
            (std::map<std::string, int>{
                {"/host", 1}, {"/host/data", 1}, {"/host/etc/hosts", 1}, {"/host/hostfs", 1}}));
}

TEST(FilesystemCollectorTest, ComputesBytesAsDoubles) {
  TempProc proc;
  proc.Write("1/mounts", "/dev/a /big ext4 rw 0 0\n");
  FakeStatFs fake;
  // blocks * block size overflows uint64; node_exporter multiplies float64s.
  fake.Set("/big", Stats(1 << 20, 1ULL << 50, 1ULL << 49, 3, 1ULL << 63, 0));
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), fake.Function());
  const auto families = Scrape(*collector);
  EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/big"), 0x1p70);
  EXPECT_EQ(Value(families, "node_filesystem_free_bytes", "/big"), 0x1p69);
  EXPECT_EQ(Value(families, "node_filesystem_avail_bytes", "/big"), 3 * 0x1p20);
  EXPECT_EQ(Value(families, "node_filesystem_files", "/big"), 0x1p63);
  EXPECT_EQ(Value(families, "node_filesystem_files_free", "/big"), 0);
}

// ---------------------------------------------------------------------------------------
// Hanging statfs (a dead NFS server).

constexpr auto kTimeout = 300ms;
// What a scrape may take beyond the timeout (thread start-up, a loaded CI machine,
// sanitizers).
constexpr auto kMargin = 400ms;

struct HangFixture {
  HangFixture() {
    proc.Write("1/mounts",
               "/dev/a / ext4 rw 0 0\n"
               "nfs:/export /mnt/nfs nfs4 rw 0 0\n");
    fake.Set("/", Stats(4096, 100, 50, 40, 1000, 500));
    fake.Set("/mnt/nfs", Stats(1024, 7, 6, 5, 4, 3));
    fake.Block("/mnt/nfs");
    CollectorOptions options = OptionsFor(proc.Procfs());
    options.filesystem_mount_timeout = kTimeout;
    collector = NewFilesystemCollectorWithStatFs(options, fake.Function());
  }
  ~HangFixture() { fake.Release("/mnt/nfs"); }

  TempProc proc;
  FakeStatFs fake;
  std::unique_ptr<Collector> collector;
};

TEST(FilesystemCollectorTest, HangingStatfsTimesOutAndIsNotRetriedUntilItReturns) {
  HangFixture f;

  // First scrape: waits out the timeout, then reports the mount as failed.
  auto start = Clock::now();
  auto families = Scrape(*f.collector);
  auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, kTimeout);
  EXPECT_LT(elapsed, kTimeout + kMargin);
  EXPECT_EQ(Value(families, "node_filesystem_device_error", "/mnt/nfs"), 1);
  EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/mnt/nfs"), std::nullopt);
  EXPECT_EQ(Value(families, "node_filesystem_readonly", "/mnt/nfs"), std::nullopt);
  EXPECT_EQ(Value(families, "node_filesystem_device_error", "/"), 0);
  EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/"), 409600);
  EXPECT_EQ(f.fake.Calls("/mnt/nfs"), 1);

  // While the call hangs: at once, and no second call.
  for (int i = 0; i < 3; ++i) {
    start = Clock::now();
    families = Scrape(*f.collector);
    elapsed = Clock::now() - start;
    EXPECT_LT(elapsed, 100ms);
    EXPECT_EQ(Value(families, "node_filesystem_device_error", "/mnt/nfs"), 1);
    EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/"), 409600);
  }
  EXPECT_EQ(f.fake.Calls("/mnt/nfs"), 1);
  EXPECT_EQ(f.fake.Calls("/"), 4);

  // Once the call returns, the mount is statted again. The collector learns of the return
  // just after the fake does, so a scrape in between still sees the mount as stuck.
  f.fake.Release("/mnt/nfs");
  ASSERT_TRUE(f.fake.WaitReturned("/mnt/nfs", 1));
  const auto give_up = Clock::now() + 5s;
  do {
    families = Scrape(*f.collector);
  } while (Value(families, "node_filesystem_device_error", "/mnt/nfs") != 0 &&
           Clock::now() < give_up);
  EXPECT_EQ(Value(families, "node_filesystem_device_error", "/mnt/nfs"), 0);
  EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/mnt/nfs"), 7 * 1024);
  EXPECT_EQ(Value(families, "node_filesystem_avail_bytes", "/mnt/nfs"), 5 * 1024);
  EXPECT_EQ(Value(families, "node_filesystem_readonly", "/mnt/nfs"), 0);
  EXPECT_EQ(f.fake.Calls("/mnt/nfs"), 2);
}

TEST(FilesystemCollectorTest, ConcurrentScrapesShareOneHangingCall) {
  HangFixture f;
  std::vector<std::thread> scrapers;
  scrapers.reserve(8);
  std::atomic<int> failed{0};
  std::atomic<int> slow{0};
  for (int i = 0; i < 8; ++i) {
    scrapers.emplace_back([&] {
      const auto start = Clock::now();
      const auto families = Scrape(*f.collector);
      if (Clock::now() - start >= kTimeout + kMargin) {
        ++slow;
      }
      if (Value(families, "node_filesystem_device_error", "/mnt/nfs") == 1) {
        ++failed;
      }
    });
  }
  for (std::thread& scraper : scrapers) {
    scraper.join();
  }
  EXPECT_EQ(failed, 8);
  EXPECT_EQ(slow, 0);
  EXPECT_EQ(f.fake.Calls("/mnt/nfs"), 1);
}

TEST(FilesystemCollectorTest, SeveralHangingMountsTimeOutTogether) {
  TempProc proc;
  std::string mounts = "/dev/a / ext4 rw 0 0\n";
  FakeStatFs fake;
  fake.Set("/", Stats(1, 1, 1, 1, 1, 1));
  // More hanging mounts than workers: the first four time out together, their
  // replacements take the other two, which time out one timeout later.
  const std::vector<std::string> hanging = {"/nfs/1", "/nfs/2", "/nfs/3",
                                            "/nfs/4", "/nfs/5", "/nfs/6"};
  for (const std::string& path : hanging) {
    mounts.append("server:").append(path).append(" ").append(path).append(" nfs4 rw 0 0\n");
    fake.Block(path);
  }
  // And one that is slow but within the timeout, queued behind all of them: its timeout
  // counts from when it starts, so it is not reported as failed.
  mounts += "zz-slow /zz/slow ext4 rw 0 0\n";
  fake.Set("/zz/slow", Stats(1, 2, 2, 2, 2, 2));
  fake.SetDelay("/zz/slow", kTimeout / 2);
  proc.Write("1/mounts", mounts);
  CollectorOptions options = OptionsFor(proc.Procfs());
  options.filesystem_mount_timeout = kTimeout;
  auto collector = NewFilesystemCollectorWithStatFs(options, fake.Function());

  const auto start = Clock::now();
  const auto families = Scrape(*collector);
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 2 * kTimeout);
  EXPECT_LT(elapsed, 2 * kTimeout + kMargin);
  for (const std::string& path : hanging) {
    EXPECT_EQ(Value(families, "node_filesystem_device_error", path), 1) << path;
    EXPECT_EQ(fake.Calls(path), 1) << path;
  }
  EXPECT_EQ(Value(families, "node_filesystem_device_error", "/zz/slow"), 0);
  EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/zz/slow"), 2);
  EXPECT_EQ(Value(families, "node_filesystem_size_bytes", "/"), 1);

  for (const std::string& path : hanging) {
    fake.Release(path);
  }
}

TEST(FilesystemCollectorTest, DestructionDoesNotWaitForAHangingStatfs) {
  auto f = std::make_unique<HangFixture>();
  Scrape(*f->collector);
  const auto start = Clock::now();
  f->collector.reset();
  EXPECT_LT(Clock::now() - start, 100ms);
  // The abandoned worker returns after the collector is gone, touching only shared state.
  FakeStatFs fake = f->fake;
  f.reset();
  EXPECT_TRUE(fake.WaitReturned("/mnt/nfs", 1));
}

// ---------------------------------------------------------------------------------------
// This machine, against the node_exporter installed on it.

// The series of a text exposition whose name starts with `prefix`, by "name{labels}".
std::map<std::string, double> ParseExposition(std::string_view page, std::string_view prefix) {
  std::map<std::string, double> series;
  while (!page.empty()) {
    const std::size_t newline = page.find('\n');
    const std::string_view line = page.substr(0, newline);
    page.remove_prefix(newline == std::string_view::npos ? page.size() : newline + 1);
    if (!line.starts_with(prefix)) {
      continue;
    }
    const std::size_t space = line.rfind(' ');
    series[std::string(line.substr(0, space))] =
        std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return series;
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  // The sockets API takes a sockaddr_in as a sockaddr.
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  return ok ? ntohs(address.sin_port) : 0;
}

// GET http://127.0.0.1:<port><path> over HTTP/1.0; the body, or nullopt.
std::optional<std::string> HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string response;
  char buffer[65536];
  ssize_t n = 0;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t body = response.find("\r\n\r\n");
  if (!response.starts_with("HTTP/1.0 200") && !response.starts_with("HTTP/1.1 200")) {
    return std::nullopt;
  }
  return response.substr(body + 4);
}

std::optional<std::string> FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path == nullptr ? "/usr/bin:/bin" : path;
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    const std::string candidate = std::string(dirs.substr(0, colon)) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    dirs.remove_prefix(colon == std::string_view::npos ? dirs.size() : colon + 1);
  }
  return std::nullopt;
}

// node_exporter with only the filesystem collector and the upstream 1.5 default excludes
// (the ones in CollectorOptions), passed explicitly: Debian's build defaults the mount
// point exclude to "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|
// var/lib/containers/storage/.+)($|/)", which also drops /run, /mnt and /media.
class NodeExporter {
 public:
  NodeExporter(const std::string& binary, const CollectorOptions& options) : port_(FreePort()) {
    std::vector<std::string> args = {
        binary,
        "--web.listen-address=127.0.0.1:" + std::to_string(port_),
        "--collector.disable-defaults",
        "--collector.filesystem",
        "--collector.filesystem.mount-points-exclude=" + options.filesystem_mount_points_exclude,
        "--collector.filesystem.fs-types-exclude=" + options.filesystem_fs_types_exclude,
    };
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    if (::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~NodeExporter() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  NodeExporter(const NodeExporter&) = delete;
  NodeExporter& operator=(const NodeExporter&) = delete;

  // The metrics page, once the server answers; nullopt if it never does.
  std::optional<std::string> Metrics() const {
    if (pid_ <= 0) {
      return std::nullopt;
    }
    for (int attempt = 0; attempt < 100; ++attempt) {
      if (auto page = HttpGet(port_, "/metrics")) {
        return page;
      }
      std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

TEST(FilesystemCollectorTest, AgreesWithNodeExporterOnThisMachine) {
  const auto binary = FindInPath("prometheus-node-exporter");
  if (!binary) {
    GTEST_SKIP() << "prometheus-node-exporter is not installed";
  }
  const CollectorOptions options;  // the real /proc and /, upstream default excludes
  NodeExporter node_exporter(*binary, options);
  const std::optional<std::string> theirs_page = node_exporter.Metrics();
  ASSERT_TRUE(theirs_page.has_value()) << "node_exporter did not serve /metrics";
  const std::map<std::string, double> theirs = ParseExposition(*theirs_page, "node_filesystem_");
  const std::map<std::string, double> ours = ParseExposition(
      nines::testing::RenderFamilies(Scrape(*NewFilesystemCollector(options))), "node_filesystem_");

  ASSERT_FALSE(theirs.empty());
  std::vector<std::string> their_series;
  their_series.reserve(theirs.size());
  std::vector<std::string> our_series;
  our_series.reserve(ours.size());
  for (const auto& [series, value] : theirs) {
    their_series.push_back(series);
  }
  for (const auto& [series, value] : ours) {
    our_series.push_back(series);
  }
  EXPECT_EQ(our_series, their_series);

  // Sizes, inode totals, read-only and errors do not move between the two reads; free
  // space and inodes may (builds run beside the test), by a little.
  for (const auto& [series, their_value] : theirs) {
    auto it = ours.find(series);
    if (it == ours.end()) {
      continue;
    }
    const double our_value = it->second;
    if (series.starts_with("node_filesystem_free_bytes") ||
        series.starts_with("node_filesystem_avail_bytes")) {
      EXPECT_NEAR(our_value, their_value, 512.0 * 1024 * 1024) << series;
    } else if (series.starts_with("node_filesystem_files_free")) {
      EXPECT_NEAR(our_value, their_value, 100000) << series;
    } else {
      EXPECT_EQ(our_value, their_value) << series;
    }
  }
}

}  // namespace
}  // namespace nines::collectors

namespace nines::collectors::internal {
namespace {

// Local filesystems are statted on the scraping thread (no hand-off); network ones on
// the pool, where a hang can time out.
TEST(FilesystemCollectorThreadsTest, LocalOnCallerRemoteOnPool) {
  TempProc proc;
  proc.Write("1/mounts",
             "/dev/a / ext4 rw 0 0\n"
             "tmpfs /tmp tmpfs rw 0 0\n"
             "srv:/x /mnt/nfs nfs4 rw 0 0\n");
  std::mutex mu;
  std::map<std::string, std::thread::id> threads;
  StatFsFunction record = [&](const std::string& path) {
    std::lock_guard lock(mu);
    threads[path] = std::this_thread::get_id();
    return Stats(1, 1, 1, 1, 1, 1);
  };
  auto collector = NewFilesystemCollectorWithStatFs(OptionsFor(proc.Procfs()), record);
  MetricSink sink;
  collector->Update(sink);
  std::lock_guard lock(mu);
  ASSERT_EQ(threads.size(), 3U);
  EXPECT_EQ(threads.at("/"), std::this_thread::get_id());
  EXPECT_EQ(threads.at("/tmp"), std::this_thread::get_id());
  EXPECT_NE(threads.at("/mnt/nfs"), std::this_thread::get_id());
}

}  // namespace
}  // namespace nines::collectors::internal
