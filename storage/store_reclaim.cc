// Store: freeing dead pages' blob records in place (blob_refs.h), so that a deleted page, the
// old copy of a page copied forward, or a page dropped as corrupt gives its disk space back at
// once instead of when its whole generation is dropped.
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"

namespace prefixd::storage {

void StoreImpl::RegisterFamily(const Generation& g) {
  absl::MutexLock l(&locate_mu_);
  generation_of_family_[g.handle->GetID()] = g.number;
}

void StoreImpl::Located(uint32_t column_family_id, const NamespacedKey& page,
                        const BlobRef& ref, bool flushed) {
  uint64_t generation;
  {
    absl::MutexLock l(&locate_mu_);
    auto it = generation_of_family_.find(column_family_id);
    // A family not registered yet (a flush while the DB opens) is read at open instead, from
    // its SSTs' properties (LoadBlobRefs); one dropped since is gone with its files.
    if (it == generation_of_family_.end()) return;
    generation = it->second;
  }
  if (flushed && keys_.Locate(page.ns_id, page.hash, generation, ref)) return;
  if (!flushed && OwnRecord(generation, page, ref)) return;  // reported again
  absl::MutexLock l(&locate_mu_);
  unmatched_.push_back({generation, page, ref, flushed});
}

void StoreImpl::Retire(uint64_t generation, const NamespacedKey& page,
                       const KeyIndex::Entry& entry) {
  if (!Live(generation)) return;  // dropped whole: its files are gone or going
  if (auto ref = entry.blob()) RetireRecord(generation, page, *ref);
}

void StoreImpl::RetireRecord(uint64_t generation, const NamespacedKey& page, const BlobRef& ref) {
  dead_.Erase(generation, page);  // not before its punch
  // Once: a compaction reports again the dead records it keeps, and counted twice in
  // retired_bytes_ they would take twice their bytes off DiskEstimate.
  if (!retired_refs_.insert({ref.file_number, ref.offset}).second) return;
  retired_.push_back({generation, page, ref, reads_.Now()});
  retired_bytes_ += ref.bytes;
}

bool StoreImpl::OwnRecord(uint64_t generation, const NamespacedKey& page,
                          const BlobRef& ref) const {
  const auto e = keys_.Find(page.ns_id, page.hash);
  return e && e->generation == generation && (!e->blob() || *e->blob() == ref);
}

bool StoreImpl::FreedAlready(const BlobRef& ref) const {
  auto extents = freed_extents_.find(ref.file_number);
  if (extents == freed_extents_.end()) return false;
  auto in = extents->second.upper_bound(ref.offset);
  return in != extents->second.begin() && std::prev(in)->second >= ref.offset + ref.bytes;
}

void StoreImpl::ReclaimDead() {
  std::vector<Unmatched> unmatched;
  {
    absl::MutexLock l(&locate_mu_);
    unmatched.swap(unmatched_);
  }
  absl::flat_hash_set<uint64_t> named;  // generations with records named dead just now
  // The record's blocks are free: its SST record may go, unless the page lives in that
  // generation again (written there after this copy was retired).
  auto name_dead = [&](uint64_t generation, const NamespacedKey& page) {
    const auto e = keys_.Find(page.ns_id, page.hash);
    if (e && e->generation == generation) return;
    dead_.Add(generation, page);
    named.insert(generation);
  };
  // Under write_mu_ every write has mirrored the key index: a record it does not point at now
  // is a dead copy. One freed already is reported again by a compaction that kept it.
  for (const Unmatched& u : unmatched) {
    if (u.flushed) {
      if (keys_.Locate(u.page.ns_id, u.page.hash, u.generation, u.ref)) continue;
    } else if (OwnRecord(u.generation, u.page, u.ref)) {
      // The page's own record, or an older copy while the page's newer one is not flushed
      // yet: it was retired when that copy replaced it.
      continue;
    }
    if (FreedAlready(u.ref)) {
      name_dead(u.generation, u.page);
    } else {
      RetireRecord(u.generation, u.page, u.ref);
    }
  }
  if (retired_.empty()) {
    QueueCompactions(named);
    return;
  }
  // The blob files RocksDB has installed, by generation: a record found by a flush still in
  // progress may still be in RocksDB's write buffer, and must not be freed before it lands.
  absl::flat_hash_map<uint64_t, absl::flat_hash_map<uint64_t, std::string>> installed;
  auto files_of = [&](const GenerationPtr& g) -> const absl::flat_hash_map<uint64_t, std::string>& {
    auto [it, fresh] = installed.try_emplace(g->number);
    if (fresh) {
      rocksdb::ColumnFamilyMetaData meta;
      db_->GetColumnFamilyMetaData(g->handle, &meta);
      SeeBlobFiles(*g, meta, /*scan=*/false);
      for (const auto& b : meta.blob_files) {
        it->second[b.blob_file_number] = JoinFilePath(b.blob_file_path, b.blob_file_name);
      }
    }
    return it->second;
  };
  uint64_t freed_now = 0;
  const uint64_t oldest_read = reads_.OldestInFlight();
  // True when `r` is done with: freed, or its space comes back another way.
  auto reclaim = [&](const Retired& r) {
    GenerationPtr g = Find(r.generation);
    if (!g) return true;  // dropped whole: its files are gone
    if (FreedAlready(r.ref)) {  // freed already: retired again after its punch
      name_dead(r.generation, r.page);
      return true;
    }
    if (r.ticket >= oldest_read) return false;  // a read in flight may still reach it
    const auto& files = files_of(g);
    auto file = files.find(r.ref.file_number);
    if (file == files.end()) {
      // Deleted by RocksDB once compactions had dropped all its records (its space is back,
      // or soon), or not installed yet.
      return g->gone_files.contains(r.ref.file_number);
    }
    // Merged with the freed records on either side, so that the blocks it shares with them go.
    auto& extents = freed_extents_[r.ref.file_number];
    uint64_t begin = r.ref.offset, end = r.ref.offset + r.ref.bytes;
    auto next = extents.lower_bound(begin);
    if (next != extents.end() && next->first == end) {
      end = next->second;
      next = extents.erase(next);
    }
    if (next != extents.begin()) {
      auto prev = std::prev(next);
      if (prev->second == begin) {
        begin = prev->first;
        extents.erase(prev);
      }
    }
    extents[begin] = end;
    auto freed = PunchBlob(file->second, BlobRef{r.ref.file_number, begin, end - begin});
    if (!freed.ok()) {
      if (!absl::IsNotFound(freed.status())) spdlog::warn("{}", freed.status().ToString());
      return true;  // the space comes back with the generation
    }
    g->written -= std::min(g->written, *freed);
    freed_now += *freed;
    reclaimed_records_.fetch_add(1, std::memory_order_relaxed);
    name_dead(r.generation, r.page);
    return true;
  };
  std::erase_if(retired_, [&](const Retired& r) {
    if (!reclaim(r)) return false;
    retired_bytes_ -= std::min(retired_bytes_, r.ref.bytes);
    retired_refs_.erase({r.ref.file_number, r.ref.offset});
    return true;
  });
  scanned_bytes_ -= std::min(scanned_bytes_, freed_now);
  reclaimed_bytes_.fetch_add(freed_now, std::memory_order_relaxed);
  QueueCompactions(named);
}

void StoreImpl::QueueCompactions(const absl::flat_hash_set<uint64_t>& named) {
  if (named.empty()) return;
  // Generations written into no more, whose SSTs are a quarter dead or more: a compaction
  // rewrites their live records (~100 bytes each) to drop the dead ones.
  constexpr size_t kMinDeadRecords = 16;
  std::vector<uint64_t> due;
  {
    absl::MutexLock l(&gen_mu_);
    const uint64_t newest = gens_.empty() ? 0 : gens_.rbegin()->first;
    for (uint64_t n : named) {
      auto it = gens_.find(n);
      if (n == newest || it == gens_.end()) continue;
      const size_t dead = dead_.Count(n);
      if (dead >= kMinDeadRecords && dead * 4 >= it->second->records) due.push_back(n);
    }
  }
  if (due.empty()) return;
  absl::MutexLock l(&compact_mu_);
  for (uint64_t n : due) {
    if (compact_queued_.insert(n).second) compact_queue_.push_back(n);
  }
}

void StoreImpl::SeeBlobFiles(Generation& g, const rocksdb::ColumnFamilyMetaData& meta,
                             bool scan) {
  const std::vector<uint64_t> gone = g.SeeBlobFiles(meta, scan);
  for (uint64_t number : gone) freed_extents_.erase(number);
  // A file flushed after the last scan and gone before the next one was counted as unflushed
  // (it left `stored` just now) and its punched blocks were taken off scanned_bytes_ too,
  // which never held them: the estimate would read low, by up to the file's size, until the
  // next scan. Rescan at the next estimate.
  if (!gone.empty()) last_scan_ = {};
}

void StoreImpl::CompactDeadRecords() {
  while (true) {
    uint64_t number;
    {
      absl::MutexLock l(&compact_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(compact_mu_) {
        return compactor_stop_ || !compact_queue_.empty();
      };
      compact_mu_.Await(absl::Condition(&ready));
      if (compactor_stop_) return;
      number = compact_queue_.front();
    }
    if (auto s = CompactGeneration(number); !s.ok()) {
      spdlog::warn("generation {}: compacting its dead records: {}", number, s.ToString());
    }
    absl::MutexLock l(&compact_mu_);
    compact_queue_.pop_front();
    compact_queued_.erase(number);
  }
}

absl::Status StoreImpl::CompactGeneration(uint64_t number) {
  GenerationPtr g = Find(number);
  if (!g) return absl::OkStatus();  // dropped whole since
  dead_.BeginCompaction(number);
  rocksdb::ColumnFamilyMetaData meta;
  db_->GetColumnFamilyMetaData(g->handle, &meta);
  std::vector<std::string> files;
  int output_level = 1;
  for (const auto& level : meta.levels) {
    for (const auto& f : level.files) {
      files.push_back(JoinFilePath(f.directory, f.relative_filename));
      output_level = std::max(output_level, level.level);
    }
  }
  rocksdb::Status s;
  const uint64_t removed_before = dead_.removed();
  if (!files.empty()) {
    rocksdb::CompactionOptions options;
    options.compression = rocksdb::kDisableCompressionOption;  // the family's own
    s = db_->CompactFiles(options, g->handle, files, output_level);
  }
  dead_.EndCompaction(number, s.ok());
  if (s.IsColumnFamilyDropped() || s.IsAborted()) {
    // Dropped whole meantime, or an automatic compaction holds some of its files (the
    // records stay named for the next try).
    spdlog::debug("generation {}: compacting its dead records: {}", number, s.ToString());
    return absl::OkStatus();
  }
  if (!s.ok()) return FromRocks(s, "compacting a generation");
  record_compactions_.fetch_add(1, std::memory_order_relaxed);
  g.reset();  // a drop under write_mu_ may wait for the last reference
  absl::MutexLock wl(&write_mu_);
  g = Find(number);
  if (!g) return absl::OkStatus();
  db_->GetColumnFamilyMetaData(g->handle, &meta);
  SeeBlobFiles(*g, meta, /*scan=*/false);
  const uint64_t before = g->records;
  g->records = SstRecords(meta);
  spdlog::debug("generation {}: {} SST files compacted, {} dead records dropped, {} -> {} records",
                number, files.size(), dead_.removed() - removed_before, before, g->records);
  return absl::OkStatus();
}

absl::Status StoreImpl::LoadBlobRefs() {
  std::vector<GenerationPtr> gens;
  {
    absl::MutexLock l(&gen_mu_);
    for (const auto& [n, g] : gens_) gens.push_back(g);
  }
  uint64_t located = 0, dead = 0;
  for (const GenerationPtr& g : gens) {
    rocksdb::TablePropertiesCollection tables;
    if (auto s = db_->GetPropertiesOfAllTables(g->handle, &tables); !s.ok()) {
      // Not fatal: this generation's dead records keep their space until it is dropped.
      spdlog::warn("generation {}: reading its tables' properties: {}", g->number, s.ToString());
      continue;
    }
    for (const auto& [file, props] : tables) {
      const auto& user = props->user_collected_properties;
      auto it = user.find(std::string(kBlobRefsProperty));
      if (it == user.end()) continue;  // written before prefixd recorded blob records
      const bool ok = ForEachBlobRef(it->second, [&](const NamespacedKey& k, const BlobRef& r) {
        if (keys_.Locate(k.ns_id, k.hash, g->number, r)) {
          ++located;
        } else {
          RetireRecord(g->number, k, r);
          ++dead;
        }
      });
      if (!ok) spdlog::warn("{}: malformed {} property", file, kBlobRefsProperty);
    }
  }
  spdlog::info("blob records: {} pages located, {} dead copies to free", located, dead);
  ReclaimDead();
  return absl::OkStatus();
}

}  // namespace prefixd::storage
