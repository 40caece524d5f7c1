// The replay driver of the `trace` and `multiturn` workloads: plays a request trace against one
// storage tier (bench/backend.h) the way an engine with a storage-backed prefix cache would, and
// measures the hit rate, the tier's latencies and a modelled TTFT (bench/ttft.h).
//
// For each request, with one key per block, "b<block id>":
//   1. Exists over the whole chain -> P, the count of leading present pages (timed: probe).
//   2. Get of the first P pages (timed: load). Every returned page is checked against the
//      deterministic content of its block (FillPage(seed, block id), bench/page_content.h): a
//      page with a wrong byte or size counts as `corrupt`, never as a hit, and ends the served
//      prefix. Served = the leading byte-exact pages.
//   3. Put of every page from the first one not served to the end of the chain (what the engine
//      computed), with the same deterministic content (timed).
//   4. The TTFT model turns (prompt, served pages, probe, load) into the cached tokens after the
//      prefetch deadline and a modelled TTFT.
// Page bytes = block_tokens x bytes_per_token for every page (a partial last block is stored as a
// whole page, as engines allocate it). Real Llama-3-8B fp16 KV is 128 KiB per token; the default
// 256 B per token is 1/512 of that, so a 512-token Mooncake block is a 128 KiB page instead of
// 64 MiB: every byte count in the report is at that scale, and the load times with it.
//
// Requests are dispatched in trace order to `concurrency` workers: as fast as possible (speed 0),
// or each at arrival_s / speed after the start. A request whose `after` is set waits until that
// request has finished. With concurrency 1, speed 0 and a deterministic backend the report's
// counts (not its times) are deterministic. The run stops early after 100 failed calls, or 10
// in a row.
//
// Thread-safety: RunReplay may be called from one thread at a time per backend namespace; it
// starts `concurrency` workers (and a progress thread) that share the thread-safe Backend.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/backend.h"
#include "bench/stats.h"
#include "bench/trace.h"
#include "bench/ttft.h"

namespace prefixd::bench {

struct ReplayOptions {
  // 0 = as fast as possible; otherwise arrival times are honoured, scaled by 1 / speed (2 plays
  // the trace twice as fast). >= 0.
  double speed = 0;
  // Page bytes per token: page bytes = block_tokens x bytes_per_token. Default 256 (1/512 of
  // Llama-3-8B fp16), > 0; a page must be at most 256 MiB.
  uint64_t bytes_per_token = 256;
  // Worker threads, in [1, 1024]. Default 1.
  int concurrency = 1;
  TtftModel model;
  // A progress line on stderr every 2 s.
  bool progress = false;
  // Seeds the page contents; a replay verifying pages an earlier run wrote needs its seed.
  uint64_t seed = 1;
  // Refuse traces whose largest request, read and written (2 x blocks x page bytes) by every
  // worker at once, would exceed this many bytes. Default 4 GiB.
  uint64_t max_memory_bytes = 4ull << 30;
  // Names the run in progress lines, e.g. "trace" or "multiturn".
  std::string label = "replay";
  // What a restart costs the hits after it: with tail_from > 0 the report also gives the hit
  // rate of the requests from that index on (the tail), and before the first of them, with
  // every earlier request finished, the tier restarts as `restart` says (Backend::Restart):
  // kClean, a clean close and open; kForgetOrder, the same with the saved eviction order
  // removed (what a crash with no save leaves); kCrash, the order's journal synced
  // (Backend::SyncEvictionOrder) before every `order_sync_every`-th request and the files of the
  // last sync put back (what a crash leaves, as the daemon syncs every
  // --eviction-order-sync-seconds); kNone, no restart (the figure to compare with). A restart
  // needs concurrency 1 and a tier that can restart (inproc).
  enum class Restart { kNone, kClean, kForgetOrder, kCrash };
  uint64_t tail_from = 0;
  Restart restart = Restart::kNone;
  uint64_t order_sync_every = 0;  // kCrash: in [1, tail_from]

  absl::Status Validate() const;
};

// "b<id>", at most 21 bytes.
std::string BlockKey(uint64_t block_id);

// Page bytes of a trace replayed with `options`: trace[0].block_tokens x bytes_per_token
// (INVALID_ARGUMENT for an invalid trace, see ValidateTrace, or a page over 256 MiB).
absl::StatusOr<uint64_t> ReplayPageBytes(std::span<const Request> trace,
                                         const ReplayOptions& options);

// Microsecond latencies of one kind of call; percentiles nearest-rank, nullopt with no samples.
struct LatencySummary {
  uint64_t count = 0;
  std::optional<double> p50_us, p99_us, p999_us;
};

// One request's outcome.
struct RequestRecord {
  uint64_t index = 0;                        // in the trace
  double arrival_s = 0;                      // from the trace
  uint32_t present_pages = 0;                // Exists' leading count
  uint32_t served_pages = 0;                 // leading pages returned byte-exact
  uint32_t corrupt_pages = 0;                // returned with a wrong byte or size
  double probe_s = 0, get_s = 0, put_s = 0;  // measured, 0 when not called
  TtftResult ttft;
};

struct ReplayReport {
  // The run.
  uint64_t page_bytes = 0, bytes_per_token = 0;
  int concurrency = 0;
  double speed = 0;
  TtftModel model;
  uint64_t requests = 0;          // in the trace
  uint64_t requests_done = 0;     // replayed to the end (fewer when aborted)
  double seconds = 0;             // wall clock of the whole replay
  double max_dispatch_lag_s = 0;  // speed > 0: worst start behind its scaled arrival time

  // Hits, over the requests done. Served: the tier returned them byte-exact. Cached: what the
  // engine used after the prefetch threshold and deadline.
  uint64_t prompt_tokens = 0, served_tokens = 0, cached_tokens = 0;
  uint64_t block_refs = 0, present_blocks = 0, served_blocks = 0;
  uint64_t requests_timed_out = 0;  // the deadline cut some served pages
  // ReplayOptions::tail_from (0: none), the restart before it ("none", "clean",
  // "forget-order", "crash"), the requests from the last sync of the order to it (crash), and
  // the tokens of the requests done from it on.
  uint64_t tail_from = 0;
  std::string restart = "none";
  uint64_t order_synced_before = 0;
  uint64_t tail_prompt_tokens = 0, tail_served_tokens = 0;

  // Traffic and integrity.
  uint64_t pages_got = 0, bytes_got = 0;  // returned by Get (verified or not)
  uint64_t pages_put = 0, bytes_put = 0;  // in Puts that returned OK
  uint64_t corrupt = 0;                   // pages returned with wrong bytes: never hits
  uint64_t exists_get_mismatches = 0;     // Get returned fewer pages than Exists promised
  uint64_t errors = 0;                    // failed calls and broken contracts
  std::string first_error;
  bool aborted = false;

  LatencySummary exists_us, get_us, put_us;  // one sample per successful call
  TtftSummary ttft;                          // over the requests done
  TtftSummary ttft_by_bucket[kTtftBuckets];  // by prompt length (TtftBucketName)
  std::vector<RequestRecord> records;        // the requests done, in trace order

  double token_hit_rate() const;     // served_tokens / prompt_tokens
  double tail_token_hit_rate() const;  // tail_served_tokens / tail_prompt_tokens
  double cached_token_rate() const;  // cached_tokens / prompt_tokens
  double block_hit_rate() const;     // served_blocks / block_refs
  double requests_per_s() const;
  double mb_per_s() const;  // (bytes_got + bytes_put) / 1e6 / seconds
  double get_mb_per_s() const;
  double put_mb_per_s() const;

  // Adds the figures as flat fields (numbers unquoted, rates as fractions, times in the unit
  // their name says) so a caller can prepend its own (workload, backend, capacity).
  void AppendJson(JsonObject* json) const;
  std::string Json() const;  // AppendJson into an empty object, rendered
  // A summary table and a TTFT-by-prompt-length table, GitHub Markdown.
  std::string Markdown() const;
  // One line per request done: index,arrival_s,prompt_tokens,served_tokens,cached_tokens,
  // probe_s,get_s,put_s,load_s,prefill_s,ttft_s,timed_out,corrupt_pages (with a header).
  std::string PerRequestCsv() const;
};

// Replays `trace` against `backend`. A non-OK status means nothing was run (invalid options or
// trace); failed calls during the run are counted in the report instead.
absl::StatusOr<ReplayReport> RunReplay(std::span<const Request> trace, const ReplayOptions& options,
                                       Backend* backend);

}  // namespace prefixd::bench
