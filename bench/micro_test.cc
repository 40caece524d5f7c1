#include "bench/micro.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "bench/backend.h"
#include "bench/page_content.h"
#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

namespace fs = std::filesystem;

class MicroTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/micro_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    BackendOptions b;
    b.kind = "file";
    b.dir = dir_;
    b.page_bytes = 4096;
    auto backend = MakeBackend(b);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
  }
  void TearDown() override {
    backend_.reset();
    fs::remove_all(dir_);
  }

  MicroOptions Options(Phase phase) const {
    MicroOptions o;
    o.pages = 100;  // 7 chains of 16 and a last one of 4
    o.page_bytes = 4096;
    o.concurrency = 3;
    o.phase = phase;
    return o;
  }

  std::string dir_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(MicroTest, ExistsPhaseProbesEveryChainEachRoundAndReadsNothing) {
  auto put = RunMicro(Options(Phase::kPut), backend_.get());
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->errors, 0u);
  MicroOptions o = Options(Phase::kExists);
  o.exists_rounds = 3;
  auto r = RunMicro(o, backend_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->exists.ran);
  EXPECT_FALSE(r->get.ran);
  EXPECT_FALSE(r->put.ran);
  EXPECT_EQ(r->exists_keys, 300u);
  EXPECT_EQ(r->exists_present_pages, 300u);
  EXPECT_EQ(r->missing_pages, 0u);
  EXPECT_EQ(r->exists_us.count(), 3u * 7);  // 7 chains (the last one of 4 pages), 3 rounds
  EXPECT_EQ(r->get.bytes, 0u);
  EXPECT_EQ(r->errors, 0u);
}

TEST_F(MicroTest, ExistsPhaseCountsPagesThatAreNotThere) {
  MicroOptions o = Options(Phase::kPut);
  o.pages = 40;
  ASSERT_TRUE(RunMicro(o, backend_.get()).ok());
  o = Options(Phase::kExists);  // asks for 100 pages: 60 were never written
  auto r = RunMicro(o, backend_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exists_keys, 100u);
  EXPECT_EQ(r->exists_present_pages, 40u);
  EXPECT_EQ(r->missing_pages, 60u);
}

TEST_F(MicroTest, ExistsRoundsAreBounded) {
  MicroOptions o = Options(Phase::kExists);
  o.exists_rounds = 0;
  EXPECT_FALSE(o.Validate().ok());
  o.exists_rounds = 1001;
  EXPECT_FALSE(o.Validate().ok());
}

TEST_F(MicroTest, ColdGetSaysWhetherThePageCacheWasDropped) {
  ASSERT_TRUE(RunMicro(Options(Phase::kPut), backend_.get()).ok());
  MicroOptions o = Options(Phase::kGet);
  o.cold = true;
  auto r = RunMicro(o, backend_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cold_requested);
  // Dropped (root, with a writable /proc/sys: a container may refuse even root), or not with
  // the reason; either way the run still reads everything.
  if (r->page_cache_dropped) {
    EXPECT_EQ(r->cold_note, "");
  } else {
    EXPECT_NE(r->cold_note.find("drop_caches"), std::string::npos) << r->cold_note;
  }
  EXPECT_EQ(r->verified_pages, 100u);
  EXPECT_EQ(r->missing_pages, 0u);
}

// The file tier, with a log of which calls came in what order.
class Recording final : public Backend {
 public:
  explicit Recording(Backend* inner) : inner_(inner) {}
  const std::string& kind() const override { return inner_->kind(); }
  absl::StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys) override {
    Log("exists");
    return inner_->Exists(keys);
  }
  absl::Status Put(std::span<const std::string> keys, std::span<const std::string_view> pages,
                   std::string_view parent) override {
    Log("put");
    return inner_->Put(keys, pages, parent);
  }
  absl::StatusOr<size_t> Get(std::span<const std::string> keys,
                             std::vector<std::string>* pages) override {
    Log("get");
    return inner_->Get(keys, pages);
  }
  absl::Status Sync() override {
    Log("sync");
    return inner_->Sync();
  }
  absl::StatusOr<uint64_t> DiskBytes() override { return inner_->DiskBytes(); }
  absl::StatusOr<IoCounters> Io() override { return inner_->Io(); }

  // The log with runs of the same call collapsed: {"put", "sync", "exists", "get", ...}.
  std::vector<std::string> Calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }

 private:
  void Log(const char* what) {
    absl::MutexLock l(&mu_);
    if (calls_.empty() || calls_.back() != what) calls_.push_back(what);
  }

  Backend* const inner_;
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

TEST_F(MicroTest, GetsAreTimedOnceThePutsHaveSettled) {
  Recording tier(backend_.get());
  MicroOptions o = Options(Phase::kAll);
  o.concurrency = 1;  // one worker: calls in a deterministic order
  auto r = RunMicro(o, &tier);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verified_pages, 100u);
  const std::vector<std::string> calls = tier.Calls();
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls[0], "put");
  EXPECT_EQ(calls[1], "sync");  // once, between the phases
  for (size_t i = 2; i < calls.size(); ++i) EXPECT_NE(calls[i], "put") << i;
  for (size_t i = 2; i < calls.size(); ++i) EXPECT_NE(calls[i], "sync") << i;
  EXPECT_GE(r->settle_seconds, 0);

  // A put phase alone, or a get phase alone, syncs nothing.
  Recording alone(backend_.get());
  ASSERT_TRUE(RunMicro(Options(Phase::kPut), &alone).ok());
  ASSERT_TRUE(RunMicro(Options(Phase::kGet), &alone).ok());
  for (const std::string& c : alone.Calls()) EXPECT_NE(c, "sync");
}

}  // namespace
}  // namespace prefixd::bench
