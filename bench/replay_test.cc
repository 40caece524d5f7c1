#include "bench/replay.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

using ::testing::HasSubstr;

// An unbounded in-memory tier: key -> bytes. Optionally corrupts the first read of one key
// (one byte flipped), or fails every call.
class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(std::string corrupt_key = "", bool fail = false)
      : corrupt_key_(std::move(corrupt_key)), fail_(fail) {}

  const std::string& kind() const override { return kind_; }

  absl::StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys) override {
    if (fail_) return absl::UnavailableError("down");
    absl::MutexLock l(&mu_);
    ++calls_;  // one a request
    std::vector<bool> out;
    for (const std::string& k : keys) out.push_back(pages_.contains(k));
    return out;
  }

  absl::Status Put(std::span<const std::string> keys, std::span<const std::string_view> pages,
                   std::string_view /*parent_key*/) override {
    if (fail_) return absl::UnavailableError("down");
    if (keys.size() != pages.size()) return absl::InvalidArgumentError("sizes");
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < keys.size(); ++i) {
      pages_.try_emplace(keys[i], pages[i]);  // idempotent, like the real tiers
      ++puts_[keys[i]];
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Get(std::span<const std::string> keys,
                             std::vector<std::string>* pages) override {
    if (fail_) return absl::UnavailableError("down");
    absl::MutexLock l(&mu_);
    pages->clear();
    for (const std::string& k : keys) {
      auto it = pages_.find(k);
      if (it == pages_.end()) break;
      pages->push_back(it->second);
      if (k == corrupt_key_ && !corrupted_) {
        pages->back()[pages->back().size() / 2] ^= 0x01;
        corrupted_ = true;
      }
    }
    return pages->size();
  }

  absl::StatusOr<uint64_t> DiskBytes() override { return 0; }
  absl::StatusOr<IoCounters> Io() override { return IoCounters{}; }
  absl::Status Sync() override { return absl::OkStatus(); }
  // With restartable(true), a restart forgets every page (a tier with nothing on disk);
  // otherwise the base class's UNIMPLEMENTED.
  absl::Status Restart(OrderAtRestart order) override {
    absl::MutexLock l(&mu_);
    if (!restartable_) return Backend::Restart(order);
    ++restarts_;
    last_order_ = order;
    pages_.clear();
    return absl::OkStatus();
  }
  // Counts the syncs, and the requests (their Exists calls) before each.
  absl::Status SyncEvictionOrder() override {
    absl::MutexLock l(&mu_);
    if (!restartable_) return Backend::SyncEvictionOrder();
    ++syncs_;
    calls_before_sync_.push_back(calls_);
    return absl::OkStatus();
  }
  int syncs() {
    absl::MutexLock l(&mu_);
    return syncs_;
  }
  std::vector<int> calls_before_sync() {
    absl::MutexLock l(&mu_);
    return calls_before_sync_;
  }
  OrderAtRestart last_order() {
    absl::MutexLock l(&mu_);
    return last_order_;
  }
  void restartable(bool on) {
    absl::MutexLock l(&mu_);
    restartable_ = on;
  }
  int restarts() {
    absl::MutexLock l(&mu_);
    return restarts_;
  }

  int puts_of(const std::string& key) {
    absl::MutexLock l(&mu_);
    return puts_[key];
  }
  size_t size() {
    absl::MutexLock l(&mu_);
    return pages_.size();
  }

 private:
  const std::string kind_ = "fake";
  const std::string corrupt_key_;
  const bool fail_;
  absl::Mutex mu_;
  std::map<std::string, std::string> pages_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> puts_ ABSL_GUARDED_BY(mu_);
  bool corrupted_ ABSL_GUARDED_BY(mu_) = false;
  bool restartable_ ABSL_GUARDED_BY(mu_) = false;
  int restarts_ ABSL_GUARDED_BY(mu_) = 0;
  int syncs_ ABSL_GUARDED_BY(mu_) = 0;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> calls_before_sync_ ABSL_GUARDED_BY(mu_);
  OrderAtRestart last_order_ ABSL_GUARDED_BY(mu_) = OrderAtRestart::kClosed;
};

// Blocks of 4 tokens. By hand, with an unbounded cache: A misses; B hits {1,2} (8 tokens);
// C misses; D hits {1,2,3} (12 tokens). Refs 3+3+1+4 = 11, hits 5; tokens 41, hits 20.
std::vector<Request> HandTrace() {
  return {
      {.arrival_s = 0.00, .prompt_tokens = 12, .blocks = {1, 2, 3}, .block_tokens = 4},
      {.arrival_s = 0.05, .prompt_tokens = 10, .blocks = {1, 2, 4}, .block_tokens = 4},
      {.arrival_s = 0.10, .prompt_tokens = 3, .blocks = {5}, .block_tokens = 4},
      {.arrival_s = 0.15, .prompt_tokens = 16, .blocks = {1, 2, 3, 6}, .block_tokens = 4},
  };
}

ReplayOptions SmallOptions() {
  ReplayOptions o;
  o.bytes_per_token = 16;           // 64-byte pages
  o.model.min_prefetch_tokens = 0;  // count every hit, however short
  return o;
}

TEST(Replay, UnboundedFakeReproducesTheHandComputedHitRate) {
  FakeBackend fake;
  std::vector<Request> trace = HandTrace();
  absl::StatusOr<ReplayReport> rep = RunReplay(trace, SmallOptions(), &fake);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->requests_done, 4u);
  EXPECT_EQ(rep->page_bytes, 64u);
  EXPECT_EQ(rep->block_refs, 11u);
  EXPECT_EQ(rep->present_blocks, 5u);
  EXPECT_EQ(rep->served_blocks, 5u);
  EXPECT_EQ(rep->prompt_tokens, 41u);
  EXPECT_EQ(rep->served_tokens, 20u);
  EXPECT_EQ(rep->cached_tokens, 20u);
  EXPECT_DOUBLE_EQ(rep->block_hit_rate(), 5.0 / 11);
  EXPECT_DOUBLE_EQ(rep->token_hit_rate(), 20.0 / 41);
  TraceSummary s = Summarize(trace);
  EXPECT_DOUBLE_EQ(rep->block_hit_rate(), s.block_hit_rate());
  EXPECT_DOUBLE_EQ(rep->token_hit_rate(), s.token_hit_rate());
  // Every page not served was computed and put: 11 - 5, 64 bytes each.
  EXPECT_EQ(rep->pages_put, 6u);
  EXPECT_EQ(rep->bytes_put, 6u * 64);
  EXPECT_EQ(rep->pages_got, 5u);
  EXPECT_EQ(rep->bytes_got, 5u * 64);
  EXPECT_EQ(fake.size(), 6u);
  EXPECT_EQ(rep->corrupt, 0u);
  EXPECT_EQ(rep->errors, 0u);
  EXPECT_FALSE(rep->aborted);
  EXPECT_EQ(rep->exists_us.count, 4u);
  EXPECT_EQ(rep->get_us.count, 2u);
  EXPECT_EQ(rep->put_us.count, 4u);
  ASSERT_EQ(rep->records.size(), 4u);
  EXPECT_EQ(rep->records[3].served_pages, 3u);
  EXPECT_EQ(rep->records[3].ttft.cached_tokens, 12u);
  EXPECT_EQ(rep->ttft.count, 4u);
  EXPECT_EQ(rep->ttft_by_bucket[0].count, 4u);
}

TEST(Replay, CorruptPageIsCountedAndNeverAHit) {
  FakeBackend fake(/*corrupt_key=*/"b2");
  std::vector<Request> trace = HandTrace();
  trace.pop_back();  // without D, block 2 is read once (by B)
  absl::StatusOr<ReplayReport> rep = RunReplay(trace, SmallOptions(), &fake);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->corrupt, 1u);
  EXPECT_EQ(rep->present_blocks, 2u);
  EXPECT_EQ(rep->served_blocks, 1u);  // b1 only: b2 came back wrong
  EXPECT_EQ(rep->served_tokens, 4u);
  EXPECT_DOUBLE_EQ(rep->block_hit_rate(), 1.0 / 7);
  EXPECT_EQ(rep->records[1].corrupt_pages, 1u);
  EXPECT_EQ(rep->errors, 0u);
  // The engine recomputed from b2 on and wrote b2 again.
  EXPECT_EQ(fake.puts_of("b2"), 2);
  EXPECT_THAT(rep->Json(), HasSubstr("\"corrupt\": 1"));
}

TEST(Replay, ConcurrentMultiturnKeepsEachClientInOrder) {
  SglangMultiturnOptions g{.clients = 8, .rounds = 4, .request_tokens = 256, .output_tokens = 64};
  absl::StatusOr<std::vector<Request>> trace = SglangMultiturn(g);
  ASSERT_TRUE(trace.ok());
  FakeBackend fake;
  ReplayOptions o = SmallOptions();
  o.concurrency = 4;
  absl::StatusOr<ReplayReport> rep = RunReplay(*trace, o, &fake);
  ASSERT_TRUE(rep.ok()) << rep.status();
  // Clients share nothing and each waits for its previous round, so the hits are exactly the
  // unbounded cache's whatever the interleaving.
  TraceSummary s = Summarize(*trace);
  EXPECT_EQ(rep->requests_done, 32u);
  EXPECT_EQ(rep->served_blocks, s.hit_block_refs);
  EXPECT_EQ(rep->served_tokens, s.hit_tokens);
  EXPECT_EQ(fake.size(), s.distinct_blocks);
}

TEST(Replay, HonoursScaledArrivalTimes) {
  FakeBackend fake;
  ReplayOptions o = SmallOptions();
  o.speed = 1.5;  // last arrival 0.15 s -> 0.1 s
  absl::StatusOr<ReplayReport> rep = RunReplay(HandTrace(), o, &fake);
  ASSERT_TRUE(rep.ok());
  EXPECT_GE(rep->seconds, 0.1);
  EXPECT_LT(rep->seconds, 5.0);
  EXPECT_EQ(rep->served_blocks, 5u);
}

TEST(Replay, FailingBackendAbortsAndCounts) {
  FakeBackend fake("", /*fail=*/true);
  std::vector<Request> trace;
  for (int i = 0; i < 50; ++i) {
    trace.push_back({.prompt_tokens = 4, .blocks = {static_cast<uint64_t>(i)}, .block_tokens = 4});
  }
  absl::StatusOr<ReplayReport> rep = RunReplay(trace, SmallOptions(), &fake);
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->aborted);
  EXPECT_EQ(rep->errors, 10u);  // 10 in a row: exists and put of 5 requests
  EXPECT_LT(rep->requests_done, 50u);
  EXPECT_THAT(rep->first_error, HasSubstr("down"));
  EXPECT_EQ(rep->served_tokens, 0u);
}

TEST(Replay, RejectsBadOptionsAndTraces) {
  FakeBackend fake;
  ReplayOptions o = SmallOptions();
  o.bytes_per_token = 0;
  EXPECT_FALSE(RunReplay(HandTrace(), o, &fake).ok());
  o = SmallOptions();
  o.concurrency = 0;
  EXPECT_FALSE(RunReplay(HandTrace(), o, &fake).ok());
  std::vector<Request> mixed = HandTrace();
  mixed[1].block_tokens = 8;
  mixed[1].blocks = {1, 2};
  EXPECT_FALSE(RunReplay(mixed, SmallOptions(), &fake).ok());
  EXPECT_FALSE(RunReplay({}, SmallOptions(), &fake).ok());
  o = SmallOptions();
  o.max_memory_bytes = 100;  // 4 pages of 64 bytes, twice, is over
  absl::StatusOr<ReplayReport> rep = RunReplay(HandTrace(), o, &fake);
  ASSERT_FALSE(rep.ok());
  EXPECT_THAT(std::string(rep.status().message()), HasSubstr("bytes_per_token"));
  EXPECT_EQ(BlockKey(18446744073709551615ull), "b18446744073709551615");
}

TEST(Replay, ReportsRender) {
  FakeBackend fake;
  absl::StatusOr<ReplayReport> rep = RunReplay(HandTrace(), SmallOptions(), &fake);
  ASSERT_TRUE(rep.ok());
  std::string json = rep->Json();
  EXPECT_THAT(json, HasSubstr("\"token_hit_rate\": 0.4878"));
  EXPECT_THAT(json, HasSubstr("\"ttft_le4k_count\": 4"));
  EXPECT_THAT(json, HasSubstr("\"ttft_gt16k_mean_s\": null"));
  std::string md = rep->Markdown();
  EXPECT_THAT(md, HasSubstr("| tokens served by the tier | 48.8 % |"));
  EXPECT_THAT(md, HasSubstr("| prompt tokens | requests | mean TTFT (s) | p50 (s) | p99 (s) |"));
  std::string csv = rep->PerRequestCsv();
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  EXPECT_THAT(csv, HasSubstr("\n3,0.150000,16,12,12,"));
}

// --restart-at: the tier restarts once, just before request `tail_from`, and the report gives
// the hit rate from there on. Request D (the last, 16 tokens) hits 12 tokens when nothing is
// lost, none after a restart that forgets every page.
TEST(Replay, RestartsBeforeTheTailAndReportsItsHitRate) {
  std::vector<Request> trace = HandTrace();
  ReplayOptions o = SmallOptions();
  o.tail_from = 3;
  {
    FakeBackend fake;
    fake.restartable(true);
    absl::StatusOr<ReplayReport> rep = RunReplay(trace, o, &fake);  // Restart::kNone
    ASSERT_TRUE(rep.ok()) << rep.status();
    EXPECT_EQ(fake.restarts(), 0);
    EXPECT_EQ(rep->restart, "none");
    EXPECT_EQ(rep->tail_prompt_tokens, 16u);
    EXPECT_EQ(rep->tail_served_tokens, 12u);
    EXPECT_EQ(rep->served_tokens, 20u);
  }
  o.restart = ReplayOptions::Restart::kClean;
  {
    FakeBackend fake;
    fake.restartable(true);
    absl::StatusOr<ReplayReport> rep = RunReplay(trace, o, &fake);
    ASSERT_TRUE(rep.ok()) << rep.status();
    EXPECT_EQ(fake.restarts(), 1);
    EXPECT_EQ(rep->restart, "clean");
    EXPECT_EQ(rep->tail_from, 3u);
    EXPECT_EQ(rep->tail_prompt_tokens, 16u);
    EXPECT_EQ(rep->tail_served_tokens, 0u);
    EXPECT_DOUBLE_EQ(rep->tail_token_hit_rate(), 0);
    EXPECT_EQ(rep->served_tokens, 8u);  // B's hit, before the restart
    EXPECT_EQ(fake.last_order(), Backend::OrderAtRestart::kClosed);
    EXPECT_EQ(fake.syncs(), 0);
    EXPECT_THAT(rep->Json(), HasSubstr("\"tail_token_hit_rate\": 0"));
  }
  {
    // A crash: the order synced before every second request (1 and 2: not 3, the restart's),
    // and the restart takes the files of the last sync.
    ReplayOptions crash = o;
    crash.restart = ReplayOptions::Restart::kCrash;
    crash.order_sync_every = 2;
    FakeBackend fake;
    fake.restartable(true);
    absl::StatusOr<ReplayReport> rep = RunReplay(trace, crash, &fake);
    ASSERT_TRUE(rep.ok()) << rep.status();
    EXPECT_EQ(fake.syncs(), 1);
    EXPECT_EQ(fake.calls_before_sync(), std::vector<int>{2});
    EXPECT_EQ(fake.restarts(), 1);
    EXPECT_EQ(fake.last_order(), Backend::OrderAtRestart::kLastSync);
    EXPECT_EQ(rep->restart, "crash");
    EXPECT_THAT(rep->Json(), HasSubstr("\"order_synced_before\": 1"));
    crash.order_sync_every = 4;  // past the restart
    EXPECT_EQ(RunReplay(trace, crash, &fake).status().code(), absl::StatusCode::kInvalidArgument);
    crash.order_sync_every = 0;
    EXPECT_EQ(RunReplay(trace, crash, &fake).status().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    FakeBackend fake;  // cannot restart: the run stops there, and says why
    absl::StatusOr<ReplayReport> rep = RunReplay(trace, o, &fake);
    ASSERT_TRUE(rep.ok()) << rep.status();
    EXPECT_TRUE(rep->aborted);
    EXPECT_EQ(rep->requests_done, 3u);
    EXPECT_THAT(rep->first_error, HasSubstr("restart before request 3"));
  }
  o.concurrency = 2;
  EXPECT_EQ(RunReplay(trace, o, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  o.concurrency = 1;
  o.tail_from = 0;
  EXPECT_EQ(RunReplay(trace, o, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

// The whole Mooncake trace against an unbounded tier: the README's 64.0 % of block references.
TEST(Replay, MooncakeTraceOnAnUnboundedTier) {
  std::string path;
  if (const char* env = std::getenv("PREFIXD_MOONCAKE_TRACE")) {
    path = env;
  } else {
    path = (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" /
            "traces" / "mooncake_synthetic_trace.jsonl")
               .string();
  }
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << "no Mooncake trace at " << path << " (set PREFIXD_MOONCAKE_TRACE)";
  }
  absl::StatusOr<std::vector<Request>> trace = LoadMooncakeTrace(path);
  ASSERT_TRUE(trace.ok()) << trace.status();
  FakeBackend fake;
  ReplayOptions o;
  o.bytes_per_token = 1;  // 512-byte pages: 22 MB for the 43,924 distinct blocks
  absl::StatusOr<ReplayReport> rep = RunReplay(*trace, o, &fake);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->requests_done, 3993u);
  EXPECT_EQ(rep->block_refs, 121877u);
  EXPECT_NEAR(rep->block_hit_rate(), 0.640, 0.0005);
  EXPECT_NEAR(rep->token_hit_rate(), 0.651, 0.0005);
  EXPECT_EQ(fake.size(), 43924u);
  EXPECT_EQ(rep->corrupt, 0u);
  EXPECT_EQ(rep->errors, 0u);
}

}  // namespace
}  // namespace prefixd::bench
