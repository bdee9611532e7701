#include "exporter/web/target_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace nines::web {
namespace {

using probes::ProbeKind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Verdict = TargetDecision::Verdict;

// A resolver with fixed answers that records what it was asked.
class FakeDns {
 public:
  void Add(const std::string& host, std::vector<std::string> addresses) {
    answers_[host] = std::move(addresses);
  }

  Resolver resolver() {
    return [this](const std::string& host, std::chrono::nanoseconds timeout) {
      std::lock_guard lock(mutex_);
      asked_.push_back(host);
      last_timeout_ = timeout;
      auto it = answers_.find(host);
      if (it == answers_.end()) {
        return Resolution{{}, "Name or service not known"};
      }
      return Resolution{it->second, ""};
    };
  }

  const std::vector<std::string>& asked() const { return asked_; }
  std::chrono::nanoseconds last_timeout() const { return last_timeout_; }

 private:
  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> answers_;
  std::vector<std::string> asked_;
  std::chrono::nanoseconds last_timeout_{0};
};

config::ProbeEndpoint Endpoint(std::vector<std::string> allow, std::vector<std::string> deny) {
  config::ProbeEndpoint endpoint;
  endpoint.allow = std::move(allow);
  endpoint.deny = std::move(deny);
  return endpoint;
}

ResolveOptions Prefer4() {
  ResolveOptions options;
  options.preferred_ip_protocol = config::IpProtocol::kIp4;
  return options;
}

TEST(TargetPolicyTest, DefaultDenyListBlocksCloudMetadataAndLinkLocal) {
  FakeDns dns;
  dns.Add("metadata.google.internal", {"169.254.169.254"});
  TargetPolicy policy(config::ProbeEndpoint{}, dns.resolver());

  struct Case {
    const char* target;
    ProbeKind kind;
  };
  for (const Case& c : {
           Case{"http://169.254.169.254/latest/meta-data/", ProbeKind::kHttp},
           Case{"169.254.169.254", ProbeKind::kHttp},
           Case{"169.254.169.254:80", ProbeKind::kTcp},
           Case{"169.254.169.254", ProbeKind::kIcmp},
           Case{"169.254.169.254:53", ProbeKind::kDns},
           Case{"http://metadata.google.internal/computeMetadata/v1/", ProbeKind::kHttp},
           Case{"http://[fe80::1]/", ProbeKind::kHttp},
           Case{"http://[fe80::1%25eth0]:8080/", ProbeKind::kHttp},
           Case{"[fe80::1]:22", ProbeKind::kTcp},
           Case{"fe80::1", ProbeKind::kIcmp},
           Case{"fe80::1%eth0", ProbeKind::kIcmp},
           Case{"fe80::1", ProbeKind::kDns},
           // IPv4-mapped IPv6 is checked as the IPv4 address it carries.
           Case{"http://[::ffff:169.254.169.254]/", ProbeKind::kHttp},
           Case{"[::ffff:a9fe:a9fe]:80", ProbeKind::kTcp},
       }) {
    TargetDecision decision = policy.Decide(c.target, c.kind);
    EXPECT_EQ(decision.verdict, Verdict::kDenied) << c.target << ": " << decision.reason;
    EXPECT_THAT(decision.reason, HasSubstr("in denied network")) << c.target;
    EXPECT_TRUE(decision.pinned_address.empty()) << c.target;
  }
  TargetDecision decision = policy.Decide("http://169.254.169.254/", ProbeKind::kHttp);
  EXPECT_EQ(decision.reason, "address 169.254.169.254 is in denied network 169.254.0.0/16");
  decision = policy.Decide("http://metadata.google.internal/", ProbeKind::kHttp);
  EXPECT_EQ(decision.reason,
            "host \"metadata.google.internal\" resolves to 169.254.169.254, which is in denied "
            "network 169.254.0.0/16");
}

TEST(TargetPolicyTest, EmptyAllowListAllowsEverythingNotDenied) {
  FakeDns dns;
  dns.Add("web.example.com", {"203.0.113.10"});
  TargetPolicy policy(config::ProbeEndpoint{}, dns.resolver());

  TargetDecision decision = policy.Decide("https://web.example.com:8443/health", ProbeKind::kHttp);
  EXPECT_EQ(decision.verdict, Verdict::kAllowed) << decision.reason;
  EXPECT_EQ(decision.host, "web.example.com");
  EXPECT_EQ(decision.pinned_address, "203.0.113.10");
  EXPECT_EQ(decision.probe_target, "https://web.example.com:8443/health");
  EXPECT_TRUE(decision.looked_up);
  EXPECT_THAT(decision.addresses, ElementsAre("203.0.113.10"));

  decision = policy.Decide("198.51.100.1:443", ProbeKind::kTcp);
  EXPECT_EQ(decision.verdict, Verdict::kAllowed) << decision.reason;
  EXPECT_EQ(decision.pinned_address, "198.51.100.1");
  EXPECT_FALSE(decision.looked_up);
  EXPECT_EQ(dns.asked(), std::vector<std::string>{"web.example.com"});
}

TEST(TargetPolicyTest, Ipv4CidrsIncludingBareAddressesAndHostBits) {
  TargetPolicy policy(Endpoint({}, {"10.0.0.0/8", "192.0.2.7", "172.16.5.9/12"}), nullptr);
  EXPECT_EQ(policy.Decide("10.255.0.1:80", ProbeKind::kTcp).verdict, Verdict::kDenied);
  EXPECT_EQ(policy.Decide("11.0.0.1:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);
  EXPECT_EQ(policy.Decide("192.0.2.7:80", ProbeKind::kTcp).verdict, Verdict::kDenied);
  EXPECT_EQ(policy.Decide("192.0.2.8:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);
  // Host bits in an entry are ignored, as Go's net.ParseCIDR does.
  EXPECT_EQ(policy.Decide("172.31.255.255:80", ProbeKind::kTcp).verdict, Verdict::kDenied);
  EXPECT_EQ(policy.Decide("172.32.0.0:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);
}

TEST(TargetPolicyTest, Ipv6CidrsIncludingBareAddresses) {
  TargetPolicy policy(Endpoint({}, {"2001:db8::/32", "2001:db9::5"}), nullptr);
  EXPECT_EQ(policy.Decide("http://[2001:db8:ffff::1]:8080/", ProbeKind::kHttp).verdict,
            Verdict::kDenied);
  EXPECT_EQ(policy.Decide("http://[2001:db9::1]/", ProbeKind::kHttp).verdict, Verdict::kAllowed);
  EXPECT_EQ(policy.Decide("[2001:db9::5]:80", ProbeKind::kTcp).verdict, Verdict::kDenied);
  EXPECT_EQ(policy.Decide("[2001:db9::6]:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);
  // An IPv6 network does not cover IPv4 addresses, mapped ones included.
  TargetPolicy all_v6(Endpoint({}, {"::/0"}), nullptr);
  EXPECT_EQ(all_v6.Decide("[::1]:80", ProbeKind::kTcp).verdict, Verdict::kDenied);
  EXPECT_EQ(all_v6.Decide("127.0.0.1:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);
  EXPECT_EQ(all_v6.Decide("[::ffff:127.0.0.1]:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);
}

TEST(TargetPolicyTest, MappedAddressesAreCheckedAsIpv4) {
  FakeDns dns;
  dns.Add("sneaky.example.com", {"::ffff:10.1.2.3"});
  TargetPolicy policy(Endpoint({}, {"10.0.0.0/8"}), dns.resolver());
  EXPECT_EQ(policy.Decide("http://[::ffff:10.0.0.1]/", ProbeKind::kHttp).verdict, Verdict::kDenied);
  EXPECT_EQ(policy.Decide("http://sneaky.example.com/", ProbeKind::kHttp).verdict,
            Verdict::kDenied);

  // A mapped entry of /96 or longer is the IPv4 network it carries.
  TargetPolicy mapped_entry(Endpoint({}, {"::ffff:10.0.0.0/104"}), nullptr);
  EXPECT_EQ(mapped_entry.Decide("10.9.9.9:80", ProbeKind::kTcp).verdict, Verdict::kDenied);
  EXPECT_EQ(mapped_entry.Decide("11.9.9.9:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);

  // An allow list of IPv4 networks admits mapped addresses inside them.
  TargetPolicy allow(Endpoint({"192.0.2.0/24"}, {}), nullptr);
  EXPECT_EQ(allow.Decide("[::ffff:192.0.2.1]:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);
}

TEST(TargetPolicyTest, HostPatternsAreCaseInsensitiveGlobs) {
  FakeDns dns;
  dns.Add("a.example.com", {"203.0.113.1"});
  dns.Add("a.b.example.com", {"203.0.113.2"});
  TargetPolicy policy(Endpoint({"*.example.com", "exact.example.org"}, {}), dns.resolver());

  EXPECT_EQ(policy.Decide("http://a.example.com/", ProbeKind::kHttp).verdict, Verdict::kAllowed);
  EXPECT_EQ(policy.Decide("http://a.b.example.com/", ProbeKind::kHttp).verdict, Verdict::kAllowed);
  TargetDecision upper = policy.Decide("http://A.Example.COM./", ProbeKind::kHttp);
  EXPECT_EQ(upper.verdict, Verdict::kAllowed) << upper.reason;
  EXPECT_EQ(upper.host, "a.example.com");

  std::size_t lookups = dns.asked().size();
  for (const char* target : {"http://example.com/", "http://evil-example.com/",
                             "http://a.example.com.evil.net/", "http://exact.example.org.x/"}) {
    TargetDecision decision = policy.Decide(target, ProbeKind::kHttp);
    EXPECT_EQ(decision.verdict, Verdict::kDenied) << target;
    EXPECT_THAT(decision.reason, HasSubstr("matches no allowed pattern")) << target;
  }
  // With only patterns allowed, a name that matches none is refused without a lookup.
  EXPECT_EQ(dns.asked().size(), lookups);
}

TEST(TargetPolicyTest, DenyPatternsRefuseBeforeAnyLookup) {
  FakeDns dns;
  TargetPolicy policy(Endpoint({}, {"*.internal", "admin.example.com"}), dns.resolver());
  TargetDecision decision = policy.Decide("http://db.prod.INTERNAL/", ProbeKind::kHttp);
  EXPECT_EQ(decision.verdict, Verdict::kDenied);
  EXPECT_EQ(decision.reason, "host \"db.prod.internal\" matches a denied pattern");
  EXPECT_EQ(policy.Decide("admin.example.com:22", ProbeKind::kTcp).verdict, Verdict::kDenied);
  EXPECT_TRUE(dns.asked().empty());
}

TEST(TargetPolicyTest, AllowCidrsNeedEveryAddressUnlessTheHostMatchesAPattern) {
  FakeDns dns;
  dns.Add("inside.test", {"10.0.0.1", "10.0.0.2"});
  dns.Add("straddling.test", {"10.0.0.1", "192.0.2.1"});
  dns.Add("named.example.com", {"192.0.2.5"});
  dns.Add("bad.example.com", {"192.0.2.5", "169.254.169.254"});
  TargetPolicy policy(Endpoint({"10.0.0.0/8", "*.example.com"}, {"169.254.0.0/16", "fe80::/10"}),
                      dns.resolver());

  EXPECT_EQ(policy.Decide("http://inside.test/", ProbeKind::kHttp).verdict, Verdict::kAllowed);
  TargetDecision straddling = policy.Decide("http://straddling.test/", ProbeKind::kHttp);
  EXPECT_EQ(straddling.verdict, Verdict::kDenied);
  EXPECT_EQ(straddling.reason,
            "host \"straddling.test\" resolves to 192.0.2.1, which is in no allowed network, "
            "and host \"straddling.test\" matches no allowed pattern");
  // An allowed pattern admits the host whatever its addresses...
  EXPECT_EQ(policy.Decide("http://named.example.com/", ProbeKind::kHttp).verdict,
            Verdict::kAllowed);
  // ...except denied ones: ANY denied address refuses the target.
  EXPECT_EQ(policy.Decide("http://bad.example.com/", ProbeKind::kHttp).verdict, Verdict::kDenied);
  EXPECT_EQ(policy.Decide("10.1.1.1:80", ProbeKind::kTcp).verdict, Verdict::kAllowed);
  EXPECT_EQ(policy.Decide("192.0.2.1:80", ProbeKind::kTcp).verdict, Verdict::kDenied);
}

TEST(TargetPolicyTest, LocalhostResolvesWithTheSystemResolver) {
  Resolution resolution = SystemResolve("localhost", std::chrono::seconds(5));
  ASSERT_EQ(resolution.error, "");
  EXPECT_THAT(resolution.addresses, ::testing::Contains("127.0.0.1"));

  TargetPolicy loopback(Endpoint({"127.0.0.0/8", "::1"}, {}));
  TargetDecision decision =
      loopback.Decide("http://localhost:9469/-/healthy", ProbeKind::kHttp, Prefer4());
  EXPECT_EQ(decision.verdict, Verdict::kAllowed) << decision.reason;
  EXPECT_EQ(decision.pinned_address, "127.0.0.1");
  EXPECT_TRUE(decision.looked_up);

  TargetPolicy elsewhere(Endpoint({"10.0.0.0/8"}, {}));
  EXPECT_EQ(elsewhere.Decide("localhost:22", ProbeKind::kTcp).verdict, Verdict::kDenied);

  TargetPolicy no_loopback(Endpoint({}, {"127.0.0.0/8", "::1"}));
  EXPECT_EQ(no_loopback.Decide("http://localhost/", ProbeKind::kHttp).verdict, Verdict::kDenied);
  // Numeric shorthands that libc reads as addresses are checked as the address they mean.
  EXPECT_EQ(
      TargetPolicy(config::ProbeEndpoint{}).Decide("http://2852039166/", ProbeKind::kHttp).verdict,
      Verdict::kDenied);
}

TEST(TargetPolicyTest, PinsTheFirstAddressOfThePreferredFamily) {
  FakeDns dns;
  dns.Add("dual.test", {"203.0.113.9", "2001:db8::5", "2001:db8::6"});
  dns.Add("v4only.test", {"203.0.113.9"});
  TargetPolicy policy(config::ProbeEndpoint{}, dns.resolver());

  EXPECT_EQ(policy.Decide("dual.test:80", ProbeKind::kTcp).pinned_address, "2001:db8::5");
  EXPECT_EQ(policy.Decide("dual.test:80", ProbeKind::kTcp, Prefer4()).pinned_address,
            "203.0.113.9");
  EXPECT_EQ(policy.Decide("v4only.test:80", ProbeKind::kTcp).pinned_address, "203.0.113.9");

  ResolveOptions strict;
  strict.ip_protocol_fallback = false;
  TargetDecision decision = policy.Decide("v4only.test:80", ProbeKind::kTcp, strict);
  EXPECT_EQ(decision.verdict, Verdict::kUnresolved);
  EXPECT_EQ(decision.reason, "no IPv6 address for \"v4only.test\" and ip_protocol_fallback is off");
}

TEST(TargetPolicyTest, FailedLookupIsUnresolvedAndUsesTheTimeout) {
  FakeDns dns;
  TargetPolicy policy(config::ProbeEndpoint{}, dns.resolver());
  ResolveOptions options;
  options.timeout = std::chrono::milliseconds(1234);
  TargetDecision decision = policy.Decide("http://nowhere.test/", ProbeKind::kHttp, options);
  EXPECT_EQ(decision.verdict, Verdict::kUnresolved);
  EXPECT_EQ(decision.reason, "resolving \"nowhere.test\": Name or service not known");
  EXPECT_TRUE(decision.looked_up);
  EXPECT_EQ(dns.last_timeout(), std::chrono::milliseconds(1234));
}

TEST(TargetPolicyTest, SystemResolveGivesUpAtItsTimeout) {
  Resolution resolution = SystemResolve("localhost", std::chrono::nanoseconds(0));
  EXPECT_TRUE(resolution.addresses.empty());
  EXPECT_THAT(resolution.error, HasSubstr("no time left"));
}

TEST(TargetPolicyTest, ExtractsHostsPerKind) {
  FakeDns dns;
  dns.Add("web.test", {"203.0.113.1"});
  dns.Add("localhost", {"127.0.0.1"});
  TargetPolicy policy(config::ProbeEndpoint{}, dns.resolver());
  struct Case {
    const char* target;
    ProbeKind kind;
    const char* host;
    const char* probe_target;
  };
  for (const Case& c : {
           Case{"web.test", ProbeKind::kHttp, "web.test", "http://web.test"},
           Case{"web.test:8080/x?y=1", ProbeKind::kHttp, "web.test", "http://web.test:8080/x?y=1"},
           // A "://" in the query is not a scheme.
           Case{"localhost:8080/r?to=http://169.254.169.254/", ProbeKind::kHttp, "localhost",
                "http://localhost:8080/r?to=http://169.254.169.254/"},
           Case{"HTTPS://Web.Test/", ProbeKind::kHttp, "web.test", "https://Web.Test/"},
           Case{"http://user:pw@web.test:81/p#frag", ProbeKind::kHttp, "web.test",
                "http://user:pw@web.test:81/p#frag"},
           Case{"http://web.test:/", ProbeKind::kHttp, "web.test", "http://web.test:/"},
           Case{"http://[2001:db8::1]:8080/", ProbeKind::kHttp, "2001:db8::1",
                "http://[2001:db8::1]:8080/"},
           Case{"web.test:443", ProbeKind::kTcp, "web.test", "web.test:443"},
           Case{"[2001:db8::1]:443", ProbeKind::kTcp, "2001:db8::1", "[2001:db8::1]:443"},
           Case{"web.test", ProbeKind::kDns, "web.test", "web.test"},
           Case{"web.test:5353", ProbeKind::kDns, "web.test", "web.test:5353"},
           Case{"[2001:db8::1]:53", ProbeKind::kDns, "2001:db8::1", "[2001:db8::1]:53"},
           Case{"2001:db8::1", ProbeKind::kDns, "2001:db8::1", "2001:db8::1"},
           Case{"web.test", ProbeKind::kIcmp, "web.test", "web.test"},
           Case{"2001:DB8::1", ProbeKind::kIcmp, "2001:db8::1", "2001:DB8::1"},
       }) {
    TargetDecision decision = policy.Decide(c.target, c.kind);
    EXPECT_EQ(decision.verdict, Verdict::kAllowed) << c.target << ": " << decision.reason;
    EXPECT_EQ(decision.host, c.host) << c.target;
    EXPECT_EQ(decision.probe_target, c.probe_target) << c.target;
  }
}

TEST(TargetPolicyTest, MalformedTargetsAreRefusedWithoutLookups) {
  FakeDns dns;
  TargetPolicy policy(config::ProbeEndpoint{}, dns.resolver());
  struct Case {
    const char* target;
    ProbeKind kind;
    const char* reason;
  };
  for (const Case& c : {
           Case{"", ProbeKind::kHttp, "empty target"},
           Case{"http://exa mple.com/", ProbeKind::kHttp, "space or a control character"},
           Case{"ftp://example.com/", ProbeKind::kHttp, "unsupported scheme \"ftp\""},
           Case{"http:///path", ProbeKind::kHttp, "missing host in URL"},
           Case{"http://user@/", ProbeKind::kHttp, "missing host in URL"},
           Case{"http://:80/", ProbeKind::kHttp, "missing host"},
           Case{"http://ex%41mple.com/", ProbeKind::kHttp, "not an ASCII host name"},
           Case{"http://b\xc3\xbc"
                "cher.de/",
                ProbeKind::kHttp, "not an ASCII host name"},
           Case{"http://evil.test\\@good.test/", ProbeKind::kHttp, "backslash"},
           Case{"http://a@evil.test@good.test/", ProbeKind::kHttp, "more than one '@'"},
           Case{"http://[127.0.0.1]/", ProbeKind::kHttp, "in brackets is not an IPv6 address"},
           Case{"http://[::1/", ProbeKind::kHttp, "missing ']'"},
           Case{"http://[::1]x/", ProbeKind::kHttp, "after ']'"},
           Case{"http://::1/", ProbeKind::kHttp, "too many colons"},
           Case{"http://web.test:99999/", ProbeKind::kHttp, "port \"99999\""},
           Case{"web.test", ProbeKind::kTcp, "missing port (want host:port)"},
           Case{"web.test:", ProbeKind::kTcp, "port \"\""},
           Case{"web.test:0", ProbeKind::kTcp, "port \"0\""},
           Case{"web.test:http", ProbeKind::kTcp, "port \"http\""},
           Case{"::1:80", ProbeKind::kTcp, "too many colons"},
           Case{"[::1]", ProbeKind::kTcp, "missing port (want [address]:port)"},
           Case{"web.test:+53", ProbeKind::kDns, "port \"+53\""},
           Case{"[::1]", ProbeKind::kIcmp, "not a valid IPv6 address"},
           Case{"web.test:80", ProbeKind::kIcmp, "not a valid IPv6 address"},
       }) {
    TargetDecision decision = policy.Decide(c.target, c.kind);
    EXPECT_EQ(decision.verdict, Verdict::kMalformed) << c.target;
    EXPECT_THAT(decision.reason, HasSubstr(c.reason)) << c.target;
  }
  EXPECT_TRUE(dns.asked().empty());
}

TEST(TargetPolicyTest, CheckEntry) {
  for (const char* good :
       {"10.0.0.0/8", "10.0.0.1", "0.0.0.0/0", "fe80::/10", "::1", "::/0", "::ffff:10.0.0.0/104",
        "localhost", "*.example.com", "Db-1.Example.com", "*"}) {
    EXPECT_EQ(TargetPolicy::CheckEntry(good), std::nullopt) << good;
  }
  EXPECT_EQ(TargetPolicy::CheckEntry("10.0.0.0/33"),
            "prefix length \"33\" of \"10.0.0.0/33\" is out of range for IPv4 (0 to 32)");
  EXPECT_EQ(TargetPolicy::CheckEntry("fe80::/129"),
            "prefix length \"129\" of \"fe80::/129\" is out of range for IPv6 (0 to 128)");
  EXPECT_THAT(TargetPolicy::CheckEntry("10.0.0.0/").value_or(""), HasSubstr("prefix length"));
  EXPECT_THAT(TargetPolicy::CheckEntry("10.0.0.0/x").value_or(""), HasSubstr("prefix length"));
  EXPECT_THAT(TargetPolicy::CheckEntry("1.2.3").value_or(""),
              HasSubstr("is not an IP address or CIDR"));
  EXPECT_THAT(TargetPolicy::CheckEntry("example.com/24").value_or(""),
              HasSubstr("is not an IP address or CIDR"));
  EXPECT_THAT(TargetPolicy::CheckEntry("exa mple.com").value_or(""),
              HasSubstr("is not a host pattern"));
  EXPECT_THAT(TargetPolicy::CheckEntry("").value_or(""), HasSubstr("empty entry"));
}

TEST(TargetPolicyTest, ConstructorRefusesInvalidEntries) {
  try {
    TargetPolicy policy(Endpoint({"10.0.0.0/8"}, {"169.254.0.0/16", "fe80::/300"}), nullptr);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("probe_endpoint.deny[1]: prefix length \"300\""));
  }
}

TEST(TargetPolicyTest, CheckAddressAppliesTheRulesToOneConnection) {
  TargetPolicy policy(Endpoint({"10.0.0.0/8", "*.example.com"}, {"169.254.0.0/16", "*.internal"}),
                      nullptr);
  EXPECT_EQ(policy.CheckAddress("redirected.test", "169.254.169.254"),
            "address 169.254.169.254 is in denied network 169.254.0.0/16");
  EXPECT_EQ(policy.CheckAddress("redirected.test", "10.2.3.4"), std::nullopt);
  EXPECT_EQ(policy.CheckAddress("cdn.example.com", "192.0.2.1"), std::nullopt);
  EXPECT_THAT(policy.CheckAddress("redirected.test", "192.0.2.1").value_or(""),
              HasSubstr("in no allowed network"));
  EXPECT_THAT(policy.CheckAddress("db.internal", "10.2.3.4").value_or(""),
              HasSubstr("matches a denied pattern"));
  EXPECT_THAT(policy.CheckAddress("x.test", "not-an-address").value_or(""),
              HasSubstr("is not an IP address"));
}

}  // namespace
}  // namespace nines::web
