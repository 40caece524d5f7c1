#include "storage/records.h"

#include "storage/coding.h"

namespace prefixd::storage {
namespace {
constexpr uint8_t kVersion = 1;
constexpr uint8_t kIndexVersion = 2;
constexpr size_t kIndexFixed = 41;  // version .. created
}  // namespace

std::string EncodeIndexRecord(const IndexRecord& r) {
  std::string out;
  out.reserve(kIndexFixed + 1 + r.key.size());
  out.push_back(char(kIndexVersion));
  PutLittle64(&out, r.generation);
  PutLittle64(&out, r.root);
  PutLittle32(&out, r.depth);
  PutLittle64(&out, r.size);
  PutLittle32(&out, r.crc32c);
  PutLittle64(&out, r.created_unix);
  PutShortString(&out, r.key);
  return out;
}

std::optional<uint64_t> IndexRecordGeneration(std::string_view in) {
  if (in.size() < kIndexFixed || uint8_t(in[0]) != kIndexVersion) return std::nullopt;
  return GetLittle64(in.data() + 1);
}

std::optional<IndexRecord> DecodeIndexRecord(std::string_view in) {
  if (in.size() < kIndexFixed || uint8_t(in[0]) != kIndexVersion) return std::nullopt;
  IndexRecord r;
  const char* p = in.data() + 1;
  r.generation = GetLittle64(p);
  r.root = GetLittle64(p + 8);
  r.depth = GetLittle32(p + 16);
  r.size = GetLittle64(p + 20);
  r.crc32c = GetLittle32(p + 28);
  r.created_unix = GetLittle64(p + 32);
  in.remove_prefix(kIndexFixed);
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

}  // namespace prefixd::storage
