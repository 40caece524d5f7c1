// A namespace's fingerprint: everything that must match for a reader to interpret a writer's
// bytes. Stored with the namespace (FROZEN encoding, version byte first). Thread-safe: a value
// type with pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace prefixd::storage {

struct Fingerprint {
  std::string model;
  std::string model_revision;
  std::string dtype;
  std::string kv_layout;
  uint32_t page_tokens = 0;
  uint64_t page_bytes = 0;
  uint32_t tp_rank = 0;
  uint32_t tp_size = 0;
  std::string key_scheme;

  // OK if the fields are usable: model, dtype and key_scheme non-empty; page_tokens > 0;
  // 0 < page_bytes <= kMaxPageBytes; tp_size > 0 and tp_rank < tp_size; strings < 256 bytes.
  absl::Status Validate() const;

  bool operator==(const Fingerprint&) const = default;
};

// The largest page a namespace may declare: 256 MiB.
inline constexpr uint64_t kMaxPageBytes = uint64_t{256} << 20;

// The names of the fields in which `a` and `b` differ, in declaration order.
std::vector<std::string> DiffFingerprints(const Fingerprint& a, const Fingerprint& b);

// Frozen encoding, version 1: [0x01][model][model_revision][dtype][kv_layout][page_tokens u32 LE]
// [page_bytes u64 LE][tp_rank u32 LE][tp_size u32 LE][key_scheme]; strings are one-byte
// length-prefixed.
std::string EncodeFingerprint(const Fingerprint& fp);
std::optional<Fingerprint> DecodeFingerprint(std::string_view in);

}  // namespace prefixd::storage
