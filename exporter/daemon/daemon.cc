#include "exporter/daemon/daemon.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>

#include "collectors/host_collector.h"
#include "collectors/nginx_status.h"
#include "collectors/process.h"
#include "exporter/config/default_config.h"
#include "exporter/daemon/access_logs.h"
#include "exporter/daemon/reloader.h"
#include "exporter/daemon/status_view.h"
#include "exporter/metrics/gatherer.h"
#include "exporter/metrics/probe_metrics.h"
#include "exporter/metrics/self_metrics.h"
#include "exporter/scheduler/runner.h"
#include "exporter/slo/slo_engine.h"
#include "exporter/state/store.h"
#include "exporter/version.h"
#include "exporter/web/handlers.h"
#include "exporter/web/probe_handler.h"
#include "exporter/web/server.h"
#include "exporter/web/status_handlers.h"

namespace nines::daemon {
namespace {

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

std::string ConfigName(const Flags& flags) {
  return flags.config_file.empty() ? config::kBuiltinConfigName : flags.config_file;
}

// How the daemon reaches itself: loopback when it listens on every interface.
std::string SelfUrl(const web::ListenAddress& address) {
  std::string host = address.host.empty() || address.host == "0.0.0.0" ? "127.0.0.1" : address.host;
  return "http://" + host + ":" + std::to_string(address.port);
}

}  // namespace

void BlockSignals() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int CheckConfig(const Flags& flags) {
  std::string why;
  std::optional<web::ListenAddress> address = web::ParseListenAddress(flags.listen_address, &why);
  config::LoadResult result =
      LoadConfig(flags.config_file, SelfUrl(address.value_or(web::ListenAddress{"", 9469})));
  if (!result.ok()) {
    for (const std::string& error : result.errors) {
      std::fprintf(stderr, "%s\n", error.c_str());
    }
    return 1;
  }
  std::printf("OK\n");
  return 0;
}

int Run(const Flags& flags) {
  spdlog::info("starting nines version={} revision={} config={}", kVersion, kRevision,
               ConfigName(flags));

  auto registry = std::make_shared<prometheus::Registry>();
  metrics::SelfMetrics self_metrics(*registry);
  auto probe_metrics = std::make_shared<metrics::ProbeMetrics>();
  auto slo_engine = std::make_shared<slo::SloEngine>();
  auto history = std::make_shared<status::History>();
  auto traffic = std::make_shared<status::Traffic>();
  const double started_seconds =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto access_log_metrics = std::make_shared<collectors::AccessLogMetrics>();
  AccessLogSources access_logs(*access_log_metrics);
  access_log_metrics->SetRequestObserver(
      [slo_engine, traffic](const std::string& server,
                            std::span<const collectors::AccessLogMetrics::Request> requests) {
        slo_engine->RecordRequests(server, requests);
        traffic->Record(server, requests);
      });

  // Saved state is read before anything runs and restored by the first config applied,
  // before the first probe result or log line arrives.
  std::shared_ptr<state::StateStore> store;
  std::optional<state::Sections> saved;
  if (!flags.storage_path.empty()) {
    store = std::make_shared<state::StateStore>(flags.storage_path, flags.storage_save_interval);
    std::string error;
    saved = store->Load(&error);
    if (!saved) {
      spdlog::error("{}", error);
      return 1;
    }
    access_logs.SetResumePositions(*saved);
  }

  scheduler::ProbeRunner runner(*probe_metrics,
                                static_cast<std::size_t>(flags.probe_max_in_flight));
  runner.OnResult(
      [slo_engine, history](const std::string& probe, const probes::ProbeResult& result) {
        slo_engine->RecordProbe(probe, result.success, result.duration);
        history->Record(probe, result);
      });
  runner.Start();
  Reloader reloader(flags.config_file, self_metrics);
  // The parts that follow probes and SLOs by name; the first config also restores them.
  reloader.OnApply([slo_engine, probe_metrics, history, traffic,
                    &saved](const std::shared_ptr<const config::Config>& config) {
    slo_engine->SetSlos(config->slos);
    history->SetProbes(config->probes);
    std::vector<std::string> servers;
    for (const config::Nginx& nginx : config->nginx) {
      if (nginx.access_log) {
        servers.push_back(nginx.name);
      }
    }
    traffic->SetServers(servers);
    if (saved && !saved->empty()) {
      probe_metrics->SetProbes(config->probes);
      std::size_t probes = probe_metrics->Restore(*saved);
      std::size_t slos = slo_engine->Restore(*saved);
      std::size_t histories = history->Restore(*saved);
      spdlog::info("restored the windows of {} of {} probes, {} of {} SLOs, and {} probe histories",
                   probes, config->probes.size(), slos, config->slos.size(), histories);
    }
    saved.reset();
    return std::string();
  });
  reloader.OnApply([&runner](const std::shared_ptr<const config::Config>& config) {
    return runner.Apply(config);
  });
  reloader.OnApply([&access_logs](const std::shared_ptr<const config::Config>& config) {
    return access_logs.Apply(config);
  });
  auto nginx_status = std::make_shared<collectors::NginxStatusCollector>();
  reloader.OnApply([nginx_status](const std::shared_ptr<const config::Config>& config) {
    std::vector<collectors::NginxStatusTarget> servers;
    for (const config::Nginx& nginx : config->nginx) {
      if (!nginx.stub_status.empty()) {
        servers.push_back({nginx.name, nginx.stub_status});
      }
    }
    nginx_status->SetServers(std::move(servers));
    return std::string();
  });
  auto load = [&reloader] {
    std::vector<std::string> errors = reloader.Reload();
    for (const std::string& error : errors) {
      spdlog::error("cannot load config: {}", error);
    }
    return errors.empty();
  };
  // A config file is validated before the port is taken. The built-in default probes the
  // daemon itself, so it is loaded once the port is known (it may be :0).
  bool builtin = flags.config_file.empty();
  if (!builtin && !load()) {
    return 1;
  }

  metrics::Gatherer gatherer;
  gatherer.Add(registry);
  gatherer.Add(probe_metrics);
  gatherer.Add(nginx_status);
  gatherer.Add(access_log_metrics);
  gatherer.Add(slo_engine);
  if (store) {
    gatherer.Add(store);
  }
  gatherer.Add(std::make_shared<collectors::ProcessCollector>());
  try {
    gatherer.Add(std::make_shared<collectors::HostCollector>(
        collectors::BuildCollectors(flags.enabled_collectors, flags.collector_options)));
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  spdlog::info("enabled collectors: {}", fmt::join(flags.enabled_collectors, ", "));

  std::string why;
  auto address = web::ParseListenAddress(flags.listen_address, &why);
  if (!address) {
    spdlog::error("--web.listen-address: {}", why);
    return 1;
  }
  std::atomic<bool> ready{false};
  web::Server server(web::ServerOptions{*address, flags.max_connections});
  StatusViewBuilder status_view({.config = [&reloader] { return reloader.Current(); },
                                 .probe_metrics = probe_metrics.get(),
                                 .history = history.get(),
                                 .slos = slo_engine.get(),
                                 .traffic = traffic.get(),
                                 .self = &self_metrics,
                                 .started_seconds = started_seconds});
  web::StatusSources status_sources{
      .view = [&status_view] { return status_view.Build(); },
      .probe = [&status_view](std::string_view name) { return status_view.Probe(name); },
      .history = history.get()};
  server.Route("/", web::StatusPageHandler(status_sources, flags.telemetry_path));
  server.Route("/api/v1/status", web::StatusJsonHandler(status_sources));
  server.Route("/logs", web::LogsHandler(status_sources, flags.telemetry_path));
  server.RoutePrefix("/badge/", web::BadgeHandler(status_sources));
  server.Route(flags.telemetry_path, web::MetricsHandler(gatherer));
  prometheus::Counter& probe_rejected =
      prometheus::BuildCounter()
          .Name("nines_probe_endpoint_rejected_total")
          .Help(
              "Requests to /probe answered 429 because --probe.endpoint-max-concurrent were "
              "already being served.")
          .Register(*registry)
          .Add({});
  web::ProbeHandlerOptions probe_options;
  probe_options.max_concurrent = flags.probe_endpoint_max_concurrent;
  probe_options.on_rejected = [&probe_rejected] { probe_rejected.Increment(); };
  server.Route("/probe", web::ProbeHandler([&reloader] { return reloader.Current(); },
                                           [&runner](probes::ProbeRequest request) {
                                             return runner.RunOnce(std::move(request));
                                           },
                                           std::move(probe_options)));
  server.Route("/-/healthy", web::HealthyHandler());
  server.Route("/-/ready", web::ReadyHandler(ready));
  server.Route("/-/reload", web::ReloadHandler([&reloader] { return reloader.Reload(); }));
  try {
    server.Start();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  address->port = server.port();
  spdlog::info("listening on {} (metrics at {})", address->ToString(), flags.telemetry_path);
  if (builtin) {
    reloader.SetSelfUrl(SelfUrl(*address));
    if (!load()) {
      server.Stop();
      return 1;
    }
  }
  if (store) {
    store->AddSaver([probe_metrics](state::Sections& sections) { probe_metrics->Save(sections); });
    store->AddSaver([history](state::Sections& sections) { history->Save(sections); });
    store->AddSaver([&access_logs, access_log_metrics, slo_engine](state::Sections& sections) {
      // Positions and SLO windows from the same instant: no line counted in the windows is
      // read again after a restart, and none is skipped.
      const auto pause = access_log_metrics->PauseIngest();
      slo_engine->Save(sections);
      access_logs.Save(sections);
    });
    store->Start();
  }
  ready = true;

  sigset_t signals = HandledSignals();
  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) {
      continue;
    }
    if (signal == SIGHUP) {
      std::vector<std::string> errors = reloader.Reload();
      if (errors.empty()) {
        spdlog::info("config reloaded on SIGHUP");
      }
      for (const std::string& error : errors) {
        spdlog::error("reload rejected, keeping the running config: {}", error);
      }
      continue;
    }
    spdlog::info("received {}, shutting down", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  ready = false;
  server.Stop();
  runner.Stop();
  if (store) {
    store->Stop();
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace nines::daemon
