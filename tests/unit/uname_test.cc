// Tests of the uname collector. It reads uname(2), whose output has had the same shape on
// every kernel, so there is no fixture tree and no old-kernel variant: the golden test
// injects a fixed `struct utsname`.

#include "collectors/uname.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collectors/collector.h"
#include "collectors/factories.h"
#include "prometheus/metric_type.h"
#include "tests/unit/golden.h"

namespace nines::collectors {
namespace {

using internal::AddUnameInfo;
using internal::FromUtsname;
using internal::NewUnameCollectorWith;
using internal::UnameInfo;

template <std::size_t N>
void Set(char (&field)[N], std::string_view value) {
  std::memset(field, 0, N);
  std::memcpy(field, value.data(), std::min(value.size(), N));
}

// What an Ubuntu 16.04 host (Linux 4.4) returns.
struct utsname FixedUtsname() {
  struct utsname uts {};
  Set(uts.sysname, "Linux");
  Set(uts.nodename, "web-01");
  Set(uts.release, "4.4.0-210-generic");
  Set(uts.version, "#242-Ubuntu SMP Fri Apr 16 09:57:56 UTC 2021");
  Set(uts.machine, "x86_64");
  Set(uts.domainname, "(none)");
  return uts;
}

// The message of the std::runtime_error AddUnameInfo(info) throws, or "(no error)".
std::string ErrorFrom(const UnameInfo& info) {
  MetricSink sink;
  try {
    AddUnameInfo(info, sink);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

UnameInfo InfoWithNodename(std::string nodename) {
  UnameInfo info = FromUtsname(FixedUtsname());
  info.nodename = std::move(nodename);
  return info;
}

TEST(FromUtsnameTest, CopiesEachFieldUpToItsNul) {
  EXPECT_EQ(FromUtsname(FixedUtsname()),
            (UnameInfo{"Linux", "4.4.0-210-generic", "#242-Ubuntu SMP Fri Apr 16 09:57:56 UTC 2021",
                       "x86_64", "web-01", "(none)"}));
}

TEST(FromUtsnameTest, TakesAFieldWithoutNulWhole) {
  struct utsname uts = FixedUtsname();
  std::memset(uts.nodename, 'n', sizeof uts.nodename);
  EXPECT_EQ(FromUtsname(uts).nodename, std::string(sizeof uts.nodename, 'n'));
  EXPECT_EQ(FromUtsname(uts).release, "4.4.0-210-generic");
}

TEST(FromUtsnameTest, EmptyFields) {
  const struct utsname uts {};
  EXPECT_EQ(FromUtsname(uts), UnameInfo{});
}

TEST(AddUnameInfoTest, OneGaugeWithLabelsSortedByName) {
  MetricSink sink;
  AddUnameInfo(FromUtsname(FixedUtsname()), sink);
  const auto families = sink.Take();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "node_uname_info");
  EXPECT_EQ(families[0].help, "Labeled system information as provided by the uname system call.");
  EXPECT_EQ(families[0].type, prometheus::MetricType::Gauge);
  ASSERT_EQ(families[0].metric.size(), 1u);
  EXPECT_EQ(families[0].metric[0].gauge.value, 1);
  std::vector<std::string> names;
  for (const auto& label : families[0].metric[0].label) {
    names.push_back(label.name);
  }
  EXPECT_THAT(names, ::testing::ElementsAre("domainname", "machine", "nodename", "release",
                                            "sysname", "version"));
}

TEST(AddUnameInfoTest, AcceptsUtf8AndCharactersTheTextFormatEscapes) {
  EXPECT_EQ(ErrorFrom(InfoWithNodename("caf\xc3\xa9-\xf0\x9f\x98\x80")), "(no error)");
  EXPECT_EQ(ErrorFrom(InfoWithNodename("a\"b\\c\nd")), "(no error)");
  EXPECT_EQ(ErrorFrom(InfoWithNodename("\xef\xbf\xbf\xf4\x8f\xbf\xbf")), "(no error)");
}

TEST(AddUnameInfoTest, RejectsInvalidUtf8) {
  EXPECT_EQ(ErrorFrom(InfoWithNodename("host\xff")),
            R"(uname: nodename: not valid UTF-8 (got "host\xff"))");
  EXPECT_EQ(ErrorFrom(InfoWithNodename("\xc0\xaf")),  // overlong '/'
            R"(uname: nodename: not valid UTF-8 (got "\xc0\xaf"))");
  EXPECT_EQ(ErrorFrom(InfoWithNodename("\xe0\x80\xaf")),  // overlong '/'
            R"(uname: nodename: not valid UTF-8 (got "\xe0\x80\xaf"))");
  EXPECT_EQ(ErrorFrom(InfoWithNodename("\xed\xa0\x80")),  // surrogate U+D800
            R"(uname: nodename: not valid UTF-8 (got "\xed\xa0\x80"))");
  EXPECT_EQ(ErrorFrom(InfoWithNodename("\xf4\x90\x80\x80")),  // U+110000
            R"(uname: nodename: not valid UTF-8 (got "\xf4\x90\x80\x80"))");
  EXPECT_EQ(ErrorFrom(InfoWithNodename("ok\xe2\x82")),  // truncated
            R"(uname: nodename: not valid UTF-8 (got "ok\xe2\x82"))");
  EXPECT_EQ(ErrorFrom(InfoWithNodename("\x80")),
            R"(uname: nodename: not valid UTF-8 (got "\x80"))");
  UnameInfo info = FromUtsname(FixedUtsname());
  info.domainname = "\xfe";
  EXPECT_EQ(ErrorFrom(info), R"(uname: domainname: not valid UTF-8 (got "\xfe"))");
}

TEST(UnameCollectorTest, MatchesGoldenFile) {
  MetricSink sink;
  NewUnameCollectorWith([](struct utsname* buf) {
    *buf = FixedUtsname();
    return 0;
  })->Update(sink);
  nines::testing::ExpectGolden(sink.Take(), "uname");
}

TEST(UnameCollectorTest, SyscallFailure) {
  MetricSink sink;
  const auto collector = NewUnameCollectorWith([](struct utsname* /*buf*/) {
    errno = EFAULT;
    return -1;
  });
  try {
    collector->Update(sink);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "uname(2) failed: Bad address");
  }
}

TEST(UnameCollectorTest, ReadsTheRunningKernel) {
  struct utsname uts {};
  ASSERT_EQ(::uname(&uts), 0);
  MetricSink want;
  AddUnameInfo(FromUtsname(uts), want);
  MetricSink got;
  NewUnameCollector(CollectorOptions{})->Update(got);
  EXPECT_EQ(nines::testing::RenderFamilies(got.Take()),
            nines::testing::RenderFamilies(want.Take()));
}

}  // namespace
}  // namespace nines::collectors
