// The `phases` workload: the cache's life in phases, each a fixed time (or a fixed amount of
// work, `phase_bytes`) with the same workers —
//   population  every worker puts new chains (prompts computed for the first time)
//   serving     every worker checks a chain written before (Exists) and loads it (Get)
//   mixed       workers alternate: a put of a new chain, then a check and load of an old one
// run in the order given (default population, serving, mixed, population). Run it against a
// daemon started with a --capacity below what population writes, so eviction runs too.
// Phases of fixed work make runs comparable across store settings: every run ends each phase
// with the same chains written, so a later phase starts from the same cache whatever the
// earlier phases' speed (with fixed time, a setting that slows population serves a store that
// evicted less, and its hit ratio is not comparable).
// Every page returned is compared with what was written.
//
// Thread-safety: RunPhases starts its own workers; call it from one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/backend.h"
#include "bench/stats.h"

namespace prefixd::bench {

struct PhasesOptions {
  std::vector<std::string> phases = {"population", "serving", "mixed", "population"};
  // A phase's length, or with phase_bytes > 0 its limit.
  double phase_seconds = 20;
  // > 0: a phase ends when its operations have claimed this many bytes, every put and every
  // get a whole chain (chain_pages x page_bytes, asked, whether or not it is returned).
  uint64_t phase_bytes = 0;
  uint64_t page_bytes = 256 << 10;
  uint32_t chain_pages = 16;
  int concurrency = 4;
  uint64_t seed = 1;
  bool progress = false;

  absl::Status Validate() const;
};

struct PhaseResult {
  std::string name;
  double seconds = 0;
  uint64_t put_bytes = 0, get_bytes = 0, exists_keys = 0;
  uint64_t gets = 0, puts = 0;
  uint64_t pages_asked = 0, pages_returned = 0;  // by gets
  uint64_t wrong_pages = 0;                      // returned with other bytes: must be 0
  uint64_t errors = 0;
  std::string first_error;
  Latencies put_us, exists_us, get_us;  // per chain
  uint64_t device_write_bytes = 0;      // the daemon's, during the phase
  uint64_t stall_micros = 0;            // RocksDB's write stalls during the phase
  bool completed = true;                // false: phase_seconds cut a phase of phase_bytes
};

absl::StatusOr<std::vector<PhaseResult>> RunPhases(const PhasesOptions& options,
                                                   Backend* backend);

// JSON for a run: the options, then one object per phase.
std::string PhasesToJson(const BackendOptions& b, const PhasesOptions& o,
                         std::vector<PhaseResult>& results);

}  // namespace prefixd::bench
