// Store: evicting single pages (StoreOptions::Eviction::kPages), least recently used first.
// A queue holds pages in the order of their last use (written or read); a chain's pages used
// together are queued deepest first, so that a chain loses its end before its prefix. The
// hand takes the front: its index record is rewritten as evicted (generation 0: no generation
// has that number, so every miss on it is counted and explained as an eviction, as for a
// dropped generation) and its blob record is freed in place (Retire, ReclaimDead). A
// generation goes whole once none of its pages is live. Exact LRU rather than CLOCK: on the
// replays of docs/benchmarks-why.md, CLOCK kept 2-5 % fewer hits at the same budget. With
// adaptive insertion (insertion_duel.h) a second queue holds the pages written and not used
// since; while probation runs the hand takes those first, as long as more are unread than a
// target that adapts to what is wanted back after eviction (probation_target.h).
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"
#include "util/byte_size.h"

namespace prefixd::storage {

absl::StatusOr<bool> StoreImpl::TakeVictim(const LruEntry& at, const KeyIndex::Entry& e,
                                           bool from_unread, rocksdb::WriteBatch* batch,
                                           std::vector<Victim>* victims) {
  const std::string key = EncodeIndexKey(at.page.ns_id, at.page.hash);
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), index_cf_, key, &value);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading an index record to evict");
  std::optional<IndexRecord> rec;
  if (s.ok()) rec = DecodeIndexRecord(value);
  if (!rec || rec->generation != at.generation) return false;
  rec->generation = 0;
  batch->Put(index_cf_, key, EncodeIndexRecord(*rec));
  victims->push_back({at, e, *std::move(rec), from_unread});
  return true;
}

absl::Status StoreImpl::RetireVictims(rocksdb::WriteBatch* batch,
                                      std::span<const Victim> victims, bool expired) {
  if (victims.empty()) return absl::OkStatus();
  if (auto s = db_->Write(rocksdb::WriteOptions(), batch); !s.ok()) {
    return FromRocks(s, expired ? "reclaiming expired pages" : "evicting pages");
  }
  uint64_t unread_evicted = 0;
  std::vector<bool> was_unread(victims.size());
  for (size_t i = 0; i < victims.size(); ++i) {
    const Victim& v = victims[i];
    // Whoever replaces an unread tick counts the page out: this Set, or a get's touch before it.
    const auto old = keys_.Set(v.at.page.ns_id, v.at.page.hash, v.evicted);
    if (old && old->generation == v.at.generation && (old->touched & kUnreadTick)) {
      ++unread_evicted;
      was_unread[i] = true;
    }
    Retire(v.at.generation, v.at.page, v.entry);
    if (GenerationPtr g = Find(v.at.generation)) g->Remove(v.at.page.ns_id, v.entry.size);
    if (auto ns = ById(v.at.page.ns_id)) {
      ns->pages.fetch_sub(1, std::memory_order_relaxed);
      ns->bytes.fetch_sub(v.entry.size, std::memory_order_relaxed);
      (expired ? ns->expired_pages : ns->evicted_pages).fetch_add(1, std::memory_order_relaxed);
      (expired ? ns->expired_bytes : ns->evicted_bytes)
          .fetch_add(v.entry.size, std::memory_order_relaxed);
    }
  }
  {
    absl::MutexLock l(&lru_mu_);
    unread_live_ -= std::min(unread_live_, unread_evicted);
    if (duel_ && !expired) {
      std::vector<uint64_t> unread, read;
      for (size_t i = 0; i < victims.size(); ++i) {
        const uint64_t g = GhostKey(victims[i].at.page);
        probation_.Evicted(g, was_unread[i]);
        (was_unread[i] ? unread : read).push_back(g);
      }
      RecordGhost(unread, /*unread=*/true);
      RecordGhost(read, /*unread=*/false);
    }
  }
  if (!expired) evicted_pages_.fetch_add(victims.size(), std::memory_order_relaxed);
  unswept_pages_ += victims.size();
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> StoreImpl::EvictPages(uint64_t bytes,
                                                std::optional<uint32_t> only_ns) {
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
  // Put back what was taken, in its order.
  auto put_back = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lru_mu_) {
    for (auto v = victims.rbegin(); v != victims.rend(); ++v) {
      (v->from_unread ? unread_ : lru_).push_front(v->at);
    }
  };
  rocksdb::WriteBatch batch;
  uint64_t retired = 0;
  size_t steps;  // at most one pass over the queues
  {
    absl::MutexLock l(&lru_mu_);
    steps = lru_.size() + unread_.size();
  }
  // Probation (insertion_duel.h): the hand takes the oldest unread page while
  // `unread_target` pages or more are unread.
  bool probation = false;
  uint64_t unread_target = 0;
  if (duel_ && !only_ns) {  // the cache is full: its shadows hold a share of what it holds
    uint64_t live = 0;
    {
      absl::MutexLock l(&gen_mu_);
      for (const auto& [n, g] : gens_) live += g->total.pages;
    }
    duel_->SetCapacity(live);
    probation = duel_->Probation();
    absl::MutexLock l(&lru_mu_);
    probation_.SetCapacity(live);
    unread_target = probation_.target();
  }
  bool unread_blocked = false;  // the oldest unread page is not in a blob file yet
  // With only_ns nothing is popped: the hand reads its way along the queue (no one else pops:
  // write_mu_ is held, and pushes go to the back), and what it evicts goes stale where it lies.
  size_t scan = 0;
  while (retired < bytes && steps-- > 0) {
    LruEntry at;
    bool from_unread = false;
    {
      absl::MutexLock l(&lru_mu_);
      if (only_ns) {
        while (scan < lru_.size() && lru_[scan].page.ns_id != *only_ns) ++scan;
        if (scan >= lru_.size()) break;
        at = lru_[scan++];
      } else {
        if (probation && !unread_blocked) {
          while (!unread_.empty() && !Current(unread_.front())) unread_.pop_front();
          if (!unread_.empty() && unread_live_ >= unread_target) {
            at = unread_.front();
            unread_.pop_front();
            from_unread = true;
          }
        }
        if (!from_unread) {
          if (lru_.empty()) break;
          at = lru_.front();
          lru_.pop_front();
        }
      }
    }
    const auto e = keys_.Find(at.page.ns_id, at.page.hash);
    if (!e || e->generation != at.generation || e->touched != at.tick || !Live(e->generation)) {
      continue;  // used again since, moved, deleted, evicted or its generation dropped: stale
    }
    if (!e->blob()) {  // not in a blob file yet: nothing to free
      if (from_unread) {  // the unread pages behind it are newer still: take from the LRU end
        absl::MutexLock l(&lru_mu_);
        unread_.push_front(at);
        unread_blocked = true;
      } else if (!only_ns) {
        unflushed.push_back(at);
      }
      continue;
    }
    auto taken = TakeVictim(at, *e, from_unread, &batch, &victims);
    if (!taken.ok()) {
      if (!only_ns) {
        absl::MutexLock l(&lru_mu_);
        (from_unread ? unread_ : lru_).push_front(at);
        requeue_unflushed();
        put_back();
      }
      return taken.status();
    }
    if (*taken) retired += e->blob()->bytes;  // else the family disagrees: leave it alone
  }
  if (!unflushed.empty()) {
    absl::MutexLock l(&lru_mu_);
    requeue_unflushed();
  }
  if (victims.empty()) return 0;
  if (auto st = RetireVictims(&batch, victims, /*expired=*/false); !st.ok()) {
    if (!only_ns) {
      absl::MutexLock l(&lru_mu_);
      put_back();
    }
    return st;
  }
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
  uint64_t held = ns.bytes.load(std::memory_order_relaxed);
  if (held + incoming <= quota) return absl::OkStatus();
  auto reaped = ReapExpired();  // expired pages first, the namespace's and others'
  if (!reaped.ok()) return reaped.status();
  held = ns.bytes.load(std::memory_order_relaxed);
  if (held + incoming <= quota) return absl::OkStatus();
  // What cannot go now (pages not in blob files yet) takes the namespace past its quota by at
  // most its unflushed pages; the next put evicts them once flushed.
  auto freed = EvictPages(held + incoming - quota, ns.info.id);
  return freed.ok() ? absl::OkStatus() : freed.status();
}

// Not while a generation's pages are still being flushed (Unflushed, until a scan finds them
// in its blob files): RocksDB finishes that flush's blob file for the dropped family and
// deletes it only later, and meanwhile the file is on the disk, listed by no generation, and
// no longer covered by the generation's unflushed pages; counted so, the next put evicted as
// much again. Seen with the index family allowed four memtables, where flushes lag: the
// LMCache shape at 10 % peaked 1.07x the budget, 0.997-0.999x with this.
void StoreImpl::DropEmptyGenerations() {
  std::vector<uint64_t> empty;
  {
    absl::MutexLock l(&gen_mu_);
    if (gens_.size() < 2) return;
    const uint64_t newest = gens_.rbegin()->first;
    for (const auto& [n, g] : gens_) {
      if (n != newest && g->total.pages == 0 && g->Unflushed() == 0) empty.push_back(n);
    }
  }
  for (uint64_t n : empty) {
    if (auto s = DropGeneration(n, /*await_files=*/false); !s.ok()) {
      spdlog::warn("dropping empty generation {}: {}", n, s.ToString());
    }
  }
}

uint64_t StoreImpl::GhostKey(const NamespacedKey& k) {
  uint64_t h;
  std::memcpy(&h, k.hash.data(), sizeof(h));
  return h ^ (uint64_t{k.ns_id} * 0x9E3779B97F4A7C15ull);
}

std::vector<ProbationTarget::Ghosted> StoreImpl::Ghosts(uint32_t ns_id,
                                                        std::span<const KeyHash> hashes) {
  std::vector<ProbationTarget::Ghosted> out(hashes.size(), ProbationTarget::Ghosted::kNo);
  if (!duel_ || hashes.empty()) return out;
  absl::MutexLock l(&lru_mu_);
  for (size_t i = 0; i < hashes.size(); ++i) out[i] = probation_.Which(GhostKey({ns_id, hashes[i]}));
  return out;
}

bool StoreImpl::Current(const LruEntry& at) const {
  const auto e = keys_.Find(at.page.ns_id, at.page.hash);
  return e && e->generation == at.generation && e->touched == at.tick && Live(e->generation);
}

bool StoreImpl::TouchPages(uint32_t ns_id,
                           std::span<const std::pair<KeyHash, uint32_t>> pages, Use use,
                           InsertionDuel::Insertion how) {
  if (pages.empty()) return false;
  absl::MutexLock l(&lru_mu_);
  RecordUse(ns_id, pages, use, how);
  lru_tick_ = (lru_tick_ + 1) & (kUnreadTick - 1);
  const uint32_t tick = lru_tick_;
  // With adaptive insertion a put's new pages are unread (whichever way they are queued, so
  // that probation, once chosen, finds them), but for those evicted unread lately; each one
  // in a ghost moves probation's target.
  const bool mark_unread = use == Use::kWritten && duel_ != nullptr;
  std::vector<LruEntry> unread;  // deepest first, as they are to be evicted
  auto touch = [&](const KeyHash& hash, uint32_t generation) -> std::optional<LruEntry> {
    uint32_t t = tick;
    if (mark_unread && !probation_.Written(GhostKey({ns_id, hash}))) t |= kUnreadTick;
    const auto old = keys_.Touch(ns_id, hash, generation, t);
    if (!old) return std::nullopt;
    if ((*old & kUnreadTick) && unread_live_ > 0) --unread_live_;  // used again
    LruEntry at{{ns_id, hash}, generation, t};
    if (t & kUnreadTick) unread.push_back(at);
    return at;
  };
  if (use == Use::kWritten && how == InsertionDuel::Insertion::kFront) {
    for (const auto& [hash, generation] : pages) {  // root first: the deepest ends at the front
      if (auto at = touch(hash, generation)) lru_.push_front(*at);
    }
    std::reverse(unread.begin(), unread.end());
  } else {
    for (auto p = pages.rbegin(); p != pages.rend(); ++p) {
      if (auto at = touch(p->first, p->second)) lru_.push_back(*at);
    }
  }
  unread_live_ += unread.size();
  unread_.insert(unread_.end(), unread.begin(), unread.end());
  return lru_.size() > lru_compact_at_ || unread_.size() > unread_compact_at_;
}

void StoreImpl::CompactLru() {
  bool lru_due, unread_due;
  {
    absl::MutexLock l(&lru_mu_);
    lru_due = lru_.size() > lru_compact_at_;
    unread_due = unread_.size() > unread_compact_at_;
  }
  // Filtered outside the lock, so that gets go on queueing the pages they read; nothing pops
  // meanwhile (pops hold write_mu_), and what was queued meanwhile is newer than all of it.
  auto compact = [&](std::deque<LruEntry>& queue, size_t& compact_at, const char* name) {
    std::deque<LruEntry> old;
    {
      absl::MutexLock l(&lru_mu_);
      old.swap(queue);
      compacting_ = true;
    }
    const size_t before = old.size();
    std::erase_if(old, [&](const LruEntry& at) { return !Current(at); });
    absl::MutexLock l(&lru_mu_);
    spdlog::debug("{} queue: {} stale entries dropped, {} left", name, before - old.size(),
                  old.size() + queue.size());
    if (&queue == &unread_) {
      // Counted afresh: those filtered, and those queued meanwhile (all unread but a few read
      // already, which the next look drops).
      unread_live_ = old.size() + queue.size();
    }
    old.insert(old.end(), queue.begin(), queue.end());
    queue.swap(old);
    compacting_ = false;
    compact_at = 2 * queue.size() + 1024;
  };
  if (lru_due) compact(lru_, lru_compact_at_, "LRU");
  if (unread_due) compact(unread_, unread_compact_at_, "unread");
}

}  // namespace prefixd::storage
