// Store: open, namespaces, stats, flush.
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "spdlog/spdlog.h"
#include "storage/coding.h"
#include "storage/page_key.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"

namespace prefixd::storage {
namespace {

constexpr char kIndexFamily[] = "index";
constexpr char kPagesFamily[] = "pages";

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

}  // namespace

NamespaceCounters NamespaceState::Snapshot() const {
  auto r = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return NamespaceCounters{r(pages),       r(bytes),           r(puts),
                           r(put_existing), r(hits),           r(misses),
                           r(exists_queries), r(exists_hits),  r(corrupt_dropped),
                           r(deleted)};
}

absl::Status ValidateNamespaceName(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError("namespace name must be 1..128 bytes");
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != ':' && c != '/' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("namespace name has a character outside [A-Za-z0-9._:/-]: '", std::string(name), "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (auto s = options.Validate(); !s.ok()) return s;
  auto store = std::make_unique<StoreImpl>(options);
  if (auto s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

StoreImpl::~StoreImpl() {
  if (!db_) return;
  if (auto s = Flush(); !s.ok()) spdlog::error("flush at close failed: {}", s.ToString());
  for (auto* cf : {index_cf_, pages_cf_}) {
    if (cf) db_->DestroyColumnFamilyHandle(cf).PermitUncheckedError();  // closing anyway
  }
  auto s = db_->Close();
  if (!s.ok()) spdlog::error("closing the store failed: {}", s.ToString());
}

absl::Status StoreImpl::Init() {
  std::error_code ec;
  std::filesystem::create_directories(options_.path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data directory ", options_.path, ": ", ec.message()));
  }
  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = true;
  db_opts.create_missing_column_families = true;
  // Page writes skip the WAL: families must flush together to stay consistent after a crash.
  db_opts.atomic_flush = true;
  db_opts.max_background_jobs = options_.max_background_jobs;
  db_opts.bytes_per_sync = 1 << 20;
  db_opts.max_total_wal_size = 64 << 20;

  auto cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;

  rocksdb::ColumnFamilyOptions small_cf;
  small_cf.write_buffer_size = 16 << 20;
  small_cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::ColumnFamilyOptions pages_cf;
  pages_cf.write_buffer_size = options_.write_buffer_size;
  pages_cf.max_write_buffer_number = options_.max_write_buffer_number;
  pages_cf.enable_blob_files = true;
  pages_cf.min_blob_size = options_.min_blob_size;
  pages_cf.blob_file_size = options_.blob_file_size;
  pages_cf.blob_compression_type = rocksdb::kNoCompression;  // KV tensors do not compress
  // No blob GC: it relocates live pages during compaction (measured: a third of the daemon's
  // CPU while writing 1 GiB). Space comes back by dropping whole generations (eviction work).
  pages_cf.enable_blob_garbage_collection = false;
  pages_cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, small_cf},
      {kIndexFamily, small_cf},
      {kPagesFamily, pages_cf}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(db_opts, options_.path, families, &handles, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening store at ", options_.path));
  db_.reset(raw);
  index_cf_ = handles[1];
  pages_cf_ = handles[2];
  // The default family's handle is owned by the DB; release ours.
  if (auto d = db_->DestroyColumnFamilyHandle(handles[0]); !d.ok()) {
    return FromRocks(d, "releasing a column family handle");
  }
  meta_cf_ = db_->DefaultColumnFamily();
  return LoadState();
}

absl::Status StoreImpl::LoadState() {
  absl::MutexLock wl(&write_mu_);
  absl::MutexLock l(&ns_mu_);
  absl::flat_hash_map<uint32_t, std::shared_ptr<NamespaceState>> by_id;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
    for (it->Seek(rocksdb::Slice(kMetaNamespacePrefix.data(), kMetaNamespacePrefix.size())); it->Valid(); it->Next()) {
      std::string_view k(it->key().data(), it->key().size());
      if (!k.starts_with(kMetaNamespacePrefix)) break;
      auto rec = DecodeNamespaceRecord(std::string_view(it->value().data(), it->value().size()));
      if (!rec) return absl::DataLossError(absl::StrCat("undecodable namespace record ", std::string(k)));
      auto st = std::make_shared<NamespaceState>();
      st->info = NamespaceInfo{std::string(k.substr(kMetaNamespacePrefix.size())), rec->id,
                               rec->fingerprint};
      by_id[rec->id] = st;
      next_ns_id_ = std::max(next_ns_id_, rec->id + 1);
      namespaces_[st->info.name] = st;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading namespaces");
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), meta_cf_, kMetaNextNamespaceId, &v);
    if (s.ok() && v.size() == 4) next_ns_id_ = std::max(next_ns_id_, GetLittle32(v.data()));
  }
  std::vector<uint32_t> orphans;
  uint64_t total = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), index_cf_));
    it->SeekToFirst();
    while (it->Valid()) {
      uint32_t id = 0;
      if (!DecodeNamespaceId(std::string_view(it->key().data(), it->key().size()), &id)) {
        return absl::DataLossError("undecodable index key");
      }
      auto found = by_id.find(id);
      if (found == by_id.end()) {
        orphans.push_back(id);
        it->Seek(NamespaceLimit(id));  // skip the rest of that namespace
        continue;
      }
      auto rec = DecodeIndexRecord(std::string_view(it->value().data(), it->value().size()));
      if (!rec) return absl::DataLossError("undecodable index record");
      found->second->pages.fetch_add(1, std::memory_order_relaxed);
      found->second->bytes.fetch_add(rec->size, std::memory_order_relaxed);
      ++total;
      it->Next();
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading the index");
  }
  for (uint32_t id : orphans) {
    rocksdb::WriteBatch batch;
    batch.DeleteRange(index_cf_, NamespacePrefix(id), NamespaceLimit(id));
    batch.DeleteRange(pages_cf_, NamespacePrefix(id), NamespaceLimit(id));
    auto s = db_->Write(rocksdb::WriteOptions(), &batch);
    if (!s.ok()) return FromRocks(s, "removing pages of a deleted namespace");
    spdlog::info("removed pages of deleted namespace id {}", id);
  }
  spdlog::info("store open at {}: {} namespaces, {} pages", options_.path, namespaces_.size(),
               total);
  return absl::OkStatus();
}

absl::StatusOr<OpenResult> StoreImpl::OpenNamespace(std::string_view name,
                                                    const Fingerprint& fp) {
  if (auto s = ValidateNamespaceName(name); !s.ok()) return s;
  if (auto s = fp.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("fingerprint: ", s.message()));
  }
  absl::MutexLock wl(&write_mu_);
  absl::MutexLock l(&ns_mu_);
  if (auto it = namespaces_.find(std::string(name)); it != namespaces_.end()) {
    auto diff = DiffFingerprints(it->second->info.fingerprint, fp);
    if (!diff.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("namespace '", std::string(name), "' exists with a different fingerprint; fields "
                       "that differ: ", absl::StrJoin(diff, ", ")));
    }
    return OpenResult{it->second->info, false};
  }
  uint32_t id = next_ns_id_;
  if (id == UINT32_MAX) return absl::ResourceExhaustedError("namespace ids exhausted");
  rocksdb::WriteBatch batch;
  batch.Put(meta_cf_, std::string(kMetaNamespacePrefix).append(name),
            EncodeNamespaceRecord(NamespaceRecord{id, fp}));
  std::string next;
  PutLittle32(&next, id + 1);
  batch.Put(meta_cf_, kMetaNextNamespaceId, next);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (auto s = db_->Write(wo, &batch); !s.ok()) return FromRocks(s, "creating namespace");
  next_ns_id_ = id + 1;
  auto st = std::make_shared<NamespaceState>();
  st->info = NamespaceInfo{std::string(name), id, fp};
  namespaces_[st->info.name] = st;
  spdlog::info("created namespace '{}' (id {}, model {}, dtype {}, page {} tokens / {} bytes)",
               name, id, fp.model, fp.dtype, fp.page_tokens, fp.page_bytes);
  return OpenResult{st->info, true};
}

absl::StatusOr<std::shared_ptr<NamespaceState>> StoreImpl::Resolve(NamespaceRef ref) {
  absl::MutexLock l(&ns_mu_);
  auto it = namespaces_.find(std::string(ref.name));
  if (it == namespaces_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown namespace '", std::string(ref.name), "'"));
  }
  if (ref.id != 0 && ref.id != it->second->info.id) {
    return absl::FailedPreconditionError(
        absl::StrCat("namespace '", std::string(ref.name), "' was deleted and recreated (id ",
                     it->second->info.id, ", request has ", ref.id, "); open it again"));
  }
  return it->second;
}

absl::StatusOr<NamespaceInfo> StoreImpl::LookupNamespace(NamespaceRef ref) {
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  return (*st)->info;
}

absl::StatusOr<uint64_t> StoreImpl::DeleteNamespace(NamespaceRef ref) {
  absl::MutexLock wl(&write_mu_);
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  uint32_t id = (*st)->info.id;
  rocksdb::WriteBatch batch;
  batch.Delete(meta_cf_, std::string(kMetaNamespacePrefix).append(ref.name));
  batch.DeleteRange(index_cf_, NamespacePrefix(id), NamespaceLimit(id));
  batch.DeleteRange(pages_cf_, NamespacePrefix(id), NamespaceLimit(id));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (auto s = db_->Write(wo, &batch); !s.ok()) return FromRocks(s, "deleting namespace");
  absl::MutexLock l(&ns_mu_);
  namespaces_.erase(std::string(ref.name));
  uint64_t pages = (*st)->pages.load();
  spdlog::info("deleted namespace '{}' (id {}, {} pages)", ref.name, id, pages);
  return pages;
}

absl::StatusOr<StoreStats> StoreImpl::Stats() {
  StoreStats out;
  out.capacity_bytes = options_.capacity_bytes;
  {
    absl::MutexLock l(&ns_mu_);
    for (const auto& [name, st] : namespaces_) {
      out.namespaces.push_back(NamespaceStatsEntry{st->info, st->Snapshot()});
    }
  }
  std::sort(out.namespaces.begin(), out.namespaces.end(),
            [](const auto& a, const auto& b) { return a.info.name < b.info.name; });
  for (const auto& n : out.namespaces) {
    out.pages += n.counters.pages;
    out.bytes += n.counters.bytes;
  }
  out.disk_bytes = DirectoryBytes(options_.path);
  return out;
}

absl::Status StoreImpl::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> all = {meta_cf_, index_cf_, pages_cf_};
  return FromRocks(db_->Flush(fo, all), "flushing");
}

}  // namespace prefixd::storage
