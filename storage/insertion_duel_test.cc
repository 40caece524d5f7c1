#include "storage/insertion_duel.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/page_key.h"

namespace prefixd::storage {
namespace {

// Chain `c` of `pages` keys, as a client hashes them.
std::vector<KeyHash> Chain(int c, int pages) {
  std::vector<KeyHash> out;
  for (int i = 0; i < pages; ++i) out.push_back(HashKey("c" + std::to_string(c) + "/" + std::to_string(i)));
  return out;
}

// What a client does: reads the whole chain, writes what it missed (here: all of it, as the
// shadows decide on their own contents, not the real cache's).
void Request(InsertionDuel& d, int c) {
  const auto chain = Chain(c, 8);
  d.Read(1, chain);
  d.Wrote(1, chain);
}

int FrontPuts(InsertionDuel& d, int puts) {
  int front = 0;
  for (int i = 0; i < puts; ++i) front += d.InsertAtFront();
  return front;
}

TEST(InsertionDuel, ACycleLongerThanTheCacheTurnsToBimodalInsertion) {
  InsertionDuel d({});
  d.SetCapacity(400);  // 25 sampled keys of the ~100 the cycle has
  for (int round = 0; round < 6; ++round) {
    for (int c = 0; c < 200; ++c) Request(d, c);  // 1,600 pages
  }
  const auto st = d.GetStats();
  EXPECT_TRUE(st.bimodal) << "LRU " << st.lru_score << ", bimodal " << st.bimodal_score;
  EXPECT_EQ(st.lru_score, 0) << "the LRU shadow kept something of a cycle 4x its size";
  const int front = FrontPuts(d, 800);
  EXPECT_GT(front, 600) << "one put in eight goes to the back, not more";
  EXPECT_LT(front, 800) << "no put went to the back";
  EXPECT_EQ(d.GetStats().front_puts, uint64_t(front));
}

// New chains read again soon after they are written, while older ones stream past: bimodal
// insertion would lose them to the next puts; LRU keeps them, and the duel stays with LRU.
TEST(InsertionDuel, RecentChainsReadAgainKeepLruInsertion) {
  InsertionDuel d({});
  d.SetCapacity(400);
  for (int c = 0; c < 2000; ++c) {
    Request(d, c);
    if (c >= 2) Request(d, c - 2);
  }
  const auto st = d.GetStats();
  EXPECT_FALSE(st.bimodal) << "LRU " << st.lru_score << ", bimodal " << st.bimodal_score;
  EXPECT_GT(st.lru_score, 0);
  EXPECT_EQ(FrontPuts(d, 100), 0);
}

// Before the cache is full nothing is evicted: both shadows hold everything, score alike, and
// insertion stays LRU. Scores halve as they grow.
TEST(InsertionDuel, UnboundedShadowsAgreeAndScoresStayBounded) {
  InsertionDuel d({.halve_at = 256});
  for (int round = 0; round < 20; ++round) {
    for (int c = 0; c < 50; ++c) Request(d, c);
  }
  const auto st = d.GetStats();
  EXPECT_FALSE(st.bimodal);
  EXPECT_EQ(st.lru_score, st.bimodal_score);
  EXPECT_GT(st.lru_score, 0);
  EXPECT_LE(st.lru_score + st.bimodal_score, 256 + 2 * 8);
}

TEST(InsertionDuel, SamplesOnePageInSixteenByHash) {
  InsertionDuel d({});
  int sampled = 0;
  for (int c = 0; c < 1000; ++c) {
    for (const KeyHash& h : Chain(c, 8)) sampled += d.Sampled(h);
  }
  EXPECT_GT(sampled, 8000 / 16 * 8 / 10);
  EXPECT_LT(sampled, 8000 / 16 * 12 / 10);
}

}  // namespace
}  // namespace prefixd::storage
