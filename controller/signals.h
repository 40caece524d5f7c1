// One epoch of workload, as rates: the difference of two StoreSignals snapshots over the
// epoch's length. Plain struct; thread-compatible.
#pragma once

#include <cstdint>

#include "storage/tuning.h"

namespace prefixd::controller {

struct EpochRates {
  double seconds = 0;
  double put_bytes = 0, get_bytes = 0;  // per second
  double put_pages = 0, get_pages = 0, exists_keys = 0;
  double flush_bytes = 0, compaction_write_bytes = 0, compaction_read_bytes = 0;
  double promoted_bytes = 0;
  double stall_fraction = 0;  // share of the epoch writers spent delayed or stopped
  double hit_ratio = 0;       // pages returned / pages asked by gets (0 when none asked)
  uint64_t l0_files = 0;
  uint64_t pending_compaction_bytes = 0;
  uint64_t blob_garbage_bytes = 0;  // gauge at the epoch's end
  // Foreground latency percentiles over the epoch, µs (bucket bounds, within 19 %); 0 when
  // no such call. Observed and reported; the cost model does not price latency directly.
  double get_p50_us = 0, get_p99_us = 0, put_p99_us = 0, exists_p99_us = 0;

  // Bytes the device writes in the background per byte of pages put (flush, compaction,
  // promotions); 0 without puts.
  double write_amplification() const;
  // get bytes / (get + put bytes): 1 is all reads, 0 all writes; 0.5 when idle.
  double read_share() const;
};

// Rates between `before` and `after`, `seconds` apart (> 0). Counters that went backwards
// (a namespace was deleted) count as 0.
EpochRates Rates(const storage::StoreSignals& before, const storage::StoreSignals& after,
                 double seconds);

}  // namespace prefixd::controller
