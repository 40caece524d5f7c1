#include "bench/phases.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "bench/backend.h"
#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

namespace fs = std::filesystem;

class PhasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/phases_test_" + std::to_string(::getpid()) + "_" +
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

  PhasesOptions Options() const {
    PhasesOptions o;
    o.page_bytes = 4096;
    o.chain_pages = 4;  // 16 KiB a chain
    o.concurrency = 3;
    o.phase_seconds = 60;  // a limit the phases below never reach
    return o;
  }

  std::string dir_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(PhasesTest, PhasesOfFixedBytesDoTheSameWorkWhateverTheSpeed) {
  PhasesOptions o = Options();
  o.phases = {"population", "serving", "mixed"};
  o.phase_bytes = 40 * 16384 + 1;  // 41 chains: a partial chain's claim still runs
  auto r = RunPhases(o, backend_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  const auto& pop = (*r)[0];
  const auto& serve = (*r)[1];
  const auto& mixed = (*r)[2];
  for (const auto& p : *r) {
    EXPECT_TRUE(p.completed) << p.name;
    EXPECT_EQ(p.errors, 0u) << p.first_error;
    EXPECT_EQ(p.wrong_pages, 0u) << p.name;
  }
  EXPECT_EQ(pop.puts, 41u);
  EXPECT_EQ(pop.gets, 0u);
  EXPECT_EQ(pop.put_bytes, 41u * 16384);
  EXPECT_EQ(serve.puts, 0u);
  EXPECT_EQ(serve.gets, 41u);
  EXPECT_EQ(serve.pages_asked, 41u * 4);
  EXPECT_EQ(serve.pages_returned, serve.pages_asked);  // the file tier here has no budget
  EXPECT_EQ(mixed.puts + mixed.gets, 41u);
  EXPECT_GE(mixed.puts, 41u / 2 - 3);  // each worker alternates, starting with a put
  EXPECT_GE(mixed.gets, 41u / 2 - 3);
}

TEST_F(PhasesTest, TheTimeLimitCutsAPhaseOfBytesAndSaysSo) {
  PhasesOptions o = Options();
  o.phases = {"population"};
  o.phase_seconds = 1;
  o.phase_bytes = uint64_t{1} << 50;  // far more than a second of puts
  auto r = RunPhases(o, backend_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE((*r)[0].completed);
  EXPECT_GT((*r)[0].puts, 0u);
}

TEST_F(PhasesTest, PhaseBytesBelowOneChainAreRefused) {
  PhasesOptions o = Options();
  o.phase_bytes = 16383;
  EXPECT_FALSE(o.Validate().ok());
  o.phase_bytes = 16384;
  EXPECT_TRUE(o.Validate().ok());
}

}  // namespace
}  // namespace prefixd::bench
