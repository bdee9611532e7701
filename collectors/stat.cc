#include "collectors/stat.h"

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "collectors/factories.h"
#include "collectors/proc_file.h"

namespace nines::collectors {
namespace internal {
namespace {

std::uint64_t Require(const std::optional<std::uint64_t>& value, std::string_view key) {
  if (!value) {
    throw std::runtime_error("no \"" + std::string(key) + "\" line");
  }
  return *value;
}

}  // namespace

StatCounters StatCountersFrom(const ProcStat& stat) {
  // Checked in the kernel's line order, so the message names the first line missing.
  StatCounters counters;
  counters.interrupts = Require(stat.interrupts, "intr");
  counters.context_switches = Require(stat.context_switches, "ctxt");
  counters.boot_time = Require(stat.boot_time, "btime");
  counters.forks = Require(stat.forks, "processes");
  counters.procs_running = Require(stat.procs_running, "procs_running");
  counters.procs_blocked = Require(stat.procs_blocked, "procs_blocked");
  return counters;
}

}  // namespace internal

namespace {

class StatCollector final : public Collector {
 public:
  explicit StatCollector(const Paths& paths) : stat_file_(paths.Proc("stat")) {}

  void Update(SampleSink& sink) const override {
    const internal::ProcStat stat = internal::ReadProcStat(stat_file_);
    internal::StatCounters counters;
    try {
      counters = internal::StatCountersFrom(stat);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(stat_file_.path() + ": " + e.what());
    }
    // Names, help texts and types as node_exporter 1.5's stat collector.
    sink.Counter("node_intr_total", "Total number of interrupts serviced.",
                 static_cast<double>(counters.interrupts));
    sink.Counter("node_context_switches_total", "Total number of context switches.",
                 static_cast<double>(counters.context_switches));
    sink.Counter("node_forks_total", "Total number of forks.", static_cast<double>(counters.forks));
    sink.Gauge("node_boot_time_seconds", "Node boot time, in unixtime.",
               static_cast<double>(counters.boot_time));
    sink.Gauge("node_procs_running", "Number of processes in runnable state.",
               static_cast<double>(counters.procs_running));
    sink.Gauge("node_procs_blocked", "Number of processes blocked waiting for I/O to complete.",
               static_cast<double>(counters.procs_blocked));
  }

 private:
  const ProcFile stat_file_;
};

}  // namespace

std::unique_ptr<Collector> NewStatCollector(const CollectorOptions& options) {
  return std::make_unique<StatCollector>(options.paths);
}

}  // namespace nines::collectors
