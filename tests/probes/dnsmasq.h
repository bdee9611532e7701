// A real DNS server for the DNS prober's tests: Debian's dnsmasq on a loopback port, its
// records given on its command line. Header-only; the including target defines DNSMASQ.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/peers.h"
#include "tests/integration/process_runner.h"

#ifndef DNSMASQ
#error "DNSMASQ must be the absolute path of the dnsmasq binary"
#endif

namespace nines::testing {

/// The zone every DNS test serves (the texts in comments are what blackbox_exporter 0.23's
/// miekg/dns renders for them, seen against this very server):
///  - www.example.test A 192.0.2.1, AAAA 2001:db8::1
///  - two.example.test A 192.0.2.10 and 192.0.2.11
///  - dns.example.test A 127.0.0.1, AAAA ::1 (a DNS server's name)
///  - txt.example.test TXT "v=spf1 -all" and "hello"
///  - example.test MX 10 mail.example.test., CAA 0 issue "letsencrypt.org",
///    SOA ns.example.test. hostmaster.example.test. 2024010101 1200 180 1209600 600
///  - _ldap._tcp.example.test SRV 1 2 389 ldap.example.test.
///  - alias.example.test CNAME www.example.test.
///  - any other name in example.test: NXDOMAIN; outside it: REFUSED (no upstream).
/// Every record has TTL 600 (dnsmasq's auth-ttl).
inline std::vector<std::string> ExampleZone() {
  return {"--host-record=www.example.test,192.0.2.1,2001:db8::1",
          "--host-record=two.example.test,192.0.2.10",
          "--host-record=two.example.test,192.0.2.11",
          "--host-record=dns.example.test,127.0.0.1,::1",
          "--txt-record=txt.example.test,v=spf1 -all",
          "--txt-record=txt.example.test,hello",
          "--mx-host=example.test,mail.example.test,10",
          "--srv-host=_ldap._tcp.example.test,ldap.example.test,389,1,2",
          "--cname=alias.example.test,www.example.test",
          "--caa-record=example.test,0,issue,letsencrypt.org",
          "--auth-zone=example.test",
          "--auth-soa=2024010101,hostmaster.example.test",
          "--auth-server=ns.example.test"};
}

/// dnsmasq in the foreground on `listen_address` (127.0.0.1 or ::1) and a free port, with
/// no config file, no /etc/hosts, no /etc/resolv.conf and no upstream server, serving
/// `records` (dnsmasq options). Killed (SIGKILL) with the object.
class Dnsmasq {
 public:
  /// Starts it and waits until it serves; nullptr after a test failure that says why.
  static std::unique_ptr<Dnsmasq> Start(const std::vector<std::string>& records,
                                        const std::string& listen_address = "127.0.0.1") {
    using namespace std::chrono_literals;
    std::string last;
    for (int attempt = 0; attempt < 10; ++attempt) {
      std::unique_ptr<Dnsmasq> server(new Dnsmasq());
      server->address_ = listen_address;
      server->port_ = FreePort();
      std::vector<std::string> argv = {DNSMASQ,
                                       "--no-daemon",
                                       "--port=" + std::to_string(server->port_),
                                       "--listen-address=" + listen_address,
                                       "--bind-interfaces",
                                       "--no-resolv",
                                       "--no-hosts",
                                       "--conf-file=/dev/null",
                                       "--pid-file",
                                       "--log-facility=-",
                                       "--log-queries"};
      argv.insert(argv.end(), records.begin(), records.end());
      server->process_ = std::make_unique<Process>(ProcessOptions{.argv = argv});
      // dnsmasq logs "started" once its sockets are bound, and exits when the port is taken.
      if (server->process_->WaitForLine("started,", 5000ms) && server->process_->Running()) {
        return server;
      }
      last = server->process_->Describe();
    }
    ADD_FAILURE() << "dnsmasq did not start:\n" << last;
    return nullptr;
  }

  int port() const { return port_; }
  /// "127.0.0.1:PORT" or "[::1]:PORT".
  std::string HostPort() const {
    std::string host = address_.find(':') != std::string::npos ? "[" + address_ + "]" : address_;
    return host + ":" + std::to_string(port_);
  }
  /// What dnsmasq logged (every query), for failure messages.
  std::string Log() const { return process_->Output(Stream::kStderr); }

 private:
  Dnsmasq() = default;

  std::string address_;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace nines::testing
