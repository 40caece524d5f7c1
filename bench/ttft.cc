#include "bench/ttft.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

namespace prefixd::bench {
namespace {

bool NonNegative(double v) { return std::isfinite(v) && v >= 0; }

}  // namespace

TtftModel TtftModel::FromFlops(double linear_flops_per_token, double attn_flops_per_pair,
                               double peak_flops, double mfu) {
  TtftModel m;
  m.per_token_s = linear_flops_per_token / (peak_flops * mfu);
  m.attn_s = attn_flops_per_pair / (peak_flops * mfu);
  return m;
}

absl::Status TtftModel::Validate() const {
  if (!NonNegative(per_token_s) || !NonNegative(attn_s) || !NonNegative(deadline_base_s) ||
      !NonNegative(deadline_per_1k_tokens_s)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TTFT model constants must be finite and >= 0 (per_token_s ", per_token_s, ", attn_s ",
        attn_s, ", deadline base ", deadline_base_s, ", per 1k ", deadline_per_1k_tokens_s, ")"));
  }
  if (!(deadline_max_s > 0) || std::isnan(deadline_max_s)) {
    return absl::InvalidArgumentError(
        absl::StrCat("deadline_max_s must be > 0, is ", deadline_max_s));
  }
  return absl::OkStatus();
}

double TtftModel::PrefillSeconds(uint64_t n_new, uint64_t n_cached) const {
  if (n_new == 0 && n_cached == 0) return 0;
  if (n_new == 0) {  // a full hit still computes the last token
    n_new = 1;
    n_cached -= 1;
  }
  const double nn = static_cast<double>(n_new), nc = static_cast<double>(n_cached);
  return per_token_s * nn + attn_s * nn * (nc + nn / 2);
}

double TtftModel::DeadlineSeconds(uint64_t fetch_tokens) const {
  if (policy == PrefetchPolicy::kWaitComplete) return HUGE_VAL;
  return std::min(deadline_max_s, deadline_base_s + deadline_per_1k_tokens_s *
                                                        static_cast<double>(fetch_tokens) / 1024);
}

TtftResult EvaluateTtft(const TtftModel& model, const TtftInput& in) {
  TtftResult r;
  r.prompt_tokens = in.prompt_tokens;
  const uint64_t bt = std::max<uint32_t>(in.block_tokens, 1);
  auto prefix_tokens = [&](uint64_t pages) {
    return static_cast<uint32_t>(std::min<uint64_t>(in.prompt_tokens, pages * bt));
  };
  r.served_tokens = prefix_tokens(in.served_pages);
  uint64_t pages_used = in.served_pages;
  if (in.served_pages == 0 || r.served_tokens < model.min_prefetch_tokens) {
    pages_used = 0;  // nothing fetched: the request waited only for the probe
    r.load_s = in.probe_s;
  } else {
    const double deadline = model.DeadlineSeconds(in.served_pages * bt);
    const double total = in.probe_s + in.get_s;
    if (total <= deadline) {
      r.load_s = total;
    } else {
      r.timed_out = true;
      r.load_s = deadline;
      double share = in.get_s > 0 ? std::max(0.0, deadline - in.probe_s) / in.get_s : 0;
      pages_used = std::min<uint64_t>(in.served_pages,
                                      static_cast<uint64_t>(std::floor(in.served_pages * share)));
    }
  }
  r.cached_tokens = prefix_tokens(pages_used);
  r.prefill_s = model.PrefillSeconds(in.prompt_tokens - r.cached_tokens, r.cached_tokens);
  r.ttft_s = r.load_s + r.prefill_s;
  return r;
}

int TtftBucket(uint32_t prompt_tokens) {
  if (prompt_tokens <= 4096) return 0;
  if (prompt_tokens <= 8192) return 1;
  if (prompt_tokens <= 16384) return 2;
  return 3;
}

const char* TtftBucketName(int bucket) {
  static constexpr const char* kNames[kTtftBuckets] = {"le4k", "4k-8k", "8k-16k", "gt16k"};
  return bucket >= 0 && bucket < kTtftBuckets ? kNames[bucket] : "all";
}

TtftSummary SummarizeTtft(std::span<const TtftResult> results, int bucket) {
  std::vector<double> v;
  double sum = 0;
  for (const TtftResult& r : results) {
    if (bucket >= 0 && TtftBucket(r.prompt_tokens) != bucket) continue;
    v.push_back(r.ttft_s);
    sum += r.ttft_s;
  }
  TtftSummary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(k, 1, v.size()) - 1];
  };
  s.mean_s = sum / static_cast<double>(v.size());
  s.p50_s = rank(0.5);
  s.p99_s = rank(0.99);
  return s;
}

}  // namespace prefixd::bench
