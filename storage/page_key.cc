#include "storage/page_key.h"

#include <openssl/evp.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"

namespace prefixd::storage {

absl::Status ValidateClientKey(std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("page key is empty");
  if (key.size() > kMaxClientKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("page key is ", key.size(), " bytes; at most ", kMaxClientKeyBytes));
  }
  return absl::OkStatus();
}

std::array<uint8_t, 32> Sha256(std::string_view data) {
  // Every key of every request is hashed. The algorithm is fetched once and each thread keeps
  // its context: EVP_Digest with EVP_sha256() looks the algorithm up and allocates a context
  // per call, which took 340 ns a 64-byte key here against 120 (a throwaway benchmark).
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  // These fail only on allocation failure; a zero digest would then be detected by nothing,
  // so treat it as the broken invariant it is.
  if (kSha256 == nullptr || ctx == nullptr || EVP_DigestInit_ex(ctx.get(), kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
    std::abort();
  }
  return out;
}

KeyHash HashKey(std::string_view client_key) {
  auto d = Sha256(client_key);
  KeyHash h;
  std::copy_n(d.begin(), h.size(), h.begin());
  return h;
}

uint64_t RootOf(const KeyHash& first) {
  return GetBig64(reinterpret_cast<const char*>(first.data()));
}

std::string EncodePageKey(uint32_t ns_id, uint64_t root, uint32_t depth, const KeyHash& hash) {
  std::string k;
  k.reserve(kPageKeyBytes);
  k.push_back(char(kKeyFormatVersion));
  PutBig32(&k, ns_id);
  PutBig64(&k, root);
  PutBig32(&k, depth);
  k.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  return k;
}

std::string EncodeIndexKey(uint32_t ns_id, const KeyHash& hash) {
  std::string k;
  k.reserve(kIndexKeyBytes);
  k.push_back(char(kKeyFormatVersion));
  PutBig32(&k, ns_id);
  k.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  return k;
}

std::string NamespacePrefix(uint32_t ns_id) {
  std::string k;
  k.push_back(char(kKeyFormatVersion));
  PutBig32(&k, ns_id);
  return k;
}

std::string NamespaceLimit(uint32_t ns_id) {
  if (ns_id == UINT32_MAX) return std::string(1, char(kKeyFormatVersion + 1));
  return NamespacePrefix(ns_id + 1);
}

bool DecodeNamespaceId(std::string_view key, uint32_t* ns_id) {
  if (key.size() < 5 || uint8_t(key[0]) != kKeyFormatVersion) return false;
  *ns_id = GetBig32(key.data() + 1);
  return true;
}

bool DecodePageKey(std::string_view key, NamespacedKey* out) {
  if (key.size() != kPageKeyBytes || uint8_t(key[0]) != kKeyFormatVersion) return false;
  out->ns_id = GetBig32(key.data() + 1);
  std::memcpy(out->hash.data(), key.data() + kPageKeyBytes - out->hash.size(), out->hash.size());
  return true;
}

bool DecodeIndexKey(std::string_view key, NamespacedKey* out) {
  if (key.size() != kIndexKeyBytes || uint8_t(key[0]) != kKeyFormatVersion) return false;
  out->ns_id = GetBig32(key.data() + 1);
  std::memcpy(out->hash.data(), key.data() + 5, out->hash.size());
  return true;
}

std::vector<std::string> DeriveKeys(std::string_view namespace_name, std::string_view parent_key,
                                    std::span<const uint32_t> token_ids, uint32_t page_tokens) {
  std::vector<std::string> keys;
  if (page_tokens == 0) return keys;
  std::string prev;
  if (parent_key.empty()) {
    auto seed = Sha256(std::string("prefixd/v1/keys").append(namespace_name));
    prev.assign(reinterpret_cast<const char*>(seed.data()), seed.size());
  } else {
    prev.assign(parent_key);
  }
  size_t pages = token_ids.size() / page_tokens;
  keys.reserve(pages);
  std::string buf;
  for (size_t i = 0; i < pages; ++i) {
    buf.assign(prev);
    for (size_t t = 0; t < page_tokens; ++t) PutLittle32(&buf, token_ids[i * page_tokens + t]);
    auto d = Sha256(buf);
    prev.assign(reinterpret_cast<const char*>(d.data()), d.size());
    keys.push_back(prev);
  }
  return keys;
}

}  // namespace prefixd::storage
