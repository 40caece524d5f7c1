// The `scale` workload: how a tier's put, exists and get rates change as it grows. Fills the
// tier with chains of small pages up to each checkpoint (e.g. 10k, 100k, 1M, 4M pages); at each
// one it measures a window of puts (the last chains written), exists and gets of random chains
// already stored (verifying every byte). File-per-object tiers degrade with object count: this
// shows where and by how much.
//
// Thread-safety: RunScale runs `concurrency` worker threads over one thread-safe Backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/backend.h"
#include "bench/stats.h"

namespace prefixd::bench {

struct ScaleOptions {
  // Page counts at which to measure, ascending; the last is the total written. Required.
  std::vector<uint64_t> checkpoints;
  uint64_t page_bytes = 4096;
  uint32_t chain_pages = 16;
  // Chains measured per operation at each checkpoint (the put window is the last chains
  // written before it). Default 500.
  uint64_t window_chains = 500;
  int concurrency = 1;
  uint64_t seed = 1;
  bool progress = false;

  absl::Status Validate() const;
};

struct ScalePoint {
  uint64_t pages = 0;            // pages stored when measured
  double fill_seconds = 0;       // time to grow from the previous checkpoint
  double put_pages_per_s = 0;    // over the put window
  double exists_keys_per_s = 0;  // keys checked per second
  double get_pages_per_s = 0;    // pages returned and verified per second
  Latencies put_us, exists_us, get_us;  // per chain
  uint64_t disk_bytes = 0;
  uint64_t verified = 0, missing = 0, corrupt = 0, errors = 0;
  std::string first_error;
};

absl::StatusOr<std::vector<ScalePoint>> RunScale(const ScaleOptions& options, Backend* backend);

// One JSON object per checkpoint, as an array.
std::string ScaleToJson(std::vector<ScalePoint>& points);

}  // namespace prefixd::bench
