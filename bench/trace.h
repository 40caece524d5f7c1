// Request traces for the `trace` and `multiturn` workloads: the request model, a strict loader
// for Mooncake's JSONL traces, generators for SGLang's and LMCache's multi-turn benchmark shapes,
// and a summary with the hit rate an unbounded cache would reach.
//
// Block ids are prefix-chained: the same id always stands for the same tokens behind the same
// predecessors, so block i's id names the whole prefix 0..i. A cache keyed by block id therefore
// answers "how much of this prompt have I seen" exactly as an engine's prefix cache does.
//
// Thread-safety: pure functions over values; a Request may be read from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prefixd::bench {

// One prompt as the cache sees it.
struct Request {
  // Seconds since the start of the trace (non-decreasing along a trace).
  double arrival_s = 0;
  // Prompt length in tokens, > 0.
  uint32_t prompt_tokens = 0;
  // Tokens the engine generates after the prompt (informational; never stored).
  uint32_t output_tokens = 0;
  // Prefix-chained block ids, exactly ceil(prompt_tokens / block_tokens) of them. Block i holds
  // BlockTokens(i) tokens: block_tokens, except that the last one may be partial.
  std::vector<uint64_t> blocks;
  // Tokens per block (the cache's page size in tokens), > 0.
  uint32_t block_tokens = 0;
  // Index in the trace of a request that must have finished before this one starts (the same
  // client's previous round in the multi-turn generators), or -1 for none. Always < own index.
  int64_t after = -1;

  // Tokens in block i: min(block_tokens, prompt_tokens - i * block_tokens). REQUIRES: i < size.
  uint32_t BlockTokens(size_t i) const;
  // Tokens in the leading n blocks: min(prompt_tokens, n * block_tokens).
  uint32_t PrefixTokens(size_t n) const;
  // OK when the fields are consistent as documented above (after is checked by ValidateTrace).
  absl::Status Validate() const;
};

// Validate() of every request, arrival times non-decreasing, every `after` in [-1, own index),
// and one block_tokens for the whole trace. Errors name the request index.
absl::Status ValidateTrace(std::span<const Request> trace);

// ---- Mooncake (FAST'25) JSONL ---------------------------------------------------------------

// Tokens per block in Mooncake's traces.
inline constexpr uint32_t kMooncakeBlockTokens = 512;

// Parses one line: a JSON object with exactly the four fields "timestamp" (a number, in
// milliseconds, >= 0), "input_length" (integer > 0), "output_length" (integer >= 0) and
// "hash_ids" (an array of integers >= 0 with ceil(input_length / 512) elements), in any order.
// Anything else (a missing, repeated or unknown field, a bad number, trailing text) is
// INVALID_ARGUMENT with a message naming the column. arrival_s = timestamp / 1000.
absl::StatusOr<Request> ParseMooncakeLine(std::string_view line);

// Reads a Mooncake trace file: one ParseMooncakeLine per non-blank line; errors are prefixed
// "<path>:<line>: ". Stops after `limit` requests (0 = all). If the timestamps are out of order
// the requests are stably sorted by arrival. NOT_FOUND when the file cannot be opened.
absl::StatusOr<std::vector<Request>> LoadMooncakeTrace(const std::string& path, size_t limit = 0);

// ---- Multi-turn generators -------------------------------------------------------------------
// Block ids are assigned densely from 0 in order of first appearance. A block's id is determined
// by its parent's id and the exact tokens it covers (which segments, which offsets), so a
// client's history is prefix-chained from round to round, clients share nothing but what the
// workload shares, and a partial last block gets a different id from the full block that later
// occupies the same position. Only prompt pages are ever stored by the replay: the answer of
// round r becomes cached only once round r+1 has computed and stored it.

// SGLang's hierarchical-cache benchmark (benchmark/hicache/bench_multiturn.py): round 0 of each
// client is a fresh prompt of request_tokens; each later round appends the previous answer
// (output_tokens) and a new question (request_tokens), so round r has
// request_tokens + r * (output_tokens + request_tokens) tokens.
// Arrivals as the script sends them: a Poisson process of rate request_rate; at each send the
// next request is taken at random from the clients that are ready (all clients are ready at 0;
// a client becomes ready again response_s after its previous request was sent), with at most
// max_parallel requests outstanding. When no client is ready the clock jumps to the next one
// that becomes ready. Deterministic in `seed` (own splitmix64 stream, no std distributions).
struct SglangMultiturnOptions {
  int clients = 256;              // > 0 (script default 256)
  int rounds = 5;                 // > 0 (script default 5)
  uint32_t request_tokens = 512;  // > 0 (script default 512)
  uint32_t output_tokens = 64;    // >= 0 (script default 64)
  uint32_t page_tokens = 64;      // > 0, block size (SGLang's default page size 64)
  double request_rate = 1.0;      // requests/s, >= 0; 0 sends back to back (script default 1)
  // Modelled time from a request being sent to its answer being complete, seconds >= 0.
  // 0 makes a client ready again at once (its next round still runs after it: Request::after).
  double response_s = 0;
  int max_parallel = 128;  // > 0 (script default 128)
  // When true, no client starts round r+1 before every client's round r has been sent and
  // answered (the published 80 x 10 x 2048 runs use a barrier between rounds).
  bool round_barrier = false;
  uint64_t seed = 1;

  absl::Status Validate() const;
};
absl::StatusOr<std::vector<Request>> SglangMultiturn(const SglangMultiturnOptions& options);

// LMCache's multi-round QA benchmark shape (benchmarks/multi-round-qa.py): one system prompt
// shared by all users, then each user's own context, then the rounds. Round r of a user is
// system_tokens + user_context_tokens + r * (question_tokens + answer_tokens) + question_tokens
// tokens and generates answer_tokens. Users take turns (round r of user u is request
// r * users + u); arrivals are evenly spaced at `qps` (as the script does), or a Poisson
// process of that rate when `poisson` (seeded). qps 0 puts every arrival at 0.
struct LmcacheQaOptions {
  int users = 10;                       // > 0 (LMCache example: 10)
  int rounds = 5;                       // > 0 (example: 5)
  uint32_t system_tokens = 1000;        // >= 0, shared by all users (example: 1000)
  uint32_t user_context_tokens = 2000;  // >= 0 per user (example: 2000)
  uint32_t answer_tokens = 100;         // >= 0 (example: 100)
  // The script's questions are one short sentence; 20 tokens is our assumption, not its figure.
  uint32_t question_tokens = 20;  // > 0
  uint32_t page_tokens = 256;     // > 0 (LMCache's default chunk size)
  double qps = 0.5;               // >= 0 (example: 0.5)
  bool poisson = false;
  uint64_t seed = 1;

  absl::Status Validate() const;
};
absl::StatusOr<std::vector<Request>> LmcacheMultiRoundQa(const LmcacheQaOptions& options);

// ---- Export ---------------------------------------------------------------------------------

// One request as a JSON object on one line (no newline): {"arrival_s": ..., "prompt_tokens":
// ..., "output_tokens": ..., "block_tokens": ..., "after": ..., "blocks": [...]}. The sequence a
// replay serves, for tools outside prefixd-bench (bench/segment_policies.py reads it).
std::string RequestJsonLine(const Request& r);

// ---- The fill benchmark ----------------------------------------------------------------------

// Issue #3's "run the cache full" benchmark as a request sequence: `chains` new chains of
// `chain_pages` pages are written (4 GiB at the defaults and 1 MiB pages) while reads come back
// to earlier chains. Each request after the first re-reads an earlier chain with probability
// `read_fraction`, else writes the next new one. A re-read takes the k-th newest chain written so
// far, k >= 1 drawn from a geometric distribution of mean `mean_reread_distance` chains (recent
// chains are read most, old ones still now and then), capped at the oldest. Chain c's page j has
// block id c * chain_pages + j; every block is full (page_tokens tokens). Deterministic in `seed`.
struct FillMixOptions {
  int chains = 512;                   // > 0
  int chain_pages = 8;                // > 0
  uint32_t page_tokens = 256;         // > 0
  double read_fraction = 0.5;         // in [0, 1)
  double mean_reread_distance = 100;  // >= 1
  uint64_t seed = 1;

  absl::Status Validate() const;
};
absl::StatusOr<std::vector<Request>> FillMix(const FillMixOptions& options);

// ---- Summary ---------------------------------------------------------------------------------

// What a trace asks of a cache, and what an unbounded cache (never evicts, prefix semantics:
// a block counts only if every block before it in the request was seen before) would serve.
struct TraceSummary {
  uint64_t requests = 0;
  uint64_t distinct_blocks = 0;
  uint64_t block_refs = 0;        // sum of blocks over requests
  uint64_t prompt_tokens = 0;     // sum of prompt tokens
  uint64_t hit_block_refs = 0;    // leading blocks seen before, summed over requests
  uint64_t hit_tokens = 0;        // tokens in those blocks
  uint64_t reusing_requests = 0;  // requests with at least one hit block
  uint32_t max_prompt_tokens = 0;
  double duration_s = 0;  // last arrival - first arrival

  double block_hit_rate() const;  // hit_block_refs / block_refs (0 when empty)
  double token_hit_rate() const;  // hit_tokens / prompt_tokens (0 when empty)
  double mean_prompt_tokens() const;
  // Bytes of all distinct blocks at `page_bytes` each: the unbounded working set, the basis of
  // a --capacity-fraction.
  uint64_t distinct_bytes(uint64_t page_bytes) const { return distinct_blocks * page_bytes; }
};

TraceSummary Summarize(std::span<const Request> trace);

}  // namespace prefixd::bench
