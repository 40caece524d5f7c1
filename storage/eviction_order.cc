#include "storage/eviction_order.h"

#include <unistd.h>

#include <array>
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"
#include "storage/order_files.h"
#include "util/crc32c.h"

namespace prefixd::storage {
namespace {

constexpr char kMagic[] = "PFXEVO03";
constexpr size_t kMaxIdentityBytes = 256;
constexpr size_t kMagicBytes = 8;
constexpr size_t kEntryBytes = 4 + sizeof(KeyHash);

// The lists of an order, in file order.
template <typename Order>
auto Lists(Order& o) {
  return std::array{&o.lru, &o.unread, &o.duel.lru, &o.duel.bimodal};
}
template <typename Order>
auto Generations(Order& o) {
  return std::array{&o.lru_generations, &o.unread_generations};
}
template <typename Order>
auto Ghosts(Order& o) {
  return std::array{&o.probation.unread_ghost, &o.probation.read_ghost};
}
template <typename Order>
auto Scores(Order& o) {
  return std::array{&o.duel.lru_score, &o.duel.bimodal_score, &o.probation.target};
}

}  // namespace

absl::Status WriteEvictionOrder(const std::string& path, const EvictionOrder& order) {
  size_t pages = 0;
  for (const auto* list : Lists(order)) pages += list->size();
  std::string buf;
  if (order.lru_generations.size() != order.lru.size() ||
      order.unread_generations.size() != order.unread.size()) {
    return absl::InvalidArgumentError("a generation for every page of both queues, and no more");
  }
  if (order.db_identity.size() > kMaxIdentityBytes) {
    return absl::InvalidArgumentError(absl::StrCat("a DB identity of ", order.db_identity.size(),
                                                   " bytes (at most ", kMaxIdentityBytes, ")"));
  }
  size_t ghosts = 0;
  for (const auto* ghost : Ghosts(order)) ghosts += ghost->size();
  buf.reserve(kMagicBytes + 4 + order.db_identity.size() + 8 + 8 + 4 * 8 + 4 * 8 +
              pages * kEntryBytes + 2 * 8 + ghosts * 8 +
              4 * (order.lru.size() + order.unread.size()) + 4);
  buf.append(kMagic, kMagicBytes);
  PutLittle32(&buf, uint32_t(order.db_identity.size()));
  buf.append(order.db_identity);
  PutLittle64(&buf, order.nonce);
  PutLittle64(&buf, order.sequence);
  for (const double* score : Scores(order)) PutLittle64(&buf, std::bit_cast<uint64_t>(*score));
  PutLittle64(&buf, order.duel.capacity);
  for (const auto* list : Lists(order)) {
    PutLittle64(&buf, list->size());
    for (const NamespacedKey& k : *list) {
      PutLittle32(&buf, k.ns_id);
      buf.append(reinterpret_cast<const char*>(k.hash.data()), k.hash.size());
    }
  }
  for (const auto* ghost : Ghosts(order)) {
    PutLittle64(&buf, ghost->size());
    for (uint64_t g : *ghost) PutLittle64(&buf, g);
  }
  for (const auto* gens : Generations(order)) {
    for (uint32_t g : *gens) PutLittle32(&buf, g);
  }
  PutLittle32(&buf, util::Crc32c(buf));
  auto fd = ReplaceFile(path, buf);
  if (!fd.ok()) return fd.status();
  ::close(*fd);
  return absl::OkStatus();
}

absl::StatusOr<EvictionOrder> ReadEvictionOrder(const std::string& path) {
  std::string buf;
  auto fd = OpenAndRead(path, &buf);
  if (!fd.ok()) return fd.status();
  ::close(*fd);
  auto loss = [&](const char* why) {
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };
  if (buf.size() < kMagicBytes + 4) return loss("too short");
  if (std::memcmp(buf.data(), kMagic, kMagicBytes) != 0) return loss("not an eviction order");
  if (GetLittle32(buf.data() + buf.size() - 4) != util::Crc32c(buf.data(), buf.size() - 4)) {
    return loss("checksum mismatch");
  }
  const char* p = buf.data() + kMagicBytes;
  const char* const end = buf.data() + buf.size() - 4;
  auto take = [&](size_t n) {
    const char* at = p;
    if (size_t(end - p) < n) return static_cast<const char*>(nullptr);
    p += n;
    return at;
  };
  EvictionOrder order;
  const char* at = take(4);
  if (at == nullptr) return loss("too short");
  const uint32_t identity_bytes = GetLittle32(at);
  if (identity_bytes > kMaxIdentityBytes || (at = take(identity_bytes)) == nullptr) {
    return loss("a DB identity past its end");
  }
  order.db_identity.assign(at, identity_bytes);
  if ((at = take(8)) == nullptr) return loss("too short");
  order.nonce = GetLittle64(at);
  if ((at = take(8)) == nullptr) return loss("too short");
  order.sequence = GetLittle64(at);
  for (double* score : Scores(order)) {
    if ((at = take(8)) == nullptr) return loss("too short");
    *score = std::bit_cast<double>(GetLittle64(at));
  }
  if ((at = take(8)) == nullptr) return loss("too short");
  order.duel.capacity = GetLittle64(at);
  for (auto* list : Lists(order)) {
    if ((at = take(8)) == nullptr) return loss("too short");
    const uint64_t count = GetLittle64(at);
    if (count > size_t(end - p) / kEntryBytes) return loss("a count past its end");
    list->resize(count);
    for (NamespacedKey& k : *list) {
      at = take(kEntryBytes);
      k.ns_id = GetLittle32(at);
      std::memcpy(k.hash.data(), at + 4, k.hash.size());
    }
  }
  for (auto* ghost : Ghosts(order)) {
    if ((at = take(8)) == nullptr) return loss("too short");
    const uint64_t count = GetLittle64(at);
    if (count > size_t(end - p) / 8) return loss("a count past its end");
    ghost->resize(count);
    for (uint64_t& g : *ghost) g = GetLittle64(take(8));
  }
  order.lru_generations.resize(order.lru.size());
  order.unread_generations.resize(order.unread.size());
  for (auto* gens : Generations(order)) {
    if (gens->size() > size_t(end - p) / 4) return loss("too short");
    for (uint32_t& g : *gens) g = GetLittle32(take(4));
  }
  if (p != end) return loss("bytes after its lists");
  return order;
}

}  // namespace prefixd::storage
