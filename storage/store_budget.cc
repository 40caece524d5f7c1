// Store: generations, the disk budget, eviction (dropping the oldest generation) and promotion
// (copying pages read from old generations forward).
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <thread>

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
  if (number > UINT32_MAX) {  // the key index keeps generation numbers in 32 bits
    return absl::ResourceExhaustedError("generation numbers exhausted (2^32 generations)");
  }
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
  RegisterFamily(*gen);
  absl::MutexLock l(&gen_mu_);
  gens_[number] = gen;
  return gen;
}

uint64_t StoreImpl::UnflushedBytes() {
  absl::MutexLock l(&gen_mu_);
  uint64_t bytes = 0;
  for (const auto& [n, g] : gens_) bytes += g->Unflushed();
  return bytes;
}

uint64_t StoreImpl::DiskEstimate() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_scan_ > std::chrono::milliseconds(100)) {
    // What each generation has in blob files, read before the directory: a flush that ends
    // between the two is counted twice (in the files and as unflushed), never missed.
    // Only those with bytes not in blob files at the last look, or written since: the others
    // have nothing in their memtables, and their blob files have not changed since.
    std::vector<GenerationPtr> gens;
    {
      absl::MutexLock l(&gen_mu_);
      for (const auto& [n, g] : gens_) {
        if (g->Unflushed() > 0) gens.push_back(g);
      }
    }
    for (const GenerationPtr& g : gens) {
      rocksdb::ColumnFamilyMetaData meta;
      db_->GetColumnFamilyMetaData(g->handle, &meta);
      SeeBlobFiles(*g, meta, /*scan=*/true);
    }
    // A blob file that no generation listed is being written by a flush (or was installed
    // after the look above), and its records are counted as unflushed until the flush ends.
    // Counted in the directory too, a flush in progress read as up to twice its size, and
    // eviction took a memtable's worth of pages for it (8 MiB of a 512 MiB budget, at every
    // sixth flush of the fill replay). Such files are left out up to the unflushed bytes, all
    // a flush can be writing: any beyond (a failed flush's leftovers) are counted.
    absl::flat_hash_set<uint64_t> listed;
    {
      absl::MutexLock l(&gen_mu_);
      for (const auto& [n, g] : gens_) listed.insert(g->blob_files.begin(), g->blob_files.end());
    }
    // A dropped generation's files still there are as good as gone: they go when the last
    // read or background job using them ends. Counting them would evict a second generation.
    // They are left out at what the scan finds them holding. At their sizes, a generation
    // dropped empty (its pages evicted one by one, its blob files holes) took its files'
    // whole sizes off the count while it lingered, for the few blocks they held, and puts
    // filled that room past the budget (LMCache shape at 50 %: files of 10-15 MiB holding
    // 0.01-5 MiB, peak 1.032x the budget).
    absl::flat_hash_set<std::string> dropped, still_there;
    for (const DroppedFile& f : dropped_files_) {
      dropped.insert(std::filesystem::path(f.path).filename().native());
    }
    uint64_t counted = 0, unlisted = 0;
    util::ForEachFileBytes(options_.path, [&](std::string_view name, uint64_t bytes) {
      if (dropped.contains(absl::string_view(name.data(), name.size()))) {
        still_there.emplace(name);
        return;
      }
      auto n = ParseBlobFileName(name);
      (n && !listed.contains(*n) ? unlisted : counted) += bytes;
    });
    std::erase_if(dropped_files_, [&](const DroppedFile& f) {
      return !still_there.contains(std::filesystem::path(f.path).filename().native());
    });
    const uint64_t in_memtables = UnflushedBytes();
    scanned_bytes_ = counted + (unlisted > in_memtables ? unlisted - in_memtables : 0);
    last_scan_ = now;
  }
  // Pages not in blob files yet, counted by prefixd: RocksDB's memtable size stops growing
  // once a flush is requested, so one put of a 5 MiB chain into a 1 MiB memtable read as
  // 1 MiB until the next write switched it, and the flush took the disk 7 % past a 33 MiB
  // budget (SGLang-shape replay at 10 %). Dropped generations are left out: their memtables
  // are never flushed.
  const uint64_t unflushed = UnflushedBytes();
  // The index family's records not flushed yet, as the SST bytes they will take. RocksDB's
  // memtable size is its arena's, a whole block (an eighth of the write buffer: 1 MiB at a
  // 512 MiB budget) from the first record on, where a flush writes a few kilobytes.
  uint64_t active = 0, immutable = 0;
  db_->GetIntProperty(index_cf_, rocksdb::DB::Properties::kNumEntriesActiveMemTable, &active);
  db_->GetIntProperty(index_cf_, rocksdb::DB::Properties::kNumEntriesImmMemTables, &immutable);
  const uint64_t index_memtables = (active + immutable) * kIndexEntryDiskBytes;
  // Blob records retired and not freed yet go as soon as no read in flight can reach them.
  const uint64_t total = scanned_bytes_ + unflushed + index_memtables;
  return total - std::min(total, retired_bytes_);
}

namespace {

// The SST and blob files of a family, from its metadata.
std::vector<DroppedFile> FamilyFiles(const rocksdb::ColumnFamilyMetaData& meta) {
  std::vector<DroppedFile> files;
  for (const auto& level : meta.levels) {
    for (const auto& f : level.files) {
      files.push_back({JoinFilePath(f.directory, f.relative_filename)});
    }
  }
  for (const auto& b : meta.blob_files) {
    files.push_back({JoinFilePath(b.blob_file_path, b.blob_file_name)});
  }
  return files;
}

bool AnyExists(const std::vector<DroppedFile>& files) {
  struct stat st;
  return std::any_of(files.begin(), files.end(),
                     [&](const DroppedFile& f) { return ::stat(f.path.c_str(), &st) == 0; });
}

}  // namespace

void StoreImpl::AwaitDeleted(uint64_t number, const std::vector<DroppedFile>& files) {
  // RocksDB deletes a dropped family's files when its last reference goes: usually inside
  // DropOldest, but a flush or compaction still running on it, or a read in progress, defers
  // that to the end of the job or read. Nudge RocksDB's purge of obsolete files
  // (EnableFileDeletions(false) is that purge: prefixd never disables deletions) and wait.
  if (!AnyExists(files)) return;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + kDroppedFilesWait;
  bool gone = false;
  while (!(gone = !AnyExists(files)) && std::chrono::steady_clock::now() < deadline) {
    db_->EnableFileDeletions(/*force=*/false).PermitUncheckedError();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  if (gone) {
    spdlog::info("generation {}: its files went {} ms after the drop", number, waited);
  } else {
    std::vector<std::string> left;
    struct stat st;
    for (const auto& f : files) {
      if (::stat(f.path.c_str(), &st) == 0) left.push_back(f.path);
    }
    spdlog::warn("generation {}: {} of its {} files still there {} ms after the drop (e.g. {})",
                 number, left.size(), files.size(), waited, left.empty() ? "" : left.front());
  }
}

absl::Status StoreImpl::DropOldest(bool await_files) {
  uint64_t oldest;
  {
    absl::MutexLock l(&gen_mu_);
    if (gens_.size() < 2) return absl::FailedPreconditionError("no generation to drop");
    oldest = gens_.begin()->first;
  }
  return DropGeneration(oldest, await_files);
}

absl::Status StoreImpl::DropGeneration(uint64_t number, bool await_files) {
  GenerationPtr g;
  {
    absl::MutexLock l(&gen_mu_);
    auto it = gens_.find(number);
    if (gens_.size() < 2 || it == gens_.end() || number == gens_.rbegin()->first) {
      return absl::FailedPreconditionError("no such generation to drop");
    }
    g = it->second;
    gens_.erase(it);
    oldest_live_.store(gens_.begin()->first);
  }
  if (options_.index_observer != nullptr) options_.index_observer->OldestLive(oldest_live_);
  {
    absl::MutexLock l(&locate_mu_);
    generation_of_family_.erase(g->handle->GetID());
  }
  rocksdb::ColumnFamilyMetaData meta;
  db_->GetColumnFamilyMetaData(g->handle, &meta);
  for (const auto& b : meta.blob_files) freed_extents_.erase(b.blob_file_number);
  dead_.Forget(number);
  std::vector<DroppedFile> files = FamilyFiles(meta);
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
  unswept_pages_ += g->total.pages;
  spdlog::log(g->total.pages == 0 ? spdlog::level::debug : spdlog::level::info,
              "evicted generation {}: {} pages, {}", g->number, g->total.pages,
              util::FormatByteSize(g->total.bytes));
  if (!s.ok()) spdlog::warn("dropping generation {}: {}", g->number, s.ToString());
  g.reset();  // our reference to the handle: the last one, unless a reader holds another
  if (await_files) AwaitDeleted(number, files);
  dropped_files_.insert(dropped_files_.end(), std::make_move_iterator(files.begin()),
                        std::make_move_iterator(files.end()));
  last_scan_ = {};  // rescan: the generation's files are gone, or going
  SweepKeyIndex();
  return absl::OkStatus();
}

void StoreImpl::SweepKeyIndex() {
  const uint64_t oldest = oldest_live_.load(std::memory_order_relaxed);
  if (unswept_pages_ * 8 < keys_.size()) return;
  // At least the pages evicted alone (generation 0, Eviction::kPages), whose generation may
  // stay live for as long as a read page keeps it.
  const size_t removed = keys_.SweepBelow(oldest > kEvictedHorizon ? oldest - kEvictedHorizon : 1);
  unswept_pages_ = 0;
  spdlog::debug("key index: {} entries of evicted pages removed, {} left", removed, keys_.size());
}

StoreImpl::Room StoreImpl::Budget(bool opening) {
  // Writes keep the files under the capacity; opening evicts only past 102 %, so that a
  // restart (which adds a log file or two) does not cost a generation. Peaks pass the write
  // threshold by what the estimate learns only at its next scan (RocksDB's MANIFEST and
  // OPTIONS writes): 0.999-1.001 of the budget on the replays at 33-343 MiB once RocksDB no
  // longer preallocated (store_open.cc). A 2 % margin kept the peaks at 0.98 and cost the
  // replays 1-3 % of their hits (SGLang shape at 25 %: 0.313 against 0.322): every point of
  // the budget buys hit rate (docs/benchmarks-why.md).
  uint64_t budget = options_.capacity_bytes == 0 ? UINT64_MAX
                    : opening ? options_.capacity_bytes + options_.capacity_bytes / 50
                              : options_.capacity_bytes;
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
    const uint64_t fs_budget = scanned_bytes_ + (free > reserve ? free - reserve : 0);
    if (fs_budget < budget) return {fs_budget, /*by_file_system=*/true};
  }
  return {budget, /*by_file_system=*/false};
}

absl::Status StoreImpl::MakeRoom(uint64_t incoming, bool opening) {
  ReclaimDead();
  uint64_t estimate = DiskEstimate();
  const auto [budget, by_file_system] = Budget(opening);
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
    if (PageEviction()) {  // expired pages first: no one can be served them
      auto reaped = ReapExpired();
      if (!reaped.ok()) return reaped.status();
      excess = *reaped >= excess ? 0 : excess - *reaped;
    }
    while (excess > 0) {
      if (PageEviction()) {
        auto freed = EvictPages(excess);
        if (!freed.ok()) return freed.status();
        if (*freed > 0) {
          excess = *freed >= excess ? 0 : excess - *freed;
          continue;
        }
        // No page can be freed now (none in a blob file yet): drop a generation instead.
      }
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
      // When the file system is the limit, the space must really be free before the write:
      // RocksDB's flush must never meet a full device.
      if (auto s = DropOldest(/*await_files=*/by_file_system); !s.ok()) return s;
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
  if (dropped) DropOldest(/*await_files=*/true).IgnoreError();
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
  struct Moved {
    GenerationPtr from;
    uint64_t size;
    KeyHash hash;
    KeyIndex::Entry entry;  // its record in the newest generation
  };
  std::vector<Moved> moved;
  uint64_t blob_bytes = 0;  // Generation::stored
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
    if (promote_credit_ < double(cur->size)) {  // the copy budget is spent for now
      promotions_declined_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    promote_credit_ -= double(cur->size);
    IndexRecord rec = *cur;
    rec.generation = to->number;
    const KeyHash hash = HashKey(rec.key);
    blob_bytes += AddPage(&batch, *to, ns.info.id, rec, hash, bytes[i]);
    moved.push_back({from, rec.size, hash, KeyIndex::EntryOf(rec)});
  }
  if (moved.empty()) return;
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  if (!db_->Write(wo, &batch).ok()) return;
  to->stored += blob_bytes;
  to->records += moved.size();
  for (const Moved& m : moved) {
    m.from->Remove(ns.info.id, m.size);
    to->Add(ns.info.id, m.size);
    const auto old = keys_.Set(ns.info.id, m.hash, m.entry);
    if (old && old->generation == m.from->number) {
      Retire(old->generation, {ns.info.id, m.hash}, *old);
    }
    promoted_bytes_.fetch_add(m.size, std::memory_order_relaxed);
  }
  ns.promoted_pages.fetch_add(moved.size(), std::memory_order_relaxed);
  // MakeRoom may drop those generations and (on a full disk) wait for their last reference.
  moved.clear();
  to.reset();
  // Written first, room made after: making room first could drop the very generation these
  // pages are being rescued from. The overshoot is at most one read group.
  MakeRoom(0).IgnoreError();
}

}  // namespace prefixd::storage
