// Store: expired pages go first when a put needs room (StoreOptions::Eviction::kPages).
// A page past its namespace's TTL is never served, and a put of its key writes it again; until
// then it held its space, and the LRU hand met it only in its turn: a page read often just
// before it expired sat behind live pages. ReapExpired frees every expired page that is in a
// blob file before the hand takes a live one.
#include <algorithm>
#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "spdlog/spdlog.h"
#include "storage/store_impl.h"

namespace prefixd::storage {

absl::StatusOr<uint64_t> StoreImpl::ReapExpired() {
  if (!PageEviction()) return 0;
  const absl::Time start = absl::Now();
  if (start < next_reap_) return 0;
  absl::flat_hash_map<uint32_t, uint64_t> ttl;  // namespaces with a TTL
  {
    absl::MutexLock l(&ns_mu_);
    for (const auto& [id, ns] : by_id_) {
      if (uint64_t t = ns->ttl_seconds.load(std::memory_order_relaxed)) ttl[id] = t;
    }
  }
  if (ttl.empty()) {
    next_reap_ = start + absl::Seconds(1);
    return 0;
  }
  const uint64_t now = absl::ToUnixSeconds(start);
  // Pages not in a blob file yet hold no space that freeing them in place could return:
  // they wait for the next look.
  std::vector<std::pair<NamespacedKey, KeyIndex::Entry>> expired;
  keys_.ForEach([&](const NamespacedKey& k, const KeyIndex::Entry& e) {
    auto t = ttl.find(k.ns_id);
    if (t == ttl.end() || !Live(e.generation) || !e.blob()) return;
    if (uint64_t{e.created_unix} + t->second <= now) expired.emplace_back(k, e);
  });
  rocksdb::WriteBatch batch;
  std::vector<Victim> victims;
  uint64_t retired = 0;
  for (const auto& [k, e] : expired) {
    auto taken = TakeVictim({k, e.generation, e.touched}, e, /*from_unread=*/false, &batch,
                            &victims);
    if (!taken.ok()) return taken.status();
    if (*taken) retired += e.blob()->bytes;
  }
  if (auto s = RetireVictims(&batch, victims, /*expired=*/true); !s.ok()) return s;
  // A look costs a pass over the key index under the write lock: at most 1 % of the time.
  const absl::Duration took = absl::Now() - start;
  next_reap_ = absl::Now() + std::max(absl::Seconds(1), 100 * took);
  if (victims.empty()) return 0;
  spdlog::debug("reclaimed {} expired pages ({} bytes) in {}", victims.size(), retired,
                absl::FormatDuration(took));
  SweepKeyIndex();
  ReclaimDead();
  DropEmptyGenerations();
  return retired;
}

}  // namespace prefixd::storage
