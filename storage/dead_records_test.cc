// DeadRecords names freed records; the filter removes exactly those, deciding by key, so that
// a compaction never reads a blob (a freed one is a hole), and keeps a page named dead that
// lives in that generation again.
#include "storage/dead_records.h"

#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/statistics.h"

namespace prefixd::storage {
namespace {

NamespacedKey Page(int i) { return {1, HashKey("page" + std::to_string(i))}; }

TEST(DeadRecords, NamesAreSetAsideByACompactionAndForgottenOnlyIfItSucceeds) {
  DeadRecords d;
  d.Add(3, Page(0));
  d.Add(3, Page(1));
  d.Add(4, Page(0));
  EXPECT_TRUE(d.Contains(3, Page(0)));
  EXPECT_FALSE(d.Contains(5, Page(0)));
  EXPECT_EQ(d.Count(3), 2u);
  d.Erase(3, Page(1));  // written there again
  EXPECT_FALSE(d.Contains(3, Page(1)));

  d.BeginCompaction(3);
  d.Add(3, Page(2));  // freed while it runs: not in its input's reckoning
  EXPECT_TRUE(d.Contains(3, Page(0))) << "set aside, still named";
  EXPECT_EQ(d.Count(3), 2u);
  d.EndCompaction(3, /*ok=*/false);
  EXPECT_TRUE(d.Contains(3, Page(0))) << "a failed compaction removed nothing";

  d.BeginCompaction(3);
  d.Erase(3, Page(0));  // erased while set aside
  EXPECT_FALSE(d.Contains(3, Page(0)));
  d.EndCompaction(3, /*ok=*/true);
  EXPECT_FALSE(d.Contains(3, Page(0)));
  EXPECT_FALSE(d.Contains(3, Page(2))) << "named before the second compaction began";
  EXPECT_EQ(d.Count(3), 0u);

  d.Forget(4);
  EXPECT_FALSE(d.Contains(4, Page(0)));
}

class DeadRecordFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            ("dead_records_" + std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    rocksdb::Options o;
    o.create_if_missing = true;
    o.enable_blob_files = true;
    o.min_blob_size = 0;
    o.statistics = rocksdb::CreateDBStatistics();
    stats_ = o.statistics;
    o.compaction_filter_factory = NewDeadRecordFilterFactory(
        &dead_, [](uint32_t cf) -> std::optional<uint64_t> { return cf == 0 ? 7 : 0; },
        [this](uint64_t generation, const NamespacedKey& page) {
          return generation == 7 && page == Page(live_again_);
        });
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_, &db).ok());
    db_.reset(db);
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  static std::string Key(int i) {
    const NamespacedKey p = Page(i);
    return EncodePageKey(p.ns_id, 1, static_cast<uint32_t>(i), p.hash);
  }
  static std::string Value(int i) { return std::string(4096, static_cast<char>('a' + i)); }

  std::string dir_;
  DeadRecords dead_;
  int live_again_ = -1;
  std::shared_ptr<rocksdb::Statistics> stats_;
  std::unique_ptr<rocksdb::DB> db_;
};

TEST_F(DeadRecordFilterTest, RemovesTheNamedRecordsWithoutReadingTheirBlobs) {
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(db_->Put({}, Key(i), Value(i)).ok());
  ASSERT_TRUE(db_->Flush({}).ok());
  for (int i = 0; i < 5; ++i) dead_.Add(7, Page(i));
  dead_.Add(8, Page(6));  // another generation's
  live_again_ = 4;        // named, but the key index places it here again
  const uint64_t read_before = stats_->getTickerCount(rocksdb::BLOB_DB_BLOB_FILE_BYTES_READ);
  rocksdb::CompactRangeOptions c;
  c.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  ASSERT_TRUE(db_->CompactRange(c, nullptr, nullptr).ok());
  EXPECT_EQ(stats_->getTickerCount(rocksdb::BLOB_DB_BLOB_FILE_BYTES_READ), read_before)
      << "the compaction read blobs";
  EXPECT_EQ(dead_.removed(), 4u);
  for (int i = 0; i < 10; ++i) {
    std::string v;
    auto s = db_->Get({}, Key(i), &v);
    if (i < 4) {
      EXPECT_TRUE(s.IsNotFound()) << i << ": " << s.ToString();
    } else {
      ASSERT_TRUE(s.ok()) << i << ": " << s.ToString();
      EXPECT_EQ(v, Value(i)) << i;
    }
  }
}

}  // namespace
}  // namespace prefixd::storage
