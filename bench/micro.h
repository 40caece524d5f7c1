// The micro workload: `pages` pages of deterministic pseudo-random bytes (bench/page_content.h),
// written as chains of `chain_pages` consecutive pages (chain c holds pages
// [c*C, min(N, (c+1)*C)), each chain rooted, keys "s<seed>-c<c>-p<j>"), then read back chain
// by chain (Exists, then Get) and verified byte for byte against the regenerated content.
//
// Thread-safety: RunMicro may be called from one thread at a time per namespace; it starts
// `concurrency` worker threads, each owning the chains c with c % concurrency == its index,
// all sharing the one thread-safe Backend.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/stats.h"
#include "bench/backend.h"
#include "prefixd/v1/prefixd.pb.h"

namespace prefixd::bench {

enum class Phase { kPut, kGet, kAll, kExists };
const char* PhaseName(Phase p);

struct MicroOptions {
  // Pages to write and/or verify, > 0. Required.
  uint64_t pages = 0;
  // Bytes per page, in [1, 256 MiB]. Required.
  uint64_t page_bytes = 0;
  // Pages per chain (one Put, one Exists, one Get per chain), in [1, 65536]. Default 16.
  // A worker holds one chain in memory: chain_pages x page_bytes must be at most 4 GiB.
  uint32_t chain_pages = 16;
  // Worker threads, in [1, 1024]. Default 1.
  int concurrency = 1;
  // Seeds both the page bytes and the keys: a get-only run must use the writer's seed.
  uint64_t seed = 1;
  Phase phase = Phase::kAll;
  // Phase::kExists: passes over every chain, in [1, 1000]. Default 1.
  uint32_t exists_rounds = 1;
  // Drop the page cache (bench/cold.h) before the get or exists phase.
  bool cold = false;
  // Print a progress line to stderr every 2 s while a phase runs.
  bool progress = false;

  absl::Status Validate() const;
  uint64_t chains() const { return (pages + chain_pages - 1) / chain_pages; }
};


// One phase's figures. Seconds are wall-clock over the whole phase (all threads).
struct PhaseReport {
  bool ran = false;
  double seconds = 0;
  uint64_t bytes = 0;  // put: bytes of pages in Puts that returned OK; get: bytes verified
  std::optional<double> mbps() const;  // bytes / 1e6 / seconds; nullopt if not run
};

struct MicroReport {
  PhaseReport put, get, exists;     // exists: Phase::kExists only (bytes unused)
  uint64_t exists_keys = 0;         // keys asked by the exists phase, over all rounds
  Latencies put_chain_us, exists_us, get_chain_us;  // one sample per successful call
  uint64_t exists_present_pages = 0;                // pages Exists reported present
  uint64_t exists_get_mismatches = 0;  // chains whose Exists prefix_pages != pages Get returned
  uint64_t verified_pages = 0;         // returned and byte-exact
  uint64_t missing_pages = 0;          // Get succeeded but did not return them
  uint64_t corrupt_pages = 0;          // returned with different bytes (or size)
  uint64_t unverified_pages = 0;       // not checked: their chain's Get failed, or the run aborted
  uint64_t data_loss_errors = 0;       // Gets that failed DATA_LOSS (the client's CRC check)
  uint64_t errors = 0;             // calls that returned a non-OK status, or broke the contract
  std::string first_error;         // the first such error, "" if none
  bool aborted = false;            // stopped early: 100 errors, or 10 in a row
  bool cold_requested = false, page_cache_dropped = false;
  std::string cold_note;           // why the page cache was not dropped
  double fill_seconds = 0;         // thread-seconds generating page bytes (inside put seconds)
  double verify_seconds = 0;       // thread-seconds comparing page bytes (inside get seconds)
  double settle_seconds = 0;       // between a put and a get phase: the tier's Sync (in neither)
  // --transport shm: pages the daemon moved through shared memory (the rest went as bytes),
  // and the ceiling: a plain memcpy of page_bytes pages into a shared memfd arena.
  uint64_t shm_put_pages = 0, shm_get_pages = 0;
  std::optional<double> memcpy_ceiling_mbps;       // from one hot source page
  std::optional<double> memcpy_working_set_mbps;  // from the run's working set of pages
};

// Runs the phases against `backend`. A non-OK status means the options are invalid; per-call
// failures are counted in the report instead.
absl::StatusOr<MicroReport> RunMicro(const MicroOptions& options, Backend* backend);

// MB/s of memcpy of `page_bytes` pages into a shared-memory arena (a sealed memfd, as the shm
// transport uses), over at least `bytes` (at least 1 GiB) in an arena of at most 256 MiB,
// touched before the clock starts; nullopt if the arena cannot be made. The pages are copied
// from `source_bytes` (at most 1 GiB, at least one page) of distinct source pages in turn: one
// page stays in the CPU's caches (a write-bandwidth ceiling); the benchmark's working set of
// pages is read from memory, as the daemon's memory cache is.
std::optional<double> MemcpyCeilingMBps(uint64_t page_bytes, uint64_t bytes,
                                        uint64_t source_bytes);

}  // namespace prefixd::bench
