// End-to-end: the real daemon under a disk budget much smaller than what is written.
#include <signal.h>

#include <cstdio>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/daemon.h"
#include "util/disk_usage.h"

namespace prefixd::testing {
namespace {

constexpr uint64_t kPage = 256 << 10;
constexpr uint64_t kCapacity = 64 << 20;

// Disk space the data dir takes (allocated blocks, which count RocksDB's preallocation).
using util::DirectoryBytes;

TEST(Capacity, DiskStaysWithinTheBudgetAndReadPagesSurvive) {
  TempDir dir("capacity");
  const std::string data = dir.path() + "/data";
  Daemon d(data, {"--capacity", "64MiB", "--batch-bytes", "1MiB"});
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  uint64_t peak = 0;
  constexpr int kChains = 120, kPerChain = 8;  // 240 MiB through a 64 MiB budget
  for (int ch = 0; ch < kChains; ++ch) {
    auto s = PutTestChain(*c, *ns, 3, ch, kPerChain);
    ASSERT_TRUE(s.ok()) << "chain " << ch << ": " << s;  // writes never fail: eviction makes room
    peak = std::max(peak, DirectoryBytes(data));
    if (ch % 4 == 0) {  // chain 0 is read all along: it must survive
      int wrong = -1;
      auto got = GetTestChain(*c, *ns, 3, 0, kPerChain, &wrong);
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(*got, kPerChain) << "after chain " << ch;
      EXPECT_EQ(wrong, 0);
    }
  }
  EXPECT_LE(peak, kCapacity + kCapacity / 10) << "the data dir passed the budget by over 10 %";
  auto stats = c->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->evicted_generations(), 0u);
  EXPECT_EQ(stats->capacity_bytes(), kCapacity);
  EXPECT_GT(stats->namespaces(0).evicted_pages(), 0u);
  EXPECT_EQ(stats->pages() + stats->namespaces(0).evicted_pages(), uint64_t{kChains} * kPerChain);
  // Write amplification: the daemon's device writes over the page bytes put, and the one
  // namespace is charged all of them.
  EXPECT_EQ(stats->put_bytes(), uint64_t{kChains} * kPerChain * kPage);
  EXPECT_EQ(stats->namespaces(0).put_bytes(), stats->put_bytes());
  EXPECT_DOUBLE_EQ(stats->write_amplification(),
                   double(stats->process_write_bytes()) / double(stats->put_bytes()));
  EXPECT_DOUBLE_EQ(stats->namespaces(0).write_amplification(), stats->write_amplification());
  std::printf("write amplification %.3f (%llu device bytes)\n", stats->write_amplification(),
              static_cast<unsigned long long>(stats->process_write_bytes()));
  int wrong = -1;
  EXPECT_EQ(*GetTestChain(*c, *ns, 3, kChains - 1, kPerChain, &wrong), kPerChain);
  EXPECT_EQ(*GetTestChain(*c, *ns, 3, 1, kPerChain, &wrong), 0) << "written once, never read";
  // Each miss explained: recently evicted chains say so (older ones are "not stored": their
  // index records are compacted away after 8 more generations); chain 119 is served; "zzz"
  // was never written; a present page behind a missing one is stranded.
  int evicted_chains = 0;
  for (int ch = 1; ch < kChains; ++ch) {
    auto e = c->Explain(*ns, client::Chain::FromKeys(ChainKeys(3, ch, 1)));
    ASSERT_TRUE(e.ok()) << e.status();
    evicted_chains += e->pages(0).state() == v1::PageState::EVICTED;
    if (e->pages(0).state() != v1::PageState::PRESENT) {
      EXPECT_EQ(e->prefix_pages(), 0u);
    }
  }
  EXPECT_GT(evicted_chains, 0);
  auto keys = ChainKeys(3, kChains - 1, 2);
  keys.insert(keys.begin() + 1, "zzz");
  auto mixed = c->Explain(*ns, client::Chain::FromKeys(keys));
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed->prefix_pages(), 1u);
  EXPECT_EQ(mixed->pages(0).state(), v1::PageState::PRESENT);
  EXPECT_EQ(mixed->pages(1).state(), v1::PageState::NOT_STORED);
  EXPECT_EQ(mixed->pages(2).state(), v1::PageState::STRANDED);
  const uint64_t pages_before = c->Stats()->pages();
  EXPECT_EQ(d.Stop(SIGTERM), 0);

  // After a restart: the same pages, still within the budget.
  d.Start();
  auto c2 = d.Connect();
  auto ns2 = c2->OpenNamespace("ns", TestFingerprint(kPage));
  EXPECT_EQ(c2->Stats()->pages(), pages_before) << "the counts rebuilt at start-up differ";
  // (Reads below may copy old pages forward and so evict others: counts can move after them.)
  EXPECT_EQ(*GetTestChain(*c2, *ns2, 3, kChains - 1, kPerChain, &wrong), kPerChain);
  EXPECT_EQ(*GetTestChain(*c2, *ns2, 3, 0, kPerChain, &wrong), kPerChain);
  EXPECT_LE(DirectoryBytes(data), kCapacity + kCapacity / 10);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

// A namespace quota over gRPC: the daemon echoes it, the namespace's puts evict its own pages
// past it, and another namespace's pages, older and never read, stay.
TEST(Capacity, NamespaceQuotaKeepsANamespaceToItsShare) {
  TempDir dir("quota");
  Daemon d(dir.path() + "/data", {"--capacity", "64MiB", "--batch-bytes", "1MiB"});
  d.Start();
  auto c = d.Connect();
  auto other = c->OpenNamespace("other", TestFingerprint(kPage));
  ASSERT_TRUE(other.ok());
  constexpr uint64_t kQuota = 16 << 20;
  auto q = c->OpenNamespace("q", TestFingerprint(kPage), {.quota_bytes = kQuota});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->quota_bytes, kQuota);
  constexpr int kPerChain = 8;  // 2 MiB a chain
  for (int ch = 0; ch < 8; ++ch) ASSERT_TRUE(PutTestChain(*c, *other, 5, ch, kPerChain).ok());
  uint64_t most = 0;
  for (int ch = 0; ch < 24; ++ch) {  // 48 MiB into "q": three times its quota
    auto s = PutTestChain(*c, *q, 6, ch, kPerChain);
    ASSERT_TRUE(s.ok()) << "chain " << ch << ": " << s;
    auto stats = c->Stats();
    ASSERT_TRUE(stats.ok());
    for (const auto& n : stats->namespaces()) {
      if (n.name() == "q") {
        most = std::max(most, n.bytes());
        EXPECT_EQ(n.quota_bytes(), kQuota);
      }
    }
  }
  EXPECT_LE(most, kQuota + (4u << 20)) << "the quota did not hold (a memtable may pass it)";
  for (int ch = 0; ch < 8; ++ch) {
    int wrong = -1;
    EXPECT_EQ(*GetTestChain(*c, *other, 5, ch, kPerChain, &wrong), kPerChain) << "chain " << ch;
    EXPECT_EQ(wrong, 0);
  }
  int wrong = -1;
  EXPECT_EQ(*GetTestChain(*c, *q, 6, 23, kPerChain, &wrong), kPerChain);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

// Expired pages over gRPC: "t"'s pages, written after "other"'s, expire; when the budget needs
// room their space goes first (the hand would take "other"'s oldest chains: all are unread, and
// "t"'s are the newest), and the daemon's stats count them as expired, not evicted.
TEST(Capacity, ExpiredPagesMakeRoomBeforeLivePages) {
  TempDir dir("expired");
  Daemon d(dir.path() + "/data", {"--capacity", "64MiB", "--batch-bytes", "1MiB"});
  d.Start();
  auto c = d.Connect();
  auto other = c->OpenNamespace("other", TestFingerprint(kPage));
  ASSERT_TRUE(other.ok());
  auto t = c->OpenNamespace("t", TestFingerprint(kPage), {.ttl_seconds = 4, .quota_bytes = {}});
  ASSERT_TRUE(t.ok()) << t.status();
  constexpr int kPerChain = 8;  // 2 MiB a chain
  for (int ch = 0; ch < 22; ++ch) ASSERT_TRUE(PutTestChain(*c, *other, 8, ch, kPerChain).ok());
  for (int ch = 0; ch < 4; ++ch) ASSERT_TRUE(PutTestChain(*c, *t, 7, ch, kPerChain).ok());
  ASSERT_TRUE(c->Flush().ok());  // in blob files: freed in place once expired
  absl::SleepFor(absl::Milliseconds(5100));  // past 4 s by any second's rounding
  // 12 MiB more of "other": 64 MiB of pages in a 64 MiB budget.
  for (int ch = 22; ch < 28; ++ch) ASSERT_TRUE(PutTestChain(*c, *other, 8, ch, kPerChain).ok());
  for (int ch = 0; ch < 28; ++ch) {
    int wrong = -1;
    EXPECT_EQ(*GetTestChain(*c, *other, 8, ch, kPerChain, &wrong), kPerChain) << "chain " << ch;
    EXPECT_EQ(wrong, 0);
  }
  auto stats = c->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  for (const auto& n : stats->namespaces()) {
    if (n.name() == "t") {
      EXPECT_GT(n.expired_pages(), 0u);
      EXPECT_EQ(n.expired_bytes(), n.expired_pages() * kPage);
      EXPECT_EQ(n.evicted_pages(), 0u);
    } else {
      EXPECT_EQ(n.evicted_pages(), 0u) << n.name();
    }
  }
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

// With generations a namespace's pages cannot go alone: a quota is refused, with the reason.
TEST(Capacity, NamespaceQuotaIsRefusedWithGenerationEviction) {
  TempDir dir("quota-gen");
  Daemon d(dir.path() + "/data", {"--capacity", "64MiB", "--eviction", "generations"});
  d.Start();
  auto c = d.Connect();
  auto q = c->OpenNamespace("q", TestFingerprint(kPage), {.quota_bytes = 16 << 20});
  EXPECT_EQ(q.status().code(), absl::StatusCode::kFailedPrecondition) << q.status();
  EXPECT_NE(q.status().message().find("--eviction pages"), std::string::npos) << q.status();
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace prefixd::testing
