#include "storage/key_index.h"

#include <string>

#include "gtest/gtest.h"

namespace prefixd::storage {
namespace {

KeyIndex::Entry At(uint64_t generation, uint64_t created_unix) {
  IndexRecord rec;
  rec.generation = generation;
  rec.created_unix = created_unix;
  return KeyIndex::EntryOf(rec);
}

}  // namespace
}  // namespace prefixd::storage

namespace prefixd::storage {
namespace {

TEST(KeyIndex, LocatesOnlyTheCopyItsEntryPointsAt) {
  KeyIndex index;
  const KeyHash a = HashKey("a");
  const BlobRef ref{12, 4096, 1 << 20};
  EXPECT_FALSE(index.Locate(1, a, 7, ref));  // no entry
  index.Set(1, a, At(7, 1700000000));
  EXPECT_FALSE(index.Find(1, a)->blob());   // not flushed yet
  EXPECT_FALSE(index.Locate(1, a, 6, ref));  // an older copy, promoted away
  EXPECT_FALSE(index.Find(1, a)->blob());
  EXPECT_FALSE(index.Locate(1, a, 7, BlobRef{uint64_t{1} << 32, 0, 100}));  // does not fit
  EXPECT_TRUE(index.Locate(1, a, 7, ref));
  ASSERT_TRUE(index.Find(1, a)->blob());
  EXPECT_EQ(*index.Find(1, a)->blob(), ref);
  EXPECT_EQ(index.Find(1, a)->generation, 7u);
  index.Set(1, a, At(9, 1700000001));  // a new copy: its place is not known yet
  EXPECT_FALSE(index.Find(1, a)->blob());
}

// The tick of a page's last use goes only to the copy it was used in.
TEST(KeyIndex, TouchMarksOnlyTheCopyItWasUsedIn) {
  KeyIndex index;
  const KeyHash a = HashKey("a");
  EXPECT_EQ(index.Touch(1, a, 7, 5), std::nullopt);  // no entry
  index.Set(1, a, At(7, 1700000000));
  EXPECT_EQ(index.Find(1, a)->touched, 0u);
  EXPECT_EQ(index.Touch(1, a, 6, 5), std::nullopt);  // another copy
  EXPECT_EQ(index.Touch(2, a, 7, 5), std::nullopt);  // another namespace
  EXPECT_EQ(index.Find(1, a)->touched, 0u);
  EXPECT_EQ(index.Touch(1, a, 7, 5), 0u);  // returns the tick it had
  EXPECT_EQ(index.Touch(1, a, 7, 6), 5u);
  EXPECT_EQ(index.Find(1, a)->touched, 6u);
  index.Set(1, a, At(8, 1700000001));  // a new copy starts unused
  EXPECT_EQ(index.Find(1, a)->touched, 0u);
}

TEST(KeyIndex, SetFindEraseByNamespaceAndHash) {
  KeyIndex index;
  const KeyHash a = HashKey("a"), b = HashKey("b");
  EXPECT_FALSE(index.Find(1, a));
  index.Set(1, a, At(7, 1700000000));
  index.Set(2, a, At(8, 1700000001));  // the same key in another namespace is another entry
  ASSERT_TRUE(index.Find(1, a));
  EXPECT_EQ(index.Find(1, a)->generation, 7u);
  EXPECT_EQ(index.Find(1, a)->created_unix, 1700000000u);
  EXPECT_EQ(index.Find(2, a)->generation, 8u);
  EXPECT_FALSE(index.Find(1, b));
  index.Set(1, a, At(9, 1700000002));  // a promotion or a rewrite replaces the entry
  EXPECT_EQ(index.Find(1, a)->generation, 9u);
  EXPECT_EQ(index.size(), 2u);
  index.Erase(1, a);
  EXPECT_FALSE(index.Find(1, a));
  EXPECT_TRUE(index.Find(2, a));
  index.Erase(1, b);  // absent: nothing happens
  EXPECT_EQ(index.size(), 1u);
}

TEST(KeyIndex, EntriesKeepWhatAGetNeedsOfTheRecord) {
  IndexRecord rec;
  rec.generation = 12;
  rec.root = 0x0123456789abcdefULL;
  rec.depth = 77;
  rec.size = 1 << 20;
  rec.crc32c = 0xdeadbeef;
  rec.created_unix = 1700000000;
  rec.key = "k";
  const IndexRecord back = KeyIndex::RecordOf(KeyIndex::EntryOf(rec), "k");
  EXPECT_EQ(back.generation, rec.generation);
  EXPECT_EQ(back.root, rec.root);
  EXPECT_EQ(back.depth, rec.depth);
  EXPECT_EQ(back.size, rec.size);
  EXPECT_EQ(back.crc32c, rec.crc32c);
  EXPECT_EQ(back.created_unix, rec.created_unix);
  EXPECT_EQ(back.key, "k");
  EXPECT_FALSE(back.parent_known);
}

TEST(KeyIndex, CreationTimesSaturateInsteadOfWrapping) {
  KeyIndex index;
  index.Set(1, HashKey("far"), At(1, uint64_t{1} << 40));
  EXPECT_EQ(index.Find(1, HashKey("far"))->created_unix, UINT32_MAX);
}

TEST(KeyIndex, SweepsGenerationsBelowAndWholeNamespaces) {
  KeyIndex index;
  for (int i = 0; i < 1000; ++i) {
    index.Set(uint32_t(1 + i % 2), HashKey(std::to_string(i)), At(uint64_t(i % 10), 0));
  }
  EXPECT_EQ(index.size(), 1000u);
  EXPECT_GT(index.MemoryBytes(), 1000 * (sizeof(NamespacedKey) + sizeof(KeyIndex::Entry)));
  EXPECT_EQ(index.SweepBelow(3), 300u);  // generations 0, 1 and 2
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(index.Find(uint32_t(1 + i % 2), HashKey(std::to_string(i))).has_value(), i % 10 >= 3)
        << i;
  }
  index.EraseNamespace(1);
  EXPECT_EQ(index.size(), 400u);  // odd i (namespace 2) with i % 10 in {3, 5, 7, 9}
  for (int i = 1; i < 1000; i += 2) {
    EXPECT_EQ(index.Find(2, HashKey(std::to_string(i))).has_value(), i % 10 >= 3) << i;
  }
}

}  // namespace
}  // namespace prefixd::storage
