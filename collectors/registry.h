#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "collectors/collector.h"

namespace nines::collectors {

/// One row of the collector table: the table generates `--collector.<name>` and
/// `--no-collector.<name>`, and the daemon builds the enabled collectors from it.
struct CollectorSpec {
  std::string_view name;
  bool enabled_by_default;
  std::string_view help;
  std::unique_ptr<Collector> (*factory)(const CollectorOptions& options);
};

/// Every host collector, sorted by name.
std::span<const CollectorSpec> AllCollectors();

}  // namespace nines::collectors
