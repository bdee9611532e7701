#include "collectors/registry.h"

#include <array>

#include "collectors/factories.h"

namespace nines::collectors {
namespace {

// The one list of collectors. A new collector is one file plus one line here.
constexpr std::array kCollectors = {
    CollectorSpec{"cpu", true, "CPU time per CPU and mode from /proc/stat.", NewCpuCollector},
    CollectorSpec{"diskstats", true, "Disk I/O statistics from /proc/diskstats.",
                  NewDiskstatsCollector},
    CollectorSpec{"filesystem", true, "Filesystem size and free space (statfs).",
                  NewFilesystemCollector},
    CollectorSpec{"loadavg", true, "Load average from /proc/loadavg.", NewLoadavgCollector},
    CollectorSpec{"meminfo", true, "Memory statistics from /proc/meminfo.", NewMeminfoCollector},
    CollectorSpec{"netdev", true, "Network device statistics from /proc/net/dev.",
                  NewNetdevCollector},
    CollectorSpec{"pressure", true, "Pressure stall information from /proc/pressure.",
                  NewPressureCollector},
    CollectorSpec{"stat", true, "Kernel and system statistics from /proc/stat.", NewStatCollector},
    CollectorSpec{"time", true, "The current system time and clock sources.", NewTimeCollector},
    CollectorSpec{"uname", true, "System information from uname(2).", NewUnameCollector},
};

}  // namespace

std::span<const CollectorSpec> AllCollectors() { return kCollectors; }

}  // namespace nines::collectors
