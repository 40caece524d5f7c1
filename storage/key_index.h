// Internal to storage/: the in-memory key index that answers Exists, and Get's index lookups.
// One entry per index record (namespace id and key hash -> the page's generation, creation
// time, chain position, size, CRC32C, blob record and last use: 65 bytes a slot with
// its control byte, 72-144 bytes a page as the tables fill between doublings), so that an existence check is a few hash probes
// and a get one LSM lookup a page instead of two: at 4M pages the index family's key blocks
// outgrow the block cache and every lookup read and decompressed a block.
//
// It mirrors the "index" family: loaded from it at open, and changed after each successful
// write of that family (put, delete, promotion, a corrupt page dropped, a namespace deleted),
// under the store's write lock, so between a write and its mirroring an Exists may see the
// state just before the write (as it would reading the family a moment earlier). Entries of
// dropped generations stay until a sweep removes those past the eviction horizon (as the
// family's compaction filter does), so that Exists still counts a miss on them as evicted.
// Keys are not stored: a 128-bit hash collision between two keys of one namespace would make
// Exists say present; Get checks the key and would not serve the wrong page.
// Thread-safe: 64 shards, each behind its own mutex.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "storage/blob_refs.h"
#include "storage/page_key.h"
#include "storage/records.h"
#include "storage/store_options.h"

namespace prefixd::storage {

class KeyIndex {
 public:
  // What Exists and Get need of a page's index record, and where its bytes lie once they are
  // in a blob file (what freeing the page in place needs), in 44 bytes (a slot is 64 with the
  // key). Generation numbers stay below 2^32 (CreateGeneration refuses more), pages below
  // 4 GiB (namespaces refuse larger ones).
  struct Entry {
    uint32_t generation = 0;
    uint32_t created_unix = 0;  // saturates in 2106
    uint32_t depth = 0;
    uint32_t size = 0;
    uint32_t crc32c = 0;
    uint32_t root_high = 0, root_low = 0;  // two halves: 4-byte alignment keeps slots small
    // The page's blob record (BlobRef) in this generation; blob_bytes 0 while unknown (not
    // flushed yet, or past 2^32 in file number or offset).
    uint32_t blob_file = 0, blob_offset = 0, blob_bytes = 0;
    // Eviction::kPages: the tick of the page's last use (written or read), which its newest
    // entry in the store's LRU queue carries; 0 until the first use after an open.
    uint32_t touched = 0;
    uint64_t root() const { return uint64_t{root_high} << 32 | root_low; }
    std::optional<BlobRef> blob() const {
      if (blob_bytes == 0) return std::nullopt;
      return BlobRef{blob_file, blob_offset, blob_bytes};
    }
  };
  static Entry EntryOf(const IndexRecord& rec);
  // The index record an entry stands for, with the page's client key `key` (the parent is
  // not kept: parent_known is false).
  static IndexRecord RecordOf(const Entry& e, std::string_view key);

  // Tells `observer` (not owned; may be null) of every change from now on, under the lock of
  // the changed entry's shard, so that it sees the changes to one page in their order.
  void set_observer(IndexObserver* observer) { observer_ = observer; }

  // Adds or replaces the entry of (ns_id, hash); returns the entry it replaced, if any.
  std::optional<Entry> Set(uint32_t ns_id, const KeyHash& hash, const Entry& entry);
  std::optional<Entry> Set(uint32_t ns_id, const KeyHash& hash, const IndexRecord& rec) {
    return Set(ns_id, hash, EntryOf(rec));
  }
  // Removes the entry of (ns_id, hash); returns it, if there was one.
  std::optional<Entry> Erase(uint32_t ns_id, const KeyHash& hash);
  // Records where the page's bytes lie if its entry is in `generation`; false (nothing
  // changed) if there is no entry, it is in another generation (the record is a copy no
  // longer pointed at), `ref` does not fit an entry, or the entry is located already in a
  // later blob file or elsewhere in the same one. A page written twice into one generation
  // (evicted, then written again) has two records there, and a compaction reports the older
  // one again, maybe after the newer one: flushes number blob files in order, and a flush
  // that keeps two copies reports the newer first.
  bool Locate(uint32_t ns_id, const KeyHash& hash, uint64_t generation, const BlobRef& ref);
  // Sets the page's Entry::touched to `tick` if its entry is in `generation`, and returns the
  // tick it had; nullopt (nothing changed) otherwise.
  std::optional<uint32_t> Touch(uint32_t ns_id, const KeyHash& hash, uint64_t generation,
                                uint32_t tick);
  std::optional<Entry> Find(uint32_t ns_id, const KeyHash& hash) const;
  // Removes every entry of namespace `ns_id`; returns those whose blob record is known, with
  // their keys.
  std::vector<std::pair<NamespacedKey, Entry>> EraseNamespace(uint32_t ns_id);
  // Calls `fn` with every entry, shard by shard, under the shard's lock (`fn` must not call
  // back into the index).
  void ForEach(const std::function<void(const NamespacedKey&, const Entry&)>& fn) const;
  // Removes every entry whose generation is below `generation`; returns how many.
  size_t SweepBelow(uint64_t generation);
  size_t size() const;
  // Bytes the tables take (slots and control bytes), approximately.
  size_t MemoryBytes() const;

 private:
  static constexpr size_t kShards = 64;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<NamespacedKey, Entry> map ABSL_GUARDED_BY(mu);
  };
  Shard& ShardOf(const KeyHash& hash) { return shards_[hash[0] % kShards]; }
  const Shard& ShardOf(const KeyHash& hash) const { return shards_[hash[0] % kShards]; }

  std::array<Shard, kShards> shards_;
  IndexObserver* observer_ = nullptr;
};

}  // namespace prefixd::storage
