#pragma once

#include <string>

#include "exporter/config/config.h"
#include "exporter/config/yaml_reader.h"

/// Decoders of blackbox_exporter's module options (`http:`, `tcp:`, `dns:`, `icmp:` and
/// what they contain). The vector and optional templates in yaml_reader.h find them by
/// argument-dependent lookup.
namespace nines::config::internal {

bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, TlsConfig* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, BasicAuth* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, Authorization* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, HeaderMatch* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, HttpModule* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, QueryResponse* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, TcpModule* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path,
            DnsRrValidator* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, DnsModule* out);
bool Decode(ErrorList& errors, const YAML::Node& node, const std::string& path, IcmpModule* out);

/// Why `icmp` cannot send its packets within `timeout` (with more than one packet,
/// packets * packet_interval must be below it), or "" when it can.
std::string IcmpScheduleProblem(const IcmpModule& icmp, Duration timeout);

/// Reads the list `key` of `map` into `out` (when present; returns whether it was) and
/// checks every element is an HTTP status code from 100 to 599.
bool GetStatusCodes(MapReader& map, std::string_view key, std::vector<int>* out);

/// Reads the list `key` of `map` into `out` (when present; returns whether it was) and
/// checks it is non-empty, positive and strictly increasing (histogram bucket bounds).
bool GetBuckets(MapReader& map, std::string_view key, std::vector<double>* out);

/// Reads `prober:`, `timeout:` and the options of a module or an inline probe from `map`.
/// Options for another prober than the chosen one are an error.
void DecodeModuleBody(MapReader& map, Module* out);

/// Reads the `modules:` section into config->modules, then adds the built-in modules
/// (`http_2xx`, `tcp_connect`) the config does not define itself.
void DecodeModules(MapReader& top, Config* config);

}  // namespace nines::config::internal
