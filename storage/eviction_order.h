// Internal to storage/: the eviction order of Eviction::kPages kept across a clean restart.
//
// The order in which pages were last used lives in memory (StoreImpl's LRU and unread queues),
// and so does what adaptive insertion has learnt (insertion_duel.h: its scores and shadows). A
// clean close writes both to StoreOptions::kEvictionOrderFile in the data directory; the next
// open reads it, rebuilds the queues and the duel as they were, and deletes the file. Without it
// (after a crash, or when the file does not match the store) the open falls back to the oldest
// generations first and an empty duel (docs/benchmarks.md measures what that costs a replay
// restarted halfway).
//
// Format, little-endian: "PFXEVO01", the RocksDB sequence number at close (u64), the duel's four
// scores (IEEE doubles as u64), then seven lists of pages (a u64 count, then per page a u32
// namespace id and a 16-byte key hash): the LRU queue least recent first, the unread queue oldest
// first, and the duel's LRU, bimodal and probation shadows, probation's unread keys and its ghost
// (empty without adaptive insertion); then the fingerprints of the pages evicted unread (a u64
// count, a u64 each, oldest first); last a CRC32C of everything before it (u32). 20 bytes a
// page, plus 20 per unread page, ~1/4 of that for the shadows and up to 8 a page for the ghost.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/insertion_duel.h"
#include "storage/page_key.h"

namespace prefixd::storage {

struct EvictionOrder {
  uint64_t sequence = 0;              // what the file is valid for: the DB's last sequence
  std::vector<NamespacedKey> lru;     // least recently used first
  std::vector<NamespacedKey> unread;  // written and not used since, oldest first
  std::vector<uint64_t> ghost;        // fingerprints of pages evicted unread, oldest first
  InsertionDuel::State duel;          // all empty without adaptive insertion
};

// Writes `order` to `path` through a temporary file renamed over it (fsynced before the
// rename), so a reader sees the whole file or none. The error says what failed.
absl::Status WriteEvictionOrder(const std::string& path, const EvictionOrder& order);

// The order in `path`: NOT_FOUND when there is no file, DATA_LOSS when it is not one whole
// file this version wrote (wrong magic, size or checksum).
absl::StatusOr<EvictionOrder> ReadEvictionOrder(const std::string& path);

}  // namespace prefixd::storage
