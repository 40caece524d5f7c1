#include "storage/page_cache.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "util/crc32c.h"

namespace prefixd::storage {
namespace {

TEST(PageCache, ServesOnlyTheSameWrite) {
  PageCache c(16 << 20);
  c.Insert("k", 3, 0xAB, "bytes");
  auto hit = c.Lookup("k", 3, 0xAB);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(*hit, "bytes");
  EXPECT_EQ(c.Lookup("k", 4, 0xAB), nullptr);  // promoted or written again
  EXPECT_EQ(c.Lookup("k", 3, 0xAC), nullptr);  // another checksum
  EXPECT_EQ(c.Lookup("j", 3, 0xAB), nullptr);
  c.Insert("k", 4, 0xCD, "newer");  // replaces
  EXPECT_EQ(c.Lookup("k", 3, 0xAB), nullptr);
  EXPECT_EQ(*c.Lookup("k", 4, 0xCD), "newer");
  auto s = c.Stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.pages, 1u);
  EXPECT_EQ(s.bytes, 5u);
}

TEST(PageCache, EvictsLeastRecentlyUsedWithinItsBudget) {
  PageCache c(16 * 4096);  // 4 KiB per shard
  std::string page(1024, 'p');
  for (int i = 0; i < 1000; ++i) c.Insert("key" + std::to_string(i), 1, i, page);
  auto s = c.Stats();
  EXPECT_LE(s.bytes, 16u * 4096);
  EXPECT_GT(s.pages, 0u);
  EXPECT_NE(c.Lookup("key999", 1, 999), nullptr);  // the newest survive
  EXPECT_EQ(c.Lookup("key0", 1, 0), nullptr);
  // Too large for the cache: not kept.
  c.Insert("huge", 1, 1, std::string(8192, 'h'));
  EXPECT_EQ(c.Lookup("huge", 1, 1), nullptr);
}

TEST(PageCache, HeldEntriesOutliveEviction) {
  PageCache c(16 * 4096);
  c.Insert("a", 1, 1, std::string(1000, 'a'));
  auto held = c.Lookup("a", 1, 1);
  for (int i = 0; i < 500; ++i) c.Insert("b" + std::to_string(i), 1, i, std::string(1000, 'b'));
  EXPECT_EQ(c.Lookup("a", 1, 1), nullptr);
  EXPECT_EQ(*held, std::string(1000, 'a'));
}

TEST(PageCache, CheckedInsertKeepsOnlyBytesThatMatchTheirChecksum) {
  PageCache c(16 << 20);
  std::string good = "page bytes";
  c.InsertChecked("a", 1, util::Crc32c(good), good);
  EXPECT_NE(c.Lookup("a", 1, util::Crc32c(good)), nullptr);
  c.InsertChecked("b", 1, util::Crc32c(good) ^ 1, good);  // changed after it was checked
  EXPECT_EQ(c.Lookup("b", 1, util::Crc32c(good) ^ 1), nullptr);
}

TEST(PageCache, DisabledKeepsNothing) {
  PageCache c(0);
  c.Insert("k", 1, 1, "x");
  EXPECT_EQ(c.Lookup("k", 1, 1), nullptr);
  EXPECT_FALSE(c.enabled());
}

TEST(PageCache, ConcurrentUseIsSafe) {
  PageCache c(1 << 20);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&c, t] {
      for (int i = 0; i < 20000; ++i) {
        std::string k = "k" + std::to_string((i * 7 + t) % 300);
        if (auto p = c.Lookup(k, 1, 5); p) {
          EXPECT_EQ(p->size(), 512u);
        }
        c.Insert(k, 1, 5, std::string(512, 'v'));
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_LE(c.Stats().bytes, 1u << 20);
}

}  // namespace
}  // namespace prefixd::storage
