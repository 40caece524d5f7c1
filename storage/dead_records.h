// Internal to storage/: dropping dead pages' records from the generations' SSTs.
//
// Why: a page that dies before its generation (evicted alone, deleted, replaced, copied
// forward, dropped as corrupt) gives back its blob bytes at once (blob_refs.h), but its SST
// record (the key and blob index, plus its 40 bytes of the prefixd.blob_refs property) stays
// until the whole generation is dropped, and a few long-lived pages can put that off for as
// long as they are read. Measured on the Mooncake replay at a 25 % budget with 32 KiB pages:
// the generations' SSTs held 34,556 records for 10,680 live pages, 3.6 MB, 1 % of the budget
// that pages could have used.
//
// How: once a dead record's blob bytes are freed, nothing reads it again, and the store names
// it here by generation and page (Add). The generation families' compaction filter removes
// the records named, deciding by key alone (FilterBlobByKey), so RocksDB never reads the blob,
// whose blocks are holes. The store compacts a generation no longer written into once enough
// of its records are named (store_reclaim.cc), with CompactFiles: CompactRange would flush
// every family first (atomic flush), newest generation included.
//
// Only after the punch: at open the store learns the dead records still to free from the
// SSTs' properties (Store's LoadBlobRefs), so a record removed before its blocks were freed
// would keep them allocated until its generation is dropped.
//
// A record is named by (generation, page), not by its blob record, since the filter sees only
// the key. So a page written again into a generation that holds a freed copy of it must not
// lose the new record: the store calls Erase before such a write (and when it retires a copy,
// until that copy is freed too), and the filter keeps every record of a page that `live` says
// is in that generation.
//
// Thread-safe: every method may be called from any thread (the filters run on RocksDB's
// compaction threads). Owned by the store; must outlive the DB.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/compaction_filter.h"
#include "storage/page_key.h"

namespace prefixd::storage {

class DeadRecords {
 public:
  // Page `page`'s record in `generation` is dead and its blob bytes are freed.
  void Add(uint64_t generation, const NamespacedKey& page) ABSL_LOCKS_EXCLUDED(mu_);
  // A record of `page` in `generation` must stay: it is about to be written, or a copy there
  // awaits its punch.
  void Erase(uint64_t generation, const NamespacedKey& page) ABSL_LOCKS_EXCLUDED(mu_);
  bool Contains(uint64_t generation, const NamespacedKey& page) const ABSL_LOCKS_EXCLUDED(mu_);
  // Records named in `generation`, those of a compaction in progress included.
  size_t Count(uint64_t generation) const ABSL_LOCKS_EXCLUDED(mu_);

  // A compaction of all of `generation`'s SST files is about to begin: the records named so
  // far are set aside, still named, and forgotten by EndCompaction if it succeeded (they are
  // gone from the SSTs) or named again if it failed.
  void BeginCompaction(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);
  void EndCompaction(uint64_t generation, bool ok) ABSL_LOCKS_EXCLUDED(mu_);
  // `generation` was dropped whole.
  void Forget(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);

  // Records the filters have removed, since the store opened.
  uint64_t removed() const { return removed_.load(std::memory_order_relaxed); }
  void CountRemoved() { removed_.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Named {
    absl::flat_hash_set<NamespacedKey> dead, compacting;
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Named> by_generation_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> removed_{0};
};

// The compaction filter factory of the generation families: a filter for a family that
// `generation_of` maps to a generation removes the records `dead` names there, but those of a
// page that `live` places in that generation. Both callbacks run on compaction threads and
// must not call into the DB. `dead` is not owned and must outlive the DB.
std::shared_ptr<rocksdb::CompactionFilterFactory> NewDeadRecordFilterFactory(
    DeadRecords* dead, std::function<std::optional<uint64_t>(uint32_t column_family_id)> generation_of,
    std::function<bool(uint64_t generation, const NamespacedKey& page)> live);

}  // namespace prefixd::storage
