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
  for (int i = 0; i < 5; ++i) log.Add(1, HashKey(std::to_string(i)));
  EXPECT_EQ(log.size(), 3u);
  EXPECT_FALSE(log.Contains(1, HashKey("0")));
  EXPECT_FALSE(log.Contains(1, HashKey("1")));
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(log.Contains(1, HashKey(std::to_string(i)))) << i;
}

TEST(CorruptLog, AKeyAddedAgainCountsFromItsLatestAdd) {
  CorruptLog log(2);
  log.Add(1, HashKey("x"));
  log.Add(1, HashKey("y"));
  log.Add(1, HashKey("x"));  // x is now the newest
  log.Add(1, HashKey("z"));  // forgets y, not x
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
