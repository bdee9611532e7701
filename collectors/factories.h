#pragma once

#include <memory>

#include "collectors/collector.h"

/// The factory of every host collector, one per file (collectors/<name>.cc). A factory
/// compiles the collector's options (regexes) and throws std::invalid_argument with a
/// message naming the flag when one is invalid.
namespace nines::collectors {

std::unique_ptr<Collector> NewCpuCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewDiskstatsCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewFilesystemCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewLoadavgCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewMeminfoCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewNetdevCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewPressureCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewStatCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewTimeCollector(const CollectorOptions& options);
std::unique_ptr<Collector> NewUnameCollector(const CollectorOptions& options);

}  // namespace nines::collectors
