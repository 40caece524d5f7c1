#include "storage/insertion_duel.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/order_journal.h"
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

using Insertion = InsertionDuel::Insertion;

int Puts(InsertionDuel& d, int puts, Insertion how) {
  int n = 0;
  for (int i = 0; i < puts; ++i) n += d.Choose() == how;
  return n;
}
int FrontPuts(InsertionDuel& d, int puts) { return Puts(d, puts, Insertion::kFront); }

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
// insertion would lose them to the next puts; LRU keeps them, and the duel stays with LRU
// insertion (at the back, with probation: the store's target decides how many unread pages
// the hand leaves alone, probation_target.h).
TEST(InsertionDuel, RecentChainsReadAgainKeepLruInsertion) {
  InsertionDuel d({});
  d.SetCapacity(400);
  for (int c = 0; c < 2000; ++c) {
    Request(d, c);
    if (c >= 2) Request(d, c - 2);
  }
  const auto st = d.GetStats();
  EXPECT_FALSE(st.bimodal) << "LRU " << st.lru_score << ", bimodal " << st.bimodal_score;
  EXPECT_TRUE(st.probation);
  EXPECT_GT(st.lru_score, 0);
  EXPECT_EQ(Puts(d, 100, Insertion::kProbation), 100);
  EXPECT_EQ(d.GetStats().probation_puts, 100u);
  EXPECT_TRUE(d.Probation());
}

// With probation off, puts that are not bimodal queue as plain LRU, and the hand is told so;
// bimodal insertion, once chosen, turns probation off either way.
TEST(InsertionDuel, ProbationOffLeavesLruAndBimodal) {
  for (const bool probation : {true, false}) {
    InsertionDuel d({.probation = probation});
    d.SetCapacity(400);
    for (int c = 0; c < 200; ++c) Request(d, c);
    EXPECT_EQ(d.Probation(), probation);
    EXPECT_EQ(Puts(d, 50, probation ? Insertion::kProbation : Insertion::kLru), 50);
    for (int round = 0; round < 6; ++round) {
      for (int c = 0; c < 200; ++c) Request(d, c);
    }
    ASSERT_TRUE(d.GetStats().bimodal);
    EXPECT_FALSE(d.Probation());
    EXPECT_EQ(Puts(d, 50, Insertion::kProbation), 0);
  }
}

// A duel restored from what another saved (a clean restart) is that duel: the same scores and
// shadows, so the same LRU shadow and score from then on.
TEST(InsertionDuel, ARestoredDuelGoesOnAsTheSavedOne) {
  InsertionDuel a({});
  a.SetCapacity(400);
  auto step = [](InsertionDuel& d, int s) {
    Request(d, s);
    if (s >= 1) Request(d, s - 1);
    if (s >= 24) Request(d, s - 24);
    for (int t = 0; t < 2; ++t) Request(d, 1000000 + 2 * s + t);
  };
  for (int s = 0; s < 400; ++s) step(a, s);
  const InsertionDuel::State saved = a.Save();
  ASSERT_FALSE(saved.lru.empty());
  ASSERT_FALSE(saved.bimodal.empty());
  ASSERT_GT(saved.lru_score, 0);
  InsertionDuel b({});
  b.Restore(saved);
  b.SetCapacity(400);
  const InsertionDuel::State again = b.Save();
  EXPECT_EQ(again.lru, saved.lru);
  EXPECT_EQ(again.bimodal, saved.bimodal);
  EXPECT_EQ(again.lru_score, saved.lru_score);
  EXPECT_EQ(again.bimodal_score, saved.bimodal_score);
  for (int s = 400; s < 600; ++s) {
    step(a, s);
    step(b, s);
  }
  const auto sa = a.GetStats(), sb = b.GetStats();
  EXPECT_EQ(sa.lru_score, sb.lru_score);  // (bimodal draws its admissions: not alike)
  EXPECT_EQ(b.Save().lru, a.Save().lru);
  // A fresh duel fed the same 200 steps has scored less: its shadows started empty.
  InsertionDuel c({});
  c.SetCapacity(400);
  for (int s = 400; s < 600; ++s) step(c, s);
  EXPECT_LT(c.GetStats().lru_score, sa.lru_score);
}

// The journal of what the shadows are fed (order_journal.h), replayed into the duel restored
// from a save made before it, brings that duel to where the first one is, a change of capacity
// on the way included. One put in one is admitted by bimodal insertion, so that both draw
// alike.
TEST(InsertionDuel, AJournalReplayedOnItsSaveGoesOnAsTheFirst) {
  const InsertionDuel::Options o{.admit_one_in = 1};
  InsertionDuel a(o);
  a.SetCapacity(400);
  auto step = [](InsertionDuel& d, int s) {
    Request(d, s);
    if (s >= 24) Request(d, s - 24);
    Request(d, 1000000 + s);
  };
  for (int s = 0; s < 300; ++s) step(a, s);
  const InsertionDuel::State saved = a.Save();
  a.set_journal(true);
  for (int s = 300; s < 400; ++s) {
    if (s == 350) a.SetCapacity(600);  // the cache grew: its shadows too, from here on
    step(a, s);
  }
  bool overflow = true;
  const std::string fed = a.TakeJournal(&overflow);
  EXPECT_FALSE(overflow);
  ASSERT_FALSE(fed.empty());
  const std::string path = ::testing::TempDir() + "/duel_journal_" + std::to_string(::getpid());
  {
    auto j = OrderJournal::Create(path, 9);
    ASSERT_TRUE(j.ok()) << j.status();
    ASSERT_TRUE(j->Append(fed).ok());
  }
  InsertionDuel b(o);
  b.Restore(saved);  // the shadows' capacity with it
  int feeds = 0;
  JournalHandlers h;
  h.use = [](const JournalUse&) { ADD_FAILURE() << "a duel journals no page use"; };
  h.ghost = [](std::span<const uint64_t>, bool) { ADD_FAILURE() << "a duel journals no ghost"; };
  h.duel = [&](const JournalDuelInput& d) {
    ++feeds;
    switch (d.kind) {
      case JournalDuelInput::Kind::kRead:
        b.Read(d.ns_id, d.keys);
        break;
      case JournalDuelInput::Kind::kWrote:
        b.Wrote(d.ns_id, d.keys);
        break;
      case JournalDuelInput::Kind::kCapacity:
        b.SetCapacity(d.capacity_pages);
        break;
    }
  };
  auto j = OrderJournal::Replay(path, 9, h);
  ASSERT_TRUE(j.ok()) << j.status();
  std::remove(path.c_str());
  EXPECT_GT(feeds, 100);
  const InsertionDuel::State sa = a.Save(), sb = b.Save();
  EXPECT_EQ(sb.lru_score, sa.lru_score);
  EXPECT_EQ(sb.bimodal_score, sa.bimodal_score);
  EXPECT_EQ(sb.lru, sa.lru);
  EXPECT_EQ(sb.bimodal, sa.bimodal);
  // Nothing more is journaled once off.
  a.set_journal(false);
  step(a, 400);
  EXPECT_TRUE(a.TakeJournal(&overflow).empty());
}

// Before the cache is full nothing is evicted: the shadows hold everything, score alike, and
// insertion is not bimodal. Scores halve as they grow.
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
