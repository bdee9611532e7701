#include "collectors/filesystem.h"

#include <re2/re2.h>
#include <spdlog/spdlog.h>
#include <sys/statfs.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "collectors/factories.h"
#include "collectors/options.h"
#include "collectors/proc_file.h"
#include "collectors/text.h"

namespace nines::collectors {
namespace internal {

std::vector<MountEntry> ParseMounts(std::string_view text) {
  std::vector<MountEntry> mounts;
  mounts.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  std::size_t line_number = 0;
  constexpr std::size_t kFields = 4;
  std::vector<std::string_view> fields;
  fields.reserve(kFields);
  while (!text.empty()) {
    const std::string_view line = NextLine(text);
    ++line_number;

    // ASCII whitespace only (IsSpace): node_exporter's strings.Fields also splits at Unicode
    // spaces such as U+00A0, which the kernel does not escape in mount points, and so cuts
    // such a mount point in two and shifts the fs type; nines does not.
    const std::size_t count = SplitFields(line, kFields, fields);
    // node_exporter 1.5 fails the whole collector on such a line, rather than report the
    // other mounts: a mounts file cut short or garbled says nothing reliable.
    if (count < kFields) {
      throw std::runtime_error("line " + std::to_string(line_number) +
                               ": malformed mount line: " + std::to_string(count) +
                               " fields, want at least 4 (got " + Quote(line) + ")");
    }
    if (!IsValidUtf8(fields[0]) || !IsValidUtf8(fields[1]) || !IsValidUtf8(fields[2])) {
      spdlog::debug("filesystem collector: skipping mounts line {}: not valid UTF-8 ({})",
                    line_number, Quote(line));
      continue;
    }
    mounts.push_back(MountEntry{std::string(fields[0]), DecodeMountPoint(fields[1]),
                                std::string(fields[2]), std::string(fields[3])});
  }
  return mounts;
}

std::string DecodeMountPoint(std::string_view field) {
  std::string decoded;
  decoded.reserve(field.size());
  std::size_t i = 0;
  while (i < field.size()) {
    const std::string_view rest = field.substr(i);
    if (rest.starts_with("\\040")) {
      decoded += ' ';
      i += 4;
    } else if (rest.starts_with("\\011")) {
      decoded += '\t';
      i += 4;
    } else {
      decoded += field[i];
      ++i;
    }
  }
  return decoded;
}

std::string StripRootfsPrefix(std::string_view mount_point, std::string_view rootfs) {
  while (!rootfs.empty() && rootfs.back() == '/') {
    rootfs.remove_suffix(1);
  }
  if (rootfs.empty() || !mount_point.starts_with(rootfs)) {
    return std::string(mount_point);
  }
  const std::string_view rest = mount_point.substr(rootfs.size());
  if (rest.empty()) {
    return "/";
  }
  if (rest.front() != '/') {
    return std::string(mount_point);
  }
  return std::string(rest);
}

bool HasReadOnlyOption(std::string_view options) {
  while (true) {
    const std::size_t comma = options.find(',');
    if (options.substr(0, comma) == "ro") {
      return true;
    }
    if (comma == std::string_view::npos) {
      return false;
    }
    options.remove_prefix(comma + 1);
  }
}

StatFsResult SystemStatFs(const std::string& path) {
  struct statfs buffer {};
  int rc = 0;
  do {
    rc = ::statfs(path.c_str(), &buffer);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    return StatFsResult{.error = errno};
  }
  return StatFsResult{
      .error = 0,
      .block_size = static_cast<std::uint64_t>(buffer.f_bsize),
      .blocks = static_cast<std::uint64_t>(buffer.f_blocks),
      .blocks_free = static_cast<std::uint64_t>(buffer.f_bfree),
      .blocks_available = static_cast<std::uint64_t>(buffer.f_bavail),
      .files = static_cast<std::uint64_t>(buffer.f_files),
      .files_free = static_cast<std::uint64_t>(buffer.f_ffree),
  };
}

namespace {

using Clock = std::chrono::steady_clock;

// How many threads run statfs calls while none is stuck. node_exporter 1.6 settled on 4
// (its --collector.filesystem.stat-workers): enough that several mounts hanging at once
// (the mounts of one dead NFS server) are all found out within one timeout rather than
// one after the other, and idle threads cost nothing.
constexpr std::size_t kStatWorkers = 4;

// One statfs, shared by every scrape that asks for the same path while it runs. All
// fields but `path` are guarded by PoolState::mu.
struct StatCall {
  explicit StatCall(std::string call_path) : path(std::move(call_path)) {}

  const std::string path;
  bool started = false;
  bool done = false;
  // Its waiters gave up on it: it is reported as an error, and its worker was replaced.
  bool stuck = false;
  int waiters = 0;
  std::uint64_t worker = 0;
  Clock::time_point deadline;
  StatFsResult result;
};

// What the workers share with the pool. Held by shared_ptr: a worker stuck in statfs
// outlives the collector, and must find this (and nothing else) still there.
struct PoolState {
  PoolState(StatFsFunction function, std::chrono::milliseconds call_timeout)
      : statfs(std::move(function)), timeout(std::min(call_timeout, kMaxTimeout)) {}

  // Longer timeouts are the same as this one, and now() + timeout must not overflow.
  static constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(24 * 365);

  const StatFsFunction statfs;
  const std::chrono::milliseconds timeout;
  std::mutex mu;
  std::condition_variable work_ready;    // workers: a call was queued, or shutdown
  std::condition_variable call_changed;  // waiters: a call started, finished or got stuck
  std::deque<std::shared_ptr<StatCall>> queue;
  // Every call queued, running or stuck, by path: a path with a call here gets no second
  // one, so a hanging mount holds at most one thread however many scrapes ask for it.
  std::unordered_map<std::string, std::shared_ptr<StatCall>> calls;
  bool shutdown = false;
};

enum class StatStatus {
  kOk,
  kFailed,    // statfs returned an error
  kTimedOut,  // this scrape found the call past its timeout
  kStuck,     // the call was already found stuck (by an earlier or a concurrent scrape)
};

struct StatOutcome {
  StatStatus status = StatStatus::kFailed;
  StatFsResult result;
};

StatFsResult RunStatFs(const PoolState& state, const std::string& path) {
  // A worker thread is the wrong place for an exception to end up (std::terminate).
  try {
    return state.statfs(path);
  } catch (...) {
    return StatFsResult{.error = EIO};
  }
}

// Takes calls off the queue until shutdown, or until the call it ran got stuck (a
// replacement took its place). It touches nothing but `state` and its calls, so it may
// outlive the pool: see ~StatFsPool. It logs nothing, since a stuck worker may only
// return from statfs while the process exits and spdlog is being torn down.
void WorkerLoop(const std::shared_ptr<PoolState>& state, std::uint64_t id) {
  std::unique_lock lock(state->mu);
  while (true) {
    state->work_ready.wait(lock, [&] { return state->shutdown || !state->queue.empty(); });
    if (state->shutdown) {
      return;
    }
    const std::shared_ptr<StatCall> call = std::move(state->queue.front());
    state->queue.pop_front();
    // One wake-up per queued call, as needed: a scrape wakes one worker, and each worker
    // that leaves calls behind wakes the next, so that the calls after a hanging one still
    // run (and time out) side by side.
    if (!state->queue.empty()) {
      state->work_ready.notify_one();
    }
    call->started = true;
    call->worker = id;
    call->deadline = Clock::now() + state->timeout;
    if (call->waiters > 0) {
      state->call_changed.notify_all();
    }
    lock.unlock();
    const StatFsResult result = RunStatFs(*state, call->path);
    lock.lock();
    call->result = result;
    call->done = true;
    if (auto it = state->calls.find(call->path); it != state->calls.end() && it->second == call) {
      state->calls.erase(it);
    }
    if (call->waiters > 0) {
      state->call_changed.notify_all();
    }
    if (call->stuck) {
      return;
    }
  }
}

// Filesystems kept on local block devices or in memory: statfs on them is answered from
// the in-memory superblock and does not block on a server.
bool IsLocalFsType(std::string_view fs_type) {
  static constexpr std::array<std::string_view, 24> kLocal = {
      "bcachefs", "btrfs",   "devtmpfs", "erofs",    "exfat", "ext2",   "ext3", "ext4",
      "f2fs",     "hfsplus", "iso9660",  "jfs",      "msdos", "nilfs2", "ntfs", "ntfs3",
      "overlay",  "ramfs",   "reiserfs", "squashfs", "tmpfs", "udf",    "vfat", "xfs"};
  return std::find(kLocal.begin(), kLocal.end(), fs_type) != kLocal.end();
}

// Runs statfs calls on long-lived worker threads, so that a scrape can stop waiting for
// one that hangs: a statfs on a dead NFS server blocks in the kernel, where no signal or
// cancellation reaches it. The scrape waits for each call up to the timeout, counted from
// when the call started (a call queued behind a hanging one is not its fault); a call
// past its timeout is "stuck": its worker is abandoned and replaced, later scrapes report
// its path as failed at once without starting another call, and once the call returns
// the path is statted normally again (node_exporter's stuckMounts). Thread safe.
class StatFsPool {
 public:
  StatFsPool(StatFsFunction statfs, std::chrono::milliseconds timeout)
      : state_(std::make_shared<PoolState>(std::move(statfs), timeout)) {}

  StatFsPool(const StatFsPool&) = delete;
  StatFsPool& operator=(const StatFsPool&) = delete;

  // Never waits for a statfs: a worker inside one (stuck or not) is detached and exits by
  // itself when its call returns, touching only the shared PoolState; one that may never
  // return costs a thread blocked in the kernel until the process exits, which is what
  // the hung mount costs anyway. Idle workers are joined. No scrape may be running.
  ~StatFsPool() {
    std::vector<std::thread> idle;
    {
      std::lock_guard lock(state_->mu);
      state_->shutdown = true;
      std::unordered_set<std::uint64_t> busy;
      for (const auto& [path, call] : state_->calls) {
        if (call->started && !call->done) {
          busy.insert(call->worker);
        }
      }
      for (auto& [id, thread] : workers_) {
        if (busy.contains(id)) {
          thread.detach();
        } else {
          idle.push_back(std::move(thread));
        }
      }
      workers_.clear();
    }
    state_->work_ready.notify_all();
    for (std::thread& thread : idle) {
      thread.join();
    }
  }

  // Stats `path` on the calling thread, for filesystems that cannot hang.
  StatOutcome StatHere(const std::string& path) const {
    StatFsResult result = RunStatFs(*state_, path);
    return {result.error == 0 ? StatStatus::kOk : StatStatus::kFailed, result};
  }

  // Stats every path (a path asked for twice is statted once) and returns the outcomes
  // in the order of `paths`. Returns within about the timeout plus the time the calls
  // take; never throws once the calls are queued.
  std::vector<StatOutcome> StatAll(const std::vector<std::string>& paths) {
    std::vector<std::shared_ptr<StatCall>> calls;
    calls.reserve(paths.size());
    std::vector<StatOutcome> outcomes(paths.size());
    std::unique_lock lock(state_->mu);
    std::size_t queued = 0;
    for (const std::string& path : paths) {
      auto it = state_->calls.find(path);
      if (it == state_->calls.end()) {
        auto call = std::make_shared<StatCall>(path);
        it = state_->calls.emplace(path, call).first;
        state_->queue.push_back(std::move(call));
        ++queued;
      }
      calls.push_back(it->second);
    }
    if (queued > 0) {
      StartWorkers(lock);
      state_->work_ready.notify_one();
    }
    for (std::size_t i = 0; i < calls.size(); ++i) {
      outcomes[i] = Wait(lock, *calls[i]);
    }
    return outcomes;
  }

 private:
  StatOutcome Wait(std::unique_lock<std::mutex>& lock, StatCall& call) {
    if (call.stuck) {
      return {StatStatus::kStuck, {}};
    }
    ++call.waiters;
    bool timed_out = false;
    while (!call.done && !call.stuck) {
      if (!call.started) {
        // Bounded: the calls ahead of it in the queue run on workers that either finish
        // or are found stuck by their own waiters and replaced (or the queue is failed
        // when no worker can be started).
        state_->call_changed.wait(lock);
      } else if (Clock::now() >= call.deadline) {
        MarkStuck(lock, call);
        timed_out = true;
      } else {
        state_->call_changed.wait_until(lock, call.deadline);
      }
    }
    --call.waiters;
    if (!call.done) {
      // Only the waiter that found the call stuck says so, so that it is logged once.
      return {timed_out ? StatStatus::kTimedOut : StatStatus::kStuck, {}};
    }
    return {call.result.error == 0 ? StatStatus::kOk : StatStatus::kFailed, call.result};
  }

  void MarkStuck(std::unique_lock<std::mutex>& lock, StatCall& call) {
    call.stuck = true;
    if (auto node = workers_.extract(call.worker); !node.empty()) {
      node.mapped().detach();
    }
    StartWorkers(lock);
    state_->call_changed.notify_all();
  }

  // Brings the healthy workers up to kStatWorkers (lazily: a collector never scraped
  // starts no thread). When not even one worker can be started, the queued calls fail
  // with the error rather than wait for ever.
  void StartWorkers(std::unique_lock<std::mutex>& lock) {
    while (workers_.size() < kStatWorkers && !state_->shutdown) {
      const std::uint64_t id = next_worker_id_++;
      // The map node first: a std::thread must never be destroyed while joinable.
      auto [it, inserted] = workers_.try_emplace(id);
      try {
        it->second = std::thread(WorkerLoop, state_, id);
      } catch (const std::system_error& e) {
        workers_.erase(it);
        spdlog::warn("filesystem collector: cannot start a statfs thread: {}", e.what());
        if (workers_.empty()) {
          FailQueued(lock, e.code().value());
        }
        return;
      }
    }
  }

  void FailQueued(std::unique_lock<std::mutex>& /*lock*/, int error) {
    for (const std::shared_ptr<StatCall>& call : state_->queue) {
      call->done = true;
      call->result = StatFsResult{.error = error != 0 ? error : EAGAIN};
      state_->calls.erase(call->path);
    }
    state_->queue.clear();
    state_->call_changed.notify_all();
  }

  const std::shared_ptr<PoolState> state_;
  // The workers that are not stuck, by id; guarded by state_->mu.
  std::map<std::uint64_t, std::thread> workers_;
  std::uint64_t next_worker_id_ = 0;
};

// One mount to report.
struct Mount {
  const MountEntry* entry;
  std::string mount_point;  // without the rootfs prefix
};

// client_golang sorts the series of a family by their label values (device, fstype,
// mountpoint: label names in order), so nines serves them in the same order.
auto SortKey(const Mount& mount) {
  return std::tie(mount.entry->device, mount.entry->fs_type, mount.mount_point);
}

class FilesystemCollector final : public Collector {
 public:
  FilesystemCollector(Paths paths, std::unique_ptr<const RE2> mount_points_exclude,
                      std::unique_ptr<const RE2> fs_types_exclude, StatFsFunction statfs,
                      std::chrono::milliseconds timeout)
      : paths_(std::move(paths)),
        init_mounts_(paths_.Proc("1/mounts")),
        own_mounts_(paths_.Proc("mounts")),
        mount_points_exclude_(std::move(mount_points_exclude)),
        fs_types_exclude_(std::move(fs_types_exclude)),
        pool_(std::make_unique<StatFsPool>(std::move(statfs), timeout)) {}

  void Update(SampleSink& sink) const override {
    const auto [source, text] = ReadMounts();
    std::vector<MountEntry> entries;
    try {
      entries = ParseMounts(text);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(source + ": " + e.what());
    }

    std::vector<Mount> mounts;
    mounts.reserve(entries.size());
    for (const MountEntry& entry : entries) {
      std::string mount_point = StripRootfsPrefix(entry.mount_point, paths_.rootfs);
      if (RE2::PartialMatch(mount_point, *mount_points_exclude_)) {
        spdlog::debug("filesystem collector: ignoring mount point {}", mount_point);
        continue;
      }
      if (RE2::PartialMatch(entry.fs_type, *fs_types_exclude_)) {
        spdlog::debug("filesystem collector: ignoring fs type {} of {}", entry.fs_type,
                      mount_point);
        continue;
      }
      mounts.push_back(Mount{&entry, std::move(mount_point)});
    }
    // A mount point mounted twice with the same device and fs type is one series, the
    // first mount's, as node_exporter serves it (it drops the later one, even when its
    // options differ, as a duplicate). Stable, so "first" is the mounts file's order.
    std::stable_sort(mounts.begin(), mounts.end(),
                     [](const Mount& a, const Mount& b) { return SortKey(a) < SortKey(b); });
    mounts.erase(
        std::unique(mounts.begin(), mounts.end(),
                    [](const Mount& a, const Mount& b) { return SortKey(a) == SortKey(b); }),
        mounts.end());

    std::vector<std::string> stat_paths;
    stat_paths.reserve(mounts.size());
    for (const Mount& mount : mounts) {
      stat_paths.push_back(paths_.Root(mount.mount_point));
    }
    // Disk and memory filesystems answer statfs from the superblock in memory and do not
    // hang: they are statted here, which spares a thread hand-off per mount on every
    // scrape. Network, FUSE and unknown ones go through the pool and its timeout.
    std::vector<StatOutcome> outcomes(mounts.size());
    std::vector<std::string> remote_paths;
    std::vector<std::size_t> remote_index;
    // statfs of a path reports whatever is mounted on top there, so a path is statted
    // once even when several mounts share it.
    std::unordered_map<std::string_view, std::size_t> local_done;
    for (std::size_t i = 0; i < mounts.size(); ++i) {
      if (IsLocalFsType(mounts[i].entry->fs_type)) {
        auto [it, first] = local_done.try_emplace(stat_paths[i], i);
        outcomes[i] = first ? pool_->StatHere(stat_paths[i]) : outcomes[it->second];
      }
    }
    for (std::size_t i = 0; i < mounts.size(); ++i) {
      if (IsLocalFsType(mounts[i].entry->fs_type)) {
        continue;
      }
      if (auto it = local_done.find(stat_paths[i]); it != local_done.end()) {
        outcomes[i] = outcomes[it->second];
      } else {
        remote_paths.push_back(stat_paths[i]);
        remote_index.push_back(i);
      }
    }
    if (!remote_paths.empty()) {
      std::vector<StatOutcome> remote = pool_->StatAll(remote_paths);
      for (std::size_t j = 0; j < remote.size(); ++j) {
        outcomes[remote_index[j]] = remote[j];
      }
    }

    for (std::size_t i = 0; i < mounts.size(); ++i) {
      const Mount& mount = mounts[i];
      const StatOutcome& outcome = outcomes[i];
      const Labels labels = {{"device", mount.entry->device},
                             {"fstype", mount.entry->fs_type},
                             {"mountpoint", mount.mount_point}};
      LogOutcome(stat_paths[i], outcome);
      const bool ok = outcome.status == StatStatus::kOk;
      sink.Gauge("node_filesystem_device_error",
                 "Whether an error occurred while getting statistics for the given device.",
                 ok ? 0 : 1, labels);
      // As node_exporter 1.5: a mount that could not be statted has only device_error
      // (not even readonly), rather than zeros that would read as a full disk.
      if (!ok) {
        continue;
      }
      const StatFsResult& stat = outcome.result;
      const auto block_size = static_cast<double>(stat.block_size);
      sink.Gauge("node_filesystem_size_bytes", "Filesystem size in bytes.",
                 static_cast<double>(stat.blocks) * block_size, labels);
      sink.Gauge("node_filesystem_free_bytes", "Filesystem free space in bytes.",
                 static_cast<double>(stat.blocks_free) * block_size, labels);
      sink.Gauge("node_filesystem_avail_bytes",
                 "Filesystem space available to non-root users in bytes.",
                 static_cast<double>(stat.blocks_available) * block_size, labels);
      sink.Gauge("node_filesystem_files", "Filesystem total file nodes.",
                 static_cast<double>(stat.files), labels);
      sink.Gauge("node_filesystem_files_free", "Filesystem total free file nodes.",
                 static_cast<double>(stat.files_free), labels);
      sink.Gauge("node_filesystem_readonly", "Filesystem read-only status.",
                 HasReadOnlyOption(mount.entry->options) ? 1 : 0, labels);
    }
  }

 private:
  // The mounts of PID 1 (the host's, when nines runs in a container with the host's
  // /proc), or the process's own when /proc/1 is hidden (hidepid): then 1/mounts does not
  // exist. Any other failure fails the collector, as in node_exporter.
  std::pair<std::string, std::string> ReadMounts() const {
    if (std::optional<std::string> text = init_mounts_.ReadOptional()) {
      return {init_mounts_.path(), *std::move(text)};
    }
    spdlog::debug("filesystem collector: {} does not exist, reading the process's mounts",
                  init_mounts_.path());
    return {own_mounts_.path(), own_mounts_.Read()};
  }

  static void LogOutcome(const std::string& path, const StatOutcome& outcome) {
    switch (outcome.status) {
      case StatStatus::kOk:
        return;
      case StatStatus::kFailed:
        spdlog::debug("filesystem collector: statfs {}: {}", path,
                      std::strerror(outcome.result.error));
        return;
      case StatStatus::kTimedOut:
        // A warning once per hang: later scrapes report the mount as stuck at debug.
        spdlog::warn(
            "filesystem collector: statfs {} timed out; reporting it as failed until the call "
            "returns",
            path);
        return;
      case StatStatus::kStuck:
        spdlog::debug("filesystem collector: statfs {} is still hanging", path);
        return;
    }
  }

  const Paths paths_;
  const ProcFile init_mounts_;
  const ProcFile own_mounts_;
  const std::unique_ptr<const RE2> mount_points_exclude_;
  const std::unique_ptr<const RE2> fs_types_exclude_;
  const std::unique_ptr<StatFsPool> pool_;
};

}  // namespace

std::unique_ptr<Collector> NewFilesystemCollectorWithStatFs(const CollectorOptions& options,
                                                            StatFsFunction statfs) {
  auto mount_points_exclude = CompileRegexp(options.filesystem_mount_points_exclude,
                                            "--collector.filesystem.mount-points-exclude");
  auto fs_types_exclude =
      CompileRegexp(options.filesystem_fs_types_exclude, "--collector.filesystem.fs-types-exclude");
  if (options.filesystem_mount_timeout <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("--collector.filesystem.mount-timeout: must be positive (got " +
                                std::to_string(options.filesystem_mount_timeout.count()) + "ms)");
  }
  return std::make_unique<FilesystemCollector>(options.paths, std::move(mount_points_exclude),
                                               std::move(fs_types_exclude), std::move(statfs),
                                               options.filesystem_mount_timeout);
}

}  // namespace internal

std::unique_ptr<Collector> NewFilesystemCollector(const CollectorOptions& options) {
  return internal::NewFilesystemCollectorWithStatFs(options, internal::SystemStatFs);
}

}  // namespace nines::collectors
