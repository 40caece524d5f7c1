// Cache policies simulated on a request trace: what plain LRU, S3-FIFO, LFU with dynamic aging
// and Belady's OPT would have served at the same budget, so that a tier's measured hit rate can
// be put beside them (issue #3 asks prefixd to reach the best of the first three; OPT is the
// ceiling).
//
// Model, the same for every policy and the one the replay uses: every block is one page of the
// same size, and the cache holds `capacity_pages` of them. Requests are served in trace order.
// A request's served prefix is its leading blocks that are all cached (prefix semantics: a
// block behind a missing one is recomputed even when cached). Then every block of the request
// is accessed once, in order: a cached block is a hit for the policy (LRU moves it to the front,
// S3-FIFO and LFU count it), an absent one is inserted (the engine computed and stored it),
// evicting as the policy says. Token hit rate = tokens in served prefixes / prompt tokens.
//
// The policies:
// - lru: evicts the least recently accessed block.
// - s3fifo: Yang et al., SOSP'23. A small FIFO (10 % of the pages) admits new blocks; one
//   accessed again while there moves to the main FIFO (90 %), else it leaves and its id enters
//   a ghost FIFO (as many ids as the main queue holds pages); a block inserted while its id is a
//   ghost goes straight to main. Main evicts with second chances: a block's access count
//   (capped at 3) is decremented and the block reinserted until it reaches 0.
// - lfu_aging: LFU with dynamic aging (LFU-DA, Arlitt et al. 2000): priority = L + access
//   count, where L is the priority of the last evicted block; the lowest priority goes first
//   (the least recent among equals).
// - opt: Belady: evicts the cached block whose next access is farthest away (never, first).
//   The classic ceiling for block hits; under prefix semantics a close upper bound.
//
// Thread-safety: pure function of its arguments.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/trace.h"

namespace prefixd::bench {

struct PolicyResult {
  std::string policy;           // "lru", "s3fifo", "lfu_aging", "opt"
  uint64_t served_tokens = 0;   // tokens in served prefixes
  uint64_t prompt_tokens = 0;   // all prompt tokens of the trace
  uint64_t served_blocks = 0;
  uint64_t evictions = 0;
  double token_hit_rate() const {
    return prompt_tokens ? static_cast<double>(served_tokens) / prompt_tokens : 0;
  }
};

// Every policy above on `trace` with room for `capacity_pages` pages (0 is taken as 1), in the
// order lru, s3fifo, lfu_aging, opt.
std::vector<PolicyResult> SimulatePolicies(std::span<const Request> trace,
                                           uint64_t capacity_pages);

}  // namespace prefixd::bench
