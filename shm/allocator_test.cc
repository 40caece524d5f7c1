#include "shm/allocator.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace prefixd::shm {
namespace {

TEST(SlotAllocator, AlignsAndExhausts) {
  SlotAllocator a(4 * 4096);
  auto x = a.Allocate(1);
  auto y = a.Allocate(4097);
  ASSERT_TRUE(x && y);
  EXPECT_EQ(*x, 0u);
  EXPECT_EQ(*y, 4096u);
  EXPECT_EQ(a.free_bytes(), 4096u);
  EXPECT_FALSE(a.Allocate(4097));
  EXPECT_FALSE(a.Allocate(0));
  auto z = a.Allocate(4096);
  ASSERT_TRUE(z);
  EXPECT_FALSE(a.Allocate(1));
  a.Free(*y, 4097);
  EXPECT_EQ(a.Allocate(2 * 4096), 4096u);
}

TEST(SlotAllocator, FreedNeighboursMerge) {
  SlotAllocator a(8 * 4096);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 8; ++i) offs.push_back(*a.Allocate(4096));
  // Free in an order that needs merging on both sides.
  for (int i : {1, 3, 2, 0, 7, 5, 6, 4}) a.Free(offs[i], 4096);
  EXPECT_EQ(a.free_bytes(), 8u * 4096);
  EXPECT_EQ(a.Allocate(8 * 4096), 0u);
}

TEST(SlotAllocator, RandomUseNeverOverlaps) {
  SlotAllocator a(1 << 20);
  std::mt19937 rng(7);
  std::vector<std::pair<uint64_t, uint64_t>> live;
  std::vector<uint8_t> owner(1 << 20, 0);
  for (int step = 0; step < 5000; ++step) {
    if (!live.empty() && rng() % 2 == 0) {
      size_t i = rng() % live.size();
      auto [off, len] = live[i];
      for (uint64_t b = off; b < off + len; ++b) owner[b] = 0;
      a.Free(off, len);
      live.erase(live.begin() + i);
    } else {
      uint64_t len = 1 + rng() % 50000;
      auto off = a.Allocate(len);
      if (!off) continue;
      ASSERT_EQ(*off % 4096, 0u);
      ASSERT_LE(*off + len, 1u << 20);
      for (uint64_t b = *off; b < *off + len; ++b) {
        ASSERT_EQ(owner[b], 0) << "overlap at " << b;
        owner[b] = 1;
      }
      live.push_back({*off, len});
    }
  }
  for (auto [off, len] : live) a.Free(off, len);
  EXPECT_EQ(a.free_bytes(), 1u << 20);
}

}  // namespace
}  // namespace prefixd::shm
