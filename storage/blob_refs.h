// Internal to storage/: where each page's bytes lie in its generation's blob files, and giving
// that space back to the file system without rewriting anything (fallocate PUNCH_HOLE).
//
// Why: a generation's files only leave the disk when the whole generation is dropped, so a
// page that dies early (deleted, its namespace deleted, copied forward by a promotion, dropped
// as corrupt) kept its space until then. RocksDB 7.8 has no per-record reclaim short of blob
// GC, which rewrites live pages (1.6x write amplification measured). A blob record is
// immutable and never read once no index record points at it, so freeing its blocks in place
// is safe: RocksDB reads a blob only through a key that still points at it, and every read
// checks the record's CRC (a hole reads as zeros and fails it, so a mistake could only ever
// make a page missing, never wrong).
//
// Where the records are: RocksDB writes a "blob index" (file number, offset, size) as the SST
// value of each key whose value went to a blob file, and hands every SST entry to the table
// properties collectors of its family, with its type, on flush and on compaction.
// BlobRefCollector decodes those and reports them to a BlobRefListener, and records them in
// the SST's properties ("prefixd.blob_refs") so that the store can learn them again at open.
//
// Blob file layout (RocksDB 7.8, db/blob/blob_log_format.h): a 30-byte header, then records
// of [32-byte header][key][value] (the index's offset is the value's), then a footer. Only
// whole file-system blocks inside a record are freed: a page of P bytes frees P rounded down
// to blocks, less at most one block at each end (~0.8 % of a 1 MiB page, up to 12 % of a
// 64 KiB one).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "rocksdb/table_properties.h"
#include "storage/page_key.h"

namespace prefixd::storage {

// One blob record's extent in its file: from its header to the end of its value.
struct BlobRef {
  uint64_t file_number = 0;
  uint64_t offset = 0;  // of the record's header
  uint64_t bytes = 0;   // header, key and value
  bool operator==(const BlobRef&) const = default;
};

inline constexpr uint64_t kBlobRecordHeaderBytes = 32;

// Decodes RocksDB 7.8's blob index (db/blob/blob_index.h: [type 1][varint64 file number]
// [varint64 offset][varint64 size][compression u8]) of a record whose key is `key_bytes`
// long. nullopt for any other kind (inlined, TTL) or a malformed one.
std::optional<BlobRef> DecodeBlobIndex(std::string_view index, uint64_t key_bytes);

// "<dir>/000123.blob", RocksDB's name for blob file 123.
std::string BlobFilePath(const std::string& dir, uint64_t file_number);

// Frees the file-system blocks that lie wholly inside `ref`'s record of the file at `path`
// (the rest of the range reads as zeros afterwards). Returns the bytes the file's allocation
// shrank by (0 when they were already free). NOT_FOUND if the file is gone.
absl::StatusOr<uint64_t> PunchBlob(const std::string& path, const BlobRef& ref);

// Told of every page record RocksDB writes into an SST of a generation family, with its blob
// record: on flush, on compaction (again, with the same blob) and, at open, from the SSTs'
// properties (Store's LoadBlobRefs). `flushed`: written into a level-0 file, as flushes do
// (an intra-L0 compaction does too); false for a record a compaction reports again, which may
// be an older copy of a page written into the same generation since. Called on RocksDB's
// background threads: must be thread-safe and must not call into the DB.
class BlobRefListener {
 public:
  virtual ~BlobRefListener() = default;
  virtual void Located(uint32_t column_family_id, const NamespacedKey& page, const BlobRef& ref,
                       bool flushed) = 0;
};

// A collector factory for generation families. `listener` is not owned and must outlive the DB.
std::shared_ptr<rocksdb::TablePropertiesCollectorFactory> NewBlobRefCollectorFactory(
    BlobRefListener* listener);

// The user property the collector writes into each SST of a generation: 40 bytes per page
// record, [ns id u32 LE][key hash, 16 bytes][file number u64 LE][offset u64 LE][bytes u32 LE].
// Decodes it, calling `fn` for each record; false if malformed (nothing is called then).
inline constexpr std::string_view kBlobRefsProperty = "prefixd.blob_refs";
bool ForEachBlobRef(std::string_view property,
                    const std::function<void(const NamespacedKey&, const BlobRef&)>& fn);

}  // namespace prefixd::storage
