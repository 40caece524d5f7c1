// Store: freeing dead pages' blob records in place (blob_refs.h), so that a deleted page, the
// old copy of a page copied forward, or a page dropped as corrupt gives its disk space back at
// once instead of when its whole generation is dropped.
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/store_impl.h"

namespace prefixd::storage {

void StoreImpl::RegisterFamily(const Generation& g) {
  absl::MutexLock l(&locate_mu_);
  generation_of_family_[g.handle->GetID()] = g.number;
}

void StoreImpl::Located(uint32_t column_family_id, const NamespacedKey& page,
                        const BlobRef& ref) {
  uint64_t generation;
  {
    absl::MutexLock l(&locate_mu_);
    auto it = generation_of_family_.find(column_family_id);
    // A family not registered yet (a flush while the DB opens) is read at open instead, from
    // its SSTs' properties (LoadBlobRefs); one dropped since is gone with its files.
    if (it == generation_of_family_.end()) return;
    generation = it->second;
  }
  if (keys_.Locate(page.ns_id, page.hash, generation, ref)) return;
  absl::MutexLock l(&locate_mu_);
  unmatched_.push_back({generation, page, ref});
}

void StoreImpl::Retire(uint64_t generation, const KeyIndex::Entry& entry) {
  if (!Live(generation)) return;  // dropped whole: its files are gone or going
  if (auto ref = entry.blob()) {
    retired_.push_back({generation, *ref, reads_.Now()});
    retired_bytes_ += ref->bytes;
  }
}

void StoreImpl::ReclaimDead() {
  std::vector<Unmatched> unmatched;
  {
    absl::MutexLock l(&locate_mu_);
    unmatched.swap(unmatched_);
  }
  // Under write_mu_ every write has mirrored the key index: a record it does not point at now
  // is a dead copy.
  for (const Unmatched& u : unmatched) {
    if (!keys_.Locate(u.page.ns_id, u.page.hash, u.generation, u.ref)) {
      retired_.push_back({u.generation, u.ref, reads_.Now()});
      retired_bytes_ += u.ref.bytes;
    }
  }
  if (retired_.empty()) return;
  // The blob files RocksDB has installed, by generation: a record found by a flush still in
  // progress may still be in RocksDB's write buffer, and must not be freed before it lands.
  absl::flat_hash_map<uint64_t, absl::flat_hash_map<uint64_t, std::string>> installed;
  auto files_of = [&](const GenerationPtr& g) -> const absl::flat_hash_map<uint64_t, std::string>& {
    auto [it, fresh] = installed.try_emplace(g->number);
    if (fresh) {
      rocksdb::ColumnFamilyMetaData meta;
      db_->GetColumnFamilyMetaData(g->handle, &meta);
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
    if (r.ticket >= oldest_read) return false;  // a read in flight may still reach it
    const auto& files = files_of(g);
    auto file = files.find(r.ref.file_number);
    if (file == files.end()) return false;  // not installed yet
    // Merged with the freed records on either side, so that the blocks it shares with them go.
    auto& extents = freed_extents_[r.ref.file_number];
    uint64_t begin = r.ref.offset, end = r.ref.offset + r.ref.bytes;
    if (auto in = extents.upper_bound(begin); in != extents.begin() && std::prev(in)->second >= end) {
      return true;  // freed already (a compaction reports dead records again)
    }
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
    return true;
  };
  std::erase_if(retired_, [&](const Retired& r) {
    if (!reclaim(r)) return false;
    retired_bytes_ -= std::min(retired_bytes_, r.ref.bytes);
    return true;
  });
  scanned_bytes_ -= std::min(scanned_bytes_, freed_now);
  reclaimed_bytes_.fetch_add(freed_now, std::memory_order_relaxed);
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
          retired_.push_back({g->number, r, reads_.Now()});
          retired_bytes_ += r.bytes;
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
