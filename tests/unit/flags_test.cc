#include "exporter/flags.h"

#include <gtest/gtest.h>

#include "exporter/web/listen_address.h"

namespace nines {
namespace {

FlagsResult Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "nines");
  return ParseFlags(args);
}

TEST(ParseFlags, Defaults) {
  FlagsResult result = Parse({});
  ASSERT_EQ(result.action, FlagsResult::Action::kRun) << result.message;
  EXPECT_EQ(result.flags.config_file, "");
  EXPECT_FALSE(result.flags.config_check);
  EXPECT_EQ(result.flags.listen_address, ":9469");
  EXPECT_EQ(result.flags.telemetry_path, "/metrics");
  EXPECT_EQ(result.flags.log_level, "info");
  EXPECT_EQ(result.flags.log_format, "logfmt");
  EXPECT_EQ(result.flags.max_connections, 16);
  EXPECT_EQ(result.flags.probe_endpoint_max_concurrent, 8);  // half the workers
}

TEST(ParseFlags, ProbeEndpointConcurrency) {
  EXPECT_EQ(Parse({"--web.max-connections=5"}).flags.probe_endpoint_max_concurrent, 2);
  EXPECT_EQ(Parse({"--web.max-connections=1"}).flags.probe_endpoint_max_concurrent, 1);
  EXPECT_EQ(Parse({"--probe.endpoint-max-concurrent=15"}).flags.probe_endpoint_max_concurrent, 15);
  FlagsResult too_many = Parse({"--probe.endpoint-max-concurrent=16"});
  EXPECT_EQ(too_many.action, FlagsResult::Action::kError);
  EXPECT_EQ(too_many.message,
            "--probe.endpoint-max-concurrent: must be from 1 to 15 (one less than "
            "--web.max-connections, so that /metrics is always served), or 0 for half of it "
            "(got 16)");
  EXPECT_EQ(Parse({"--probe.endpoint-max-concurrent=-1"}).action, FlagsResult::Action::kError);
}

TEST(ParseFlags, EqualsAndSpaceForms) {
  FlagsResult result = Parse({"--config.file=/etc/nines.yml", "--web.listen-address",
                              "127.0.0.1:9000", "--log.level=debug", "--log.format", "json",
                              "--web.telemetry-path=/stats", "--config.check"});
  ASSERT_EQ(result.action, FlagsResult::Action::kRun) << result.message;
  EXPECT_EQ(result.flags.config_file, "/etc/nines.yml");
  EXPECT_EQ(result.flags.listen_address, "127.0.0.1:9000");
  EXPECT_EQ(result.flags.log_level, "debug");
  EXPECT_EQ(result.flags.log_format, "json");
  EXPECT_EQ(result.flags.telemetry_path, "/stats");
  EXPECT_TRUE(result.flags.config_check);
}

TEST(ParseFlags, HelpAndVersion) {
  FlagsResult help = Parse({"--help"});
  EXPECT_EQ(help.action, FlagsResult::Action::kHelp);
  EXPECT_NE(help.message.find("--web.listen-address"), std::string::npos);
  EXPECT_NE(help.message.find("--config.check"), std::string::npos);
  EXPECT_EQ(Parse({"-h"}).action, FlagsResult::Action::kHelp);
  EXPECT_EQ(Parse({"--version"}).action, FlagsResult::Action::kVersion);
}

TEST(ParseFlags, Errors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--no-such-flag"}, "unrecognised option '--no-such-flag', try --help"},
      {{"--config"}, "unrecognised option '--config', try --help"},  // no prefix guessing
      {{"stray"},
       "too many positional options have been specified on the command line, try "
       "--help"},
      {{"--log.level=verbose"},
       "--log.level: must be debug, info, warn or error (got \"verbose\")"},
      {{"--log.format=text"}, "--log.format: must be logfmt or json (got \"text\")"},
      {{"--web.listen-address=9469"},
       "--web.listen-address: must be host:port or :port (got \"9469\")"},
      {{"--web.listen-address=[::1]:9469"},
       "--web.listen-address: IPv6 listen addresses are not supported; use an IPv4 address "
       "(got \"[::1]:9469\")"},
      {{"--web.telemetry-path=metrics"},
       "--web.telemetry-path: must be a path like /metrics, not / and not under /-/ (got "
       "\"metrics\")"},
      {{"--web.telemetry-path=/-/healthy"},
       "--web.telemetry-path: must be a path like /metrics, not / and not under /-/ (got "
       "\"/-/healthy\")"},
      {{"--web.max-connections=0"}, "--web.max-connections: must be from 1 to 1024 (got 0)"},
      {{"--web.max-connections=lots"},
       "the argument ('lots') for option '--web.max-connections' is invalid, try --help"},
  };
  for (const Case& c : cases) {
    FlagsResult result = Parse(c.args);
    EXPECT_EQ(result.action, FlagsResult::Action::kError) << c.args[0];
    EXPECT_EQ(result.message, c.message) << c.args[0];
  }
}

TEST(ParseListenAddress, Forms) {
  std::string error;
  auto all = web::ParseListenAddress(":9469", &error);
  ASSERT_TRUE(all.has_value()) << error;
  EXPECT_EQ(all->host, "");
  EXPECT_EQ(all->port, 9469);
  EXPECT_EQ(all->ToCivetPort(), "9469");
  EXPECT_EQ(all->ToString(), ":9469");

  auto local = web::ParseListenAddress("localhost:0", &error);
  ASSERT_TRUE(local.has_value()) << error;
  EXPECT_EQ(local->host, "127.0.0.1");
  EXPECT_EQ(local->ToCivetPort(), "127.0.0.1:0");

  for (const char* bad :
       {"", "127.0.0.1", "host.example:80", "127.0.0.1:65536", ":-1", ":x", "::1:80", "1.2.3:80"}) {
    EXPECT_FALSE(web::ParseListenAddress(bad, &error).has_value()) << bad;
    EXPECT_FALSE(error.empty());
  }
}

}  // namespace
}  // namespace nines

namespace nines {
namespace {

TEST(ParseFlags, CollectorsDefaultToTheTable) {
  FlagsResult result = Parse({});
  ASSERT_EQ(result.action, FlagsResult::Action::kRun) << result.message;
  EXPECT_EQ(result.flags.enabled_collectors,
            (std::vector<std::string>{"cpu", "diskstats", "filesystem", "loadavg", "meminfo",
                                      "netdev", "pressure", "stat", "time", "uname"}));
}

TEST(ParseFlags, CollectorSwitches) {
  FlagsResult result = Parse({"--no-collector.cpu", "--no-collector.filesystem"});
  ASSERT_EQ(result.action, FlagsResult::Action::kRun) << result.message;
  EXPECT_EQ(result.flags.enabled_collectors,
            (std::vector<std::string>{"diskstats", "loadavg", "meminfo", "netdev", "pressure",
                                      "stat", "time", "uname"}));
  result = Parse({"--collector.disable-defaults", "--collector.loadavg", "--collector.meminfo"});
  ASSERT_EQ(result.action, FlagsResult::Action::kRun) << result.message;
  EXPECT_EQ(result.flags.enabled_collectors, (std::vector<std::string>{"loadavg", "meminfo"}));
  result = Parse({"--collector.cpu", "--no-collector.cpu"});
  EXPECT_EQ(result.action, FlagsResult::Action::kError);
  EXPECT_EQ(result.message, "--collector.cpu and --no-collector.cpu contradict each other");
}

TEST(ParseFlags, CollectorOptions) {
  FlagsResult result =
      Parse({"--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root",
             "--collector.netdev.device-exclude=^(lo|veth.*)$",
             "--collector.filesystem.mount-timeout=250ms",
             "--collector.diskstats.device-include=^sd[a-z]$"});
  ASSERT_EQ(result.action, FlagsResult::Action::kRun) << result.message;
  const collectors::CollectorOptions& options = result.flags.collector_options;
  EXPECT_EQ(options.paths.procfs, "/host/proc");
  EXPECT_EQ(options.paths.sysfs, "/host/sys");
  EXPECT_EQ(options.paths.rootfs, "/host/root");
  EXPECT_EQ(options.paths.Proc("1/mounts"), "/host/proc/1/mounts");
  EXPECT_EQ(options.paths.Root("/boot"), "/host/root/boot");
  EXPECT_EQ(options.netdev_device_exclude, "^(lo|veth.*)$");
  EXPECT_EQ(options.filesystem_mount_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(options.diskstats_device_include, "^sd[a-z]$");
  EXPECT_EQ(options.diskstats_device_exclude, "");  // an include replaces the default exclude
}

TEST(ParseFlags, CollectorOptionErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--collector.netdev.device-exclude=("},
       "--collector.netdev.device-exclude: invalid regular expression: missing ): ( (got \"(\")"},
      {{"--collector.netdev.device-exclude=lo", "--collector.netdev.device-include=eth0"},
       "--collector.netdev.device-exclude and --collector.netdev.device-include are mutually "
       "exclusive"},
      {{"--collector.diskstats.device-exclude=^sda$", "--collector.diskstats.device-include=^sdb$"},
       "--collector.diskstats.device-exclude and --collector.diskstats.device-include are "
       "mutually exclusive"},
      {{"--collector.filesystem.mount-timeout=0s"},
       "--collector.filesystem.mount-timeout: must be a positive duration like 5s (got \"0s\")"},
      {{"--collector.nope"}, "unrecognised option '--collector.nope', try --help"},
  };
  for (const Case& c : cases) {
    FlagsResult result = Parse(c.args);
    EXPECT_EQ(result.action, FlagsResult::Action::kError) << c.args[0];
    EXPECT_EQ(result.message, c.message) << c.args[0];
  }
}

TEST(Paths, Joins) {
  collectors::Paths paths{.procfs = "/proc/", .sysfs = "/sys", .rootfs = "/", .udev_data = "/u"};
  EXPECT_EQ(paths.Proc("stat"), "/proc/stat");
  EXPECT_EQ(paths.Proc("/stat"), "/proc/stat");
  EXPECT_EQ(paths.Root("/"), "/");
  EXPECT_EQ(paths.Root("/home"), "/home");
  EXPECT_EQ(paths.Sys("class/net"), "/sys/class/net");
}

}  // namespace
}  // namespace nines
