// What the controller reads from the store (StoreSignals) and what it may change (Tuning):
// only settings RocksDB changes online (SetOptions / SetDBOptions / the rate limiter) and
// prefixd's own knobs. Plain structs; thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "util/latency_histogram.h"

namespace prefixd::storage {

// Cumulative counts since the store opened, and gauges of the moment.
struct StoreSignals {
  // Foreground, all namespaces.
  uint64_t put_pages = 0, put_bytes = 0;
  uint64_t get_pages = 0, get_bytes = 0;  // pages (and their bytes) returned by Get
  uint64_t get_misses = 0;                // pages asked by Get and not returned
  uint64_t exists_keys = 0;
  // Background, from RocksDB's statistics.
  uint64_t flush_write_bytes = 0;
  uint64_t compaction_read_bytes = 0, compaction_write_bytes = 0;
  uint64_t stall_micros = 0;  // time writers were delayed or stopped
  // Time inside the store's Put, Get and Exists calls, cumulative; percentiles of an epoch
  // come from two snapshots. A Get's time includes its sink: the transport's copy or stream
  // write, so a slow reader or gRPC flow control shows up in it.
  util::LatencyCounts put_latency{}, get_latency{}, exists_latency{};
  // Gauges.
  uint64_t l0_files = 0;                  // the most in any page family
  uint64_t pending_compaction_bytes = 0;  // all families
  uint64_t promoted_bytes = 0;            // cumulative: copies forward on reads
  // Bytes of blob files no key refers to any more (deleted or rewritten pages, once a
  // compaction has dropped their references), all families. Space comes back only when the
  // generation is dropped: prefixd runs no blob GC.
  uint64_t blob_garbage_bytes = 0;
};

// The settings the controller may change, all applied online and lazily (new memtable sizes
// and triggers take effect as memtables fill and compactions run).
struct Tuning {
  uint64_t write_buffer_bytes = 0;  // memtable size of every page family
  int l0_slowdown_trigger = 20;     // L0 files at which writes slow down
  int l0_stop_trigger = 36;         // ... and stop
  int max_background_jobs = 4;
  uint64_t background_rate_bytes = 0;  // flush + compaction write rate limit; 0 = unlimited
  double promote_fraction = 0.25;      // see StoreOptions::promote_fraction

  bool operator==(const Tuning&) const = default;
  std::string ToString() const;
};

}  // namespace prefixd::storage
