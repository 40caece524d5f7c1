// Dead pages give their disk space back at once (their blob records freed in place), before
// their generation is dropped; live pages stay byte-exact; a read in flight is never cut short.
// Measured on the blob files alone: RocksDB preallocates its WAL and MANIFEST by megabytes,
// which would hide the pages' share of the directory.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/test_pages.h"
#include "util/crc32c.h"

namespace prefixd::storage {
namespace {

constexpr uint64_t kPage = 256 << 10;
constexpr int kChain = 8;

Fingerprint Fp() { return Fingerprint{"m", "r", "bf16", "l", 16, kPage, 0, 1, "client"}; }

std::string Bytes(int chain, int i) { return testing::PageBytes(chain, i, kPage); }

std::vector<std::string> Keys(int chain) { return testing::ChainKeys(chain, kChain); }

class ReclaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            ("reclaim_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    store_.reset();
    StoreOptions o;
    o.path = dir_;
    o.testing_after_get_snapshot = [this] {
      if (auto f = std::exchange(after_snapshot_, nullptr)) f();  // once
    };
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    ASSERT_TRUE(store_->OpenNamespace("ns", Fp()).ok());
    ASSERT_TRUE(store_->OpenNamespace("other", Fp()).ok());
  }
  void Put(int chain, const std::string& ns = "ns") {
    std::vector<std::string> data;
    for (int i = 0; i < kChain; ++i) data.push_back(Bytes(chain, i));
    auto keys = Keys(chain);
    std::vector<PageWrite> w;
    for (int i = 0; i < kChain; ++i) w.push_back({keys[i], data[i], util::Crc32c(data[i])});
    auto r = store_->Put({ns}, "", w);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Leading pages of `chain` returned, each checked byte-exact.
  int Read(int chain, const std::string& ns = "ns") {
    int n = 0;
    auto r = store_->Get({ns}, Keys(chain), 0, [&](size_t i, auto, std::string_view b, auto) {
      EXPECT_TRUE(b == Bytes(chain, static_cast<int>(i))) << "chain " << chain << " page " << i;
      ++n;
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.status();
    return n;
  }
  // Bytes allocated to the blob files, where the pages are.
  uint64_t BlobBytes() {
    uint64_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      struct stat st {};
      if (e.path().extension() == ".blob" && ::stat(e.path().c_str(), &st) == 0) {
        bytes += uint64_t(st.st_blocks) * 512;
      }
    }
    return bytes;
  }
  uint64_t Reclaimed() { return store_->Stats()->reclaimed_bytes; }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::function<void()> after_snapshot_;
};

TEST_F(ReclaimTest, DeletedPagesGiveTheirSpaceBackAtOnce) {
  for (int c = 0; c < 8; ++c) Put(c);
  ASSERT_TRUE(store_->Flush().ok());  // into blob files: located
  const uint64_t before = BlobBytes();
  for (int c = 0; c < 4; ++c) {
    auto d = store_->Delete({"ns"}, Keys(c));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(*d, uint32_t(kChain));
  }
  const uint64_t deleted = 4 * kChain * kPage;
  // Each page frees its whole blocks: all of it but at most a block at each end.
  EXPECT_LE(BlobBytes(), before - deleted + 4 * kChain * 8192);
  EXPECT_GE(Reclaimed(), deleted - 4 * kChain * 8192);
  EXPECT_EQ(store_->Stats()->reclaimed_records, uint64_t(4 * kChain));
  for (int c = 0; c < 4; ++c) EXPECT_EQ(Read(c), 0);
  for (int c = 4; c < 8; ++c) EXPECT_EQ(Read(c), kChain);
}

TEST_F(ReclaimTest, PagesNotFlushedYetAreFreedOnceTheyAre) {
  Put(0);
  auto d = store_->Delete({"ns"}, Keys(0));  // still in a memtable: nothing to free yet
  ASSERT_TRUE(d.ok());
  Put(1);
  ASSERT_TRUE(store_->Flush().ok());
  Put(2);  // a write: the store matches what the flush found, and frees the dead
  EXPECT_EQ(Read(1), kChain);
  EXPECT_EQ(Read(0), 0);
  // The flush dropped chain 0's deleted pages, or wrote them and they were freed: either way
  // the blob files hold chain 1 alone (chain 2 is in a memtable), give or take a block at each
  // end of a record and the files' headers.
  EXPECT_LE(BlobBytes(), kChain * (kPage + 8192) + 8192);
  EXPECT_GE(BlobBytes(), kChain * kPage);
}

TEST_F(ReclaimTest, DeletingANamespaceGivesItsSpaceBack) {
  for (int c = 0; c < 6; ++c) Put(c, "other");
  for (int c = 0; c < 2; ++c) Put(c, "ns");
  ASSERT_TRUE(store_->Flush().ok());
  const uint64_t before = BlobBytes();
  ASSERT_TRUE(store_->DeleteNamespace({"other"}).ok());
  const uint64_t deleted = 6 * kChain * kPage;
  EXPECT_LE(BlobBytes(), before - deleted + 6 * kChain * 8192);
  for (int c = 0; c < 2; ++c) EXPECT_EQ(Read(c, "ns"), kChain);
}

TEST_F(ReclaimTest, PagesWrittenBeforeARestartAreFoundAndFreed) {
  for (int c = 0; c < 6; ++c) Put(c);
  Open();  // closes (flushing) and opens again: the records come from the SSTs' properties
  const uint64_t before = BlobBytes();
  ASSERT_TRUE(store_->Delete({"ns"}, Keys(1)).ok());
  ASSERT_TRUE(store_->Delete({"ns"}, Keys(4)).ok());
  EXPECT_LE(BlobBytes(), before - 2 * kChain * kPage + 2 * kChain * 8192);
  for (int c : {0, 2, 3, 5}) EXPECT_EQ(Read(c), kChain);
  Open();
  for (int c : {0, 2, 3, 5}) EXPECT_EQ(Read(c), kChain);
  EXPECT_EQ(Read(1), 0);
}

TEST_F(ReclaimTest, AReadInFlightHoldsBackFreeingUntilItEnds) {
  for (int c = 0; c < 3; ++c) Put(c);
  ASSERT_TRUE(store_->Flush().ok());
  absl::Notification paused, resume;
  after_snapshot_ = [&] {
    paused.Notify();
    resume.WaitForNotification();
  };
  std::atomic<int> read{-1};
  std::thread reader([&] { read = Read(2); });
  paused.WaitForNotification();
  // The paused read has its snapshot: chain 1 deleted now must not be freed under it.
  ASSERT_TRUE(store_->Delete({"ns"}, Keys(1)).ok());
  EXPECT_EQ(store_->Stats()->reclaimed_records, 0u);
  resume.Notify();
  reader.join();
  EXPECT_EQ(read.load(), kChain);
  ASSERT_TRUE(store_->Delete({"ns"}, Keys(0)).ok());  // the next reclaim frees both chains
  EXPECT_EQ(store_->Stats()->reclaimed_records, uint64_t(2 * kChain));
  EXPECT_EQ(Read(2), kChain);
}

}  // namespace
}  // namespace prefixd::storage
