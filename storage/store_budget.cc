// Store: generations, the disk budget, eviction (dropping the oldest generation) and promotion
// (copying pages read from old generations forward).
#include <sys/statvfs.h>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/page_key.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"
#include "util/byte_size.h"

namespace prefixd::storage {

StoreImpl::GenerationPtr StoreImpl::Find(uint64_t number) {
  if (!Live(number)) return nullptr;
  absl::MutexLock l(&gen_mu_);
  auto it = gens_.find(number);
  return it == gens_.end() ? nullptr : it->second;
}

StoreImpl::GenerationPtr StoreImpl::Newest() {
  absl::MutexLock l(&gen_mu_);
  return gens_.empty() ? nullptr : gens_.rbegin()->second;
}

absl::StatusOr<StoreImpl::GenerationPtr> StoreImpl::CreateGeneration(uint64_t number) {
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  rocksdb::ColumnFamilyOptions cf_options;
  {
    absl::MutexLock l(&tuning_mu_);  // the controller may have changed the template
    cf_options = page_family_options_;
  }
  auto s = db_->CreateColumnFamily(cf_options, GenerationFamilyName(number), &handle);
  // RocksDB 7.8 records the family in the MANIFEST before it writes the OPTIONS file: with a
  // handle, the family exists even if that last write failed. Keep it, or the next rotation
  // would try the same name forever.
  if (handle == nullptr) return FromRocks(s, "creating a generation");
  if (!s.ok()) spdlog::warn("generation {} created, but: {}", number, s.ToString());
  auto gen = std::make_shared<Generation>(db_.get(), number, handle);
  absl::MutexLock l(&gen_mu_);
  gens_[number] = gen;
  return gen;
}

uint64_t StoreImpl::DiskEstimate() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_scan_ > std::chrono::milliseconds(100)) {
    scanned_bytes_ = DirectoryBytes(options_.path);
    written_since_scan_ = 0;
    last_scan_ = now;
  }
  // Every live family's unflushed bytes: a put that starts a new generation leaves the last
  // one's memtable to flush, and counting only the newest's let a run of puts of 1/8 of the
  // budget pass it by 17 % (the fill benchmark at 64 MiB). Dropped generations are left out
  // (RocksDB's aggregate would count them until their last reference goes).
  uint64_t memtables = 0;
  auto add = [&](rocksdb::ColumnFamilyHandle* h) {
    uint64_t m = 0;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kCurSizeAllMemTables, &m)) memtables += m;
  };
  add(index_cf_);
  absl::MutexLock l(&gen_mu_);
  for (const auto& [n, g] : gens_) add(g->handle);
  return scanned_bytes_ + written_since_scan_ + memtables;
}

absl::Status StoreImpl::DropOldest() {
  GenerationPtr g;
  {
    absl::MutexLock l(&gen_mu_);
    if (gens_.size() < 2) return absl::FailedPreconditionError("no generation to drop");
    g = gens_.begin()->second;
    gens_.erase(gens_.begin());
    oldest_live_.store(gens_.begin()->first);
  }
  // From here on the generation is dead to every lookup; readers holding `g` still finish.
  // The accounting follows whatever RocksDB says: a failed OPTIONS-file write after the drop
  // was recorded must not leave the pages counted.
  auto s = db_->DropColumnFamily(g->handle);
  for (const auto& [ns_id, count] : g->per_namespace) {
    if (auto ns = ById(ns_id)) {
      ns->pages.fetch_sub(count.pages, std::memory_order_relaxed);
      ns->bytes.fetch_sub(count.bytes, std::memory_order_relaxed);
      ns->evicted_pages.fetch_add(count.pages, std::memory_order_relaxed);
      ns->evicted_bytes.fetch_add(count.bytes, std::memory_order_relaxed);
    }
  }
  evicted_generations_.fetch_add(1, std::memory_order_relaxed);
  last_scan_ = {};  // rescan: the generation's files are gone (or going)
  spdlog::info("evicted generation {}: {} pages, {}", g->number, g->total.pages,
               util::FormatByteSize(g->total.bytes));
  if (!s.ok()) spdlog::warn("dropping generation {}: {}", g->number, s.ToString());
  return absl::OkStatus();
}

uint64_t StoreImpl::Budget(bool opening) {
  // Writes keep the files under 95 % of the capacity; opening evicts only past 100 %, so a
  // restart (which adds a log file or two) does not cost a generation.
  uint64_t budget = options_.capacity_bytes == 0 ? UINT64_MAX
                    : opening                    ? options_.capacity_bytes
                                                 : options_.capacity_bytes / 20 * 19;
  // Never more than the file system can give: what the store holds plus what is free, less a
  // reserve. RocksDB must never meet a full device (Debian's build asserts on a failed file
  // write), so the reserve covers a flush of every memtable, and 5 % of the file system (at
  // most 64 MiB) for RocksDB's own files and other users.
  struct statvfs fs;
  if (::statvfs(options_.path.c_str(), &fs) == 0) {
    const uint64_t total = uint64_t{fs.f_blocks} * fs.f_frsize;
    const uint64_t free = uint64_t{fs.f_bavail} * fs.f_frsize;
    uint64_t memtables;
    {
      absl::MutexLock l(&tuning_mu_);
      memtables =
          page_family_options_.write_buffer_size * page_family_options_.max_write_buffer_number;
    }
    const uint64_t reserve =
        std::max<uint64_t>(std::min<uint64_t>(uint64_t{64} << 20, total / 20), memtables);
    budget = std::min(budget, scanned_bytes_ + (free > reserve ? free - reserve : 0));
  }
  return budget;
}

absl::Status StoreImpl::MakeRoom(uint64_t incoming, bool opening) {
  uint64_t estimate = DiskEstimate();
  const uint64_t budget = Budget(opening);
  if (estimate + incoming > budget) {
    // Only evict when eviction can cover the excess: dropping pages for space that RocksDB's
    // own files or another process hold would empty the cache and still not make room.
    uint64_t excess = estimate + incoming - budget, droppable = 0;
    {
      absl::MutexLock l(&gen_mu_);
      for (const auto& [n, g] : gens_) droppable += g->written;
    }
    if (droppable < excess) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "no room for ", util::FormatByteSize(incoming), " of pages: the store's files take ",
          util::FormatByteSize(estimate), " of a budget of ", util::FormatByteSize(budget),
          options_.capacity_bytes ? "" : " (the file system's free space)",
          ", and evicting every page would free only ", util::FormatByteSize(droppable)));
    }
    while (excess > 0) {
      size_t live;
      {
        absl::MutexLock l(&gen_mu_);
        live = gens_.size();
      }
      if (live < 2) {
        // The newest holds everything: start an empty one so that the full one can go.
        auto g = CreateGeneration(Newest()->number + 1);
        if (!g.ok()) return g.status();
      }
      uint64_t freed = 0;
      {
        absl::MutexLock l(&gen_mu_);
        freed = gens_.begin()->second->written;
      }
      if (auto s = DropOldest(); !s.ok()) return s;
      excess = freed >= excess ? 0 : excess - freed;
    }
  }
  // Rotation after eviction: on a nearly full device, creating a family (a MANIFEST and an
  // OPTIONS write) is the step most likely to fail, and must not stop eviction.
  GenerationPtr newest = Newest();
  if (newest->written > 0 && newest->written + incoming > generation_bytes_) {
    auto g = CreateGeneration(newest->number + 1);
    if (!g.ok()) return g.status();
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::WriteWithRoom(rocksdb::WriteBatch* batch, uint64_t target) {
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  auto s = db_->Write(wo, batch);
  if (s.ok() || !s.IsNoSpace()) return FromRocks(s, "writing pages");
  // The file system filled up under us (another process, or a flush that failed). Evict the
  // oldest generation unless the batch writes into it, clear RocksDB's background error, and
  // try once more; otherwise the caller gets RESOURCE_EXHAUSTED.
  spdlog::warn("no space left on the device: {}", s.ToString());
  last_scan_ = {};
  bool dropped = false;
  {
    absl::MutexLock l(&gen_mu_);
    dropped = gens_.size() >= 2 && gens_.begin()->first != target;
  }
  if (dropped) DropOldest().IgnoreError();
  if (auto r = db_->Resume(); !r.ok() && !r.IsBusy()) return FromRocks(r, "resuming writes");
  if (!dropped) return FromRocks(s, "writing pages");
  return FromRocks(db_->Write(wo, batch), "writing pages");
}

void StoreImpl::Promote(NamespaceState& ns, const std::vector<const IndexRecord*>& recs,
                        const std::vector<std::string_view>& bytes) {
  if (recs.empty()) return;
  absl::MutexLock wl(&write_mu_);
  GenerationPtr to = Newest();
  std::vector<std::string> keys;
  for (const IndexRecord* r : recs) keys.push_back(r->key);
  auto now = ReadIndex(ns.info.id, keys);
  if (!now.ok()) return;
  rocksdb::WriteBatch batch;
  std::vector<std::pair<GenerationPtr, const IndexRecord*>> moved;
  for (size_t i = 0; i < recs.size(); ++i) {
    const auto& cur = (*now)[i];
    // Only a page that is still the one read, and still in an older generation. Its old copy
    // stays until that generation is dropped (no tombstone: nothing points at it any more).
    if (!cur || cur->generation != recs[i]->generation || cur->crc32c != recs[i]->crc32c ||
        cur->generation >= to->number) {
      continue;
    }
    GenerationPtr from = Find(cur->generation);
    if (!from) continue;  // dropped since it was read
    IndexRecord rec = *cur;
    rec.generation = to->number;
    AddPage(&batch, *to, ns.info.id, rec, HashKey(rec.key), bytes[i]);
    moved.emplace_back(from, recs[i]);
  }
  if (moved.empty()) return;
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  if (!db_->Write(wo, &batch).ok()) return;
  for (const auto& [from, rec] : moved) {
    from->Remove(ns.info.id, rec->size);
    to->Add(ns.info.id, rec->size);
    written_since_scan_ += rec->size;
    promoted_bytes_.fetch_add(rec->size, std::memory_order_relaxed);
  }
  ns.promoted_pages.fetch_add(moved.size(), std::memory_order_relaxed);
  // Written first, room made after: making room first could drop the very generation these
  // pages are being rescued from. The overshoot is at most one read group.
  MakeRoom(0).IgnoreError();
}

}  // namespace prefixd::storage
