// Store: evicting single pages (StoreOptions::Eviction::kPages). Pages sit in a CLOCK ring in
// the order written; the hand takes the oldest: a page read since the hand last passed gets
// another turn where it lies (nothing is copied), any other is evicted — its index record is
// rewritten as evicted (generation 0: no generation has that number, so every miss on it is
// counted and explained as an eviction, as for a dropped generation) and its blob record is
// freed in place (Retire, ReclaimDead). A generation goes whole once none of its pages is live.
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"

namespace prefixd::storage {

absl::StatusOr<uint64_t> StoreImpl::EvictPages(uint64_t bytes) {
  struct Victim {
    RingEntry at;
    KeyIndex::Entry entry;
    IndexRecord evicted;
  };
  std::vector<Victim> victims;
  rocksdb::WriteBatch batch;
  uint64_t retired = 0;
  // At most two turns of the ring: the first may only clear references.
  size_t steps = 2 * ring_.size() + 1;
  while (retired < bytes && !ring_.empty() && steps-- > 0) {
    const RingEntry at = ring_.front();
    ring_.pop_front();
    const auto e = keys_.Find(at.page.ns_id, at.page.hash);
    if (!e || e->generation != at.generation) continue;  // moved, deleted or evicted: stale
    if (!e->blob()) {  // not in a blob file yet: nothing to free
      ring_.push_back(at);
      continue;
    }
    if (keys_.TakeReference(at.page.ns_id, at.page.hash, at.generation)) {
      ring_.push_back(at);  // read since the hand last passed: another turn
      continue;
    }
    const std::string key = EncodeIndexKey(at.page.ns_id, at.page.hash);
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), index_cf_, key, &value);
    std::optional<IndexRecord> rec;
    if (s.ok()) rec = DecodeIndexRecord(value);
    if (!rec || rec->generation != at.generation) {
      if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading an index record to evict");
      continue;  // the family disagrees with the key index: leave the page alone
    }
    rec->generation = 0;
    batch.Put(index_cf_, key, EncodeIndexRecord(*rec));
    retired += e->blob()->bytes;
    victims.push_back({at, *e, *std::move(rec)});
  }
  if (victims.empty()) return 0;
  // With the WAL, unlike page writes: a restart must not bring back an index record whose
  // page's blocks have been freed (it would read as corrupt).
  if (auto s = db_->Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
    for (const Victim& v : victims) ring_.push_front(v.at);
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
  return retired;
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

void StoreImpl::BuildRing() {
  std::vector<RingEntry> live;
  keys_.ForEach([&](const NamespacedKey& k, const KeyIndex::Entry& e) {
    if (Live(e.generation)) live.push_back({k, e.generation});
  });
  std::stable_sort(live.begin(), live.end(), [](const RingEntry& a, const RingEntry& b) {
    return a.generation < b.generation;
  });
  // What was read before the restart is not known (references live in memory): the hand
  // starts at the oldest pages, and a page read since the restart gets its turn. (Giving every
  // page a reference instead only made the first sweep clear them all and the second evict
  // from the oldest anyway, in the same call.)
  ring_.assign(live.begin(), live.end());
}

}  // namespace prefixd::storage
