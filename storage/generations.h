// Internal to storage/: generation column families. Pages are written into the newest
// generation ("gen.<N>", N increasing); space is reclaimed by dropping the oldest generation
// whole, which frees its blob files at once and rewrites nothing (write amplification ~1,
// where deleting keys and letting blob GC reclaim space rewrote 1.6x the data). Index records
// name their page's generation; a record of a dropped generation means "evicted" until a
// compaction of the index removes it (StaleIndexFilter).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/db.h"

namespace prefixd::storage {

// One generation family. The handle is destroyed with the last reference, so a reader that
// holds a shared_ptr may finish reading a generation that eviction has just dropped.
// Counts are guarded by StoreImpl::write_mu_.
struct Generation {
  Generation(rocksdb::DB* db, uint64_t number, rocksdb::ColumnFamilyHandle* handle)
      : db(db), number(number), handle(handle) {}
  ~Generation();
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  rocksdb::DB* const db;
  const uint64_t number;
  rocksdb::ColumnFamilyHandle* const handle;

  struct Count {
    uint64_t pages = 0, bytes = 0;
  };
  Count total;  // live pages (the index points here)
  absl::flat_hash_map<uint32_t, Count> per_namespace;  // by namespace id
  // Page bytes ever written into this family: what dropping it frees from the disk (copies
  // promoted away or deleted stay in its files until then). Drives rotation and eviction.
  uint64_t written = 0;
  // Bytes of blob records (header, key, page) written into the family, and of those in its
  // blob files at the last scan: the difference is in its memtables. RocksDB's memtable size
  // stops growing once a flush is requested, and a batch bigger than the memtable is not
  // split, so a 5 MiB chain read back as 1 MiB (DiskEstimate).
  uint64_t stored = 0, flushed = 0;
  uint64_t Unflushed() const { return stored > flushed ? stored - flushed : 0; }
  // The numbers of its blob files in that scan. A blob file of the store not listed by any
  // generation is being written by a flush: its records are still counted as unflushed.
  absl::flat_hash_set<uint64_t> blob_files;
  // The bytes of each blob file of the family when last seen in its metadata (any look, not
  // only scans), so that a file RocksDB deletes leaves `stored` too (SeeBlobFiles).
  absl::flat_hash_map<uint64_t, uint64_t> file_bytes;
  // Blob files seen and then deleted by RocksDB: a retired record in one of them has its
  // space back already (ReclaimDead), where one in a file not seen yet awaits its flush.
  absl::flat_hash_set<uint64_t> gone_files;
  // Page records in its SSTs and memtables, dead ones included (dead_records.h): counted as
  // written, and read from the SSTs at open and after each compaction of dead records.
  uint64_t records = 0;

  // Learns the family's blob files from its metadata. A file seen before and gone now was
  // deleted by RocksDB once compactions had dropped every record in it (dead_records.h): its
  // bytes leave `stored`, and `flushed` if the last scan counted them. With `scan`, `flushed`
  // and `blob_files` become the metadata's. Returns the numbers of the files gone (added to
  // `gone_files`).
  std::vector<uint64_t> SeeBlobFiles(const rocksdb::ColumnFamilyMetaData& meta, bool scan);

  void Add(uint32_t ns_id, uint64_t bytes);  // a page written here (counts `written` too)
  void Remove(uint32_t ns_id, uint64_t bytes);
};

// Bytes of the blob records in a family's blob files (RocksDB's total_blob_bytes: header, key
// and value of each), comparable with Generation::stored.
uint64_t BlobRecordBytes(const rocksdb::ColumnFamilyMetaData& meta);
// Page records in a family's SST files (entries less deletions), from its metadata.
uint64_t SstRecords(const rocksdb::ColumnFamilyMetaData& meta);
// The number of a blob file from its name ("000123.blob"); nullopt for any other file.
std::optional<uint64_t> ParseBlobFileName(std::string_view name);

// "gen.00000000000000000042": zero-padded so that names sort like numbers.
std::string GenerationFamilyName(uint64_t number);
std::optional<uint64_t> ParseGenerationFamilyName(std::string_view name);

// Drops index records of dropped generations during compactions of the "index" family:
// generations are dropped oldest first, so every record older than the oldest live one is
// stale. Records of the last kEvictedHorizon dropped generations are kept, so that a miss on
// them is reported as an eviction rather than as a page never written. Records of pages
// evicted alone (generation 0) go at the first compaction that reaches them.
// Thread-safe: reads one atomic, owned by the store, which outlives the DB.
inline constexpr uint64_t kEvictedHorizon = 8;

class StaleIndexFilter final : public rocksdb::CompactionFilter {
 public:
  explicit StaleIndexFilter(const std::atomic<uint64_t>* oldest_live) : oldest_(oldest_live) {}
  bool Filter(int level, const rocksdb::Slice& key, const rocksdb::Slice& value,
              std::string* new_value, bool* value_changed) const override;
  const char* Name() const override { return "prefixd.StaleIndexFilter"; }

 private:
  const std::atomic<uint64_t>* const oldest_;
};

}  // namespace prefixd::storage
