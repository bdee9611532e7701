#include "collectors/options.h"

#include <stdexcept>

namespace nines::collectors {

std::unique_ptr<const RE2> CompileRegexp(const std::string& pattern, std::string_view flag) {
  RE2::Options options;
  options.set_log_errors(false);
  auto regex = std::make_unique<const RE2>(pattern, options);
  if (!regex->ok()) {
    throw std::invalid_argument(std::string(flag) + ": invalid regular expression: " +
                                regex->error() + " (got \"" + pattern + "\")");
  }
  return regex;
}

DeviceFilter::DeviceFilter(const std::string& exclude, std::string_view exclude_flag,
                           const std::string& include, std::string_view include_flag) {
  if (!exclude.empty() && !include.empty()) {
    throw std::invalid_argument(std::string(exclude_flag) + " and " + std::string(include_flag) +
                                " are mutually exclusive");
  }
  if (!exclude.empty()) {
    exclude_ = CompileRegexp(exclude, exclude_flag);
  }
  if (!include.empty()) {
    include_ = CompileRegexp(include, include_flag);
  }
}

bool DeviceFilter::Ignored(std::string_view device) const {
  return (exclude_ != nullptr && RE2::PartialMatch(device, *exclude_)) ||
         (include_ != nullptr && !RE2::PartialMatch(device, *include_));
}

}  // namespace nines::collectors
