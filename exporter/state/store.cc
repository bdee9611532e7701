#include "exporter/state/store.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "collectors/collector.h"
#include "exporter/state/codec.h"

namespace nines::state {
namespace {

// The version of a windows section's layout.
constexpr std::uint64_t kWindowsVersion = 1;

}  // namespace

void SaveWindows(Sections& sections, const std::string& key, std::string_view identity,
                 const slo::WindowSet& windows) {
  Encoder encoder;
  encoder.U64(kWindowsVersion);
  encoder.Str(identity);
  EncodeWindows(windows.Export(), encoder);
  sections[key] = encoder.Take();
}

bool RestoreWindows(const Sections& sections, const std::string& key, std::string_view identity,
                    slo::WindowSet& windows, std::string_view what) {
  auto it = sections.find(key);
  if (it == sections.end()) {
    return false;
  }
  Decoder decoder(it->second);
  std::uint64_t version = 0;
  std::string saved_identity;
  std::vector<slo::NamedSnapshot> snapshots;
  if (!decoder.U64(&version)) {
    spdlog::warn("saved state of {} not restored: {}", what, decoder.error());
    return false;
  }
  if (version != kWindowsVersion) {
    spdlog::warn("saved state of {} not restored: section version {}, this nines reads {}", what,
                 version, kWindowsVersion);
    return false;
  }
  if (!decoder.Str(&saved_identity) || !DecodeWindows(decoder, &snapshots)) {
    spdlog::warn("saved state of {} not restored: {}", what, decoder.error());
    return false;
  }
  if (!decoder.AtEnd()) {
    spdlog::warn("saved state of {} not restored: unexpected bytes after the windows at byte {}",
                 what, decoder.offset());
    return false;
  }
  if (saved_identity != identity) {
    spdlog::info("saved state of {} not restored: it measured \"{}\", now \"{}\"", what,
                 saved_identity, identity);
    return false;
  }
  std::string error;
  if (!windows.Restore(snapshots, &error)) {
    spdlog::warn("saved state of {} partly restored: {}", what, error);
  }
  return true;
}

StateStore::StateStore(std::filesystem::path directory, std::chrono::milliseconds interval)
    : directory_(std::move(directory)), file_(directory_ / kStateFileName), interval_(interval) {}

StateStore::~StateStore() {
  // Stop() is the owner's job (it saves a last time); a thread still running is only joined.
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::optional<Sections> StateStore::Load(std::string* error) {
  std::error_code ec;
  if (std::filesystem::create_directories(directory_, ec) && !ec) {
    // Probe targets and log paths are nobody else's business.
    std::filesystem::permissions(directory_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  if (ec) {
    *error = "--storage.path " + directory_.string() + ": cannot create: " + ec.message();
    return std::nullopt;
  }
  if (::access(directory_.c_str(), W_OK | X_OK) != 0) {
    *error = "--storage.path " + directory_.string() + ": not writable: " + std::strerror(errno);
    return std::nullopt;
  }
  LoadedState loaded = ReadStateFile(file_);
  switch (loaded.status) {
    case LoadedState::Status::kMissing:
      spdlog::info("no saved state at {}; starting empty", file_.string());
      break;
    case LoadedState::Status::kLoaded:
      spdlog::info("restoring saved state from {} ({} sections)", file_.string(),
                   loaded.sections.size());
      break;
    case LoadedState::Status::kSetAside:
      spdlog::error("saved state not restored: {}", loaded.message);
      break;
  }
  return std::move(loaded.sections);
}

void StateStore::AddSaver(Saver saver) { savers_.push_back(std::move(saver)); }

void StateStore::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void StateStore::Loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
      break;
    }
    lock.unlock();
    SaveNow();
    lock.lock();
  }
}

std::string StateStore::SaveNow() {
  std::lock_guard save_lock(save_mutex_);
  const auto start = std::chrono::steady_clock::now();
  Sections sections;
  for (const Saver& saver : savers_) {
    saver(sections);
  }
  std::optional<std::string> error = WriteStateFile(file_, sections);
  const double now_seconds =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  {
    std::lock_guard lock(mutex_);
    last_successful_ = !error;
    if (!error) {
      last_success_seconds_ = now_seconds;
    }
  }
  if (error) {
    spdlog::error("cannot save state: {}", *error);
    return *error;
  }
  spdlog::debug(
      "saved state to {} ({} sections) in {:.1f}ms", file_.string(), sections.size(),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  return "";
}

void StateStore::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      return;
    }
    stopped_ = true;
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
  SaveNow();
}

std::vector<prometheus::MetricFamily> StateStore::Collect() const {
  collectors::MetricSink sink;
  std::lock_guard lock(mutex_);
  if (last_successful_) {
    sink.Gauge("nines_state_last_save_success_timestamp_seconds",
               "When the state file was last saved successfully, in seconds since the epoch.",
               last_success_seconds_);
    sink.Gauge("nines_state_last_save_successful",
               "Whether the last save of the state file worked.", *last_successful_ ? 1 : 0);
  }
  return sink.Take();
}

}  // namespace nines::state
