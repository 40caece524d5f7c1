#include "bench/policy_sim.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

// One block per request, 10 tokens each: block hits are token hits / 10.
std::vector<Request> SingleBlocks(const std::vector<uint64_t>& ids) {
  std::vector<Request> t;
  for (uint64_t id : ids) {
    t.push_back(Request{.prompt_tokens = 10, .blocks = {id}, .block_tokens = 10});
  }
  return t;
}

const PolicyResult& Get(const std::vector<PolicyResult>& r, const std::string& name) {
  for (const auto& p : r) {
    if (p.policy == name) return p;
  }
  ADD_FAILURE() << "no result for " << name;
  return r.front();
}

TEST(PolicySim, WorkedExampleAtTwoPages) {
  // 1 2 1 3 2 with room for two pages.
  auto r = SimulatePolicies(SingleBlocks({1, 2, 1, 3, 2}), 2);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(Get(r, "lru").served_blocks, 1u);        // 3 evicts 2 (1 was used last)
  EXPECT_EQ(Get(r, "opt").served_blocks, 2u);        // 3 evicts 1 (never used again)
  EXPECT_EQ(Get(r, "lfu_aging").served_blocks, 1u);  // 3 evicts 2 (count 1), then 2 evicts 1
  EXPECT_EQ(Get(r, "lru").prompt_tokens, 50u);
  EXPECT_EQ(Get(r, "lru").served_tokens, 10u);
  EXPECT_EQ(Get(r, "lru").evictions, 2u);
}

TEST(PolicySim, PrefixSemanticsServeOnlyTheLeadingCachedBlocks) {
  // Request 2 repeats blocks 1..3 (the last block partial: 25 tokens in 10-token blocks);
  // request 3 starts with a block never seen, so its cached blocks 2 and 3 are not served.
  std::vector<Request> t = {
      Request{.prompt_tokens = 25, .blocks = {1, 2, 3}, .block_tokens = 10},
      Request{.prompt_tokens = 25, .blocks = {1, 2, 3}, .block_tokens = 10},
      Request{.prompt_tokens = 30, .blocks = {9, 2, 3}, .block_tokens = 10},
  };
  for (const auto& p : SimulatePolicies(t, 100)) {
    EXPECT_EQ(p.served_blocks, 3u) << p.policy;
    EXPECT_EQ(p.served_tokens, 25u) << p.policy;
    EXPECT_EQ(p.prompt_tokens, 80u) << p.policy;
    EXPECT_EQ(p.evictions, 0u) << p.policy;
  }
}

TEST(PolicySim, ALoopOneLargerThanTheCacheDefeatsLruAndLfuNotS3FifoOrOpt) {
  std::vector<uint64_t> ids;
  for (int round = 0; round < 20; ++round) {
    for (uint64_t b = 0; b < 11; ++b) ids.push_back(b);
  }
  auto r = SimulatePolicies(SingleBlocks(ids), 10);
  EXPECT_EQ(Get(r, "lru").served_blocks, 0u);  // every block evicted just before its reuse
  // Never hit, every count stays 1: aging makes LFU-DA evict in insertion order, as LRU.
  EXPECT_EQ(Get(r, "lfu_aging").served_blocks, 0u);
  EXPECT_GT(Get(r, "s3fifo").served_blocks, 0u);  // the ghost queue lets reused ids into main
  EXPECT_GE(Get(r, "opt").served_blocks, Get(r, "s3fifo").served_blocks);
  EXPECT_GE(Get(r, "opt").served_blocks, Get(r, "lfu_aging").served_blocks);
}

TEST(PolicySim, S3FifoKeepsABlockUsedTwiceThroughAScan) {
  // Block 1 is used twice early, then a scan of one-time blocks twice the cache passes, then 1
  // again: S3-FIFO moved it to its main queue and keeps it; LRU lost it to the scan.
  std::vector<uint64_t> ids = {1, 1};
  for (uint64_t b = 100; b < 120; ++b) ids.push_back(b);
  ids.push_back(1);
  auto r = SimulatePolicies(SingleBlocks(ids), 10);
  EXPECT_EQ(Get(r, "lru").served_blocks, 1u);     // only the immediate reuse
  EXPECT_EQ(Get(r, "s3fifo").served_blocks, 2u);  // and the one after the scan
}

TEST(PolicySim, OptIsTheCeilingOnSingleBlockRequests) {
  // Every policy here inserts each miss (demand paging), where Belady's rule is optimal.
  uint64_t x = 12345;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 20000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t v = x >> 33;
    ids.push_back(v % 4 == 0 ? v % 500 : v % 40);  // a hot set and a long tail
  }
  for (uint64_t cap : {5, 30, 120}) {
    auto r = SimulatePolicies(SingleBlocks(ids), cap);
    for (const auto& p : r) {
      EXPECT_LE(p.served_blocks, Get(r, "opt").served_blocks) << p.policy << " at " << cap;
    }
  }
}

TEST(PolicySim, RoomForEveryBlockReachesTheUnboundedHitRate) {
  std::vector<Request> t;
  for (uint64_t u = 0; u < 30; ++u) {
    t.push_back(Request{.prompt_tokens = 96, .blocks = {1000, 2000 + u % 7, 3000 + u},
                        .block_tokens = 32});
  }
  TraceSummary s = Summarize(t);
  for (const auto& p : SimulatePolicies(t, s.distinct_blocks)) {
    EXPECT_DOUBLE_EQ(p.token_hit_rate(), s.token_hit_rate()) << p.policy;
    EXPECT_EQ(p.evictions, 0u) << p.policy;
  }
}

}  // namespace
}  // namespace prefixd::bench
