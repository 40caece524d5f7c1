#include "bench/ttft.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

TEST(TtftModel, DefaultsAreLlama3_8bOnH100AtHalfPeak) {
  TtftModel m;
  ASSERT_TRUE(m.Validate().ok());
  EXPECT_NEAR(m.per_token_s, 28.2e-6, 0.1e-6);
  EXPECT_NEAR(m.attn_s, 1.06e-9, 0.01e-9);
  // 16k tokens, nothing cached: 0.462 s linear + 0.142 s attention.
  EXPECT_NEAR(m.PrefillSeconds(16384, 0), 0.604, 0.002);
  // SGLang's current timeout defaults: 2 s + 0.1 s per 1024 tokens, at most 30 s.
  EXPECT_DOUBLE_EQ(m.DeadlineSeconds(0), 2.0);
  EXPECT_DOUBLE_EQ(m.DeadlineSeconds(10240), 3.0);
  EXPECT_DOUBLE_EQ(m.DeadlineSeconds(1 << 30), 30.0);
  EXPECT_EQ(m.min_prefetch_tokens, 256u);

  TtftModel f = TtftModel::FromFlops(2e12, 1e9, 1e15, 0.5);
  EXPECT_DOUBLE_EQ(f.per_token_s, 4e-3);
  EXPECT_DOUBLE_EQ(f.attn_s, 2e-6);
}

TEST(TtftModel, PrefillFormula) {
  TtftModel m;
  m.per_token_s = 1e-3;
  m.attn_s = 1e-6;
  // 100 new after 50 cached: 0.1 + 1e-6 * 100 * (50 + 50).
  EXPECT_DOUBLE_EQ(m.PrefillSeconds(100, 50), 0.11);
  EXPECT_DOUBLE_EQ(m.PrefillSeconds(0, 0), 0);
  // A full hit still computes the last token against the rest.
  EXPECT_DOUBLE_EQ(m.PrefillSeconds(0, 1001), 1e-3 + 1e-6 * 1 * (1000 + 0.5));
}

TEST(TtftModel, MonotonicInPromptAndInCache) {
  TtftModel m;
  double last = 0;
  for (uint64_t n = 1; n <= (1u << 18); n *= 2) {
    double t = m.PrefillSeconds(n, 0);
    EXPECT_GT(t, last);
    last = t;
  }
  // For one prompt, more cached tokens never cost more.
  const uint64_t prompt = 20000;
  last = HUGE_VAL;
  for (uint64_t c = 0; c < prompt; c += 1000) {
    double t = m.PrefillSeconds(prompt - c, c);
    EXPECT_LT(t, last);
    last = t;
  }
  // Superlinear: twice the prompt costs more than twice the time.
  EXPECT_GT(m.PrefillSeconds(32768, 0), 2 * m.PrefillSeconds(16384, 0));
}

TEST(EvaluateTtft, AllPagesInTime) {
  TtftModel m;
  TtftResult r = EvaluateTtft(m, {.prompt_tokens = 5000,
                                  .block_tokens = 512,
                                  .served_pages = 8,
                                  .probe_s = 0.01,
                                  .get_s = 0.2});
  EXPECT_EQ(r.served_tokens, 4096u);
  EXPECT_EQ(r.cached_tokens, 4096u);
  EXPECT_FALSE(r.timed_out);
  EXPECT_DOUBLE_EQ(r.load_s, 0.21);
  EXPECT_DOUBLE_EQ(r.prefill_s, m.PrefillSeconds(904, 4096));
  EXPECT_DOUBLE_EQ(r.ttft_s, r.load_s + r.prefill_s);
  // The last block is partial: served tokens stop at the prompt.
  r = EvaluateTtft(m, {.prompt_tokens = 5000, .block_tokens = 512, .served_pages = 10});
  EXPECT_EQ(r.served_tokens, 5000u);
  EXPECT_EQ(r.cached_tokens, 5000u);
}

TEST(EvaluateTtft, DeadlineCutsPagesProportionally) {
  TtftModel m;  // deadline for 10 x 512 tokens: 2 + 0.1 * 5 = 2.5 s
  TtftResult r = EvaluateTtft(m, {.prompt_tokens = 5120,
                                  .block_tokens = 512,
                                  .served_pages = 10,
                                  .probe_s = 0.1,
                                  .get_s = 10});
  EXPECT_TRUE(r.timed_out);
  EXPECT_DOUBLE_EQ(r.load_s, 2.5);
  // (2.5 - 0.1) / 10 of the 10 pages arrived: 2 pages.
  EXPECT_EQ(r.served_tokens, 5120u);
  EXPECT_EQ(r.cached_tokens, 1024u);
  EXPECT_DOUBLE_EQ(r.ttft_s, 2.5 + m.PrefillSeconds(4096, 1024));
  // A probe past the deadline leaves nothing.
  r = EvaluateTtft(
      m,
      {.prompt_tokens = 5120, .block_tokens = 512, .served_pages = 10, .probe_s = 3, .get_s = 1});
  EXPECT_EQ(r.cached_tokens, 0u);
  EXPECT_DOUBLE_EQ(r.load_s, 2.5);
  // A slower tier costs more: the same pages arriving in time beat the cut.
  TtftResult fast = EvaluateTtft(
      m,
      {.prompt_tokens = 5120, .block_tokens = 512, .served_pages = 10, .probe_s = 0.1, .get_s = 1});
  EXPECT_LT(fast.ttft_s, EvaluateTtft(m, {.prompt_tokens = 5120,
                                          .block_tokens = 512,
                                          .served_pages = 10,
                                          .probe_s = 0.1,
                                          .get_s = 10})
                             .ttft_s);
  // wait_complete never cuts.
  m.policy = PrefetchPolicy::kWaitComplete;
  r = EvaluateTtft(m, {.prompt_tokens = 5120,
                       .block_tokens = 512,
                       .served_pages = 10,
                       .probe_s = 0.1,
                       .get_s = 10});
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.cached_tokens, 5120u);
  EXPECT_DOUBLE_EQ(r.load_s, 10.1);
}

TEST(EvaluateTtft, HitsUnderThePrefetchThresholdAreRecomputed) {
  TtftModel m;
  TtftResult r = EvaluateTtft(m, {.prompt_tokens = 1000,
                                  .block_tokens = 64,
                                  .served_pages = 3,
                                  .probe_s = 0.001,
                                  .get_s = 0.01});
  EXPECT_EQ(r.served_tokens, 192u);
  EXPECT_EQ(r.cached_tokens, 0u);
  EXPECT_DOUBLE_EQ(r.load_s, 0.001);
  m.min_prefetch_tokens = 0;
  EXPECT_EQ(
      EvaluateTtft(m, {.prompt_tokens = 1000, .block_tokens = 64, .served_pages = 3}).cached_tokens,
      192u);
}

TEST(TtftModel, ValidateRejectsNonsense) {
  TtftModel m;
  m.per_token_s = -1;
  EXPECT_FALSE(m.Validate().ok());
  m = TtftModel();
  m.attn_s = NAN;
  EXPECT_FALSE(m.Validate().ok());
  m = TtftModel();
  m.deadline_max_s = 0;
  EXPECT_FALSE(m.Validate().ok());
}

TEST(TtftBuckets, BoundariesAndSummaries) {
  EXPECT_EQ(TtftBucket(1), 0);
  EXPECT_EQ(TtftBucket(4096), 0);
  EXPECT_EQ(TtftBucket(4097), 1);
  EXPECT_EQ(TtftBucket(8192), 1);
  EXPECT_EQ(TtftBucket(16384), 2);
  EXPECT_EQ(TtftBucket(16385), 3);
  EXPECT_STREQ(TtftBucketName(3), "gt16k");

  std::vector<TtftResult> rs;
  for (int i = 1; i <= 100; ++i) rs.push_back({.prompt_tokens = 1000, .ttft_s = i * 0.01});
  rs.push_back({.prompt_tokens = 20000, .ttft_s = 5});
  TtftSummary small = SummarizeTtft(rs, 0);
  EXPECT_EQ(small.count, 100u);
  EXPECT_NEAR(*small.mean_s, 0.505, 1e-12);
  EXPECT_DOUBLE_EQ(*small.p50_s, 0.5);
  EXPECT_DOUBLE_EQ(*small.p99_s, 0.99);
  TtftSummary big = SummarizeTtft(rs, 3);
  EXPECT_EQ(big.count, 1u);
  EXPECT_DOUBLE_EQ(*big.p99_s, 5);
  EXPECT_EQ(SummarizeTtft(rs, 1).count, 0u);
  EXPECT_FALSE(SummarizeTtft(rs, 1).mean_s.has_value());
  EXPECT_EQ(SummarizeTtft(rs).count, 101u);
}

}  // namespace
}  // namespace prefixd::bench
