#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace nines::probes {

using SteadyClock = std::chrono::steady_clock;

/// The one event loop that drives every probe: an epoll set of non-blocking sockets, a
/// timerfd for timers and a libcurl multi handle in its socket-action mode. No thread per
/// probe: everything below runs on the thread that calls Run().
///
/// Thread safety: Post() and Stop() may be called from any thread; every other method only
/// from the loop thread (from inside a callback, or before Run() starts).
class EventLoop {
 public:
  /// epoll events a watcher receives (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP bits).
  using FdCallback = std::function<void(std::uint32_t events)>;
  using Callback = std::function<void()>;
  /// Called when a curl transfer ends, with its result code; the handle has been removed
  /// from the multi handle and belongs to the caller again.
  using TransferCallback = std::function<void(CURLcode)>;
  using TimerId = std::uint64_t;

  /// Throws std::system_error when epoll, eventfd or timerfd cannot be created.
  EventLoop();
  /// Removes every transfer still running (their callbacks are not called).
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Runs callbacks until Stop(). Returns after the Stop()'s wake-up is seen; callbacks
  /// posted before Stop() have run.
  void Run();
  /// Makes Run() return. Any thread.
  void Stop();
  /// Queues `callback` to run on the loop thread. Any thread.
  void Post(Callback callback);
  /// Whether the caller is the thread inside Run().
  bool InLoopThread() const;

  /// Calls `callback` with the ready events whenever `fd` is ready for `events`
  /// (EPOLLIN and/or EPOLLOUT; errors and hang-ups are always reported). Watching a watched
  /// fd replaces its events and callback. Unwatch before closing the fd. Throws
  /// std::system_error when epoll refuses the fd.
  void Watch(int fd, std::uint32_t events, FdCallback callback);
  /// Stops watching `fd`; no callback for it runs afterwards, even for events already
  /// collected. Unknown fds are ignored.
  void Unwatch(int fd);

  /// Calls `callback` once at `when` (or as soon as possible when it has passed).
  TimerId AddTimer(SteadyClock::time_point when, Callback callback);
  /// Cancels a timer that has not fired; unknown or fired ids are ignored.
  void CancelTimer(TimerId id);

  /// Starts a curl transfer on the multi handle. `done` runs on the loop thread when it
  /// ends. The handle must stay valid until then (or until RemoveTransfer()).
  void AddTransfer(CURL* easy, TransferCallback done);
  /// Aborts a running transfer without calling its callback. Unknown handles are ignored.
  void RemoveTransfer(CURL* easy);
  /// Transfers currently running.
  std::size_t transfers() const { return transfers_.size(); }

 private:
  struct Watcher {
    std::uint32_t generation = 0;
    FdCallback callback;
  };

  static int CurlSocketCallback(CURL* easy, curl_socket_t fd, int what, void* user,
                                void* socket_data);
  static int CurlTimerCallback(CURLM* multi, long timeout_ms, void* user);
  void CurlAction(curl_socket_t fd, int events);
  void ReapTransfers();
  void RunDueTimers();
  void ArmTimerFd();
  void RunPosted();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;   // eventfd: Post() and Stop()
  int timer_fd_ = -1;  // timerfd armed for the earliest timer
  CURLM* multi_ = nullptr;
  std::thread::id loop_thread_;

  std::uint32_t next_generation_ = 1;
  std::unordered_map<int, Watcher> watchers_;

  TimerId next_timer_id_ = 1;
  std::map<std::pair<SteadyClock::time_point, TimerId>, Callback> timers_;
  std::unordered_map<TimerId, SteadyClock::time_point> timer_times_;
  SteadyClock::time_point armed_for_ = SteadyClock::time_point::max();
  TimerId curl_timer_ = 0;

  std::unordered_map<CURL*, TransferCallback> transfers_;

  std::mutex posted_mutex_;
  std::vector<Callback> posted_;
  bool stop_requested_ = false;  // guarded by posted_mutex_
};

}  // namespace nines::probes
