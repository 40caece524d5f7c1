#include "storage/corrupt_log.h"

#include "gtest/gtest.h"

namespace prefixd::storage {
namespace {

TEST(CorruptLog, RemembersPerNamespaceAndForgetsErased) {
  CorruptLog log(8);
  const KeyHash a = HashKey("a"), b = HashKey("b");
  log.Add(1, a);
  EXPECT_TRUE(log.Contains(1, a));
  EXPECT_FALSE(log.Contains(2, a));  // another namespace's page with the same key
  EXPECT_FALSE(log.Contains(1, b));
  log.Erase(1, a);
  EXPECT_FALSE(log.Contains(1, a));
  EXPECT_EQ(log.size(), 0u);
}

TEST(CorruptLog, KeepsTheNewestCapacityKeys) {
  CorruptLog log(3);
  std::vector<NamespacedKey> forgotten;
  for (int i = 0; i < 5; ++i) {
    auto f = log.Add(1, HashKey(std::to_string(i)));
    forgotten.insert(forgotten.end(), f.begin(), f.end());
  }
  EXPECT_EQ(log.size(), 3u);
  // What was forgotten is returned (the store deletes those keys' markers).
  ASSERT_EQ(forgotten.size(), 2u);
  EXPECT_EQ(forgotten[0], (NamespacedKey{1, HashKey("0")}));
  EXPECT_EQ(forgotten[1], (NamespacedKey{1, HashKey("1")}));
  EXPECT_FALSE(log.Contains(1, HashKey("0")));
  EXPECT_FALSE(log.Contains(1, HashKey("1")));
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(log.Contains(1, HashKey(std::to_string(i)))) << i;
}

TEST(CorruptLog, AKeyAddedAgainCountsFromItsLatestAdd) {
  CorruptLog log(2);
  log.Add(1, HashKey("x"));
  log.Add(1, HashKey("y"));
  log.Add(1, HashKey("x"));  // x is now the newest
  auto forgotten = log.Add(1, HashKey("z"));  // forgets y, not x
  ASSERT_EQ(forgotten.size(), 1u);
  EXPECT_EQ(forgotten[0], (NamespacedKey{1, HashKey("y")}));
  EXPECT_TRUE(log.Contains(1, HashKey("x")));
  EXPECT_FALSE(log.Contains(1, HashKey("y")));
  EXPECT_TRUE(log.Contains(1, HashKey("z")));
}

TEST(CorruptLog, ManyEraseAndAddCyclesStayBounded) {
  CorruptLog log(4);
  for (int i = 0; i < 1000; ++i) {
    log.Add(1, HashKey("k"));
    log.Erase(1, HashKey("k"));
  }
  EXPECT_EQ(log.size(), 0u);
  for (int i = 0; i < 4; ++i) log.Add(1, HashKey(std::to_string(i)));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(log.Contains(1, HashKey(std::to_string(i)))) << i;
}

TEST(CorruptLog, ZeroCapacityRemembersNothing) {
  CorruptLog log(0);
  log.Add(1, HashKey("a"));
  EXPECT_FALSE(log.Contains(1, HashKey("a")));
}

}  // namespace
}  // namespace prefixd::storage
