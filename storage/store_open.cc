// Store: open, namespaces, stats, flush.
#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/listener.h"
#include "rocksdb/options.h"
#include "rocksdb/sst_file_manager.h"
#include "rocksdb/table.h"
#include "spdlog/spdlog.h"
#include "storage/coding.h"
#include "storage/page_key.h"
#include "storage/rocks_logger.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"
#include "util/byte_size.h"

namespace prefixd::storage {
namespace {

constexpr char kIndexFamily[] = "index";
constexpr char kLegacyPagesFamily[] = "pages";  // format 1, before generations

// Calls StoreOptions::testing_blob_file_written from RocksDB's flush thread.
class BlobFileWrittenHook : public rocksdb::EventListener {
 public:
  explicit BlobFileWrittenHook(std::function<void()> hook) : hook_(std::move(hook)) {}
  void OnBlobFileCreated(const rocksdb::BlobFileCreationInfo&) override { hook_(); }

 private:
  std::function<void()> hook_;
};

// Deletes the info log files ("LOG", "LOG.old.<micros>") that RocksDB wrote into the data
// directory before its log went to spdlog: nothing reads them, and they count against the budget.
void RemoveOldInfoLogs(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name != "LOG" && !name.starts_with("LOG.old.")) continue;
    if (std::filesystem::remove(e.path(), ec)) {
      spdlog::info("removed {}: RocksDB's log now goes to this log", e.path().string());
    }
  }
}

}  // namespace

NamespaceCounters NamespaceState::Snapshot() const {
  auto r = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return NamespaceCounters{r(pages),       r(bytes),           r(puts),
                           r(put_existing), r(hits),           r(misses),
                           r(exists_queries), r(exists_hits),  r(corrupt_dropped),
                           r(deleted),      r(evicted_pages),  r(evicted_bytes),
                           r(promoted_pages), r(miss_evicted), r(miss_not_stored),
                           r(miss_stranded), r(miss_corrupt), r(refused_opens), r(miss_expired),
                           r(expired_pages), r(expired_bytes), r(miss_evicted_unread),
                           r(put_bytes)};
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

StoreImpl::StoreImpl(const StoreOptions& options) : options_(options) {
  const uint64_t mib = uint64_t{1} << 20;
  // Sized by the capacity, or without one by the file system, which is then the limit: 1 GiB
  // generations on a 96 MiB file system made every eviction drop the whole cache.
  uint64_t limit = options.capacity_bytes;
  if (limit == 0) limit = util::FileSystemBytes(options.path);
  // Memtables stay a small share of it.
  write_buffer_bytes_ = options.write_buffer_size;
  if (limit != 0) {
    write_buffer_bytes_ = std::clamp<uint64_t>(limit / 128, mib, write_buffer_bytes_);
  }
  generation_bytes_ = options.generation_bytes;
  if (generation_bytes_ == 0 && limit == 0) generation_bytes_ = uint64_t{1} << 30;
  if (generation_bytes_ == 0) {
    // Eviction::kGenerations, 32 generations: dropping one frees about 3 % of the budget, so
    // the pages fill most of it (Mooncake trace at 25 %, inproc: token hit rate 0.401 with 8
    // generations, 0.41-0.43 with 32). Eviction::kPages, 24: every generation is a column
    // family, and each one created or dropped rewrites an OPTIONS file listing all of them;
    // probation keeps pages read long ago alive, so old generations linger (47 live on average
    // against 26 with LRU on the Mooncake trace at 10 %), which took write amplification from
    // 1.17 to 1.21 there with 32; 24 gave 1.15 at the same hit rate, 16 and 8 1.11 / 1.07 for
    // 0.4-4.5 % fewer hits on other replays (docs/benchmarks-why.md). At least 4 memtables
    // each: smaller ones cost write amplification (1.25 with 1 memtable).
    const uint64_t count = options.eviction == StoreOptions::Eviction::kPages ? 24 : 32;
    generation_bytes_ = std::max(limit / count, 4 * write_buffer_bytes_);
  }
}

StoreImpl::~StoreImpl() {
  if (compactor_.joinable()) {
    {
      absl::MutexLock l(&compact_mu_);
      compactor_stop_ = true;
    }
    db_->DisableManualCompaction();  // a compaction in progress ends early
    compactor_.join();
  }
  if (saver_.joinable()) {
    {
      absl::MutexLock l(&saver_mu_);
      saver_stop_ = true;
    }
    saver_.join();
  }
  if (!db_) return;
  if (auto s = Flush(); !s.ok()) {
    // The last periodic save (if any) stays: the next open takes it as after a crash.
    spdlog::error("flush at close failed: {}", s.ToString());
  } else {
    if (PageEviction() && SaveEvictionOrder().ok()) spdlog::info("eviction order saved");
  }
  {
    absl::MutexLock l(&gen_mu_);
    gens_.clear();  // destroys the generation handles
  }
  if (index_cf_) db_->DestroyColumnFamilyHandle(index_cf_).PermitUncheckedError();
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
  // No preallocation: every allocated block counts against the budget (DirectoryBytes), and
  // RocksDB reserves 1.1 write buffers of blocks for each WAL file however little it holds
  // (only index records go there). Measured on the SGLang-shape replay at a 33 MiB budget:
  // 1.15 MiB of blocks a WAL file for 9 KiB of records, 3-7 % of the budget, one or two files
  // at a time; a page lost to it was a hit lost (token hit rate 0.104 -> 0.106).
  db_opts.allow_fallocate = false;
  if (options_.testing_blob_file_written) {
    db_opts.listeners.push_back(
        std::make_shared<BlobFileWrittenHook>(options_.testing_blob_file_written));
  }
  // Lets RocksDB recover by itself from a full device once space returns. No hard stop
  // (SetMaxAllowedSpaceUsage): measured here, its count kept growing past 1.2x the budget
  // while dropped generations' files were gone from disk, and once reached it refuses every
  // write until a restart. prefixd counts the bytes itself (MakeRoom).
  db_opts.sst_file_manager.reset(rocksdb::NewSstFileManager(rocksdb::Env::Default()));
  // RocksDB's info log goes to the daemon's log, not to LOG files in the budget
  // (rocks_logger.h says why).
  db_opts.info_log = NewSpdlogRocksLogger();
  db_opts.stats_dump_period_sec = 0;
  db_opts.max_manifest_file_size =
      options_.max_manifest_bytes    ? options_.max_manifest_bytes
      : options_.capacity_bytes == 0 ? uint64_t{64} << 20
                                     : std::clamp<uint64_t>(options_.capacity_bytes / 256,
                                                            uint64_t{64} << 10, uint64_t{64} << 20);
  db_opts.manifest_preallocation_size =
      std::min<uint64_t>(db_opts.max_manifest_file_size, uint64_t{1} << 20);
  // Tickers only (flush, compaction and stall counters for the controller): no timers.
  statistics_ = rocksdb::CreateDBStatistics();
  statistics_->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  db_opts.statistics = statistics_;
  // Flush and compaction writes pass a rate limiter the controller may tighten; it starts
  // unlimited (1 TB/s).
  rate_limiter_.reset(rocksdb::NewGenericRateLimiter(kUnlimitedRate, 100 * 1000, 10,
                                                     rocksdb::RateLimiter::Mode::kWritesOnly));
  db_opts.rate_limiter = rate_limiter_;

  auto cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Index and filter blocks live with their table readers, outside the block cache: every
  // lookup would otherwise probe the cache for them (a fifth of the CPU of exists at 4M pages),
  // and data blocks would compete with them. They take about 2 bytes of memory per page.
  table.cache_index_and_filter_blocks = false;

  rocksdb::ColumnFamilyOptions small_cf;
  small_cf.write_buffer_size =
      options_.capacity_bytes ? std::clamp<uint64_t>(options_.capacity_bytes / 64, 1 << 20, 16 << 20)
                              : 16 << 20;
  // Flushes are atomic: every flush makes these families' memtables immutable too (when they
  // hold anything), so they must allow as many immutable memtables as the page families, or
  // writes stop at two flushes in flight instead of max_write_buffer_number. Measured: puts of
  // 512 MiB of 1 MiB pages over shared memory waited 1.3 s of a 1.6 s phase on the index
  // family ("Stopping writes because we have 2 immutable memtables"); with four, 0.4 s, and
  // 665 against 435 MB/s (medians of three rounds, docs/transport.md).
  small_cf.max_write_buffer_number = options_.max_write_buffer_number;
  small_cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::ColumnFamilyOptions index_cf = small_cf;
  index_filter_ = std::make_unique<StaleIndexFilter>(&oldest_live_);
  index_cf.compaction_filter = index_filter_.get();

  rocksdb::ColumnFamilyOptions pages_cf;
  pages_cf.write_buffer_size = write_buffer_bytes_;
  pages_cf.max_write_buffer_number = options_.max_write_buffer_number;
  pages_cf.enable_blob_files = true;
  pages_cf.min_blob_size = options_.min_blob_size;
  pages_cf.blob_file_size = options_.blob_file_size;
  pages_cf.blob_compression_type = rocksdb::kNoCompression;  // KV tensors do not compress
  // No blob GC: it relocates live pages during compaction (measured: a third of the daemon's
  // CPU while writing 1 GiB). Space comes back by dropping whole generations.
  pages_cf.enable_blob_garbage_collection = false;
  // Where each page's blob record lies, so that a dead page's space can be freed in place.
  pages_cf.table_properties_collector_factories.push_back(NewBlobRefCollectorFactory(this));
  // Dead records named in dead_ leave the SSTs at their next compaction (dead_records.h).
  pages_cf.compaction_filter_factory = NewDeadRecordFilterFactory(
      &dead_,
      [this](uint32_t column_family_id) -> std::optional<uint64_t> {
        absl::MutexLock l(&locate_mu_);
        auto it = generation_of_family_.find(column_family_id);
        if (it == generation_of_family_.end()) return std::nullopt;
        return it->second;
      },
      [this](uint64_t generation, const NamespacedKey& page) {
        const auto e = keys_.Find(page.ns_id, page.hash);
        return e && e->generation == generation;
      });
  pages_cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  {
    absl::MutexLock l(&tuning_mu_);
    page_family_options_ = pages_cf;
    tuning_.write_buffer_bytes = pages_cf.write_buffer_size;
    tuning_.l0_slowdown_trigger = pages_cf.level0_slowdown_writes_trigger;
    tuning_.l0_stop_trigger = pages_cf.level0_stop_writes_trigger;
    tuning_.max_background_jobs = db_opts.max_background_jobs;
    tuning_.background_rate_bytes = 0;
    tuning_.promote_fraction = options_.promote_fraction;
  }
  promote_fraction_ = options_.promote_fraction;

  // The generations that exist, from the last run.
  std::vector<std::string> existing;
  std::vector<uint64_t> generations;
  if (rocksdb::DB::ListColumnFamilies(db_opts, options_.path, &existing).ok()) {
    for (const auto& name : existing) {
      if (name == kLegacyPagesFamily) {
        return absl::FailedPreconditionError(absl::StrCat(
            options_.path, " holds a store of format 1 (written by a development build before "
            "generations); move it away or delete it"));
      }
      if (auto n = ParseGenerationFamilyName(name)) generations.push_back(*n);
    }
  }
  std::sort(generations.begin(), generations.end());
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, small_cf}, {kIndexFamily, index_cf}};
  for (uint64_t n : generations) families.push_back({GenerationFamilyName(n), pages_cf});
  oldest_live_ = generations.empty() ? 1 : generations.front();
  if (options_.index_observer != nullptr) {
    keys_.set_observer(options_.index_observer);
    options_.index_observer->OldestLive(oldest_live_);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(db_opts, options_.path, families, &handles, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening store at ", options_.path));
  db_.reset(raw);
  opened_sequence_ = db_->GetLatestSequenceNumber();
  if (auto id = db_->GetDbIdentity(db_identity_); !id.ok()) {
    return FromRocks(id, "reading the store's identity");
  }
  RemoveOldInfoLogs(options_.path);  // after Open: the directory's LOCK is ours
  index_cf_ = handles[1];
  {
    absl::MutexLock l(&gen_mu_);
    for (size_t i = 0; i < generations.size(); ++i) {
      gens_[generations[i]] = std::make_shared<Generation>(db_.get(), generations[i], handles[2 + i]);
      RegisterFamily(*gens_[generations[i]]);
    }
  }
  // The default family's handle is owned by the DB; release ours.
  if (auto d = db_->DestroyColumnFamilyHandle(handles[0]); !d.ok()) {
    return FromRocks(d, "releasing a column family handle");
  }
  meta_cf_ = db_->DefaultColumnFamily();
  if (generations.empty()) {
    absl::MutexLock wl(&write_mu_);
    if (auto g = CreateGeneration(1); !g.ok()) return g.status();
  }
  if (auto st = LoadState(); !st.ok()) return st;
  compactor_ = std::thread([this] { CompactDeadRecords(); });
  absl::MutexLock wl(&write_mu_);
  {
    // What each generation's files hold on disk (live pages plus copies moved away since).
    absl::MutexLock l(&gen_mu_);
    for (auto& [n, g] : gens_) {
      rocksdb::ColumnFamilyMetaData meta;
      db_->GetColumnFamilyMetaData(g->handle, &meta);
      g->written = std::max<uint64_t>(g->total.bytes, meta.size + meta.blob_file_size);
      g->stored = BlobRecordBytes(meta);  // memtables start empty
      SeeBlobFiles(*g, meta, /*scan=*/true);
      g->records = SstRecords(meta);
    }
  }
  if (auto st = LoadBlobRefs(); !st.ok()) return st;
  if (PageEviction() && options_.adaptive_insertion) {
    duel_ = std::make_unique<InsertionDuel>(InsertionDuel::Options{});
  }
  // Saves cut short by a crash (ReplaceFile's temporaries).
  for (const char* file : {StoreOptions::kEvictionOrderFile, StoreOptions::kEvictionOrderJournal}) {
    std::error_code ec;
    std::filesystem::remove(JoinFilePath(options_.path, std::string(file) + ".tmp"), ec);
  }
  if (PageEviction()) {
    BuildLru();
    if (Journaling()) saver_ = std::thread([this] { SyncOrderPeriodically(); });
  } else {  // an order saved under --eviction pages means nothing here, and takes disk
    std::error_code ec;
    std::filesystem::remove(JoinFilePath(options_.path, StoreOptions::kEvictionOrderFile), ec);
    std::filesystem::remove(JoinFilePath(options_.path, StoreOptions::kEvictionOrderJournal), ec);
  }
  // The capacity may have shrunk since the last run. Failing to make room is no reason not to
  // serve what is there: writes will say RESOURCE_EXHAUSTED until there is room.
  if (auto s = MakeRoom(0, /*opening=*/true); !s.ok()) spdlog::warn("at start: {}", s.ToString());
  return absl::OkStatus();
}

absl::Status StoreImpl::LoadCorruptMarkers(
    const absl::flat_hash_map<uint32_t, std::shared_ptr<NamespaceState>>& by_id) {
  std::vector<std::pair<uint64_t, NamespacedKey>> markers;  // (sequence, key)
  rocksdb::WriteBatch prune;  // undecodable, of deleted namespaces, or past the capacity
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  for (it->Seek(rocksdb::Slice(kMetaCorruptPrefix.data(), kMetaCorruptPrefix.size())); it->Valid();
       it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    if (!k.starts_with(kMetaCorruptPrefix)) break;
    NamespacedKey key;
    if (!DecodeCorruptMarkerKey(k, &key) || it->value().size() != 8 || !by_id.contains(key.ns_id)) {
      prune.Delete(meta_cf_, it->key());
      continue;
    }
    markers.emplace_back(GetLittle64(it->value().data()), key);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading corrupt-page markers");
  std::sort(markers.begin(), markers.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const size_t past =
      markers.size() > kCorruptKeysRemembered ? markers.size() - kCorruptKeysRemembered : 0;
  for (size_t i = 0; i < markers.size(); ++i) {
    const NamespacedKey& key = markers[i].second;
    if (i < past) {
      prune.Delete(meta_cf_, CorruptMarkerKey(key.ns_id, key.hash));
    } else {
      corrupt_keys_.Add(key.ns_id, key.hash);
    }
    next_corrupt_seq_ = std::max(next_corrupt_seq_, markers[i].first + 1);
  }
  if (prune.Count() > 0) {
    if (auto s = db_->Write(rocksdb::WriteOptions(), &prune); !s.ok()) {
      spdlog::warn("pruning corrupt-page markers: {}", s.ToString());
    }
  }
  return absl::OkStatus();
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
      by_id_[rec->id] = st;
      next_ns_id_ = std::max(next_ns_id_, rec->id + 1);
      namespaces_[st->info.name] = st;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading namespaces");
    // Namespace settings: `prefix + name` -> an 8-byte value (StoreSetting writes them).
    auto load_settings = [&](std::string_view prefix, std::string_view what,
                             auto apply) -> absl::Status {
      for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
        std::string_view k(it->key().data(), it->key().size());
        if (!k.starts_with(prefix)) break;
        auto ns = namespaces_.find(std::string(k.substr(prefix.size())));
        if (ns != namespaces_.end() && it->value().size() == 8) {
          apply(*ns->second, GetLittle64(it->value().data()));
        }
      }
      return it->status().ok() ? absl::OkStatus() : FromRocks(it->status(), what);
    };
    auto loaded = load_settings(kMetaNamespaceTtlPrefix, "reading namespace TTLs",
                                [&](NamespaceState& ns, uint64_t ttl) {
                                  ns.ttl_seconds.store(ttl);
                                  ObserveTtl(ns);
                                });
    if (!loaded.ok()) return loaded;
    loaded = load_settings(kMetaNamespaceQuotaPrefix, "reading namespace quotas",
                           [](NamespaceState& ns, uint64_t quota) { ns.quota_bytes.store(quota); });
    if (!loaded.ok()) return loaded;
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), meta_cf_, kMetaNextNamespaceId, &v);
    if (s.ok() && v.size() == 4) next_ns_id_ = std::max(next_ns_id_, GetLittle32(v.data()));
  }
  if (auto s = LoadCorruptMarkers(by_id); !s.ok()) return s;
  std::vector<uint32_t> orphans;
  uint64_t total = 0, stale = 0;
  std::map<uint64_t, GenerationPtr> gens;
  {
    absl::MutexLock l(&gen_mu_);
    gens = gens_;
  }
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
      NamespacedKey key;
      if (!DecodeIndexKey(std::string_view(it->key().data(), it->key().size()), &key)) {
        return absl::DataLossError("undecodable index key");
      }
      // Records of evicted pages too, as in the family: Exists counts a miss on one as evicted.
      keys_.Set(key.ns_id, key.hash, *rec);
      auto g = gens.find(rec->generation);
      if (g == gens.end()) {
        ++stale;  // its generation was dropped: evicted; compaction will remove the record
      } else {
        g->second->Add(id, rec->size);
        found->second->pages.fetch_add(1, std::memory_order_relaxed);
        found->second->bytes.fetch_add(rec->size, std::memory_order_relaxed);
        ++total;
      }
      it->Next();
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading the index");
  }
  unswept_pages_ = stale;  // in the key index until a sweep (SweepKeyIndex)
  for (uint32_t id : orphans) {
    rocksdb::WriteBatch batch;
    batch.DeleteRange(index_cf_, NamespacePrefix(id), NamespaceLimit(id));
    for (const auto& [n, g] : gens) {
      batch.DeleteRange(g->handle, NamespacePrefix(id), NamespaceLimit(id));
    }
    auto s = db_->Write(rocksdb::WriteOptions(), &batch);
    if (!s.ok()) return FromRocks(s, "removing pages of a deleted namespace");
    spdlog::info("removed pages of deleted namespace id {}", id);
  }
  spdlog::info(
      "store open at {}: {} namespaces, {} pages in {} generations ({} index records "
      "of evicted pages awaiting compaction); key index in memory: {}",
      options_.path, namespaces_.size(), total, gens.size(), stale,
      util::FormatByteSize(keys_.MemoryBytes()));
  return absl::OkStatus();
}

absl::StatusOr<OpenResult> StoreImpl::OpenNamespace(std::string_view name,
                                                    const Fingerprint& fp,
                                                    const NamespaceOptions& options) {
  if (auto s = ValidateNamespaceName(name); !s.ok()) return s;
  if (auto s = fp.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("fingerprint: ", s.message()));
  }
  if (options.quota_bytes.value_or(0) != 0 && !PageEviction()) {
    return absl::FailedPreconditionError(
        "a namespace quota needs single-page eviction (--eviction pages): with generations, "
        "a namespace's pages cannot be evicted alone");
  }
  absl::MutexLock wl(&write_mu_);
  absl::MutexLock l(&ns_mu_);
  if (auto it = namespaces_.find(std::string(name)); it != namespaces_.end()) {
    auto diff = DiffFingerprints(it->second->info.fingerprint, fp);
    if (!diff.empty()) {
      it->second->refused_opens.fetch_add(1, std::memory_order_relaxed);
      return absl::FailedPreconditionError(
          absl::StrCat("namespace '", std::string(name), "' exists with a different fingerprint; fields "
                       "that differ: ", absl::StrJoin(diff, ", ")));
    }
    if (options.ttl_seconds && *options.ttl_seconds != it->second->ttl_seconds.load()) {
      if (auto s = StoreTtl(name, *options.ttl_seconds); !s.ok()) return s;
      it->second->ttl_seconds.store(*options.ttl_seconds);
      ObserveTtl(*it->second);
      spdlog::info("namespace '{}': TTL now {} s", name, *options.ttl_seconds);
    }
    if (options.quota_bytes && *options.quota_bytes != it->second->quota_bytes.load()) {
      if (auto s = StoreQuota(name, *options.quota_bytes); !s.ok()) return s;
      it->second->quota_bytes.store(*options.quota_bytes);
      spdlog::info("namespace '{}': quota now {} bytes", name, *options.quota_bytes);
    }
    return OpenResult{it->second->Info(), false};
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
  if (options.ttl_seconds.value_or(0) != 0) {
    if (auto s = StoreTtl(name, *options.ttl_seconds); !s.ok()) return s;
    st->ttl_seconds.store(*options.ttl_seconds);
    ObserveTtl(*st);
  }
  if (options.quota_bytes.value_or(0) != 0) {
    if (auto s = StoreQuota(name, *options.quota_bytes); !s.ok()) return s;
    st->quota_bytes.store(*options.quota_bytes);
  }
  namespaces_[st->info.name] = st;
  by_id_[id] = st;
  spdlog::info("created namespace '{}' (id {}, model {}, dtype {}, page {} tokens / {} bytes)",
               name, id, fp.model, fp.dtype, fp.page_tokens, fp.page_bytes);
  return OpenResult{st->Info(), true};
}

absl::Status StoreImpl::StoreTtl(std::string_view name, uint64_t ttl_seconds) {
  return StoreSetting(kMetaNamespaceTtlPrefix, name, ttl_seconds, "storing a namespace's TTL");
}

absl::Status StoreImpl::StoreQuota(std::string_view name, uint64_t quota_bytes) {
  return StoreSetting(kMetaNamespaceQuotaPrefix, name, quota_bytes,
                      "storing a namespace's quota");
}

absl::Status StoreImpl::StoreSetting(std::string_view prefix, std::string_view name,
                                     uint64_t value, std::string_view what) {
  const std::string key = std::string(prefix).append(name);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s;
  if (value == 0) {
    s = db_->Delete(wo, meta_cf_, key);
  } else {
    std::string v;
    PutLittle64(&v, value);
    s = db_->Put(wo, meta_cf_, key, v);
  }
  return s.ok() ? absl::OkStatus() : FromRocks(s, what);
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

std::shared_ptr<NamespaceState> StoreImpl::ById(uint32_t ns_id) {
  absl::MutexLock l(&ns_mu_);
  auto it = by_id_.find(ns_id);
  return it == by_id_.end() ? nullptr : it->second;
}

absl::StatusOr<NamespaceInfo> StoreImpl::LookupNamespace(NamespaceRef ref) {
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  return (*st)->Info();
}

absl::StatusOr<uint64_t> StoreImpl::DeleteNamespace(NamespaceRef ref) {
  absl::MutexLock wl(&write_mu_);
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  uint32_t id = (*st)->info.id;
  rocksdb::WriteBatch batch;
  batch.Delete(meta_cf_, std::string(kMetaNamespacePrefix).append(ref.name));
  batch.Delete(meta_cf_, std::string(kMetaNamespaceTtlPrefix).append(ref.name));
  batch.Delete(meta_cf_, std::string(kMetaNamespaceQuotaPrefix).append(ref.name));
  batch.DeleteRange(index_cf_, NamespacePrefix(id), NamespaceLimit(id));
  batch.DeleteRange(meta_cf_, CorruptMarkerKey(id, KeyHash{}), CorruptMarkerLimit(id));
  std::map<uint64_t, GenerationPtr> gens;
  {
    absl::MutexLock l(&gen_mu_);
    gens = gens_;
  }
  for (const auto& [n, g] : gens) {
    batch.DeleteRange(g->handle, NamespacePrefix(id), NamespaceLimit(id));
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (auto s = db_->Write(wo, &batch); !s.ok()) return FromRocks(s, "deleting namespace");
  for (const auto& [page, entry] : keys_.EraseNamespace(id)) {
    Retire(entry.generation, page, entry);
  }
  for (const auto& [n, g] : gens) {
    auto c = g->per_namespace.find(id);
    if (c == g->per_namespace.end()) continue;
    g->total.pages -= c->second.pages;
    g->total.bytes -= c->second.bytes;
    g->per_namespace.erase(c);
  }
  ReclaimDead();
  absl::MutexLock l(&ns_mu_);
  namespaces_.erase(std::string(ref.name));
  by_id_.erase(id);
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
      out.namespaces.push_back(NamespaceStatsEntry{st->Info(), st->Snapshot()});
    }
  }
  std::sort(out.namespaces.begin(), out.namespaces.end(),
            [](const auto& a, const auto& b) { return a.info.name < b.info.name; });
  for (const auto& n : out.namespaces) {
    out.pages += n.counters.pages;
    out.bytes += n.counters.bytes;
  }
  out.disk_bytes = DirectoryBytes(options_.path);
  out.generation_bytes = generation_bytes_;
  out.evicted_generations = evicted_generations_.load(std::memory_order_relaxed);
  out.key_index_entries = keys_.size();
  out.key_index_bytes = keys_.MemoryBytes();
  {
    absl::MutexLock l(&lru_mu_);
    out.lru_entries = lru_.size();
    out.unread_pages = unread_live_;
    out.probation_target_pages = uint64_t(std::max(probation_.exact_target(), 0.0));
    out.ghost_unread_pages = probation_.unread_ghosts();
    out.ghost_read_pages = probation_.read_ghosts();
  }
  if (duel_) {
    const InsertionDuel::Stats d = duel_->GetStats();
    out.bimodal_insertion = d.bimodal;
    out.bimodal_puts = d.front_puts;
    out.probation_insertion = d.probation;
    out.probation_puts = d.probation_puts;
  }
  out.promoted_bytes = promoted_bytes_.load(std::memory_order_relaxed);
  out.promotions_declined = promotions_declined_.load(std::memory_order_relaxed);
  out.promote_budget = options_.promote_budget;
  out.reclaimed_records = reclaimed_records_.load(std::memory_order_relaxed);
  out.reclaimed_bytes = reclaimed_bytes_.load(std::memory_order_relaxed);
  out.dead_records_dropped = dead_.removed();
  out.record_compactions = record_compactions_.load(std::memory_order_relaxed);
  const PageCacheStats cache = cache_.Stats();
  out.memory_cache_capacity = cache.capacity_bytes;
  out.memory_cache_bytes = cache.bytes;
  out.memory_cache_hits = cache.hits;
  out.memory_cache_misses = cache.misses;
  {
    absl::MutexLock l(&gen_mu_);
    out.generations = gens_.size();
  }
  return out;
}

absl::Status StoreImpl::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> all = {meta_cf_, index_cf_};
  std::vector<GenerationPtr> hold;  // keeps the handles valid during the flush
  {
    absl::MutexLock l(&gen_mu_);
    for (const auto& [n, g] : gens_) {
      all.push_back(g->handle);
      hold.push_back(g);
    }
  }
  return FromRocks(db_->Flush(fo, all), "flushing");
}

}  // namespace prefixd::storage
