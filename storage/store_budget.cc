// Store: generations, the disk budget, eviction (dropping the oldest generation) and promotion
// (copying pages read from old generations forward).
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/page_key.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"
#include "util/byte_size.h"

namespace prefixd::storage {

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) total += it->file_size(fec);
  }
  return total;
}

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
  auto s = db_->CreateColumnFamily(page_family_options_, GenerationFamilyName(number), &handle);
  if (!s.ok()) return FromRocks(s, "creating a generation");
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
  uint64_t memtables = 0;
  if (auto newest = Newest()) {
    db_->GetIntProperty(newest->handle, rocksdb::DB::Properties::kCurSizeAllMemTables,
                        &memtables);
  }
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
  auto s = db_->DropColumnFamily(g->handle);
  if (!s.ok()) return FromRocks(s, "dropping a generation");
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
  return absl::OkStatus();
}

absl::Status StoreImpl::MakeRoom(uint64_t incoming, bool opening) {
  GenerationPtr newest = Newest();
  if (newest->total.bytes > 0 && newest->total.bytes + incoming > generation_bytes_) {
    auto g = CreateGeneration(newest->number + 1);
    if (!g.ok()) return g.status();
  }
  if (options_.capacity_bytes == 0) return absl::OkStatus();
  // Writes keep the files under 95 % of the capacity; opening evicts only past 100 %, so a
  // restart (which adds a log file or two) does not cost a generation.
  const uint64_t target = opening ? options_.capacity_bytes : options_.capacity_bytes / 20 * 19;
  while (DiskEstimate() + incoming > target) {
    size_t live;
    {
      absl::MutexLock l(&gen_mu_);
      live = gens_.size();
    }
    if (live < 2) {
      if (Newest()->total.pages == 0) break;  // nothing left to evict
      auto g = CreateGeneration(Newest()->number + 1);  // so that the full one can go
      if (!g.ok()) return g.status();
    }
    if (auto s = DropOldest(); !s.ok()) return s;
  }
  uint64_t estimate = DiskEstimate();
  if (estimate + incoming > options_.capacity_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the store's files take ", util::FormatByteSize(estimate), " and nothing is left to "
        "evict; ", util::FormatByteSize(incoming), " more would pass the capacity of ",
        util::FormatByteSize(options_.capacity_bytes)));
  }
  return absl::OkStatus();
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
    KeyHash h = HashKey(rec.key);
    std::string page_key = EncodePageKey(ns.info.id, rec.root, rec.depth, h);
    std::string header = EncodePageHeader(rec.crc32c, rec.key);
    rocksdb::Slice parts[2] = {header, rocksdb::Slice(bytes[i].data(), bytes[i].size())};
    rocksdb::Slice key_slice(page_key);
    batch.Put(to->handle, rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(parts, 2));
    batch.Put(index_cf_, EncodeIndexKey(ns.info.id, h), EncodeIndexRecord(rec));
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
