// prefixd::storage::PageCache — verified page bytes kept in memory, so that hot pages are
// served without a blob read or a second checksum.
//
// An entry is the bytes of one page write: it matches a lookup only for the same page key,
// generation and CRC32C as the index record being served, so a page deleted, evicted,
// dropped as corrupt, promoted or written again is never served from a stale entry (the
// lookup happens after the index says which write to serve). Bytes enter only after their
// CRC32C was checked. Least recently used entries go first once `capacity_bytes` is reached.
//
// Thread-safety: every method may be called concurrently (16 shards, one mutex each).
// Lookup hands out shared ownership: an entry evicted while a reader holds it stays valid.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace prefixd::storage {

struct PageCacheStats {
  uint64_t capacity_bytes = 0;
  uint64_t bytes = 0;    // page bytes held now
  uint64_t pages = 0;    // entries held now
  uint64_t hits = 0;     // lookups served
  uint64_t misses = 0;   // lookups not served
  uint64_t inserts = 0;  // entries added
};

class PageCache {
 public:
  // `capacity_bytes` 0 disables the cache (every lookup misses, nothing is kept).
  explicit PageCache(uint64_t capacity_bytes);

  // The bytes of `page_key`'s write in `generation` with checksum `crc32c`, or null.
  std::shared_ptr<const std::string> Lookup(std::string_view page_key, uint64_t generation,
                                            uint32_t crc32c);

  // Keeps a copy of verified `bytes` (pages larger than 1/16 of the capacity are not kept).
  void Insert(std::string_view page_key, uint64_t generation, uint32_t crc32c,
              std::string_view bytes);

  // As Insert, for bytes that may change under it (shared memory): keeps its copy only if
  // the copy matches `crc32c`.
  void InsertChecked(std::string_view page_key, uint64_t generation, uint32_t crc32c,
                     std::string_view bytes);

  PageCacheStats Stats() const;
  bool enabled() const { return capacity_ > 0; }

 private:
  struct Entry {
    std::string key;
    uint64_t generation;
    uint32_t crc32c;
    std::shared_ptr<const std::string> bytes;
  };
  struct Shard {
    mutable absl::Mutex mu;
    std::list<Entry> lru ABSL_GUARDED_BY(mu);  // most recent first
    absl::flat_hash_map<std::string_view, std::list<Entry>::iterator> index ABSL_GUARDED_BY(mu);
    uint64_t bytes ABSL_GUARDED_BY(mu) = 0;
    uint64_t hits ABSL_GUARDED_BY(mu) = 0, misses ABSL_GUARDED_BY(mu) = 0;
    uint64_t inserts ABSL_GUARDED_BY(mu) = 0;
  };
  static constexpr size_t kShards = 16;

  Shard& ShardOf(std::string_view key);
  void Keep(std::string_view page_key, uint64_t generation, uint32_t crc32c,
            std::shared_ptr<const std::string> copy);

  const uint64_t capacity_;
  const uint64_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace prefixd::storage
