// Internal to storage/: the keys of pages recently dropped as corrupt, so that a later miss on
// one is explained ("dropped as corrupt", not "never written") after its index record is gone.
// Bounded: the newest `capacity` keys (a FIFO of 20-byte entries plus a hash set). The store
// keeps a marker of each in its meta family and loads them at open, so a restart remembers
// them too. Thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "storage/page_key.h"

namespace prefixd::storage {

class CorruptLog {
 public:
  explicit CorruptLog(size_t capacity) : capacity_(capacity) {}

  // Remembers (ns_id, key); forgets the oldest keys past the capacity and returns them.
  std::vector<NamespacedKey> Add(uint32_t ns_id, const KeyHash& key);
  // Whether (ns_id, key) was dropped as corrupt (and not forgotten or erased since).
  bool Contains(uint32_t ns_id, const KeyHash& key) const;
  // Forgets (ns_id, key): the page was deleted or written again.
  void Erase(uint32_t ns_id, const KeyHash& key);
  size_t size() const;
  // False until the first Add: lets hot paths skip the lock while nothing was ever corrupt.
  bool ever_added() const { return ever_added_.load(std::memory_order_relaxed); }

 private:
  using Entry = NamespacedKey;

  const size_t capacity_;
  std::atomic<bool> ever_added_{false};
  mutable absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // Remembered keys and the sequence number of their latest Add.
  absl::flat_hash_map<Entry, uint64_t> seq_ ABSL_GUARDED_BY(mu_);
  // Adds, oldest first. An entry whose sequence number is not its key's in seq_ is stale (the
  // key was erased, or added again later) and is skipped.
  std::deque<std::pair<Entry, uint64_t>> order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace prefixd::storage
