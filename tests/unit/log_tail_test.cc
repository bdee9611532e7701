#include "collectors/log_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/process_runner.h"
#include "tests/unit/log_test_support.h"

namespace nines::collectors {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A clock the test moves by hand, for rotate_wait.
struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  std::function<std::chrono::steady_clock::time_point()> Function() {
    return [this] { return now; };
  }
};

// Polls once and returns the lines delivered.
std::vector<std::string> PollLines(LogTail& tail) {
  std::vector<std::string> lines;
  const LogTail::PollResult result =
      tail.Poll([&lines](std::string_view line) { lines.emplace_back(line); });
  EXPECT_EQ(result.lines, lines.size());
  EXPECT_FALSE(result.more);
  return lines;
}

std::uint64_t InodeOf(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return static_cast<std::uint64_t>(st.st_ino);
}

class LogTailTest : public ::testing::Test {
 protected:
  LogTailOptions Options(LogStart start = LogStart::kAtEnd) {
    LogTailOptions options;
    options.start = start;
    options.clock = clock_.Function();
    return options;
  }

  testing::TempDir dir_{"nines-log-tail"};
  std::filesystem::path log_ = dir_.path() / "access.log";
  FakeClock clock_;
};

TEST_F(LogTailTest, DeliversExactlyTheLinesAppendedAfterStart) {
  dir_.WriteFile("access.log", "old 1\nold 2\n");
  LogTail tail(log_.string(), Options());
  EXPECT_EQ(tail.state(), LogTailState::kFollowing);
  EXPECT_THAT(tail.message(), IsEmpty());
  EXPECT_THAT(PollLines(tail), IsEmpty());

  testing::AppendWriter writer(log_);
  writer.Write("a\nb\n");
  writer.Write("\nc\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("a", "b", "", "c"));
  EXPECT_THAT(PollLines(tail), IsEmpty());
  writer.Write("d\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("d"));
  EXPECT_EQ(tail.stats().lines, 5U);
  EXPECT_EQ(tail.stats().rotations, 0U);
}

TEST_F(LogTailTest, KeepsAPartialLineUntilItsNewlineArrives) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("first\nsec");
  EXPECT_THAT(PollLines(tail), ElementsAre("first"));
  // The position stays at the start of the unfinished line, so a resume re-reads it.
  EXPECT_EQ(tail.Position().offset, 6U);
  writer.Write("ond");
  EXPECT_THAT(PollLines(tail), IsEmpty());
  writer.Write(" half\nthird\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("second half", "third"));
  EXPECT_EQ(tail.Position().offset, 24U);
}

TEST_F(LogTailTest, StartAtEndSkipsTheRestOfAnUnterminatedLastLine) {
  dir_.WriteFile("access.log", "done\nhalf a li");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("ne\nnext\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("next"));
}

TEST_F(LogTailTest, StartAtBeginningDeliversWhatIsAlreadyThere) {
  dir_.WriteFile("access.log", "x\ny\n");
  LogTail tail(log_.string(), Options(LogStart::kAtBeginning));
  EXPECT_THAT(PollLines(tail), ElementsAre("x", "y"));
}

TEST_F(LogTailTest, KeepsCarriageReturnsAsContent) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("a\r\nb\r\n\r\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("a\r", "b\r", "\r"));
}

// logrotate `create`: rename, create a new file, then signal the writer to reopen. Between
// the rename and the reopen the writer still appends to the renamed file.
TEST_F(LogTailTest, RenameAndCreateLosesNoLineAndRepeatsNone) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("1\n2\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("1", "2"));
  const std::uint64_t old_inode = InodeOf(log_);

  writer.Write("3\n");  // never polled before the rename
  std::filesystem::rename(log_, dir_.path() / "access.log.1");
  dir_.WriteFile("access.log", "");
  writer.Write("4\n");  // still to the old file: the writer has not reopened yet
  EXPECT_THAT(PollLines(tail), ElementsAre("3", "4"));
  EXPECT_EQ(tail.stats().rotations, 1U);
  EXPECT_EQ(tail.state(), LogTailState::kFollowing);
  EXPECT_EQ(tail.Position().inode, InodeOf(log_));
  EXPECT_NE(tail.Position().inode, old_inode);

  writer.Write("5 part");  // late writes to the old file are read during rotate_wait
  EXPECT_THAT(PollLines(tail), IsEmpty());
  writer.Write("ial\n");
  writer.Reopen();
  writer.Write("6\n7\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("5 partial", "6", "7"));

  clock_.now += std::chrono::seconds(5);
  writer.Write("8\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("8"));
  EXPECT_EQ(tail.stats().lines, 8U);
  EXPECT_EQ(tail.stats().rotations, 1U);
  EXPECT_EQ(tail.stats().truncations, 0U);
}

TEST_F(LogTailTest, RenameWithoutRotateWaitDrainsTheOldFileBeforeSwitching) {
  dir_.WriteFile("access.log", "");
  LogTailOptions options = Options();
  options.rotate_wait = std::chrono::milliseconds(0);
  LogTail tail(log_.string(), options);
  testing::AppendWriter writer(log_);
  writer.Write("a\nb\nunterminated");
  std::filesystem::rename(log_, dir_.path() / "access.log.1");
  writer.Reopen();
  writer.Write("c\n");
  // The old file is closed at once; its unterminated last line cannot grow any more.
  EXPECT_THAT(PollLines(tail), ElementsAre("a", "b", "unterminated", "c"));
  writer.Write("d\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("d"));
}

TEST_F(LogTailTest, RenameBeforeTheNewFileExistsWaitsForIt) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("a\n");
  std::filesystem::rename(log_, dir_.path() / "access.log.1");
  EXPECT_THAT(PollLines(tail), ElementsAre("a"));
  EXPECT_EQ(tail.state(), LogTailState::kWaiting);
  EXPECT_EQ(tail.message(), "waiting for " + log_.string());
  writer.Write("b\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("b"));
  writer.Reopen();
  writer.Write("c\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("c"));
  EXPECT_EQ(tail.state(), LogTailState::kFollowing);
  EXPECT_EQ(tail.stats().rotations, 1U);
}

TEST_F(LogTailTest, AFileRenamedBackIsFollowedWhereItWas) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("a\n");
  const std::filesystem::path moved = dir_.path() / "access.log.tmp";
  std::filesystem::rename(log_, moved);
  EXPECT_THAT(PollLines(tail), ElementsAre("a"));
  EXPECT_EQ(tail.state(), LogTailState::kWaiting);
  writer.Write("b\n");
  std::filesystem::rename(moved, log_);
  writer.Write("c\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("b", "c"));
  EXPECT_EQ(tail.state(), LogTailState::kFollowing);
  writer.Write("d\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("d"));
}

TEST_F(LogTailTest, CopyTruncateRestartsAtTheStartOfTheSameFile) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("one\ntwo\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("one", "two"));
  const std::uint64_t inode = InodeOf(log_);

  std::filesystem::copy_file(log_, dir_.path() / "access.log.1");
  std::filesystem::resize_file(log_, 0);
  writer.Write("3\n");  // O_APPEND: lands at offset 0, short of what was read
  EXPECT_THAT(PollLines(tail), ElementsAre("3"));
  EXPECT_EQ(tail.stats().truncations, 1U);
  EXPECT_EQ(tail.stats().rotations, 0U);
  EXPECT_EQ(tail.Position().inode, inode);
  writer.Write("four\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("four"));
}

// What copytruncate's race costs: a line appended after the last poll and before the
// truncation is in the copy only (see log_tail.h).
TEST_F(LogTailTest, CopyTruncateLeavesUnreadLinesToTheCopy) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("one\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("one"));
  writer.Write("two\n");
  std::filesystem::copy_file(log_, dir_.path() / "access.log.1");
  std::filesystem::resize_file(log_, 0);
  writer.Write("3\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("3"));
  EXPECT_EQ(testing::ReadFile(dir_.path() / "access.log.1"), "one\ntwo\n");
}

TEST_F(LogTailTest, CopyTruncateToEmptyThenNewLines) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("aaaaaaaaaa\npart");
  EXPECT_THAT(PollLines(tail), ElementsAre("aaaaaaaaaa"));
  std::filesystem::resize_file(log_, 0);
  EXPECT_THAT(PollLines(tail), IsEmpty());
  writer.Write("b\nc\n");
  // The unterminated "part" went with the copy; "b" is not glued to it.
  EXPECT_THAT(PollLines(tail), ElementsAre("b", "c"));
}

TEST_F(LogTailTest, DeleteAndRecreateDrainsTheOldFileThenFollowsTheNewOne) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  {
    testing::AppendWriter writer(log_);
    writer.Write("a\n");
    EXPECT_THAT(PollLines(tail), ElementsAre("a"));
    writer.Write("b\n");
    std::filesystem::remove(log_);
    writer.Write("c\n");  // to the unlinked file, still open by its writer
    EXPECT_THAT(PollLines(tail), ElementsAre("b", "c"));
    EXPECT_EQ(tail.state(), LogTailState::kWaiting);
    EXPECT_EQ(tail.message(), "waiting for " + log_.string());
    writer.Write("d\n");
    EXPECT_THAT(PollLines(tail), ElementsAre("d"));
  }
  testing::AppendWriter writer(log_);  // the file appears again: a new inode, read from 0
  writer.Write("e\nf\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("e", "f"));
  EXPECT_EQ(tail.state(), LogTailState::kFollowing);
  EXPECT_EQ(tail.Position().inode, InodeOf(log_));
  clock_.now += std::chrono::seconds(6);
  EXPECT_THAT(PollLines(tail), IsEmpty());
  writer.Write("g\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("g"));
  EXPECT_EQ(tail.stats().lines, 7U);
  EXPECT_EQ(tail.stats().rotations, 1U);
}

TEST_F(LogTailTest, RepeatedRotationsKeepEveryLineOnce) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  std::vector<std::string> got;
  std::vector<std::string> want;
  for (int generation = 0; generation < 5; ++generation) {
    for (int i = 0; i < 3; ++i) {
      const std::string line = std::to_string(generation) + "-" + std::to_string(i);
      writer.Write(line + "\n");
      want.push_back(line);
    }
    for (const std::string& line : PollLines(tail)) {
      got.push_back(line);
    }
    writer.Write(std::to_string(generation) + "-late\n");
    want.push_back(std::to_string(generation) + "-late");
    std::filesystem::rename(log_, dir_.path() / ("access.log." + std::to_string(generation)));
    writer.Reopen();
    clock_.now += std::chrono::seconds(1);
  }
  for (const std::string& line : PollLines(tail)) {
    got.push_back(line);
  }
  EXPECT_EQ(got, want);
}

TEST_F(LogTailTest, WaitsForAMissingFileAndReadsItFromTheStart) {
  LogTail tail(log_.string(), Options());
  EXPECT_EQ(tail.state(), LogTailState::kWaiting);
  EXPECT_EQ(tail.message(), "waiting for " + log_.string());
  EXPECT_EQ(tail.Position(), LogPosition{});
  std::vector<std::string> lines;
  const LogTail::PollResult result =
      tail.Poll([&](std::string_view line) { lines.emplace_back(line); });
  EXPECT_EQ(result.state, LogTailState::kWaiting);
  EXPECT_THAT(lines, IsEmpty());

  dir_.WriteFile("access.log", "created\nwith lines\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("created", "with lines"));
  EXPECT_EQ(tail.state(), LogTailState::kFollowing);
  EXPECT_THAT(tail.message(), IsEmpty());
}

TEST_F(LogTailTest, ReportsADirectoryAtThePathAsAnError) {
  std::filesystem::create_directory(log_);
  LogTail tail(log_.string(), Options());
  EXPECT_EQ(tail.state(), LogTailState::kError);
  EXPECT_EQ(tail.message(), "cannot open " + log_.string() + ": Is a directory");
  EXPECT_EQ(tail.Poll([](std::string_view) {}).state, LogTailState::kError);

  // A file replacing the directory is new: read from its start.
  std::filesystem::remove(log_);
  dir_.WriteFile("access.log", "x\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("x"));
  EXPECT_EQ(tail.state(), LogTailState::kFollowing);
}

TEST_F(LogTailTest, ReportsANamedPipeAsAnErrorWithoutBlocking) {
  ASSERT_EQ(::mkfifo(log_.c_str(), 0644), 0);
  LogTail tail(log_.string(), Options());
  EXPECT_EQ(tail.state(), LogTailState::kError);
  EXPECT_EQ(tail.message(), "cannot open " + log_.string() + ": not a regular file");
}

TEST_F(LogTailTest, ReportsAFileInPlaceOfAParentDirectory) {
  dir_.WriteFile("logs", "");
  const std::string path = (dir_.path() / "logs" / "access.log").string();
  LogTail tail(path, Options());
  EXPECT_EQ(tail.state(), LogTailState::kError);
  EXPECT_EQ(tail.message(), "cannot open " + path + ": Not a directory");
}

TEST_F(LogTailTest, ReportsPermissionDenied) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root reads files whatever their mode";
  }
  dir_.WriteFile("access.log", "secret\n");
  std::filesystem::permissions(log_, std::filesystem::perms::none);
  LogTail tail(log_.string(), Options());
  EXPECT_EQ(tail.state(), LogTailState::kError);
  EXPECT_EQ(tail.message(), "cannot open " + log_.string() + ": Permission denied");
  EXPECT_EQ(tail.Poll([](std::string_view) {}).state, LogTailState::kError);

  std::filesystem::permissions(log_, std::filesystem::perms::owner_write);
  testing::AppendWriter(log_).Write("new\n");  // written while still unreadable
  std::filesystem::permissions(log_, std::filesystem::perms::owner_read);
  // Starting at the end applies to the file as it was at construction: "secret" is old,
  // "new" was appended later.
  EXPECT_THAT(PollLines(tail), ElementsAre("new"));
  EXPECT_EQ(tail.state(), LogTailState::kFollowing);
  EXPECT_THAT(tail.message(), IsEmpty());
}

TEST_F(LogTailTest, SkipsAndCountsOversizeLines) {
  dir_.WriteFile("access.log", "");
  LogTailOptions options = Options();
  options.max_line_bytes = 8;
  LogTail tail(log_.string(), options);
  testing::AppendWriter writer(log_);
  writer.Write("12345678\n123456789\nok\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("12345678", "ok"));
  EXPECT_EQ(tail.stats().oversize_lines, 1U);

  // Spread over several polls: it is dropped as soon as it is too long, never buffered.
  writer.Write("abcde");
  EXPECT_THAT(PollLines(tail), IsEmpty());
  writer.Write("fghij");
  EXPECT_THAT(PollLines(tail), IsEmpty());
  EXPECT_EQ(tail.stats().oversize_lines, 2U);
  writer.Write("klmnopqrstuvwxyz");
  EXPECT_THAT(PollLines(tail), IsEmpty());
  writer.Write("\nafter\n");
  EXPECT_THAT(PollLines(tail), ElementsAre("after"));
  EXPECT_EQ(tail.stats().oversize_lines, 2U);
}

TEST_F(LogTailTest, SkipsALineLongerThan64KiBSpanningReads) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  const std::string longest(std::size_t{64} * 1024, 'x');
  writer.Write("before\n" + std::string(std::size_t{200} * 1024, 'y') + "\n" + longest +
               "\nafter\n");
  const std::vector<std::string> lines = PollLines(tail);
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_EQ(lines[0], "before");
  EXPECT_EQ(lines[1], longest);
  EXPECT_EQ(lines[2], "after");
  EXPECT_EQ(tail.stats().oversize_lines, 1U);
}

TEST_F(LogTailTest, ResumesExactlyAtASavedPositionInTheSameFile) {
  dir_.WriteFile("access.log", "");
  LogPosition saved;
  {
    LogTail tail(log_.string(), Options());
    testing::AppendWriter writer(log_);
    writer.Write("a\nb\nhal");
    EXPECT_THAT(PollLines(tail), ElementsAre("a", "b"));
    saved = tail.Position();
  }
  EXPECT_EQ(saved.inode, InodeOf(log_));
  EXPECT_EQ(saved.offset, 4U);
  testing::AppendWriter(log_).Write("f\nc\n");
  LogTailOptions options = Options(LogStart::kAtPosition);
  options.position = saved;
  LogTail resumed(log_.string(), options);
  EXPECT_THAT(PollLines(resumed), ElementsAre("half", "c"));
}

TEST_F(LogTailTest, ResumesAtTheStartOfARotatedFile) {
  dir_.WriteFile("access.log", "old\n");
  LogTailOptions options = Options(LogStart::kAtPosition);
  options.position = {0, InodeOf(log_), 4};
  std::filesystem::rename(log_, dir_.path() / "access.log.1");
  dir_.WriteFile("access.log", "new 1\nnew 2\n");
  // The renamed file keeps its inode, so the new file has another.
  ASSERT_NE(InodeOf(log_), options.position.inode);
  struct stat st {};
  ASSERT_EQ(::stat(log_.c_str(), &st), 0);
  options.position.device = static_cast<std::uint64_t>(st.st_dev);
  LogTail tail(log_.string(), options);
  EXPECT_THAT(PollLines(tail), ElementsAre("new 1", "new 2"));
}

TEST_F(LogTailTest, ResumesAtTheStartWhenTheFileShrankMeanwhile) {
  dir_.WriteFile("access.log", "short\n");
  struct stat st {};
  ASSERT_EQ(::stat(log_.c_str(), &st), 0);
  LogTailOptions options = Options(LogStart::kAtPosition);
  options.position = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                      1000};
  LogTail tail(log_.string(), options);
  EXPECT_THAT(PollLines(tail), ElementsAre("short"));
  EXPECT_EQ(tail.stats().truncations, 1U);
}

TEST_F(LogTailTest, ResumingMidLineSkipsToTheNextLine) {
  dir_.WriteFile("access.log", "abcdef\nnext\n");
  struct stat st {};
  ASSERT_EQ(::stat(log_.c_str(), &st), 0);
  LogTailOptions options = Options(LogStart::kAtPosition);
  options.position = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                      3};
  LogTail tail(log_.string(), options);
  EXPECT_THAT(PollLines(tail), ElementsAre("next"));
}

TEST_F(LogTailTest, AThrowingCallbackLosesNoOtherLine) {
  dir_.WriteFile("access.log", "");
  LogTail tail(log_.string(), Options());
  testing::AppendWriter writer(log_);
  writer.Write("a\nboom\nc\nd\n");
  std::vector<std::string> lines;
  const auto on_line = [&lines](std::string_view line) {
    lines.emplace_back(line);
    if (line == "boom") {
      throw std::runtime_error("boom");
    }
  };
  EXPECT_THROW(tail.Poll(on_line), std::runtime_error);
  tail.Poll(on_line);
  EXPECT_THAT(lines, ElementsAre("a", "boom", "c", "d"));
}

TEST_F(LogTailTest, StopsAtTheReadBudgetAndReportsMore) {
  dir_.WriteFile("access.log", "");
  LogTailOptions options = Options();
  options.max_bytes_per_poll = 4;
  LogTail tail(log_.string(), options);
  testing::AppendWriter writer(log_);
  writer.Write("ab\ncd\nef\n");
  std::vector<std::string> lines;
  const auto on_line = [&lines](std::string_view line) { lines.emplace_back(line); };
  EXPECT_TRUE(tail.Poll(on_line).more);
  EXPECT_THAT(lines, ElementsAre("ab"));
  EXPECT_TRUE(tail.Poll(on_line).more);
  LogTail::PollResult result = tail.Poll(on_line);
  EXPECT_FALSE(result.more);
  EXPECT_THAT(lines, ElementsAre("ab", "cd", "ef"));
}

TEST_F(LogTailTest, RejectsZeroLimits) {
  LogTailOptions options;
  options.max_line_bytes = 0;
  EXPECT_THROW(LogTail(log_.string(), options), std::invalid_argument);
}

TEST(LogTailStateTest, Names) {
  EXPECT_EQ(ToString(LogTailState::kFollowing), "following");
  EXPECT_EQ(ToString(LogTailState::kWaiting), "waiting");
  EXPECT_EQ(ToString(LogTailState::kError), "error");
}

}  // namespace
}  // namespace nines::collectors
