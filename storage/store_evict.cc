// Store: evicting single pages (StoreOptions::Eviction::kPages), least recently used first.
// A queue holds pages in the order of their last use (written or read); a chain's pages used
// together are queued deepest first, so that a chain loses its end before its prefix. The
// hand takes the front: its index record is rewritten as evicted (generation 0: no generation
// has that number, so every miss on it is counted and explained as an eviction, as for a
// dropped generation) and its blob record is freed in place (Retire, ReclaimDead). A
// generation goes whole once none of its pages is live. Exact LRU rather than CLOCK: on the
// replays of docs/benchmarks-why.md, CLOCK kept 2-5 % fewer hits at the same budget.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"
#include "util/byte_size.h"

namespace prefixd::storage {

absl::StatusOr<uint64_t> StoreImpl::EvictPages(uint64_t bytes,
                                                std::optional<uint32_t> only_ns) {
  struct Victim {
    LruEntry at;
    KeyIndex::Entry entry;
    IndexRecord evicted;
  };
  std::vector<Victim> victims;
  // Pages met that are not in a blob file yet keep their place at the front (pages a put
  // queued there, insertion_duel.h, are mostly unflushed when the next put's hand meets them),
  // but only so many: the hand meets them all again next time. The rest are queued again at
  // the back, once the hand has passed.
  constexpr size_t kUnflushedKeptInPlace = 1024;
  std::vector<LruEntry> unflushed;
  auto requeue_unflushed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lru_mu_) {
    const size_t kept = std::min(unflushed.size(), kUnflushedKeptInPlace);
    lru_.insert(lru_.end(), unflushed.begin() + kept, unflushed.end());
    lru_.insert(lru_.begin(), unflushed.begin(), unflushed.begin() + kept);
  };
  rocksdb::WriteBatch batch;
  uint64_t retired = 0;
  size_t steps;  // at most one pass over the queue
  {
    absl::MutexLock l(&lru_mu_);
    steps = lru_.size();
  }
  if (duel_ && !only_ns) {  // the cache is full: its shadows hold a share of what it holds
    uint64_t live = 0;
    {
      absl::MutexLock l(&gen_mu_);
      for (const auto& [n, g] : gens_) live += g->total.pages;
    }
    duel_->SetCapacity(live);
  }
  // With only_ns nothing is popped: the hand reads its way along the queue (no one else pops:
  // write_mu_ is held, and pushes go to the back), and what it evicts goes stale where it lies.
  size_t scan = 0;
  while (retired < bytes && steps-- > 0) {
    LruEntry at;
    {
      absl::MutexLock l(&lru_mu_);
      if (only_ns) {
        while (scan < lru_.size() && lru_[scan].page.ns_id != *only_ns) ++scan;
        if (scan >= lru_.size()) break;
        at = lru_[scan++];
      } else {
        if (lru_.empty()) break;
        at = lru_.front();
        lru_.pop_front();
      }
    }
    const auto e = keys_.Find(at.page.ns_id, at.page.hash);
    if (!e || e->generation != at.generation || e->touched != at.tick || !Live(e->generation)) {
      continue;  // used again since, moved, deleted, evicted or its generation dropped: stale
    }
    if (!e->blob()) {  // not in a blob file yet: nothing to free
      if (!only_ns) unflushed.push_back(at);
      continue;
    }
    const std::string key = EncodeIndexKey(at.page.ns_id, at.page.hash);
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), index_cf_, key, &value);
    std::optional<IndexRecord> rec;
    if (s.ok()) rec = DecodeIndexRecord(value);
    if (!rec || rec->generation != at.generation) {
      if (!s.ok() && !s.IsNotFound()) {
        if (!only_ns) {  // put back what was taken, in its order
          absl::MutexLock l(&lru_mu_);
          lru_.push_front(at);
          requeue_unflushed();
          for (auto v = victims.rbegin(); v != victims.rend(); ++v) lru_.push_front(v->at);
        }
        return FromRocks(s, "reading an index record to evict");
      }
      continue;  // the family disagrees with the key index: leave the page alone
    }
    rec->generation = 0;
    batch.Put(index_cf_, key, EncodeIndexRecord(*rec));
    retired += e->blob()->bytes;
    victims.push_back({at, *e, *std::move(rec)});
  }
  if (!unflushed.empty()) {
    absl::MutexLock l(&lru_mu_);
    requeue_unflushed();
  }
  if (victims.empty()) return 0;
  // With the WAL, unlike page writes: a restart must not bring back an index record whose
  // page's blocks have been freed (it would read as corrupt).
  if (auto s = db_->Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
    if (!only_ns) {
      absl::MutexLock l(&lru_mu_);
      for (auto v = victims.rbegin(); v != victims.rend(); ++v) lru_.push_front(v->at);
    }
    return FromRocks(s, "evicting pages");
  }
  for (const Victim& v : victims) {
    keys_.Set(v.at.page.ns_id, v.at.page.hash, v.evicted);
    Retire(v.at.generation, v.entry);
    if (GenerationPtr g = Find(v.at.generation)) g->Remove(v.at.page.ns_id, v.entry.size);
    if (auto ns = ById(v.at.page.ns_id)) {
      ns->pages.fetch_sub(1, std::memory_order_relaxed);
      ns->bytes.fetch_sub(v.entry.size, std::memory_order_relaxed);
      ns->evicted_pages.fetch_add(1, std::memory_order_relaxed);
      ns->evicted_bytes.fetch_add(v.entry.size, std::memory_order_relaxed);
    }
  }
  evicted_pages_.fetch_add(victims.size(), std::memory_order_relaxed);
  unswept_pages_ += victims.size();
  SweepKeyIndex();  // the entries of pages evicted alone, once they are an eighth of it
  ReclaimDead();
  DropEmptyGenerations();
  CompactLru();
  return retired;
}

absl::Status StoreImpl::MakeNamespaceRoom(NamespaceState& ns, uint64_t incoming) {
  const uint64_t quota = ns.quota_bytes.load(std::memory_order_relaxed);
  if (quota == 0 || !PageEviction()) return absl::OkStatus();
  if (incoming > quota) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a put of ", util::FormatByteSize(incoming), " is larger than namespace '",
        ns.info.name, "''s quota of ", util::FormatByteSize(quota)));
  }
  const uint64_t held = ns.bytes.load(std::memory_order_relaxed);
  if (held + incoming <= quota) return absl::OkStatus();
  // What cannot go now (pages not in blob files yet) takes the namespace past its quota by at
  // most its unflushed pages; the next put evicts them once flushed.
  auto freed = EvictPages(held + incoming - quota, ns.info.id);
  return freed.ok() ? absl::OkStatus() : freed.status();
}

void StoreImpl::DropEmptyGenerations() {
  std::vector<uint64_t> empty;
  {
    absl::MutexLock l(&gen_mu_);
    if (gens_.size() < 2) return;
    const uint64_t newest = gens_.rbegin()->first;
    for (const auto& [n, g] : gens_) {
      if (n != newest && g->total.pages == 0) empty.push_back(n);
    }
  }
  for (uint64_t n : empty) {
    if (auto s = DropGeneration(n, /*await_files=*/false); !s.ok()) {
      spdlog::warn("dropping empty generation {}: {}", n, s.ToString());
    }
  }
}

void StoreImpl::BuildLru() {
  std::vector<LruEntry> live;
  keys_.ForEach([&](const NamespacedKey& k, const KeyIndex::Entry& e) {
    if (Live(e.generation)) live.push_back({k, e.generation, e.touched});
  });
  // When each page was last used is not kept across a restart: the oldest generations are
  // taken as the least recently used, and a page used since the open is queued again.
  std::stable_sort(live.begin(), live.end(), [](const LruEntry& a, const LruEntry& b) {
    return a.generation < b.generation;
  });
  absl::MutexLock l(&lru_mu_);
  lru_.assign(live.begin(), live.end());
  lru_compact_at_ = 2 * lru_.size() + 1024;
}

bool StoreImpl::TouchPages(uint32_t ns_id,
                           std::span<const std::pair<KeyHash, uint32_t>> pages, bool front) {
  if (pages.empty()) return false;
  absl::MutexLock l(&lru_mu_);
  const uint32_t tick = ++lru_tick_;
  if (front) {
    for (const auto& [hash, generation] : pages) {  // root first: the deepest ends at the front
      if (keys_.Touch(ns_id, hash, generation, tick)) {
        lru_.push_front({{ns_id, hash}, generation, tick});
      }
    }
  } else {
    for (auto p = pages.rbegin(); p != pages.rend(); ++p) {
      if (keys_.Touch(ns_id, p->first, p->second, tick)) {
        lru_.push_back({{ns_id, p->first}, p->second, tick});
      }
    }
  }
  return lru_.size() > lru_compact_at_;
}

void StoreImpl::CompactLru() {
  {
    absl::MutexLock l(&lru_mu_);
    if (lru_.size() <= lru_compact_at_) return;
  }
  // Filtered outside the lock, so that gets go on queueing the pages they read; nothing pops
  // meanwhile (pops hold write_mu_), and what was queued meanwhile is newer than all of it.
  std::deque<LruEntry> old;
  {
    absl::MutexLock l(&lru_mu_);
    old.swap(lru_);
  }
  const size_t before = old.size();
  std::erase_if(old, [&](const LruEntry& at) {
    const auto e = keys_.Find(at.page.ns_id, at.page.hash);
    return !e || e->generation != at.generation || e->touched != at.tick || !Live(e->generation);
  });
  absl::MutexLock l(&lru_mu_);
  spdlog::debug("LRU queue: {} stale entries dropped, {} left", before - old.size(),
                old.size() + lru_.size());
  old.insert(old.end(), lru_.begin(), lru_.end());
  lru_.swap(old);
  lru_compact_at_ = 2 * lru_.size() + 1024;
}

}  // namespace prefixd::storage
