#include "bench/micro.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

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

}  // namespace
}  // namespace prefixd::bench
