#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// Scrape-time host collectors in the node_exporter mould: one file per collector, an
/// explicit table (registry.h) of `{name, enabled by default, factory}`, every read under
/// `--path.procfs`, `--path.sysfs` or `--path.rootfs` so tests run on fixture trees.
namespace nines::collectors {

/// Where the host's filesystems are mounted (a container reads the host's through
/// bind mounts). Joins keep exactly one '/' between the parts.
struct Paths {
  std::string procfs = "/proc";
  std::string sysfs = "/sys";
  std::string rootfs = "/";
  std::string udev_data = "/run/udev/data";

  std::string Proc(std::string_view relative) const;
  std::string Sys(std::string_view relative) const;
  /// A host path (such as a mount point from /proc/1/mounts) under rootfs.
  std::string Root(std::string_view absolute) const;
  std::string Udev(std::string_view relative) const;
};

/// Reads a whole (small) file until EOF. Throws std::system_error (a std::runtime_error)
/// "cannot read <path>: <strerror>", with the errno in code(). ReadOptionalFile (text.h)
/// reads a file that may be absent.
std::string ReadFile(const std::string& path);

/// Everything a collector may be configured with (the `--collector.*` option flags).
/// Defaults are node_exporter 1.5's upstream defaults.
struct CollectorOptions {
  Paths paths;
  std::string filesystem_mount_points_exclude =
      "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
  std::string filesystem_fs_types_exclude =
      "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
      "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|"
      "squashfs|sysfs|tracefs)$";
  /// How long a statfs may take before the mount is reported as `_device_error 1`.
  std::chrono::milliseconds filesystem_mount_timeout{5000};
  std::string netdev_device_exclude;  // "" = exclude none
  std::string netdev_device_include;  // "" = include all; exclusive with exclude
  std::string diskstats_device_exclude = "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$";
  std::string diskstats_device_include;  // exclusive with exclude
  /// The wall clock, injected so tests of time-dependent metrics are deterministic.
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

using Labels = std::vector<std::pair<std::string, std::string>>;

/// Where a collector puts its samples. The public adders are the same for every sink; a
/// sink implements the two hooks. Not thread safe; one sink per collector per scrape.
/// Samples with the same name belong to one family, whose help and type are those of its
/// first sample; label values are plain text (sinks escape them as needed).
class SampleSink {
 public:
  virtual ~SampleSink() = default;

  void Gauge(std::string_view name, std::string_view help, double value, const Labels& labels = {});
  void Counter(std::string_view name, std::string_view help, double value,
               const Labels& labels = {});
  /// Adds one histogram sample, as prometheus::ClientMetric::Histogram holds it:
  /// `upper_bounds` are the finite bucket bounds in increasing order and
  /// `cumulative_counts[i]` counts the observations <= upper_bounds[i]; the +Inf bucket is
  /// added last with `count`, the number of observations, whose total is `sum`. Throws
  /// std::invalid_argument when the two spans differ in length (nothing is added then).
  void Histogram(std::string_view name, std::string_view help, std::span<const double> upper_bounds,
                 std::span<const std::uint64_t> cumulative_counts, double sum, std::uint64_t count,
                 const Labels& labels = {});

 protected:
  /// One counter or gauge sample.
  virtual void AddValue(std::string_view name, std::string_view help, prometheus::MetricType type,
                        double value, const Labels& labels) = 0;
  /// One histogram sample; the spans have the same length.
  virtual void AddHistogram(std::string_view name, std::string_view help,
                            std::span<const double> upper_bounds,
                            std::span<const std::uint64_t> cumulative_counts, double sum,
                            std::uint64_t count, const Labels& labels) = 0;
};

/// Builds prometheus-cpp metric families: samples with the same name land in one family, in
/// the order first seen. For code that hands families on (prometheus::Collectable sources,
/// tests); a `/metrics` page is written faster by a TextSink (text_sink.h).
class MetricSink final : public SampleSink {
 public:
  /// The families built so far; the sink is empty afterwards.
  std::vector<prometheus::MetricFamily> Take();

 protected:
  void AddValue(std::string_view name, std::string_view help, prometheus::MetricType type,
                double value, const Labels& labels) override;
  void AddHistogram(std::string_view name, std::string_view help,
                    std::span<const double> upper_bounds,
                    std::span<const std::uint64_t> cumulative_counts, double sum,
                    std::uint64_t count, const Labels& labels) override;

 private:
  prometheus::ClientMetric& Add(std::string_view name, std::string_view help,
                                prometheus::MetricType type, const Labels& labels);

  std::vector<prometheus::MetricFamily> families_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

/// One host collector. Update() reads its sources and adds samples to `sink`; it throws
/// std::exception with a message naming the source and the problem when it cannot
/// produce correct numbers (what it added before throwing is discarded). Implementations
/// hold no per-scrape state and may be called from several threads at once.
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void Update(SampleSink& sink) const = 0;
};

}  // namespace nines::collectors
