#include "collectors/cpu.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "collectors/factories.h"
#include "collectors/proc_file.h"
#include "spdlog/spdlog.h"

namespace nines::collectors {
namespace internal {

std::vector<CpuTicks> MonotonicCpuTicks(const std::vector<CpuTicks>& previous,
                                        std::vector<CpuTicks> current, std::uint64_t user_hz) {
  const bool same_cpus =
      std::equal(previous.begin(), previous.end(), current.begin(), current.end(),
                 [](const CpuTicks& a, const CpuTicks& b) { return a.cpu == b.cpu; });
  if (!same_cpus) {
    return current;
  }
  // Compared in ticks rather than node_exporter's float seconds: the same test without
  // rounding.
  const std::uint64_t jump_back_ticks = kIdleJumpBackSeconds * user_hz;
  for (std::size_t i = 0; i < current.size(); ++i) {
    const CpuTicks& before = previous[i];
    CpuTicks& now = current[i];
    if (before.idle > now.idle && before.idle - now.idle >= jump_back_ticks) {
      spdlog::debug(
          "cpu: cpu{} idle fell from {} to {} ticks; taking it as a hotplug and "
          "restarting its counters",
          now.cpu, before.idle, now.idle);
      continue;
    }
    for (const auto& [name, member] : kCpuTickColumns) {
      if (now.*member < before.*member) {
        spdlog::debug("cpu: cpu{} {} went backwards from {} to {} ticks; keeping {}", now.cpu, name,
                      before.*member, now.*member, before.*member);
        now.*member = before.*member;
      }
    }
  }
  return current;
}

}  // namespace internal

namespace {

using internal::CpuTicks;

constexpr std::string_view kSecondsName = "node_cpu_seconds_total";
constexpr std::string_view kSecondsHelp = "Seconds the CPUs spent in each mode.";
constexpr std::string_view kGuestName = "node_cpu_guest_seconds_total";
constexpr std::string_view kGuestHelp = "Seconds the CPUs spent in guests (VMs) for each mode.";

using Mode = std::pair<std::string_view, std::uint64_t CpuTicks::*>;

// In the order node_exporter's output shows them (client_golang sorts by label value).
constexpr std::array<Mode, 8> kModes = {{{"idle", &CpuTicks::idle},
                                         {"iowait", &CpuTicks::iowait},
                                         {"irq", &CpuTicks::irq},
                                         {"nice", &CpuTicks::nice},
                                         {"softirq", &CpuTicks::softirq},
                                         {"steal", &CpuTicks::steal},
                                         {"system", &CpuTicks::system},
                                         {"user", &CpuTicks::user}}};
constexpr std::array<Mode, 2> kGuestModes = {
    {{"nice", &CpuTicks::guest_nice}, {"user", &CpuTicks::guest}}};

class CpuCollector final : public Collector {
 public:
  CpuCollector(const Paths& paths, long user_hz)
      : stat_file_(paths.Proc("stat")), user_hz_(user_hz) {}

  void Update(SampleSink& sink) const override {
    if (user_hz_ <= 0) {
      throw std::runtime_error("sysconf(_SC_CLK_TCK) returned " + std::to_string(user_hz_));
    }
    const auto user_hz = static_cast<std::uint64_t>(user_hz_);
    internal::ProcStat stat = internal::ReadProcStat(stat_file_);
    // node_exporter exports nothing then, and succeeds; but a /proc/stat without CPUs is
    // not a kernel's.
    if (stat.cpus.empty()) {
      throw std::runtime_error(stat_file_.path() + ": no per-CPU \"cpuN\" lines");
    }

    std::vector<CpuTicks> cpus;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      cpus = internal::MonotonicCpuTicks(last_, std::move(stat.cpus), user_hz);
      last_ = cpus;
    }

    // Only the CPUs /proc/stat lists (the online ones) are exported. node_exporter 1.5 also
    // exports zeros for offline CPUs numbered below the highest online one (a gap in its
    // slice), which reads as a fully busy CPU on dashboards; later versions dropped them.
    const auto hz = static_cast<double>(user_hz);
    Labels labels = {{"cpu", ""}, {"mode", ""}};
    for (const CpuTicks& cpu : cpus) {
      labels[0].second = std::to_string(cpu.cpu);
      for (const auto& [mode, member] : kModes) {
        labels[1].second = mode;
        sink.Counter(kSecondsName, kSecondsHelp, static_cast<double>(cpu.*member) / hz, labels);
      }
      for (const auto& [mode, member] : kGuestModes) {
        labels[1].second = mode;
        sink.Counter(kGuestName, kGuestHelp, static_cast<double>(cpu.*member) / hz, labels);
      }
    }
  }

 private:
  const ProcFile stat_file_;
  const long user_hz_;
  // What the last scrape exported, so that counters never go backwards (node_exporter's
  // cpuStats cache). The one piece of state kept between scrapes; Update may run on
  // several threads at once.
  mutable std::mutex mutex_;
  mutable std::vector<CpuTicks> last_;
};

}  // namespace

std::unique_ptr<Collector> NewCpuCollector(const CollectorOptions& options) {
  // USER_HZ cannot change while the process runs; a bad value fails each scrape, not start.
  return std::make_unique<CpuCollector>(options.paths, ::sysconf(_SC_CLK_TCK));
}

}  // namespace nines::collectors
