// Store: expired pages go first when a put needs room (StoreOptions::Eviction::kPages).
// A page past its namespace's TTL is never served, and a put of its key writes it again; until
// then it held its space, and the LRU hand met it only in its turn: a page read often just
// before it expired sat behind live pages. ReapExpired frees the expired pages that are in
// blob files before the hand takes a live one.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "spdlog/spdlog.h"
#include "storage/store_impl.h"

namespace prefixd::storage {

absl::StatusOr<uint64_t> StoreImpl::ReapExpired() {
  if (!PageEviction()) return 0;
  const absl::Time start = absl::Now();
  const uint64_t now = absl::ToUnixSeconds(start);
  if (reap_backlog_.empty()) {
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
    // Pages not in a blob file yet hold no space that freeing them in place could return:
    // they wait for the next look.
    keys_.ForEach([&](const NamespacedKey& k, const KeyIndex::Entry& e) {
      if (reap_backlog_.size() >= kReapScanPages) return;
      auto t = ttl.find(k.ns_id);
      if (t == ttl.end() || !Live(e.generation) || !e.blob()) return;
      if (uint64_t{e.created_unix} + t->second <= now) reap_backlog_.push_back(k);
    });
    // A look costs a pass over the key index under the write lock: at most 1 % of the time.
    const absl::Duration took = absl::Now() - start;
    next_reap_ = absl::Now() + std::max(absl::Seconds(1), 100 * took);
    spdlog::debug("{} expired pages found in {}", reap_backlog_.size(),
                  absl::FormatDuration(took));
  }
  rocksdb::WriteBatch batch;
  std::vector<Victim> victims;
  uint64_t retired = 0;
  while (!reap_backlog_.empty() && victims.size() < kReapBatchPages) {
    const NamespacedKey k = reap_backlog_.back();
    reap_backlog_.pop_back();
    // Written again, evicted, deleted or its TTL raised since the look: not this time.
    const auto e = keys_.Find(k.ns_id, k.hash);
    if (!e || !Live(e->generation) || !e->blob()) continue;
    const auto ns = ById(k.ns_id);
    if (!ns || !ns->Expired(e->created_unix, now)) continue;
    auto taken = TakeVictim({k, e->generation, e->touched}, *e, /*from_unread=*/false, &batch,
                            &victims);
    if (!taken.ok()) return taken.status();
    if (*taken) retired += e->blob()->bytes;
  }
  if (victims.empty()) return 0;
  if (auto s = RetireVictims(&batch, victims, /*expired=*/true); !s.ok()) return s;
  spdlog::debug("reclaimed {} expired pages ({} bytes)", victims.size(), retired);
  SweepKeyIndex();
  ReclaimDead();
  DropEmptyGenerations();
  return retired;
}

}  // namespace prefixd::storage
