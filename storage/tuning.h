// What the controller reads from the store (StoreSignals) and what it may change (Tuning):
// only settings RocksDB changes online (SetOptions / SetDBOptions / the rate limiter) and
// prefixd's own knobs. Plain structs; thread-compatible.
#pragma once

#include <cstdint>
#include <string>

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
  // Gauges.
  uint64_t l0_files = 0;                  // the most in any page family
  uint64_t pending_compaction_bytes = 0;  // all families
  uint64_t promoted_bytes = 0;            // cumulative: copies forward on reads
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
