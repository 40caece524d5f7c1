// Internal to storage/: the eviction order of Eviction::kPages kept across a clean restart.
//
// The order in which pages were last used lives in memory (StoreImpl's LRU and unread queues).
// A clean close writes it to `EVICTION-ORDER` in the data directory; the next open reads it,
// rebuilds both queues in that order, and deletes the file. Without it (after a crash, or when
// the file does not match the store) the open falls back to the oldest generations first, which
// cost the second half of a replay restarted halfway up to 3 % of its hits on the Mooncake trace
// and 10 % on the SGLang shape at half their working set (bench/page_policies.py's model;
// measured on the store in docs/benchmarks.md).
//
// Format, little-endian: "PFXEVO01", the RocksDB sequence number at close (u64), then the LRU
// queue's pages least recent first and the unread queue's pages oldest first, each a u32
// namespace id and a 16-byte key hash, then the two counts (u64 each) and a CRC32C of
// everything before it (u32). 20 bytes a page (plus 20 per unread page). Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/page_key.h"

namespace prefixd::storage {

inline constexpr char kEvictionOrderFile[] = "EVICTION-ORDER";

struct EvictionOrder {
  uint64_t sequence = 0;              // what the file is valid for: the DB's last sequence
  std::vector<NamespacedKey> lru;     // least recently used first
  std::vector<NamespacedKey> unread;  // written and not used since, oldest first
};

// Writes `order` to `path` through a temporary file renamed over it (fsynced before the
// rename), so a reader sees the whole file or none. The error says what failed.
absl::Status WriteEvictionOrder(const std::string& path, const EvictionOrder& order);

// The order in `path`: NOT_FOUND when there is no file, DATA_LOSS when it is not one whole
// file this version wrote (wrong magic, size or checksum).
absl::StatusOr<EvictionOrder> ReadEvictionOrder(const std::string& path);

}  // namespace prefixd::storage
