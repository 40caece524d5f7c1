// A modelled time-to-first-token: what a request would wait on the storage tier, cut at an
// engine's prefetch deadline, plus the prefill compute of the tokens the cache did not serve.
//
//   TTFT = wait + prefill(n_new, n_cached)
//   prefill(n_new, n_cached) = per_token_s * n_new + attn_s * n_new * (n_cached + n_new / 2)
//
// The linear term is the weight matmuls (2 FLOPs per parameter per token). The quadratic term
// is causal attention: each new token attends to the n_cached cached tokens and, on average, to
// half of the n_new new ones. At least one token is always computed (an engine needs the last
// token's logits even on a full hit).
//
// Default constants: Llama-3-8B (meta-llama/Meta-Llama-3-8B config.json: 32 layers, hidden 4096,
// 32 query heads of 128, 8 KV heads, MLP 14336, vocabulary 128256) on one H100 SXM.
//   Linear: FLOPs per token = 2 x non-embedding parameters (Kaplan et al. 2020, "Scaling Laws
//     for Neural Language Models", sec. 2.1: C_forward ~ 2N + 2 n_layer n_ctx d_attn).
//     Per layer: attention 4096 x (4096 + 1024 + 1024 + 4096) = 41.9 M, MLP 3 x 4096 x 14336 =
//     176.2 M; x 32 layers = 6.98e9 parameters (the 0.53e9 lm_head runs on the last token only,
//     the input embedding is a lookup) -> 1.396e10 FLOPs per token.
//   Attention: 4 x layers x (heads x head_dim) = 4 x 32 x 4096 = 524,288 FLOPs per (new token,
//     attended token) pair: QK^T and AV, 2 FLOPs per multiply-add each (the forward third of
//     PaLM's 6N + 12 L H Q T, Chowdhery et al. 2022, appendix B). Grouped KV heads do not
//     reduce these FLOPs.
//   Hardware: 989.4 TFLOP/s dense BF16 peak (NVIDIA H100 SXM5 datasheet; 1,979 is with
//     sparsity). Assumed model FLOPs utilisation in prefill: 50 % (an assumption: large-batch
//     GEMMs and FlashAttention-3 reach 60-75 % on H100, whole-model prefill less).
//   -> per_token_s = 1.396e10 / 494.7e12 = 28.2 us (about 35k tokens/s at short context);
//      attn_s = 524288 / 494.7e12 = 1.06 ns; a 16k-token prompt with nothing cached: 0.60 s.
//
// Prefetch deadline, as SGLang HiCache's "timeout" prefetch policy (sgl-project/sglang,
// python/sglang/srt/mem_cache/hiradix_cache.py, _prefetch_timeout_check_linear_func): the
// request waits for its storage prefetch until it completes or until
//   min(max, base + per_ki_token * fetch_tokens / 1024)
// seconds have passed, where fetch_tokens = pages being fetched x page size; then it runs with
// the pages that arrived. Defaults from PrefetchTimeoutConfig in
// python/sglang/srt/mem_cache/hicache_storage.py (main, commit 001067ff): base 2.0 s, 0.1 s per
// 1024 tokens, max 30 s. (Earlier releases defaulted to base 1 s, 0.25 s per 1024 tokens and no
// cap, set through --hicache-storage-backend-extra-config.) SGLang also skips a prefetch whose
// storage hit is under prefetch_threshold = 256 tokens: those tokens are recomputed.
// Model of the cut: pages arrive in chain order at the measured average rate of the Get, so the
// pages loaded by the deadline are served_pages x (deadline - probe) / get, rounded down; later
// ones count as recomputed. The deadline clock starts with the existence probe (SGLang's
// prefetch thread queries storage before reading), so the probe time is part of the wait.
//
// Thread-safety: TtftModel is a value type; its const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "absl/status/status.h"

namespace prefixd::bench {

// FLOP figures behind the defaults (see above).
inline constexpr double kLlama3_8bLinearFlopsPerToken = 2 * 6.98e9;
inline constexpr double kLlama3_8bAttnFlopsPerPair = 4.0 * 32 * 4096;
inline constexpr double kH100SxmBf16DenseFlops = 989.4e12;
inline constexpr double kAssumedPrefillMfu = 0.5;

enum class PrefetchPolicy {
  kTimeout,       // SGLang's default: wait until complete or until the deadline
  kWaitComplete,  // wait for every page, however long it takes (no cut)
};

struct TtftModel {
  // Seconds of prefill per new token (linear term). Default 28.2 us (see above).
  double per_token_s =
      kLlama3_8bLinearFlopsPerToken / (kH100SxmBf16DenseFlops * kAssumedPrefillMfu);
  // Seconds per (new token, attended token) pair (attention term). Default 1.06 ns.
  double attn_s = kLlama3_8bAttnFlopsPerPair / (kH100SxmBf16DenseFlops * kAssumedPrefillMfu);

  PrefetchPolicy policy = PrefetchPolicy::kTimeout;
  double deadline_base_s = 2.0;           // seconds, >= 0
  double deadline_per_1k_tokens_s = 0.1;  // seconds per 1024 fetched tokens, >= 0
  double deadline_max_s = 30.0;           // seconds, > 0; the cap on the linear deadline
  // A storage hit shorter than this many tokens is not fetched but recomputed. Default 256.
  uint32_t min_prefetch_tokens = 256;

  // The constants from a FLOP count: per_token_s = linear / (peak * mfu), attn_s likewise.
  static TtftModel FromFlops(double linear_flops_per_token, double attn_flops_per_pair,
                             double peak_flops, double mfu);

  // INVALID_ARGUMENT for a negative or non-finite constant, or deadline_max_s <= 0.
  absl::Status Validate() const;

  // Prefill seconds for n_new new tokens after n_cached cached ones (the formula above, with
  // n_new at least 1 when n_new + n_cached > 0).
  double PrefillSeconds(uint64_t n_new, uint64_t n_cached) const;

  // The prefetch deadline in seconds for fetching `fetch_tokens` tokens (+inf under
  // kWaitComplete).
  double DeadlineSeconds(uint64_t fetch_tokens) const;
};

// What the replay measured for one request.
struct TtftInput {
  uint32_t prompt_tokens = 0;
  uint32_t block_tokens = 0;  // tokens per page, > 0
  uint32_t served_pages = 0;  // leading pages the tier returned byte-exact
  double probe_s = 0;         // measured existence check
  double get_s = 0;           // measured read of the served pages (0 when none)
};

// The modelled outcome for one request.
struct TtftResult {
  uint32_t prompt_tokens = 0;
  uint32_t served_tokens = 0;  // tokens in the served pages (before threshold and deadline)
  uint32_t cached_tokens = 0;  // tokens the engine used from the cache (after them)
  double load_s = 0;           // seconds waited on the tier: probe + get, cut at the deadline
  double prefill_s = 0;        // modelled compute of the prompt_tokens - cached_tokens
  double ttft_s = 0;           // load_s + prefill_s
  bool timed_out = false;      // the deadline cut some served pages
};

TtftResult EvaluateTtft(const TtftModel& model, const TtftInput& in);

// Prompt-length buckets, in tokens (k = 1024): <= 4k, 4-8k, 8-16k, > 16k.
inline constexpr int kTtftBuckets = 4;
int TtftBucket(uint32_t prompt_tokens);
const char* TtftBucketName(int bucket);  // "le4k", "4k-8k", "8k-16k", "gt16k"

struct TtftSummary {
  uint64_t count = 0;
  std::optional<double> mean_s, p50_s, p99_s;  // nullopt when count == 0; nearest-rank
};

// Over all results (bucket -1) or those of one bucket.
TtftSummary SummarizeTtft(std::span<const TtftResult> results, int bucket = -1);

}  // namespace prefixd::bench
