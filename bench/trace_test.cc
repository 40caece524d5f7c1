#include "bench/trace.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

using ::testing::HasSubstr;

// The Mooncake trace as the README describes it: $PREFIXD_MOONCAKE_TRACE, else
// ../shared/traces/ beside the project root (located from this source file's path).
std::string MooncakeTracePath() {
  if (const char* env = std::getenv("PREFIXD_MOONCAKE_TRACE")) return env;
  std::filesystem::path src(__FILE__);
  return (src.parent_path().parent_path().parent_path() / "shared" / "traces" /
          "mooncake_synthetic_trace.jsonl")
      .string();
}

std::string TempFile(const std::string& contents) {
  std::string path = ::testing::TempDir() + "/trace_test_" + std::to_string(::getpid()) + "_" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl";
  std::ofstream(path) << contents;
  return path;
}

TEST(Request, BlockTokensAndPrefix) {
  Request r{.prompt_tokens = 1100, .blocks = {7, 8, 9}, .block_tokens = 512};
  ASSERT_TRUE(r.Validate().ok());
  EXPECT_EQ(r.BlockTokens(0), 512u);
  EXPECT_EQ(r.BlockTokens(2), 76u);
  EXPECT_EQ(r.PrefixTokens(0), 0u);
  EXPECT_EQ(r.PrefixTokens(2), 1024u);
  EXPECT_EQ(r.PrefixTokens(3), 1100u);
  r.blocks.pop_back();
  EXPECT_FALSE(r.Validate().ok());
}

TEST(ParseMooncakeLine, GoodLines) {
  absl::StatusOr<Request> r = ParseMooncakeLine(
      R"({"timestamp": 1500, "input_length": 1025, "output_length": 6, "hash_ids": [0, 1, 2]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->arrival_s, 1.5);
  EXPECT_EQ(r->prompt_tokens, 1025u);
  EXPECT_EQ(r->output_tokens, 6u);
  EXPECT_EQ(r->blocks, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(r->block_tokens, kMooncakeBlockTokens);
  EXPECT_EQ(r->after, -1);

  // Any order, no spaces, a fractional timestamp, a large id, trailing CR.
  r = ParseMooncakeLine(
      "{\"hash_ids\":[18446744073709551615],\"output_length\":0,\"input_length\":512,"
      "\"timestamp\":2.5}\r");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->arrival_s, 0.0025);
  EXPECT_EQ(r->blocks, (std::vector<uint64_t>{UINT64_MAX}));
}

TEST(ParseMooncakeLine, MalformedLinesSayWhy) {
  struct Case {
    const char* line;
    const char* why;
  } cases[] = {
      {R"({"timestamp": 0, "input_length": 10, "output_length": 1})", "missing field \"hash_ids\""},
      {R"({"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [1], "x": 1})",
       "unknown field \"x\""},
      {R"({"timestamp": 0, "timestamp": 0, "input_length": 10, "output_length": 1,)"
       R"( "hash_ids": [1]})",
       "repeated field \"timestamp\""},
      {R"({"timestamp": -1, "input_length": 10, "output_length": 1, "hash_ids": [1]})",
       "negative number"},
      {R"({"timestamp": 0, "input_length": 10.5, "output_length": 1, "hash_ids": [1]})",
       "expected an integer"},
      {R"({"timestamp": 0, "input_length": "10", "output_length": 1, "hash_ids": [1]})",
       "expected an integer"},
      {R"({"timestamp": 0, "input_length": 010, "output_length": 1, "hash_ids": [1]})",
       "leading zero"},
      {R"({"timestamp": 0, "input_length": 600, "output_length": 1, "hash_ids": [1]})",
       "1 blocks for 600 tokens"},
      {R"({"timestamp": 0, "input_length": 0, "output_length": 1, "hash_ids": []})",
       "input_length is 0"},
      {R"({"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [1,]})",
       "expected an integer"},
      {R"({"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [1]} x)",
       "trailing text"},
      {R"({"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [1])",
       "expected ',' or '}'"},
      {R"({"timestamp": 0 "input_length": 10})", "expected ',' or '}'"},
      {R"({"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [1 2]})",
       "expected ',' or ']'"},
      {R"({"timestamp)", "unterminated string"},
      {R"({"timestamp": 0, "input_length": 99999999999, "output_length": 1, "hash_ids": [1]})",
       "over 2^32"},
      {"", "expected '{'"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Request> r = ParseMooncakeLine(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.why)) << c.line;
  }
  // Errors inside the object name the column.
  absl::StatusOr<Request> r = ParseMooncakeLine(R"({"timestamp": x})");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("column 15"));
}

TEST(LoadMooncakeTrace, ReadsSkipsBlanksLimitsAndNamesTheBadLine) {
  const std::string good1 =
      R"({"timestamp": 0, "input_length": 600, "output_length": 1, "hash_ids": [0, 1]})";
  const std::string good2 =
      R"({"timestamp": 1000, "input_length": 512, "output_length": 2, "hash_ids": [0]})";
  std::string path = TempFile(good1 + "\n\n" + good2 + "\n");
  absl::StatusOr<std::vector<Request>> t = LoadMooncakeTrace(path);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_DOUBLE_EQ((*t)[1].arrival_s, 1.0);
  EXPECT_TRUE(ValidateTrace(*t).ok());

  t = LoadMooncakeTrace(path, 1);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size(), 1u);

  path = TempFile(good1 + "\n" + good2 + "\n{\"timestamp\": 3}\n");
  t = LoadMooncakeTrace(path);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr(path + ":3: "));

  EXPECT_EQ(LoadMooncakeTrace(path + ".absent").status().code(), absl::StatusCode::kNotFound);
}

TEST(LoadMooncakeTrace, SortsOutOfOrderArrivalsStably) {
  std::string path =
      TempFile(R"({"timestamp": 5, "input_length": 1, "output_length": 1, "hash_ids": [9]})"
               "\n"
               R"({"timestamp": 2, "input_length": 1, "output_length": 1, "hash_ids": [7]})"
               "\n"
               R"({"timestamp": 2, "input_length": 1, "output_length": 2, "hash_ids": [8]})"
               "\n");
  absl::StatusOr<std::vector<Request>> t = LoadMooncakeTrace(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)[0].blocks[0], 7u);
  EXPECT_EQ((*t)[1].blocks[0], 8u);
  EXPECT_EQ((*t)[2].blocks[0], 9u);
}

TEST(Summarize, HandComputedPrefixHits) {
  // Blocks of 4 tokens. A misses; B hits {1,2}; C misses; D hits {1,2,3}; E hits nothing even
  // though it holds 3 (its first block is new: prefix semantics).
  std::vector<Request> t = {
      {.arrival_s = 0, .prompt_tokens = 12, .blocks = {1, 2, 3}, .block_tokens = 4},
      {.arrival_s = 1, .prompt_tokens = 10, .blocks = {1, 2, 4}, .block_tokens = 4},
      {.arrival_s = 2, .prompt_tokens = 3, .blocks = {5}, .block_tokens = 4},
      {.arrival_s = 3, .prompt_tokens = 16, .blocks = {1, 2, 3, 6}, .block_tokens = 4},
      {.arrival_s = 4, .prompt_tokens = 8, .blocks = {7, 3}, .block_tokens = 4},
  };
  TraceSummary s = Summarize(t);
  EXPECT_EQ(s.requests, 5u);
  EXPECT_EQ(s.distinct_blocks, 7u);
  EXPECT_EQ(s.block_refs, 13u);
  EXPECT_EQ(s.hit_block_refs, 5u);
  EXPECT_EQ(s.prompt_tokens, 49u);
  EXPECT_EQ(s.hit_tokens, 20u);
  EXPECT_EQ(s.reusing_requests, 2u);
  EXPECT_EQ(s.max_prompt_tokens, 16u);
  EXPECT_DOUBLE_EQ(s.duration_s, 4);
  EXPECT_EQ(s.distinct_bytes(100), 700u);
}

// The README's figures for the real trace (shared/traces/README.md).
TEST(Summarize, MooncakeTraceMatchesTheReadme) {
  const std::string path = MooncakeTracePath();
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << "no Mooncake trace at " << path << " (set PREFIXD_MOONCAKE_TRACE)";
  }
  absl::StatusOr<std::vector<Request>> t = LoadMooncakeTrace(path);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE(ValidateTrace(*t).ok());
  TraceSummary s = Summarize(*t);
  EXPECT_EQ(s.requests, 3993u);
  EXPECT_EQ(s.distinct_blocks, 43924u);
  EXPECT_EQ(s.block_refs, 121877u);
  EXPECT_NEAR(s.block_hit_rate(), 0.640, 0.0005);
  EXPECT_NEAR(s.token_hit_rate(), 0.651, 0.0005);
  EXPECT_NEAR(static_cast<double>(s.reusing_requests) / s.requests, 0.446, 0.0005);
  EXPECT_EQ(s.max_prompt_tokens, 191378u);
  EXPECT_NEAR(s.mean_prompt_tokens(), 15325, 0.5);
  EXPECT_NEAR(s.duration_s, 1022, 0.5);
}

// ---- SGLang multi-turn ---------------------------------------------------------------------

TEST(SglangMultiturn, RoundLengthsChainingAndIsolation) {
  SglangMultiturnOptions o{.clients = 6, .rounds = 4, .request_tokens = 512, .output_tokens = 64};
  absl::StatusOr<std::vector<Request>> t = SglangMultiturn(o);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 24u);
  ASSERT_TRUE(ValidateTrace(*t).ok());
  // Follow each client's chain through `after`.
  std::vector<int> round(t->size(), 0);
  std::vector<std::set<uint64_t>> client_blocks;
  std::vector<int> client_of(t->size(), -1);
  for (size_t i = 0; i < t->size(); ++i) {
    const Request& r = (*t)[i];
    EXPECT_EQ(r.block_tokens, 64u);
    EXPECT_EQ(r.output_tokens, 64u);
    if (r.after < 0) {
      client_of[i] = static_cast<int>(client_blocks.size());
      client_blocks.emplace_back();
    } else {
      const Request& prev = (*t)[r.after];
      round[i] = round[r.after] + 1;
      client_of[i] = client_of[r.after];
      ASSERT_GE(r.blocks.size(), prev.blocks.size());
      EXPECT_TRUE(std::equal(prev.blocks.begin(), prev.blocks.end(), r.blocks.begin()))
          << "round " << round[i] << " must start with round " << round[i] - 1;
      EXPECT_LT(prev.arrival_s, r.arrival_s + 1e-12);
    }
    EXPECT_EQ(r.prompt_tokens, 512u + round[i] * (64u + 512u));
    client_blocks[client_of[i]].insert(r.blocks.begin(), r.blocks.end());
  }
  ASSERT_EQ(client_blocks.size(), 6u);
  for (int r : round) EXPECT_LT(r, 4);
  // Clients share nothing.
  std::set<uint64_t> all;
  size_t sum = 0;
  for (const auto& s : client_blocks) {
    all.insert(s.begin(), s.end());
    sum += s.size();
  }
  EXPECT_EQ(all.size(), sum);
  // Round r hits exactly round r-1's 8 + 9(r-1) pages: per client 8+17+26+35 = 86 refs, hits
  // 0+8+17+26 = 51.
  TraceSummary s = Summarize(*t);
  EXPECT_EQ(s.block_refs, 6u * 86);
  EXPECT_EQ(s.hit_block_refs, 6u * 51);
  EXPECT_EQ(s.distinct_blocks, 6u * 35);
}

TEST(SglangMultiturn, PartialLastPageIsNotAPrefixOfTheFullOne) {
  SglangMultiturnOptions o{.clients = 1, .rounds = 2, .request_tokens = 100, .output_tokens = 10};
  absl::StatusOr<std::vector<Request>> t = SglangMultiturn(o);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].prompt_tokens, 100u);
  EXPECT_EQ((*t)[1].prompt_tokens, 210u);
  EXPECT_EQ((*t)[0].blocks.size(), 2u);
  EXPECT_EQ((*t)[1].blocks.size(), 4u);
  EXPECT_EQ((*t)[1].blocks[0], (*t)[0].blocks[0]);
  EXPECT_NE((*t)[1].blocks[1], (*t)[0].blocks[1]);  // 36 tokens then, 64 now
}

TEST(SglangMultiturn, DeterministicInTheSeed) {
  SglangMultiturnOptions o{.clients = 20, .rounds = 3, .request_rate = 4, .seed = 7};
  auto a = SglangMultiturn(o), b = SglangMultiturn(o);
  o.seed = 8;
  auto c = SglangMultiturn(o);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  auto sig = [](const std::vector<Request>& t) {
    std::vector<std::pair<double, uint64_t>> v;
    for (const Request& r : t) v.emplace_back(r.arrival_s, r.blocks.back());
    return v;
  };
  EXPECT_EQ(sig(*a), sig(*b));
  EXPECT_NE(sig(*a), sig(*c));
  // Poisson at 4/s: 60 requests over about 15 s.
  EXPECT_GT(a->back().arrival_s, 7.0);
  EXPECT_LT(a->back().arrival_s, 30.0);
}

TEST(SglangMultiturn, MaxParallelResponseTimeAndBarrier) {
  SglangMultiturnOptions o{.clients = 8,
                           .rounds = 3,
                           .request_tokens = 64,
                           .output_tokens = 0,
                           .request_rate = 100,
                           .response_s = 1.0,
                           .max_parallel = 3};
  absl::StatusOr<std::vector<Request>> t = SglangMultiturn(o);
  ASSERT_TRUE(t.ok());
  for (size_t i = 0; i < t->size(); ++i) {
    int outstanding = 0;  // requests sent before i (or with it) and not yet answered
    for (size_t j = 0; j <= i; ++j) {
      if ((*t)[j].arrival_s + o.response_s > (*t)[i].arrival_s) ++outstanding;
    }
    EXPECT_LE(outstanding, 3) << i;
    if ((*t)[i].after >= 0) {
      EXPECT_GE((*t)[i].arrival_s, (*t)[(*t)[i].after].arrival_s + o.response_s);
    }
  }
  o.max_parallel = 128;
  o.round_barrier = true;
  t = SglangMultiturn(o);
  ASSERT_TRUE(t.ok());
  for (size_t i = 0; i < t->size(); ++i) {
    size_t want_round = i / 8;  // all of round 0, then all of round 1, ...
    EXPECT_EQ((*t)[i].prompt_tokens, 64u * (want_round + 1)) << i;
  }
  EXPECT_FALSE(SglangMultiturn({.clients = 0}).ok());
}

// ---- LMCache multi-round QA ------------------------------------------------------------------

TEST(LmcacheMultiRoundQa, SharedSystemPromptAndPerUserHistory) {
  LmcacheQaOptions o;  // 10 users, 5 rounds, 1000 shared, 2000 per user, 100 answer, 20 question
  absl::StatusOr<std::vector<Request>> t = LmcacheMultiRoundQa(o);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 50u);
  ASSERT_TRUE(ValidateTrace(*t).ok());
  for (size_t i = 0; i < t->size(); ++i) {
    const Request& r = (*t)[i];
    const uint32_t k = static_cast<uint32_t>(i / 10);
    EXPECT_EQ(r.prompt_tokens, 3000u + k * 120 + 20) << i;
    EXPECT_EQ(r.block_tokens, 256u);
    EXPECT_EQ(r.after, k == 0 ? -1 : static_cast<int64_t>(i) - 10);
    EXPECT_DOUBLE_EQ(r.arrival_s, static_cast<double>(i) / 0.5);
    // The 3 full pages of the 1000-token system prompt are the same for everyone; page 3
    // mixes in the user's own context.
    for (int b = 0; b < 3; ++b) EXPECT_EQ(r.blocks[b], (*t)[0].blocks[b]);
    if (i % 10 != 0) {
      EXPECT_NE(r.blocks[3], (*t)[0].blocks[3]);
    }
    if (r.after >= 0) {
      const Request& prev = (*t)[r.after];
      // Round k-1's full pages are a prefix of round k's.
      size_t full = prev.prompt_tokens / 256;
      EXPECT_TRUE(std::equal(prev.blocks.begin(), prev.blocks.begin() + full, r.blocks.begin()));
    }
  }
  // Users share nothing beyond the system prompt's 3 pages.
  std::set<uint64_t> u0((*t)[40].blocks.begin(), (*t)[40].blocks.end());
  int shared = 0;
  for (uint64_t b : (*t)[41].blocks) shared += u0.count(b);
  EXPECT_EQ(shared, 3);

  o.poisson = true;
  absl::StatusOr<std::vector<Request>> p = LmcacheMultiRoundQa(o);
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->back().arrival_s, t->back().arrival_s);
  EXPECT_EQ(p->back().blocks, t->back().blocks);
}

TEST(RequestJsonLine, OneObjectWithEveryField) {
  Request r;
  r.arrival_s = 1.5;
  r.prompt_tokens = 700;
  r.output_tokens = 6;
  r.block_tokens = 512;
  r.after = 3;
  r.blocks = {7, 42};
  EXPECT_EQ(RequestJsonLine(r),
            "{\"arrival_s\": 1.500000, \"prompt_tokens\": 700, \"output_tokens\": 6, "
            "\"block_tokens\": 512, \"after\": 3, \"blocks\": [7, 42]}");
}

TEST(FillMix, WritesEveryChainOnceAndRereadsOnlyWrittenOnes) {
  FillMixOptions o;
  o.chains = 2000;
  o.chain_pages = 4;
  o.read_fraction = 0.5;
  o.mean_reread_distance = 20;
  auto t = FillMix(o);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE(ValidateTrace(*t).ok());
  std::set<uint64_t> written;
  uint64_t rereads = 0;
  double distance_sum = 0;
  for (const Request& r : *t) {
    ASSERT_EQ(r.blocks.size(), 4u);
    const uint64_t chain = r.blocks[0] / 4;
    for (size_t j = 0; j < 4; ++j) EXPECT_EQ(r.blocks[j], chain * 4 + j);
    if (written.count(chain)) {
      ++rereads;
      distance_sum += static_cast<double>(written.size() - chain);
    } else {
      EXPECT_EQ(chain, written.size()) << "new chains are written in order";
      written.insert(chain);
    }
  }
  EXPECT_EQ(written.size(), 2000u);
  const double read_share = static_cast<double>(rereads) / static_cast<double>(t->size());
  EXPECT_NEAR(read_share, 0.5, 0.03);
  EXPECT_NEAR(distance_sum / static_cast<double>(rereads), 20, 3);  // few are capped at 2,000
  // Deterministic in the seed.
  auto again = FillMix(o);
  ASSERT_EQ(again->size(), t->size());
  EXPECT_EQ(again->back().blocks, t->back().blocks);
  o.read_fraction = 1;
  EXPECT_EQ(FillMix(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace prefixd::bench
