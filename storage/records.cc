#include "storage/records.h"

#include <cstring>

#include "storage/coding.h"

namespace prefixd::storage {
namespace {
constexpr uint8_t kVersion = 1;
constexpr uint8_t kIndexVersion = 3;
constexpr uint8_t kIndexVersionNoParent = 2;
constexpr size_t kIndexFixed = 41;  // version .. created
constexpr uint8_t kParentNone = 0, kParentHash = 1, kParentUnknown = 2;

bool IndexVersionOk(std::string_view in) {
  return in.size() >= kIndexFixed &&
         (uint8_t(in[0]) == kIndexVersion || uint8_t(in[0]) == kIndexVersionNoParent);
}
}  // namespace

std::string EncodeIndexRecord(const IndexRecord& r) {
  std::string out;
  out.reserve(kIndexFixed + 1 + sizeof(KeyHash) + 1 + r.key.size());
  out.push_back(char(kIndexVersion));
  PutLittle64(&out, r.generation);
  PutLittle64(&out, r.root);
  PutLittle32(&out, r.depth);
  PutLittle64(&out, r.size);
  PutLittle32(&out, r.crc32c);
  PutLittle64(&out, r.created_unix);
  if (!r.parent_known) {
    out.push_back(char(kParentUnknown));
  } else if (r.parent) {
    out.push_back(char(kParentHash));
    out.append(reinterpret_cast<const char*>(r.parent->data()), r.parent->size());
  } else {
    out.push_back(char(kParentNone));
  }
  PutShortString(&out, r.key);
  return out;
}

std::optional<uint64_t> IndexRecordGeneration(std::string_view in) {
  if (!IndexVersionOk(in)) return std::nullopt;
  return GetLittle64(in.data() + 1);
}

std::optional<IndexRecord> DecodeIndexRecord(std::string_view in) {
  if (!IndexVersionOk(in)) return std::nullopt;
  const bool has_parent_field = uint8_t(in[0]) == kIndexVersion;
  IndexRecord r;
  const char* p = in.data() + 1;
  r.generation = GetLittle64(p);
  r.root = GetLittle64(p + 8);
  r.depth = GetLittle32(p + 16);
  r.size = GetLittle64(p + 20);
  r.crc32c = GetLittle32(p + 28);
  r.created_unix = GetLittle64(p + 32);
  in.remove_prefix(kIndexFixed);
  if (!has_parent_field) {
    r.parent_known = false;
  } else {
    if (in.empty()) return std::nullopt;
    const uint8_t flags = uint8_t(in[0]);
    in.remove_prefix(1);
    if (flags == kParentUnknown) {
      r.parent_known = false;
    } else if (flags == kParentHash) {
      if (in.size() < sizeof(KeyHash)) return std::nullopt;
      KeyHash h;
      std::memcpy(h.data(), in.data(), h.size());
      r.parent = h;
      in.remove_prefix(h.size());
    } else if (flags != kParentNone) {
      return std::nullopt;
    }
  }
  std::string_view key;
  if (!GetShortString(&in, &key) || !in.empty()) return std::nullopt;
  r.key.assign(key);
  return r;
}

std::string EncodePageHeader(uint32_t crc32c, std::string_view client_key) {
  std::string out;
  out.push_back(char(kVersion));
  PutLittle32(&out, crc32c);
  PutShortString(&out, client_key);
  return out;
}

std::optional<PageView> DecodePageValue(std::string_view in) {
  if (in.size() < 5 || uint8_t(in[0]) != kVersion) return std::nullopt;
  PageView v;
  v.crc32c = GetLittle32(in.data() + 1);
  in.remove_prefix(5);
  if (!GetShortString(&in, &v.key)) return std::nullopt;
  v.bytes = in;
  return v;
}

std::string EncodeNamespaceRecord(const NamespaceRecord& r) {
  std::string out;
  out.push_back(char(kVersion));
  PutLittle32(&out, r.id);
  out.append(EncodeFingerprint(r.fingerprint));
  return out;
}

std::optional<NamespaceRecord> DecodeNamespaceRecord(std::string_view in) {
  if (in.size() < 5 || uint8_t(in[0]) != kVersion) return std::nullopt;
  NamespaceRecord r;
  r.id = GetLittle32(in.data() + 1);
  auto fp = DecodeFingerprint(in.substr(5));
  if (!fp) return std::nullopt;
  r.fingerprint = *std::move(fp);
  return r;
}

std::string CorruptMarkerKey(uint32_t ns_id, const KeyHash& key) {
  std::string k(kMetaCorruptPrefix);
  PutBig32(&k, ns_id);
  k.append(reinterpret_cast<const char*>(key.data()), key.size());
  return k;
}

std::string CorruptMarkerLimit(uint32_t ns_id) {
  std::string k(kMetaCorruptPrefix);
  PutBig32(&k, ns_id + 1);  // ids never reach UINT32_MAX (the store refuses new ones first)
  return k;
}

bool DecodeCorruptMarkerKey(std::string_view in, NamespacedKey* out) {
  if (!in.starts_with(kMetaCorruptPrefix)) return false;
  in.remove_prefix(kMetaCorruptPrefix.size());
  if (in.size() != 4 + out->hash.size()) return false;
  out->ns_id = GetBig32(in.data());
  std::memcpy(out->hash.data(), in.data() + 4, out->hash.size());
  return true;
}

}  // namespace prefixd::storage
