// The FROZEN value formats of the "index", generation ("gen.N") and "meta" column families.
// A change is a migration, not an edit. Thread-safe: pure functions.
//
// index value, version 3 (written since 2026-12; version 2 is read as version 3 with the parent
// unknown; version 1, without a generation, was only ever written by development builds before
// the first release, and such a store is refused at open):
//               [0x03][generation u64 LE][root u64 LE][depth u32 LE][size u64 LE]
//               [crc32c u32 LE][created unix seconds u64 LE]
//               [parent flags u8: 0 first page of its chain, 1 parent hash follows, 2 unknown]
//               [parent KeyHash, 16 bytes, if flags == 1][client key, 1-byte length-prefixed]
// version 2:    the same without the parent flags and hash.
// page value:   [0x01][crc32c u32 LE][client key, one-byte length-prefixed][page bytes]
// meta "ns/<name>" value: [0x01][ns id u32 LE][fingerprint (fingerprint.h)]
// meta "next_ns_id" value: [u32 LE]
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/fingerprint.h"
#include "storage/page_key.h"

namespace prefixd::storage {

struct IndexRecord {
  uint64_t generation = 0;  // the "gen.N" family holding the page
  uint64_t root = 0;
  uint32_t depth = 0;
  uint64_t size = 0;
  uint32_t crc32c = 0;
  uint64_t created_unix = 0;
  std::string key;  // the client key
  // The index key hash of the page before this one in its chain (what Store::CountStranded
  // follows); nullopt for a chain's first page. parent_known is false for records written
  // before parents were recorded (version 2).
  bool parent_known = true;
  std::optional<KeyHash> parent;
};

std::string EncodeIndexRecord(const IndexRecord& r);
std::optional<IndexRecord> DecodeIndexRecord(std::string_view in);
// The generation of an encoded index record, without decoding the rest; nullopt if malformed.
std::optional<uint64_t> IndexRecordGeneration(std::string_view in);

// The header that precedes a page's bytes in its "pages" value.
std::string EncodePageHeader(uint32_t crc32c, std::string_view client_key);

struct PageView {
  uint32_t crc32c = 0;
  std::string_view key;
  std::string_view bytes;
};
std::optional<PageView> DecodePageValue(std::string_view in);

struct NamespaceRecord {
  uint32_t id = 0;
  Fingerprint fingerprint;
};

std::string EncodeNamespaceRecord(const NamespaceRecord& r);
std::optional<NamespaceRecord> DecodeNamespaceRecord(std::string_view in);

// Meta keys.
inline constexpr std::string_view kMetaNamespacePrefix = "ns/";
inline constexpr std::string_view kMetaNextNamespaceId = "next_ns_id";
// "nsttl/<name>" -> the namespace's TTL in seconds, 8 bytes little-endian (absent: none).
inline constexpr std::string_view kMetaNamespaceTtlPrefix = "nsttl/";
inline constexpr std::string_view kMetaNamespaceQuotaPrefix = "nsquota/";
// "corrupt/" + namespace id (4 bytes big-endian) + KeyHash -> a sequence number (8 bytes
// little-endian, later drops higher): a page dropped as corrupt, remembered across restarts
// (CorruptLog) until its key is written or deleted again, or newer markers push it out.
inline constexpr std::string_view kMetaCorruptPrefix = "corrupt/";
std::string CorruptMarkerKey(uint32_t ns_id, const KeyHash& key);
// The range of namespace `ns_id`'s markers: [CorruptMarkerKey(ns_id, 0...), limit).
std::string CorruptMarkerLimit(uint32_t ns_id);
// Parses a marker key; false if it is not one.
bool DecodeCorruptMarkerKey(std::string_view in, NamespacedKey* out);

}  // namespace prefixd::storage
