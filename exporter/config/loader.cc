#include "exporter/config/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <vector>

#include "collectors/nginx_status.h"
#include "exporter/config/checks.h"
#include "exporter/config/modules.h"
#include "exporter/config/yaml_reader.h"

namespace nines::config {
namespace {
constexpr off_t kMaxConfigBytes = 16 << 20;
}  // namespace

namespace internal {
namespace {

// Reads the required `name:` of a list entry: a valid name, unique among `names`.
void ReadName(MapReader& map, std::string_view kind, std::set<std::string, std::less<>>& names,
              std::string* name) {
  if (!map.Require("name", name)) {
    return;
  }
  if (!IsValidName(*name)) {
    map.Invalid("name", kNameRule);
  } else if (!names.insert(*name).second) {
    map.Invalid("name", "duplicate " + std::string(kind) + " name");
  }
}

// Checks a target against what its prober needs.
std::string TargetProblem(probes::ProbeKind kind, const std::string& target) {
  std::string host;
  std::string port;
  switch (kind) {
    case probes::ProbeKind::kHttp:
      if (target.find("://") == std::string::npos) {
        // blackbox accepts a bare host[:port][/path] and prepends http://.
        return IsUrlWithScheme("http://" + target, {"http"}) ? "" : "must be an http or https URL";
      }
      return IsUrlWithScheme(target, {"http", "https"}) ? "" : "must be an http or https URL";
    case probes::ProbeKind::kTcp:
      if (!SplitHostPort(target, &host, &port) || host.empty() || !IsPort(port)) {
        return "must be host:port";
      }
      return "";
    case probes::ProbeKind::kDns:
      // The DNS server to ask: host or host:port.
      if (target.find(':') != std::string::npos && !IsIpAddress(target) &&
          (!SplitHostPort(target, &host, &port) || host.empty() || !IsPort(port))) {
        return "must be a DNS server as host or host:port";
      }
      return "";
    case probes::ProbeKind::kIcmp:
      if (target.empty() || (target.find(':') != std::string::npos && !IsIpAddress(target)) ||
          target.find('/') != std::string::npos) {
        return "must be a host name or IP address";
      }
      return "";
  }
  return "unknown prober";
}

void DecodeProbes(MapReader& top, Config* config) {
  YAML::Node probes_node = top.Find("probes");
  if (!probes_node.IsDefined()) {
    return;
  }
  ErrorList& errors = top.errors();
  if (!probes_node.IsSequence()) {
    errors.At(probes_node, "probes", "must be a list " + Got(probes_node));
    return;
  }
  std::set<std::string, std::less<>> names;
  std::size_t index = 0;
  for (const YAML::Node& item : probes_node) {
    std::string path = "probes[" + std::to_string(index++) + "]";
    MapReader map(errors, item, path);
    if (!item.IsMap()) {
      if (item.IsNull()) {
        errors.At(item, path, "must be a map (got null)");
      }
      continue;
    }
    std::size_t before = errors.size();
    Probe probe;
    ReadName(map, "probe", names, &probe.name);
    bool named_module = map.Get("module", &probe.module_name);
    if (named_module) {
      auto it = config->modules.find(probe.module_name);
      if (it == config->modules.end()) {
        map.Invalid("module", "no such module");
      } else {
        probe.module = it->second;
      }
      for (std::string_view key : {"prober", "http", "tcp", "dns", "icmp"}) {
        if (map.Has(key)) {
          errors.At(map.Find(key), map.Child(key),
                    "cannot be combined with module: put options in the module, or drop module");
        }
      }
    } else if (map.Has("prober")) {
      DecodeModuleBody(map, &probe.module);
    } else {
      errors.At(item, path, "needs module or prober");
    }
    if (map.Require("target", &probe.target)) {
      std::string problem = TargetProblem(probe.module.prober, probe.target);
      if (!problem.empty()) {
        errors.At(map.Find("target"), map.Child("target"), problem + " " + Got(map.Find("target")));
      }
    }
    probe.interval = config->defaults.interval;
    if (map.Get("interval", &probe.interval) && probe.interval < kMinInterval) {
      errors.At(map.Find("interval"), map.Child("interval"),
                "must be at least 100ms " + Got(map.Find("interval")));
    }
    probe.timeout = probe.module.timeout.value_or(config->defaults.timeout);
    if (map.Get("timeout", &probe.timeout) && probe.timeout <= Duration::zero()) {
      errors.At(map.Find("timeout"), map.Child("timeout"),
                "must be positive " + Got(map.Find("timeout")));
    }
    if (probe.timeout > probe.interval && errors.size() == before) {
      YAML::Node at = map.Has("timeout") ? map.Find("timeout") : item;
      errors.At(at, map.Has("timeout") ? map.Child("timeout") : path,
                "timeout " + FormatDuration(probe.timeout) + " is longer than interval " +
                    FormatDuration(probe.interval));
    }
    // A named module with its own timeout was checked with the modules; any other timeout
    // is the probe's.
    if (probe.module.prober == probes::ProbeKind::kIcmp && errors.size() == before &&
        (!named_module || !probe.module.timeout || map.Has("timeout"))) {
      if (std::string problem = IcmpScheduleProblem(probe.module.icmp, probe.timeout);
          !problem.empty()) {
        YAML::Node at = map.Has("timeout") ? map.Find("timeout") : item;
        errors.At(at, map.Has("timeout") ? map.Child("timeout") : path, problem);
      }
    }
    probe.buckets = DefaultProbeBuckets();
    GetBuckets(map, "buckets", &probe.buckets);
    for (auto [key, field] :
         {std::pair{"down_after", &probe.down_after}, std::pair{"up_after", &probe.up_after}}) {
      if (map.Get(key, field) && *field < 1) {
        map.Invalid(key, "must be at least 1");
      }
    }
    map.Finish();
    config->probes.push_back(std::move(probe));
  }
}

void DecodeNginx(MapReader& top, Config* config) {
  YAML::Node nginx_node = top.Find("nginx");
  if (!nginx_node.IsDefined()) {
    return;
  }
  ErrorList& errors = top.errors();
  if (!nginx_node.IsSequence()) {
    errors.At(nginx_node, "nginx", "must be a list " + Got(nginx_node));
    return;
  }
  std::set<std::string, std::less<>> names;
  std::size_t index = 0;
  for (const YAML::Node& item : nginx_node) {
    std::string path = "nginx[" + std::to_string(index++) + "]";
    MapReader map(errors, item, path);
    if (!item.IsMap()) {
      continue;
    }
    Nginx nginx;
    ReadName(map, "nginx", names, &nginx.name);
    if (map.Get("stub_status", &nginx.stub_status)) {
      std::string why;
      if (!collectors::ParseStubStatusAddress(nginx.stub_status, &why)) {
        map.Invalid("stub_status",
                    "must be an http(s) URL, unix:/path.sock or unix:/path.sock:/path: " + why);
      }
    }
    if (YAML::Node log = map.Find("access_log"); log.IsDefined()) {
      MapReader log_map(errors, log, map.Child("access_log"));
      AccessLog access_log;
      access_log.format = std::string(kDefaultAccessLogFormat);
      bool has_path = log_map.Get("path", &access_log.path);
      bool has_syslog = log_map.Get("syslog", &access_log.syslog);
      if (has_path == has_syslog && log.IsMap()) {
        errors.At(log, log_map.path(), "needs exactly one of path and syslog");
      }
      if (has_path && access_log.path.empty()) {
        errors.At(log_map.Find("path"), log_map.Child("path"), "must not be empty");
      }
      if (has_syslog) {
        std::string host;
        std::string port;
        if (!SplitHostPort(access_log.syslog, &host, &port) || !IsPort(port)) {
          log_map.Invalid("syslog", "must be host:port");
        } else if (!IsLoopback(host)) {
          log_map.Invalid("syslog",
                          "must be a loopback address such as 127.0.0.1:5531, so only local nginx "
                          "can send");
        }
      }
      if (log_map.Get("format", &access_log.format) && access_log.format.empty()) {
        errors.At(log_map.Find("format"), log_map.Child("format"), "must not be empty");
      }
      GetBuckets(log_map, "buckets", &access_log.buckets);
      GetStatusCodes(log_map, "status_codes", &access_log.status_codes);
      std::string escape = "default";
      if (log_map.Get("escape", &escape)) {
        if (std::optional<collectors::Escape> parsed = collectors::ParseEscape(escape)) {
          access_log.escape = *parsed;
        } else {
          log_map.Invalid("escape", "must be default, json or none");
        }
      }
      if (!access_log.format.empty()) {
        std::string why;
        if (auto compiled =
                collectors::LogFormat::Compile(access_log.format, access_log.escape, &why)) {
          access_log.compiled = std::make_shared<const collectors::LogFormat>(*std::move(compiled));
        } else if (log_map.Has("format")) {
          log_map.Invalid("format", why);
        } else {
          errors.At(log, log_map.path(), "the default format does not compile: " + why);
        }
      }
      log_map.Finish();
      nginx.access_log = std::move(access_log);
    }
    if (nginx.stub_status.empty() && !nginx.access_log && item.IsMap()) {
      errors.At(item, path, "needs stub_status, access_log or both");
    }
    map.Finish();
    config->nginx.push_back(std::move(nginx));
  }
}

const Nginx* FindNginx(const Config& config, std::string_view name) {
  auto it = std::find_if(config.nginx.begin(), config.nginx.end(),
                         [&](const Nginx& n) { return n.name == name; });
  return it == config.nginx.end() ? nullptr : &*it;
}

bool HasRequestTime(std::string_view format) {
  for (std::size_t at = format.find("request_time"); at != std::string_view::npos;
       at = format.find("request_time", at + 1)) {
    bool plain = at > 0 && format[at - 1] == '$';
    bool braced = at > 1 && format.substr(at - 2, 2) == "${";
    std::size_t end = at + std::string_view("request_time").size();
    bool ends_name = end == format.size() ||
                     !(std::isalnum(static_cast<unsigned char>(format[end])) || format[end] == '_');
    if ((plain && ends_name) || (braced && end < format.size() && format[end] == '}')) {
      return true;
    }
  }
  return false;
}

// `bad_status_codes` and `ignore_status_codes` of an access-log SLI.
void DecodeSliStatusCodes(MapReader& sli, bool has_log, Sli* out) {
  bool has_bad = GetStatusCodes(sli, "bad_status_codes", &out->bad_status_codes);
  bool has_ignore = GetStatusCodes(sli, "ignore_status_codes", &out->ignore_status_codes);
  if (!has_log) {
    if (has_bad) {
      sli.Invalid("bad_status_codes", "applies only to an access_log SLI");
    }
    if (has_ignore) {
      sli.Invalid("ignore_status_codes", "applies only to an access_log SLI");
    }
    return;
  }
  for (int code : out->bad_status_codes) {
    if (std::find(out->ignore_status_codes.begin(), out->ignore_status_codes.end(), code) !=
        out->ignore_status_codes.end()) {
      sli.Invalid("ignore_status_codes",
                  "status " + std::to_string(code) + " is also in bad_status_codes");
    }
  }
}

// Inserts `threshold` into the sorted `buckets` unless it is there already, so a latency
// SLO's threshold is an exact `le` bound of the histogram it is measured on.
void AddBucket(std::vector<double>* buckets, Duration threshold) {
  double bound = std::chrono::duration<double>(threshold).count();
  auto it = std::lower_bound(buckets->begin(), buckets->end(), bound);
  if (it == buckets->end() || *it != bound) {
    buckets->insert(it, bound);
  }
}

void AddSloBuckets(Config* config) {
  for (const Slo& slo : config->slos) {
    if (!slo.sli.latency_threshold) {
      continue;
    }
    for (Probe& probe : config->probes) {
      if (probe.name == slo.sli.probe) {
        AddBucket(&probe.buckets, *slo.sli.latency_threshold);
      }
    }
    for (Nginx& nginx : config->nginx) {
      if (nginx.name == slo.sli.access_log && nginx.access_log) {
        AddBucket(&nginx.access_log->buckets, *slo.sli.latency_threshold);
      }
    }
  }
}

void DecodeSlos(MapReader& top, Config* config) {
  YAML::Node slos_node = top.Find("slos");
  if (!slos_node.IsDefined()) {
    return;
  }
  ErrorList& errors = top.errors();
  if (!slos_node.IsSequence()) {
    errors.At(slos_node, "slos", "must be a list " + Got(slos_node));
    return;
  }
  std::set<std::string, std::less<>> names;
  std::size_t index = 0;
  for (const YAML::Node& item : slos_node) {
    std::string path = "slos[" + std::to_string(index++) + "]";
    MapReader map(errors, item, path);
    if (!item.IsMap()) {
      continue;
    }
    Slo slo;
    ReadName(map, "slo", names, &slo.name);
    if (map.Require("objective", &slo.objective_percent) &&
        (slo.objective_percent <= 0 || slo.objective_percent >= 100)) {
      map.Invalid("objective", "must be a percentage above 0 and below 100");
    }
    if (map.Get("period", &slo.period) && slo.period < std::chrono::hours(1)) {
      map.Invalid("period", "must be at least 1h");
    }
    YAML::Node sli_node = map.Find("sli");
    if (!sli_node.IsDefined()) {
      errors.At(item, map.Child("sli"), "missing required key");
    } else {
      MapReader sli(errors, sli_node, map.Child("sli"));
      bool has_probe = sli.Get("probe", &slo.sli.probe);
      bool has_log = sli.Get("access_log", &slo.sli.access_log);
      if (has_probe == has_log && sli_node.IsMap()) {
        errors.At(sli_node, sli.path(), "needs exactly one of probe and access_log");
      }
      if (has_probe && std::none_of(config->probes.begin(), config->probes.end(),
                                    [&](const Probe& p) { return p.name == slo.sli.probe; })) {
        sli.Invalid("probe", "no such probe");
      }
      if (has_log) {
        const Nginx* nginx = FindNginx(*config, slo.sli.access_log);
        if (nginx == nullptr) {
          sli.Invalid("access_log", "no such nginx server");
        } else if (!nginx->access_log) {
          sli.Invalid("access_log", "nginx server has no access_log");
        }
      }
      if (sli.Get("latency_threshold", &slo.sli.latency_threshold) &&
          *slo.sli.latency_threshold <= Duration::zero()) {
        sli.Invalid("latency_threshold", "must be positive");
      }
      DecodeSliStatusCodes(sli, has_log, &slo.sli);
      if (has_log && slo.sli.latency_threshold) {
        const Nginx* nginx = FindNginx(*config, slo.sli.access_log);
        if (nginx != nullptr && nginx->access_log && !HasRequestTime(nginx->access_log->format)) {
          sli.Invalid("latency_threshold", "the access log format of nginx server \"" +
                                               slo.sli.access_log +
                                               "\" has no $request_time to measure latency by");
        }
      }
      sli.Finish();
    }
    map.Finish();
    config->slos.push_back(std::move(slo));
  }
}

void DecodeProbeEndpoint(MapReader& top, Config* config) {
  YAML::Node node = top.Find("probe_endpoint");
  if (!node.IsDefined()) {
    return;
  }
  MapReader map(top.errors(), node, "probe_endpoint");
  map.Get("enabled", &config->probe_endpoint.enabled);
  for (auto [key, list] : {std::pair{"allow", &config->probe_endpoint.allow},
                           std::pair{"deny", &config->probe_endpoint.deny}}) {
    if (!map.Get(key, list)) {
      continue;
    }
    YAML::Node items = map.Find(key);
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string& entry = (*list)[i];
      bool looks_like_address = entry.find_first_of(":/") != std::string::npos ||
                                std::all_of(entry.begin(), entry.end(), [](char c) {
                                  return (c >= '0' && c <= '9') || c == '.';
                                });
      if (looks_like_address ? !IsCidr(entry) : !IsHostPattern(entry)) {
        top.errors().At(
            items[i], map.Child(key) + "[" + std::to_string(i) + "]",
            "must be a CIDR like 10.0.0.0/8 or a host pattern like *.example.com " + Got(items[i]));
      }
    }
  }
  map.Finish();
}

void DecodeDefaults(MapReader& top, Config* config) {
  YAML::Node node = top.Find("defaults");
  MapReader map(top.errors(), node, "defaults");
  Defaults& defaults = config->defaults;
  if (map.Get("interval", &defaults.interval) && defaults.interval < kMinInterval) {
    top.errors().At(map.Find("interval"), "defaults.interval",
                    "must be at least 100ms " + Got(map.Find("interval")));
  }
  if (map.Get("timeout", &defaults.timeout) && defaults.timeout <= Duration::zero()) {
    top.errors().At(map.Find("timeout"), "defaults.timeout",
                    "must be positive " + Got(map.Find("timeout")));
  }
  if (defaults.timeout > defaults.interval) {
    top.errors().At(node, "defaults",
                    "timeout " + FormatDuration(defaults.timeout) + " is longer than interval " +
                        FormatDuration(defaults.interval));
  }
  map.Finish();
}

}  // namespace
}  // namespace internal

LoadResult LoadConfigText(std::string_view text, const std::string& source) {
  using internal::ErrorList;
  using internal::MapReader;
  ErrorList errors(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    errors.AtMark(e.mark, "", "invalid YAML: nested too deeply");
    return {nullptr, errors.Take()};
  } catch (const YAML::Exception& e) {
    errors.AtMark(e.mark, "", "invalid YAML: " + e.msg);
    return {nullptr, errors.Take()};
  }
  auto config = std::make_shared<Config>();
  config->source = source;
  if (!root.IsNull() && !root.IsMap()) {
    errors.At(root, "", "the config must be a map of sections " + internal::Got(root));
    return {nullptr, errors.Take()};
  }
  MapReader top(errors, root, "");
  // Order matters: probes read defaults and modules, SLOs read probes and nginx.
  internal::DecodeDefaults(top, config.get());
  internal::DecodeModules(top, config.get());
  internal::DecodeProbes(top, config.get());
  internal::DecodeNginx(top, config.get());
  internal::DecodeSlos(top, config.get());
  internal::AddSloBuckets(config.get());
  internal::DecodeProbeEndpoint(top, config.get());
  top.Finish();
  if (!errors.empty()) {
    return {nullptr, errors.Take()};
  }
  return {std::move(config), {}};
}

LoadResult LoadConfigFile(const std::string& path) {
  auto fail = [&](std::string_view what) -> LoadResult {
    internal::ErrorList errors(path);
    errors.File(std::string(what) + ": " + std::strerror(errno));
    return {nullptr, errors.Take()};
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail("cannot open config file");
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    return fail("cannot stat config file");
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    internal::ErrorList errors(path);
    errors.File("not a regular file");
    return {nullptr, errors.Take()};
  }
  if (info.st_size > kMaxConfigBytes) {
    ::close(fd);
    internal::ErrorList errors(path);
    errors.File("config file is larger than 16 MiB");
    return {nullptr, errors.Take()};
  }
  std::string text;
  std::vector<char> buffer(65536);
  while (true) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      LoadResult result = fail("cannot read config file");
      ::close(fd);
      return result;
    }
    if (n == 0) {
      break;
    }
    text.append(buffer.data(), static_cast<std::size_t>(n));
    if (text.size() > static_cast<std::size_t>(kMaxConfigBytes)) {
      ::close(fd);
      internal::ErrorList errors(path);
      errors.File("config file is larger than 16 MiB");
      return {nullptr, errors.Take()};
    }
  }
  ::close(fd);
  return LoadConfigText(text, path);
}

}  // namespace nines::config
