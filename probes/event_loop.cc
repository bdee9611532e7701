#include "probes/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>

namespace nines::probes {
namespace {

[[noreturn]] void ThrowErrno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// epoll data: the fd in the low half, the watcher's generation in the high half, so an
// event collected for a watcher that was replaced in the same batch is recognised as stale.
std::uint64_t Pack(int fd, std::uint32_t generation) {
  return (std::uint64_t{generation} << 32U) | static_cast<std::uint32_t>(fd);
}

// The wake-up and timer fds use generation 0, which no watcher gets.
constexpr std::uint32_t kInternal = 0;

}  // namespace

EventLoop::EventLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    ThrowErrno("epoll_create1");
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (wake_fd_ < 0 || timer_fd_ < 0) {
    int saved = errno;
    if (wake_fd_ >= 0) {
      close(wake_fd_);
    }
    close(epoll_fd_);
    throw std::system_error(saved, std::generic_category(), "eventfd/timerfd_create");
  }
  for (int fd : {wake_fd_, timer_fd_}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = Pack(fd, kInternal);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &EventLoop::CurlSocketCallback);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &EventLoop::CurlTimerCallback);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

EventLoop::~EventLoop() {
  for (auto& [easy, done] : transfers_) {
    curl_multi_remove_handle(multi_, easy);
  }
  transfers_.clear();
  curl_multi_cleanup(multi_);
  close(timer_fd_);
  close(wake_fd_);
  close(epoll_fd_);
}

bool EventLoop::InLoopThread() const { return std::this_thread::get_id() == loop_thread_; }

void EventLoop::Post(Callback callback) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(callback));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void EventLoop::Stop() {
  {
    std::lock_guard lock(posted_mutex_);
    stop_requested_ = true;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void EventLoop::Run() {
  loop_thread_ = std::this_thread::get_id();
  std::array<epoll_event, 64> events{};
  while (true) {
    int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      ThrowErrno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      auto fd = static_cast<int>(events[static_cast<std::size_t>(i)].data.u64 & 0xffffffffU);
      auto generation =
          static_cast<std::uint32_t>(events[static_cast<std::size_t>(i)].data.u64 >> 32U);
      std::uint32_t ready = events[static_cast<std::size_t>(i)].events;
      if (generation == kInternal) {
        std::uint64_t count = 0;
        [[maybe_unused]] ssize_t got = read(fd, &count, sizeof count);
        if (fd == timer_fd_) {
          armed_for_ = SteadyClock::time_point::max();
          RunDueTimers();
        } else {
          RunPosted();
        }
        continue;
      }
      auto it = watchers_.find(fd);
      if (it == watchers_.end() || it->second.generation != generation) {
        continue;  // unwatched or replaced while this batch was collected
      }
      FdCallback callback = it->second.callback;  // the callback may unwatch itself
      callback(ready);
    }
    ArmTimerFd();
    std::lock_guard lock(posted_mutex_);
    if (stop_requested_ && posted_.empty()) {
      stop_requested_ = false;
      break;
    }
  }
  loop_thread_ = {};
}

void EventLoop::RunPosted() {
  std::vector<Callback> batch;
  {
    std::lock_guard lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (Callback& callback : batch) {
    callback();
  }
}

void EventLoop::Watch(int fd, std::uint32_t events, FdCallback callback) {
  epoll_event event{};
  event.events = events;
  auto [it, inserted] = watchers_.try_emplace(fd);
  if (next_generation_ == kInternal) {
    ++next_generation_;
  }
  it->second.generation = next_generation_++;
  it->second.callback = std::move(callback);
  event.data.u64 = Pack(fd, it->second.generation);
  if (epoll_ctl(epoll_fd_, inserted ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event) != 0) {
    int saved = errno;
    watchers_.erase(it);
    throw std::system_error(saved, std::generic_category(), "epoll_ctl");
  }
}

void EventLoop::Unwatch(int fd) {
  if (watchers_.erase(fd) != 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  }
}

EventLoop::TimerId EventLoop::AddTimer(SteadyClock::time_point when, Callback callback) {
  TimerId id = next_timer_id_++;
  timers_.emplace(std::pair{when, id}, std::move(callback));
  timer_times_.emplace(id, when);
  if (when < armed_for_) {
    ArmTimerFd();
  }
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = timer_times_.find(id);
  if (it == timer_times_.end()) {
    return;
  }
  timers_.erase(std::pair{it->second, id});
  timer_times_.erase(it);
}

void EventLoop::RunDueTimers() {
  // Timers added by callbacks for "now" run in a later round, so a callback that re-arms
  // itself at a past time cannot starve the sockets.
  SteadyClock::time_point now = SteadyClock::now();
  std::vector<TimerId> due;
  for (auto it = timers_.begin(); it != timers_.end() && it->first.first <= now; ++it) {
    due.push_back(it->first.second);
  }
  for (TimerId id : due) {
    auto time = timer_times_.find(id);
    if (time == timer_times_.end()) {
      continue;  // cancelled by an earlier callback of this round
    }
    auto node = timers_.extract(std::pair{time->second, id});
    timer_times_.erase(time);
    node.mapped()();
  }
}

void EventLoop::ArmTimerFd() {
  SteadyClock::time_point next =
      timers_.empty() ? SteadyClock::time_point::max() : timers_.begin()->first.first;
  if (next == armed_for_) {
    return;
  }
  armed_for_ = next;
  itimerspec spec{};
  if (next != SteadyClock::time_point::max()) {
    // CLOCK_MONOTONIC is steady_clock's clock on Linux; an absolute time avoids drift.
    auto since_epoch = next.time_since_epoch();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    spec.it_value.tv_sec = seconds.count();
    spec.it_value.tv_nsec =
        std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count();
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) {
      spec.it_value.tv_nsec = 1;  // zero would disarm
    }
  }
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void EventLoop::AddTransfer(CURL* easy, TransferCallback done) {
  transfers_[easy] = std::move(done);
  CURLMcode code = curl_multi_add_handle(multi_, easy);
  if (code != CURLM_OK) {
    transfers_.erase(easy);
    throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(code));
  }
}

void EventLoop::RemoveTransfer(CURL* easy) {
  if (transfers_.erase(easy) != 0) {
    curl_multi_remove_handle(multi_, easy);
  }
}

int EventLoop::CurlSocketCallback(CURL* /*easy*/, curl_socket_t fd, int what, void* user,
                                  void* /*socket_data*/) {
  auto* loop = static_cast<EventLoop*>(user);
  if (what == CURL_POLL_REMOVE) {
    loop->Unwatch(fd);
    return 0;
  }
  std::uint32_t events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
    events |= EPOLLIN;
  }
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
    events |= EPOLLOUT;
  }
  loop->Watch(fd, events, [loop, fd](std::uint32_t ready) {
    int action = 0;
    if ((ready & EPOLLIN) != 0U) {
      action |= CURL_CSELECT_IN;
    }
    if ((ready & EPOLLOUT) != 0U) {
      action |= CURL_CSELECT_OUT;
    }
    if ((ready & (EPOLLERR | EPOLLHUP)) != 0U) {
      action |= CURL_CSELECT_ERR;
    }
    loop->CurlAction(fd, action);
  });
  return 0;
}

int EventLoop::CurlTimerCallback(CURLM* /*multi*/, long timeout_ms, void* user) {
  auto* loop = static_cast<EventLoop*>(user);
  if (loop->curl_timer_ != 0) {
    loop->CancelTimer(loop->curl_timer_);
    loop->curl_timer_ = 0;
  }
  if (timeout_ms >= 0) {
    loop->curl_timer_ =
        loop->AddTimer(SteadyClock::now() + std::chrono::milliseconds(timeout_ms), [loop] {
          loop->curl_timer_ = 0;
          loop->CurlAction(CURL_SOCKET_TIMEOUT, 0);
        });
  }
  return 0;
}

void EventLoop::CurlAction(curl_socket_t fd, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, events, &running);
  ReapTransfers();
}

void EventLoop::ReapTransfers() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) {
      continue;
    }
    CURL* easy = message->easy_handle;
    CURLcode result = message->data.result;
    auto it = transfers_.find(easy);
    curl_multi_remove_handle(multi_, easy);
    if (it == transfers_.end()) {
      continue;
    }
    TransferCallback done = std::move(it->second);
    transfers_.erase(it);
    done(result);
  }
}

}  // namespace nines::probes
