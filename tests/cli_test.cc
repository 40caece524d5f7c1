// End-to-end: prefixctl against the real daemon.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/daemon.h"

namespace prefixd::testing {
namespace {

// Runs a command; returns its exit code and stdout.
int RunCommand(const std::string& cmd, std::string* out) {
  FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Prefixctl, HealthAndStatsJson) {
  TempDir dir("cli");
  Daemon d(dir.path() + "/data");
  d.Start();
  {
    auto c = d.Connect();
    auto ns = c->OpenNamespace("cli-ns", TestFingerprint(4096));
    ASSERT_TRUE(ns.ok());
    ASSERT_TRUE(PutTestChain(*c, *ns, 1, 0, 3).ok());
  }
  std::string ctl = BinaryPath("prefixctl") + " --target " + d.target();
  std::string out;
  EXPECT_EQ(RunCommand(ctl + " health", &out), 0);
  EXPECT_EQ(out, "SERVING\n");
  ASSERT_EQ(RunCommand(ctl + " stats --json", &out), 0);
  EXPECT_NE(out.find("\"pages\": 3"), std::string::npos) << out;
  EXPECT_NE(out.find("\"name\": \"cli-ns\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"hits\": 0"), std::string::npos) << out;
  EXPECT_NE(out.find("\"controller\": {\"mode\": \"off\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"memory_cache_capacity\": 0"), std::string::npos) << out;
  // The human form: what background writes cost, and how long puts waited for them.
  ASSERT_EQ(RunCommand(ctl + " flush", &out), 0);
  ASSERT_EQ(RunCommand(ctl + " stats", &out), 0);
  EXPECT_NE(out.find("background writes: "), std::string::npos) << out;
  EXPECT_EQ(out.find("background writes: 0 B flushed"), std::string::npos) << out;
  EXPECT_NE(out.find("puts waited 0.000 s for them"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(ctl + " no-such-command", &out), 2);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
  EXPECT_EQ(RunCommand(ctl + " health", &out), 1);
}

TEST(Prefixctl, StatsShowThePromoteFractionAndBudgetTheDaemonWasGiven) {
  TempDir dir("cli-promote");
  Daemon d(dir.path() + "/data", {"--promote-fraction", "0.5", "--promote-budget", "0.05"});
  d.Start();
  std::string out;
  ASSERT_EQ(RunCommand(BinaryPath("prefixctl") + " --target " + d.target() + " stats --json", &out),
            0);
  EXPECT_NE(out.find("\"promote_fraction\": 0.5,"), std::string::npos) << out;
  EXPECT_NE(out.find("\"promote_budget\": 0.05,"), std::string::npos) << out;
  EXPECT_NE(out.find("\"promotions_declined\": 0,"), std::string::npos) << out;
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(Prefixctl, ExplainSaysWhichPagesExpired) {
  TempDir dir("cli-ttl");
  Daemon d(dir.path() + "/data");
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("ttl-ns", TestFingerprint(4096), {.ttl_seconds = 1});
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->ttl_seconds, 1u);
  ASSERT_TRUE(PutTestChain(*c, *ns, 3, 0, 2).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  auto keys = ChainKeys(3, 0, 2);
  std::string ctl = BinaryPath("prefixctl") + " --target " + d.target();
  std::string out;
  ASSERT_EQ(RunCommand(ctl + " explain --namespace ttl-ns --keys " + keys[0] + "," + keys[1], &out),
            0);
  EXPECT_NE(out.find("page 0: EXPIRED"), std::string::npos) << out;
  EXPECT_NE(out.find("0 served as a prefix"), std::string::npos) << out;
  auto e = c->Exists(*ns, client::Chain::FromKeys(keys));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->prefix_pages, 0u);
  ASSERT_EQ(RunCommand(ctl + " stats --json", &out), 0);
  EXPECT_NE(out.find("\"miss_expired\": 2, \"ttl_seconds\": 1"), std::string::npos) << out;
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

// A chain evicted unread through a budget: explain names the policy that took it, and the
// stats count the miss on it as evicted unread.
TEST(Prefixctl, ExplainSaysWhichPolicyEvictedAPage) {
  TempDir dir("cli-evicted");
  Daemon d(dir.path() + "/data", {"--capacity", "32MiB"});
  d.Start();
  auto c = d.Connect();
  constexpr uint64_t kPage = 256 << 10;
  auto ns = c->OpenNamespace("ev-ns", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  for (int ch = 0; ch < 20; ++ch) {  // 40 MiB of chains never read through 32 MiB
    ASSERT_TRUE(PutTestChain(*c, *ns, 4, ch, 8).ok()) << "chain " << ch;
  }
  auto keys = ChainKeys(4, 0, 2);
  auto e = c->Exists(*ns, client::Chain::FromKeys(keys));
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->prefix_pages, 0u) << "chain 0 was not evicted";
  std::string ctl = BinaryPath("prefixctl") + " --target " + d.target();
  std::string out;
  ASSERT_EQ(RunCommand(ctl + " explain --namespace ev-ns --keys " + keys[0] + "," + keys[1], &out),
            0);
  EXPECT_NE(out.find("page 0: EVICTED (evicted alone for space before anyone read it"),
            std::string::npos)
      << out;
  ASSERT_EQ(RunCommand(ctl + " stats --json", &out), 0);
  EXPECT_NE(out.find("\"miss_evicted\": 2,"), std::string::npos) << out;
  EXPECT_NE(out.find("\"miss_evicted_unread\": 2"), std::string::npos) << out;
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(Prefixctl, StatsCountStrandedPagesOnRequest) {
  TempDir dir("cli-stranded");
  Daemon d(dir.path() + "/data");
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("s-ns", TestFingerprint(4096));
  ASSERT_TRUE(ns.ok());
  ASSERT_TRUE(PutTestChain(*c, *ns, 4, 0, 5).ok());
  ASSERT_TRUE(PutTestChain(*c, *ns, 4, 1, 3).ok());
  auto keys = ChainKeys(4, 0, 5);
  auto deleted = c->Delete(*ns, client::Chain::FromKeys({keys[1]}));
  ASSERT_TRUE(deleted.ok() && *deleted == 1u);
  std::string ctl = BinaryPath("prefixctl") + " --target " + d.target();
  std::string out;
  ASSERT_EQ(RunCommand(ctl + " stats --json", &out), 0);
  EXPECT_NE(out.find("\"stranded_pages\": null"), std::string::npos) << out;  // not asked
  // 8 pages put, 1 deleted: 7 entries in the in-memory key index.
  EXPECT_NE(out.find("\"key_index_entries\": 7,"), std::string::npos) << out;
  ASSERT_EQ(RunCommand(ctl + " stats --json --stranded", &out), 0);
  // Pages 2..4 of chain 0 sit behind the deleted page 1; chain 1 is whole.
  EXPECT_NE(out.find("\"stranded_pages\": 3,\n  \"stranded_bytes\": 12288"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\"stranded_pages\": 3, \"stranded_bytes\": 12288, "
                     "\"parent_unknown_pages\": 0"),
            std::string::npos)
      << out;
  ASSERT_EQ(RunCommand(ctl + " stats --stranded", &out), 0);
  EXPECT_NE(out.find("stranded (stored, behind a page that is gone): 3 pages"), std::string::npos)
      << out;
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(Prefixd, RefusesAPortAnotherDaemonHolds) {
  TempDir dir("port");
  Daemon d(dir.path() + "/data");
  d.Start();
  std::string out;
  EXPECT_EQ(RunCommand("timeout 20 " + BinaryPath("prefixd") + " --listen " + d.target() +
                           " --data-dir " + dir.path() + "/other",
                       &out),
            1);
  // The same data directory is refused too (RocksDB's lock), on another port.
  EXPECT_EQ(RunCommand("timeout 20 " + BinaryPath("prefixd") + " --listen 127.0.0.1:" +
                           std::to_string(FreePort()) + " --data-dir " + dir.path() + "/data",
                       &out),
            1);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(Prefixd, RefusesBadFlagsAndPrintsHelp) {
  std::string out;
  EXPECT_EQ(RunCommand(BinaryPath("prefixd") + " --capacity lots", &out), 2);
  EXPECT_EQ(RunCommand(BinaryPath("prefixd") + " --help", &out), 0);
  EXPECT_NE(out.find("--data-dir"), std::string::npos);
}

}  // namespace
}  // namespace prefixd::testing
