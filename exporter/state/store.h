#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "exporter/slo/window.h"
#include "exporter/state/state_file.h"

/// What nines keeps across restarts under `--storage.path`: the availability and SLO
/// windows and the access-log read positions, in one state file written atomically
/// (state_file.h).
namespace nines::state {

/// The name of the state file inside the `--storage.path` directory.
inline constexpr std::string_view kStateFileName = "nines.state";

/// Adds section `key` holding `windows` and `identity`, the text that says what the windows
/// measure (a probe's kind and target, an SLO's SLI).
void SaveWindows(Sections& sections, const std::string& key, std::string_view identity,
                 const slo::WindowSet& windows);

/// Restores `windows` from section `key` when it was saved with the same `identity`, and
/// returns true (also when only some windows fit; the others start empty, with a warning).
/// Returns false, leaving `windows` unchanged, when there is no such section, when it
/// measured something else (logged at info level) or cannot be decoded (warning). `what`
/// names the owner in messages, e.g. `probe "web"`.
bool RestoreWindows(const Sections& sections, const std::string& key, std::string_view identity,
                    slo::WindowSet& windows, std::string_view what);

/// Loads the state file at start, then saves it every `interval` and at Stop(), from the
/// sections the registered savers produce. Also exports its health:
/// `nines_state_last_save_successful` and `nines_state_last_save_success_timestamp_seconds`.
///
/// A save failure (disk full, directory removed) is logged and retried at the next interval;
/// nines keeps running. Thread safe.
class StateStore : public prometheus::Collectable {
 public:
  /// Adds this part's sections to a state about to be saved. Called from the saving thread.
  using Saver = std::function<void(Sections&)>;

  /// The state lives in `directory`/nines.state.
  StateStore(std::filesystem::path directory, std::chrono::milliseconds interval);
  ~StateStore() override;
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  /// Creates the directory when missing (mode 0700) and reads the state file. Returns the
  /// saved sections, empty when there is no file yet or it was set aside (a corrupt or
  /// future-version file is renamed, and the next save writes a fresh one; both logged).
  /// Returns nullopt with `*error` set when the directory cannot be created or written.
  std::optional<Sections> Load(std::string* error);

  /// Registers a part of the daemon whose state is saved. Call before Start().
  void AddSaver(Saver saver);

  /// Starts saving every interval.
  void Start();
  /// Saves now; returns "" or why it failed (also logged).
  std::string SaveNow();
  /// Stops the periodic saves and saves a last time. Idempotent.
  void Stop();

  const std::filesystem::path& file() const { return file_; }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  void Loop();

  std::filesystem::path directory_;
  std::filesystem::path file_;
  std::chrono::milliseconds interval_;
  std::vector<Saver> savers_;

  std::mutex save_mutex_;  // one save at a time
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::optional<bool> last_successful_;  // absent before the first save
  double last_success_seconds_ = 0;
  std::thread thread_;
};

}  // namespace nines::state
