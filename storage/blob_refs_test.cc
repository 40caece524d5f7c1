// Blob records located through the table-properties collector of a real RocksDB, and freed in
// place by punching holes: the space leaves the disk, every other page still reads back exact.
#include "storage/blob_refs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"

namespace prefixd::storage {
namespace {

class Recorder final : public BlobRefListener {
 public:
  void Located(uint32_t cf_id, const NamespacedKey& page, const BlobRef& ref, bool) override {
    absl::MutexLock l(&mu_);
    refs_[Name(page)] = ref;
    cf_ids_.push_back(cf_id);
  }
  std::map<std::string, BlobRef> refs() {
    absl::MutexLock l(&mu_);
    return refs_;
  }
  static std::string Name(const NamespacedKey& k) {
    return std::to_string(k.ns_id) + "/" + std::to_string(k.hash[0]);
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, BlobRef> refs_;
  std::vector<uint32_t> cf_ids_;
};

KeyHash Hash(int i) {
  KeyHash h{};
  h[0] = static_cast<uint8_t>(i);
  h[15] = 0xab;
  return h;
}

std::string Value(int i) { return std::string(300'000 + i, static_cast<char>('a' + i)); }

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_blocks) * 512 : 0;
}

class BlobRefsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            ("blob_refs_" + std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    options_.create_if_missing = true;
    options_.enable_blob_files = true;
    options_.min_blob_size = 0;
    options_.table_properties_collector_factories.push_back(
        NewBlobRefCollectorFactory(&recorder_));
    Open();
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options_, dir_, &raw).ok());
    db_.reset(raw);
  }
  static std::string Key(int i) { return EncodePageKey(7, 1000 + i, i, Hash(i)); }

  std::string dir_;
  Recorder recorder_;
  rocksdb::Options options_;
  std::unique_ptr<rocksdb::DB> db_;
};

TEST_F(BlobRefsTest, FlushReportsEveryPageAndPunchingFreesOnlyThatPage) {
  rocksdb::WriteOptions wo;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(db_->Put(wo, Key(i), Value(i)).ok());
  ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions()).ok());

  auto refs = recorder_.refs();
  ASSERT_EQ(refs.size(), 8u);
  const BlobRef victim = refs[Recorder::Name({7, Hash(3)})];
  for (int i = 0; i < 8; ++i) {
    const BlobRef r = refs[Recorder::Name({7, Hash(i)})];
    EXPECT_EQ(r.bytes, kBlobRecordHeaderBytes + kPageKeyBytes + Value(i).size());
    EXPECT_EQ(r.file_number, victim.file_number);
    // The record's key sits right after its header.
    std::ifstream f(BlobFilePath(dir_, r.file_number), std::ios::binary);
    ASSERT_TRUE(f.good());
    std::string key(kPageKeyBytes, '\0');
    f.seekg(std::streamoff(r.offset + kBlobRecordHeaderBytes));
    f.read(key.data(), std::streamsize(key.size()));
    EXPECT_EQ(key, Key(i));
  }

  const std::string path = BlobFilePath(dir_, victim.file_number);
  const uint64_t before = AllocatedBytes(path);
  auto freed = PunchBlob(path, victim);
  ASSERT_TRUE(freed.ok()) << freed.status();
  // Whole 4 KiB blocks inside the record: at least its size less a block at each end.
  EXPECT_GE(*freed, victim.bytes - 2 * 4096);
  EXPECT_LE(*freed, victim.bytes);
  EXPECT_EQ(AllocatedBytes(path), before - *freed);
  auto again = PunchBlob(path, victim);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);

  for (int i = 0; i < 8; ++i) {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), Key(i), &v);
    if (i == 3) {
      EXPECT_TRUE(s.IsCorruption()) << s.ToString();  // a hole fails the record's CRC
    } else {
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_TRUE(v == Value(i)) << "page " << i << " changed";
    }
  }
}

TEST_F(BlobRefsTest, TheRefsSurviveInTheTablePropertiesAcrossCompactionAndReopen) {
  rocksdb::WriteOptions wo;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(db_->Put(wo, Key(i), Value(i)).ok());
  ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions()).ok());
  for (int i = 4; i < 6; ++i) ASSERT_TRUE(db_->Put(wo, Key(i), Value(i)).ok());
  ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions()).ok());
  const auto flushed = recorder_.refs();
  ASSERT_EQ(flushed.size(), 6u);
  ASSERT_TRUE(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
  EXPECT_EQ(recorder_.refs(), flushed);  // compaction reports the same records again
  db_.reset();
  Open();

  rocksdb::TablePropertiesCollection tables;
  ASSERT_TRUE(db_->GetPropertiesOfAllTables(&tables).ok());
  std::map<std::string, BlobRef> loaded;
  for (const auto& [file, props] : tables) {
    auto it = props->user_collected_properties.find(std::string(kBlobRefsProperty));
    ASSERT_NE(it, props->user_collected_properties.end()) << file;
    EXPECT_TRUE(ForEachBlobRef(it->second, [&](const NamespacedKey& k, const BlobRef& r) {
      loaded[Recorder::Name(k)] = r;
    }));
  }
  EXPECT_EQ(loaded, flushed);
}

TEST(BlobIndex, DecodesOnlyUncompressedBlobIndexes) {
  // type 1, file 9, offset 300 (varint 0xac 0x02), size 5, no compression.
  const std::string index("\x01\x09\xac\x02\x05\x00", 6);
  auto r = DecodeBlobIndex(index, 33);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, (BlobRef{9, 300 - 32 - 33, 32 + 33 + 5}));
  EXPECT_FALSE(DecodeBlobIndex(std::string("\x01\x09\xac\x02\x05\x01", 6), 33));  // compressed
  EXPECT_FALSE(DecodeBlobIndex(std::string("\x02\x09\xac\x02\x05\x00", 6), 33));  // TTL kind
  EXPECT_FALSE(DecodeBlobIndex(std::string("\x01\x09\xac", 3), 33));              // cut short
  EXPECT_FALSE(DecodeBlobIndex(std::string("\x01\x09\x10\x05\x00", 5), 33));  // before the key
  EXPECT_FALSE(DecodeBlobIndex("", 33));
  EXPECT_FALSE(ForEachBlobRef(std::string(41, '\0'), [](const auto&, const auto&) {}));
}

TEST(PunchBlob, SaysNotFoundForAFileThatIsGone) {
  auto r = PunchBlob(::testing::TempDir() + "/no-such-dir/000001.blob", BlobRef{1, 0, 4096});
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
}

}  // namespace
}  // namespace prefixd::storage
