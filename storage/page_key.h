// Page keys: validation of client keys, the server-side key derivation from token ids, and the
// FROZEN on-disk key formats. Thread-safe: pure functions.
//
// ---- Key derivation from token ids (stable; every process gets the same keys) ----
//   seed     = SHA-256("prefixd/v1/keys" || namespace name)
//   prev     = parent_key if given, else seed
//   key[i]   = SHA-256(prev || token ids of page i as uint32 little-endian)   (32 raw bytes)
//   prev     = key[i]
// Only full pages get keys; a trailing partial page is ignored.
//
// ---- On-disk formats, version 1 (a change is a migration, not an edit) ----
// Every page is stored as two records, written in one WriteBatch:
//   column family "pages" (values in blob files), the prefix-preserving order:
//     [0x01 version][ns id: u32 BE][root: u64 BE][depth: u32 BE][key hash: 16 bytes] = 33 bytes
//     root  = the parent's root when the chain's parent page is stored; otherwise the first
//             8 bytes (BE) of KeyHash(parent key) if a parent key was given, else of
//             KeyHash(first page key)
//     depth = parent's depth + 1 when the parent is stored, else 0 for the first page
//   column family "index" (small values, in the LSM tree):
//     [0x01 version][ns id: u32 BE][key hash: 16 bytes] = 21 bytes -> IndexRecord (records.h)
//   KeyHash(key) = first 16 bytes of SHA-256(client key).
// Keys are fixed-size: they do not grow with prompt length. All pages of one chain's tree sort
// together (same ns, same root) and in depth order.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace prefixd::storage {

inline constexpr size_t kMaxClientKeyBytes = 64;
inline constexpr uint8_t kKeyFormatVersion = 1;
inline constexpr size_t kPageKeyBytes = 33;
inline constexpr size_t kIndexKeyBytes = 21;

using KeyHash = std::array<uint8_t, 16>;

// OK if `key` is a valid client key: 1..64 bytes.
absl::Status ValidateClientKey(std::string_view key);

// SHA-256 of `data` (32 bytes).
std::array<uint8_t, 32> Sha256(std::string_view data);

KeyHash HashKey(std::string_view client_key);

// A page's identity across namespaces: its namespace id and key hash (the index key's parts).
struct NamespacedKey {
  uint32_t ns_id = 0;
  KeyHash hash{};
  bool operator==(const NamespacedKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const NamespacedKey& k) {
    return H::combine(std::move(h), k.ns_id, k.hash);
  }
};

// The namespace and key hash of a page key (EncodePageKey). False if it is not one.
bool DecodePageKey(std::string_view key, NamespacedKey* out);
// Decodes an index key (EncodeIndexKey). False if it is not one.
bool DecodeIndexKey(std::string_view key, NamespacedKey* out);

// The chain root for a chain whose first page has key hash `first`.
uint64_t RootOf(const KeyHash& first);

std::string EncodePageKey(uint32_t ns_id, uint64_t root, uint32_t depth, const KeyHash& hash);
std::string EncodeIndexKey(uint32_t ns_id, const KeyHash& hash);

// The smallest key of namespace `ns_id` in either family, and the smallest key after it.
std::string NamespacePrefix(uint32_t ns_id);
std::string NamespaceLimit(uint32_t ns_id);

// Decodes the namespace id of a page or index key. False if the key is malformed.
bool DecodeNamespaceId(std::string_view key, uint32_t* ns_id);

// Derives page keys from token ids as documented above.
std::vector<std::string> DeriveKeys(std::string_view namespace_name, std::string_view parent_key,
                                    std::span<const uint32_t> token_ids, uint32_t page_tokens);

}  // namespace prefixd::storage
