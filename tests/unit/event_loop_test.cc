#include "probes/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <future>
#include <thread>
#include <vector>

namespace nines::probes {
namespace {

using std::chrono::milliseconds;

// Runs a loop on its own thread for the length of a test.
class LoopThread {
 public:
  LoopThread() : thread_([this] { loop.Run(); }) {}
  ~LoopThread() {
    loop.Stop();
    thread_.join();
  }
  // Runs `f` on the loop thread and waits for it.
  template <typename F>
  void Sync(F f) {
    std::promise<void> done;
    loop.Post([&] {
      f();
      done.set_value();
    });
    ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  }

  EventLoop loop;

 private:
  std::thread thread_;
};

TEST(EventLoop, TimersFireInTimeOrderAndCancelledOnesNever) {
  LoopThread t;
  std::vector<int> order;
  std::promise<void> last;
  t.Sync([&] {
    auto now = SteadyClock::now();
    t.loop.AddTimer(now + milliseconds(30), [&] {
      order.push_back(3);
      last.set_value();
    });
    t.loop.AddTimer(now + milliseconds(10), [&] { order.push_back(1); });
    EventLoop::TimerId cancelled =
        t.loop.AddTimer(now + milliseconds(15), [&] { order.push_back(99); });
    t.loop.AddTimer(now + milliseconds(20), [&] { order.push_back(2); });
    t.loop.CancelTimer(cancelled);
    t.loop.CancelTimer(12345);  // unknown: ignored
  });
  ASSERT_EQ(last.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  t.Sync([&] { EXPECT_EQ(order, (std::vector<int>{1, 2, 3})); });
}

TEST(EventLoop, TimerInThePastFiresPromptlyAndNotEarly) {
  LoopThread t;
  std::promise<SteadyClock::time_point> fired;
  auto due = SteadyClock::now() + milliseconds(20);
  t.Sync([&] {
    t.loop.AddTimer(SteadyClock::now() - milliseconds(5), [] {});
    t.loop.AddTimer(due, [&] { fired.set_value(SteadyClock::now()); });
  });
  auto future = fired.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_GE(future.get(), due);
}

TEST(EventLoop, PostFromManyThreadsRunsEverythingOnTheLoopThread) {
  LoopThread t;
  std::atomic<int> count{0};
  std::atomic<bool> wrong_thread{false};
  std::vector<std::thread> posters;
  posters.reserve(4);
  for (int i = 0; i < 4; ++i) {
    posters.emplace_back([&] {
      for (int j = 0; j < 250; ++j) {
        t.loop.Post([&] {
          if (!t.loop.InLoopThread()) {
            wrong_thread = true;
          }
          ++count;
        });
      }
    });
  }
  for (std::thread& poster : posters) {
    poster.join();
  }
  t.Sync([] {});
  EXPECT_EQ(count.load(), 1000);
  EXPECT_FALSE(wrong_thread.load());
  EXPECT_FALSE(t.loop.InLoopThread());
}

TEST(EventLoop, WatchReportsReadinessAndUnwatchSilencesIt) {
  LoopThread t;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::promise<std::string> got;
  t.Sync([&] {
    t.loop.Watch(fds[0], EPOLLIN, [&](std::uint32_t events) {
      ASSERT_NE(events & EPOLLIN, 0U);
      char buffer[16];
      ssize_t n = read(fds[0], buffer, sizeof buffer);
      t.loop.Unwatch(fds[0]);
      got.set_value(std::string(buffer, static_cast<std::size_t>(n)));
    });
  });
  ASSERT_EQ(write(fds[1], "ping", 4), 4);
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(future.get(), "ping");
  // Unwatched: more data calls nothing (a second set_value would throw).
  ASSERT_EQ(write(fds[1], "more", 4), 4);
  t.Sync([] {});
  close(fds[0]);
  close(fds[1]);
}

TEST(EventLoop, StopReturnsFromRunAfterPostedWork) {
  EventLoop loop;
  bool ran = false;
  loop.Post([&] { ran = true; });
  loop.Stop();
  loop.Run();  // returns: the stop was requested before Run
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace nines::probes
