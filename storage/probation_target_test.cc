#include "storage/probation_target.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace prefixd::storage {
namespace {

TEST(ProbationTarget, StartsAtItsShareOfTheFirstCapacity) {
  ProbationTarget t({.initial_share = 0.5, .step = 2});
  EXPECT_EQ(t.target(), 1u);  // not set: the least the hand leaves alone
  t.SetCapacity(1000);
  EXPECT_EQ(t.target(), 500u);
  t.SetCapacity(2000);  // set once; a later capacity only bounds it
  EXPECT_EQ(t.target(), 500u);
  t.SetCapacity(100);
  EXPECT_EQ(t.target(), 100u);
}

// ARC's rule: a page wanted back after it was evicted unread grows the target by the step
// times |read ghost| / |unread ghost| (at least 1); one wanted back after it was evicted read
// shrinks it by the step times the inverse.
TEST(ProbationTarget, GhostHitsMoveTheTargetByArcsRatio) {
  ProbationTarget t({.initial_share = 0.5, .step = 2});
  t.SetCapacity(1000);
  for (uint64_t g = 1; g <= 10; ++g) t.Evicted(g, /*unread=*/true);
  for (uint64_t g = 101; g <= 140; ++g) t.Evicted(g, /*unread=*/false);
  EXPECT_EQ(t.unread_ghosts(), 10u);
  EXPECT_EQ(t.read_ghosts(), 40u);

  EXPECT_TRUE(t.Written(1));  // unread ghost: 2 x 40 / 10
  EXPECT_DOUBLE_EQ(t.exact_target(), 508);
  EXPECT_EQ(t.unread_ghosts(), 9u);
  EXPECT_FALSE(t.Written(1));  // forgotten once wanted back
  EXPECT_DOUBLE_EQ(t.exact_target(), 508);

  EXPECT_FALSE(t.Written(101));  // read ghost: 2 x max(9 / 40, 1)
  EXPECT_DOUBLE_EQ(t.exact_target(), 506);
  EXPECT_EQ(t.read_ghosts(), 39u);
  EXPECT_FALSE(t.Written(999));  // in neither
  EXPECT_DOUBLE_EQ(t.exact_target(), 506);
}

// A put moves the target before it makes its room (Wanted), then writes (Written): the move
// counts once, and Written still says where the page was.
TEST(ProbationTarget, AWantedPageMovesTheTargetOnce) {
  ProbationTarget t({.initial_share = 0.5, .step = 2});
  t.SetCapacity(1000);
  t.Evicted(1, /*unread=*/true);
  t.Evicted(2, /*unread=*/false);
  t.Wanted(1);
  EXPECT_DOUBLE_EQ(t.exact_target(), 502);
  t.Wanted(1);  // a put that failed, tried again
  EXPECT_DOUBLE_EQ(t.exact_target(), 502);
  EXPECT_TRUE(t.Written(1));
  EXPECT_DOUBLE_EQ(t.exact_target(), 502);
  t.Wanted(2);
  EXPECT_DOUBLE_EQ(t.exact_target(), 500);
  EXPECT_FALSE(t.Written(2));
  EXPECT_DOUBLE_EQ(t.exact_target(), 500);
  t.Wanted(3);  // in neither
  EXPECT_FALSE(t.Written(3));
  EXPECT_DOUBLE_EQ(t.exact_target(), 500);
}

// After a restart the capacity is not known until the first eviction, and ghost hits before
// it still move the restored target (they once pinned it to 0: the Mooncake replay restarted
// cleanly at 10 % kept 0.975x of the hits after the restart). A journal replayed onto a save
// made before any target keeps its moves for when the target is set.
TEST(ProbationTarget, GhostHitsBeforeTheFirstCapacityAreKept) {
  ProbationTarget a;
  a.SetCapacity(100);
  for (uint64_t g = 1; g <= 4; ++g) a.Evicted(g, /*unread=*/true);
  ProbationTarget b;
  b.Restore(a.Save());
  EXPECT_TRUE(b.Written(1));
  EXPECT_DOUBLE_EQ(b.exact_target(), 52);
  b.SetCapacity(100);
  EXPECT_DOUBLE_EQ(b.exact_target(), 52);

  ProbationTarget c;
  c.Restore(ProbationTarget().Save());  // saved before the first eviction
  c.Remember(7, /*unread=*/true);       // then the journal
  c.Remember(8, /*unread=*/true);
  EXPECT_TRUE(c.Written(7));
  EXPECT_TRUE(c.Written(8));
  c.SetCapacity(100);
  EXPECT_DOUBLE_EQ(c.exact_target(), 54);
}

TEST(ProbationTarget, StaysWithinTheCapacity) {
  ProbationTarget t({.initial_share = 0.5, .step = 2});
  t.SetCapacity(10);
  for (uint64_t g = 1; g <= 10; ++g) t.Evicted(g, /*unread=*/false);
  for (uint64_t g = 1; g <= 10; ++g) t.Written(g);
  EXPECT_EQ(t.exact_target(), 0);
  EXPECT_EQ(t.target(), 1u);
  for (uint64_t g = 1; g <= 10; ++g) t.Evicted(g, /*unread=*/true);
  for (uint64_t g = 1; g <= 10; ++g) t.Written(g);
  EXPECT_EQ(t.exact_target(), 10);
}

// Each ghost keeps as many fingerprints as the cache holds pages, the oldest going first; a
// fingerprint forgotten and evicted again is not forgotten early by its old entry.
TEST(ProbationTarget, GhostsKeepTheNewestAsManyAsTheCacheHolds) {
  ProbationTarget t;
  t.Evicted(7, /*unread=*/true);  // before the first capacity: nothing evicted for room
  EXPECT_EQ(t.unread_ghosts(), 0u);
  t.SetCapacity(4);
  for (uint64_t g = 1; g <= 6; ++g) t.Evicted(g, /*unread=*/true);
  EXPECT_EQ(t.Save().unread_ghost, (std::vector<uint64_t>{3, 4, 5, 6}));
  EXPECT_TRUE(t.Written(3));
  t.Evicted(3, /*unread=*/true);  // 4 5 6 3, and 3's old entry at the front
  t.Evicted(8, /*unread=*/true);  // 5 6 3 8
  EXPECT_EQ(t.Save().unread_ghost, (std::vector<uint64_t>{5, 6, 3, 8}));
  t.SetCapacity(2);
  EXPECT_EQ(t.Save().unread_ghost, (std::vector<uint64_t>{3, 8}));
}

TEST(ProbationTarget, ARestoredTargetGoesOnAsTheSavedOne) {
  ProbationTarget a;
  a.SetCapacity(100);
  for (uint64_t g = 1; g <= 5; ++g) a.Evicted(g, /*unread=*/true);
  for (uint64_t g = 11; g <= 13; ++g) a.Evicted(g, /*unread=*/false);
  a.Written(1);
  const ProbationTarget::State saved = a.Save();
  EXPECT_EQ(saved.unread_ghost, (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(saved.read_ghost, (std::vector<uint64_t>{11, 12, 13}));

  ProbationTarget b;
  b.Restore(saved);
  b.Remember(6, /*unread=*/true);  // a journal replayed before the first eviction
  b.SetCapacity(100);
  EXPECT_EQ(b.exact_target(), a.exact_target());
  a.Evicted(6, /*unread=*/true);
  EXPECT_EQ(b.Save().unread_ghost, a.Save().unread_ghost);
  EXPECT_EQ(b.Written(12), a.Written(12));
  EXPECT_EQ(b.exact_target(), a.exact_target());

  ProbationTarget fresh;  // nothing saved: unset, and set at the first capacity
  fresh.Restore(ProbationTarget().Save());
  fresh.SetCapacity(100);
  EXPECT_EQ(fresh.target(), 50u);
}

}  // namespace
}  // namespace prefixd::storage
