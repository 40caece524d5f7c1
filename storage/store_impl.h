// Internal to storage/: the RocksDB-backed Store. Split by concern across store_open.cc
// (open, namespaces, stats), store_pages.cc (exists, put, get, delete), store_budget.cc
// (generations, the disk budget, eviction and promotion), store_reclaim.cc (dead pages freed in
// place) and store_stranded.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "rocksdb/rate_limiter.h"
#include "rocksdb/statistics.h"
#include "storage/blob_refs.h"
#include "storage/corrupt_log.h"
#include "storage/dead_records.h"
#include "storage/generations.h"
#include "storage/insertion_duel.h"
#include "storage/key_index.h"
#include "storage/order_journal.h"
#include "storage/page_cache.h"
#include "storage/probation_target.h"
#include "storage/read_registry.h"
#include "storage/records.h"
#include "storage/store.h"
#include "util/disk_usage.h"
#include "util/latency_histogram.h"

namespace prefixd::storage {

using util::DirectoryBytes;

// Counters of one namespace. Updated with relaxed atomics; pages/bytes only under write_mu_.
// Keys of pages dropped as corrupt that the store remembers (about 100 bytes each).
inline constexpr size_t kCorruptKeysRemembered = 32768;

// RocksDB's metadata names a file by a directory and a name that may begin with '/'.
inline std::string JoinFilePath(const std::string& dir, const std::string& name) {
  return !name.empty() && name.front() == '/' ? dir + name : dir + "/" + name;
}

// A file of a dropped generation, until it leaves the disk.
struct DroppedFile {
  std::string path;
};

// What an index record takes in an SST, at most: its key (21 bytes), its value (at most 123:
// fixed fields, the parent's hash and a client key of kMaxClientKeyBytes) and RocksDB's
// per-entry overhead (sequence number, lengths, filter and index shares). DiskEstimate counts
// the index family's records not flushed yet at this size.
inline constexpr uint64_t kIndexEntryDiskBytes = 192;

// How long eviction waits for a dropped generation's files to leave the disk.
inline constexpr std::chrono::milliseconds kDroppedFilesWait{1000};

// The background rate limiter's "unlimited": 1 TB/s.
inline constexpr int64_t kUnlimitedRate = int64_t{1} << 40;

struct NamespaceState {
  NamespaceInfo info;
  std::atomic<uint64_t> pages{0}, bytes{0}, puts{0}, put_existing{0}, hits{0}, misses{0},
      exists_queries{0}, exists_hits{0}, corrupt_dropped{0}, deleted{0}, evicted_pages{0},
      evicted_bytes{0}, promoted_pages{0}, miss_evicted{0}, miss_not_stored{0},
      miss_stranded{0}, miss_corrupt{0}, refused_opens{0}, miss_expired{0}, expired_pages{0},
      expired_bytes{0}, miss_evicted_unread{0}, put_bytes{0};
  std::atomic<uint64_t> ttl_seconds{0};  // 0: none
  std::atomic<uint64_t> quota_bytes{0};  // 0: none (NamespaceOptions::quota_bytes)

  // True if a page written at `created_unix` is past the TTL at `now`.
  bool Expired(uint64_t created_unix, uint64_t now) const {
    const uint64_t ttl = ttl_seconds.load(std::memory_order_relaxed);
    return ttl != 0 && created_unix + ttl <= now;
  }
  // info, with the TTL in force now.
  NamespaceInfo Info() const {
    NamespaceInfo i = info;
    i.ttl_seconds = ttl_seconds.load(std::memory_order_relaxed);
    i.quota_bytes = quota_bytes.load(std::memory_order_relaxed);
    return i;
  }

  NamespaceCounters Snapshot() const;
};

// A snapshot of `db`, released when this goes out of scope.
class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB* db) : db_(db), snap_(db->GetSnapshot()) {}
  ~ScopedSnapshot() { db_->ReleaseSnapshot(snap_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snap_; }

 private:
  rocksdb::DB* const db_;
  const rocksdb::Snapshot* const snap_;
};

class StoreImpl final : public Store, private BlobRefListener {
 public:
  explicit StoreImpl(const StoreOptions& options);
  ~StoreImpl() override;

  absl::Status Init();

  absl::StatusOr<OpenResult> OpenNamespace(std::string_view name, const Fingerprint& fp,
                                           const NamespaceOptions& options) override;
  absl::StatusOr<NamespaceInfo> LookupNamespace(NamespaceRef ref) override;
  absl::StatusOr<std::vector<bool>> Exists(NamespaceRef ns,
                                           std::span<const std::string> keys) override;
  absl::Status CountOutsideExists(NamespaceRef ns, uint64_t asked, uint64_t present,
                                  uint64_t expired) override;
  absl::StatusOr<std::vector<PageState>> Explain(NamespaceRef ns,
                                                 std::span<const std::string> keys) override;
  absl::StatusOr<PutResult> Put(NamespaceRef ns, std::string_view parent_key,
                                std::span<const PageWrite> pages) override;
  absl::StatusOr<GetResult> Get(NamespaceRef ns, std::span<const std::string> keys,
                                uint32_t max_pages, const PageSink& sink) override;
  absl::StatusOr<uint32_t> Delete(NamespaceRef ns, std::span<const std::string> keys) override;
  absl::StatusOr<uint64_t> DeleteNamespace(NamespaceRef ns) override;
  absl::StatusOr<StoreStats> Stats() override;
  absl::StatusOr<std::vector<StrandedCount>> CountStranded() override;
  absl::Status Flush() override;
  absl::Status SaveEvictionOrder() override ABSL_LOCKS_EXCLUDED(lru_mu_, saver_mu_);
  absl::Status SyncEvictionOrder() override ABSL_LOCKS_EXCLUDED(lru_mu_, saver_mu_);
  StoreSignals Signals() override;
  Tuning CurrentTuning() override;
  absl::Status ApplyTuning(const Tuning& tuning) override;

 private:
  using GenerationPtr = std::shared_ptr<Generation>;

  absl::StatusOr<std::shared_ptr<NamespaceState>> Resolve(NamespaceRef ref);
  std::shared_ptr<NamespaceState> ById(uint32_t ns_id);

  // Tells the index observer (if any) of `ns`'s TTL.
  void ObserveTtl(const NamespaceState& ns) const {
    if (options_.index_observer != nullptr) {
      options_.index_observer->Ttl(ns.info.id, ns.ttl_seconds.load(std::memory_order_relaxed));
    }
  }
  // Persists (or, for 0, removes) namespace `name`'s TTL. REQUIRES: write_mu_ held.
  absl::Status StoreTtl(std::string_view name, uint64_t ttl_seconds);
  // Persists (or, for 0, removes) namespace `name`'s quota. REQUIRES: write_mu_ held.
  absl::Status StoreQuota(std::string_view name, uint64_t quota_bytes);
  // The namespace-setting record `prefix + name` set to `value`, or removed for 0.
  absl::Status StoreSetting(std::string_view prefix, std::string_view name, uint64_t value,
                            std::string_view what);
  // Loads namespaces from "meta" and page counts from "index"; drops orphaned pages.
  absl::Status LoadState();
  // Loads the corrupt-page markers of namespaces in `by_id` into corrupt_keys_ (the newest
  // kCorruptKeysRemembered) and deletes the rest. REQUIRES: write_mu_ held.
  absl::Status LoadCorruptMarkers(
      const absl::flat_hash_map<uint32_t, std::shared_ptr<NamespaceState>>& by_id);

  // Index records of `keys` in namespace `ns_id`, in order; nullopt where absent. Reads at
  // `snapshot` when given. Records of dropped generations are returned too (see Live).
  absl::StatusOr<std::vector<std::optional<IndexRecord>>> ReadIndex(
      uint32_t ns_id, std::span<const std::string> keys,
      const rocksdb::Snapshot* snapshot = nullptr);

  // Resolve() again under write_mu_: the namespace must still be `st` (not deleted or
  // recreated since the caller resolved it without the lock).
  absl::Status StillCurrent(const NamespaceState* st, NamespaceRef ref)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Adds page `rec` (its generation `gen`) with `bytes` and its index record to `batch`.
  // `hash` is HashKey(rec.key). Returns the bytes of its blob record if the value goes to a
  // blob file (Generation::stored), else 0.
  uint64_t AddPage(rocksdb::WriteBatch* batch, const Generation& gen, uint32_t ns_id,
                   const IndexRecord& rec, const KeyHash& hash, std::string_view bytes);

  // Removes one corrupt page and its index record, and counts it.
  void DropCorrupt(NamespaceState& ns, const std::string& key, const IndexRecord& rec)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // ---- blob records freed in place (store_reclaim.cc) ----

  // BlobRefListener, on RocksDB's flush and compaction threads: records where a page of a
  // generation family lies, or queues the record for ReclaimDead when the key index does not
  // point at it (yet: the writer mirrors the key index just after its write).
  // A record a compaction reports again (not `flushed`) never locates a page: it may be an
  // older copy of one written again into the same generation and not flushed yet.
  void Located(uint32_t column_family_id, const NamespacedKey& page, const BlobRef& ref,
               bool flushed) override ABSL_LOCKS_EXCLUDED(locate_mu_);
  // A copy of page `page` in `generation` that nothing will point at any more (deleted,
  // copied forward, replaced, dropped as corrupt): its blob record is freed once no read in
  // flight can reach it, and its SST record may go after that (dead_records.h). Call after the
  // change is written and mirrored. Nothing if not located.
  void Retire(uint64_t generation, const NamespacedKey& page, const KeyIndex::Entry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Retire, for a record known by its blob record; nothing if it is retired already.
  void RetireRecord(uint64_t generation, const NamespacedKey& page, const BlobRef& ref)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Whether a record a compaction reported again is the page's own (its key index entry is in
  // `generation` at `ref`, or not located yet): nothing to do for it.
  bool OwnRecord(uint64_t generation, const NamespacedKey& page, const BlobRef& ref) const;
  // Whether `ref`'s record lies within blocks freed already.
  bool FreedAlready(const BlobRef& ref) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Queues for compaction those of the generations `named` (dead records were named there)
  // that are written into no more and a quarter dead or more.
  void QueueCompactions(const absl::flat_hash_set<uint64_t>& named)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(compact_mu_);
  // Matches the records Located could not, and frees retired records whose readers are gone
  // and whose blob file RocksDB has installed; what is not ready waits for the next call.
  // Names the records freed to dead_, and queues for compaction the generations no longer
  // written into where they are a quarter of the records or more.
  void ReclaimDead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Generation::SeeBlobFiles, and forgets the freed extents of the files gone.
  void SeeBlobFiles(Generation& g, const rocksdb::ColumnFamilyMetaData& meta, bool scan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The thread that compacts the generations queued by ReclaimDead, one at a time, with
  // CompactFiles (all of a generation's SSTs), so that the filter drops their dead records.
  // Runs until compactor_stop_.
  void CompactDeadRecords() ABSL_LOCKS_EXCLUDED(compact_mu_, write_mu_);
  // Compacts generation `number`'s SSTs now; OK if there is nothing to do.
  absl::Status CompactGeneration(uint64_t number) ABSL_LOCKS_EXCLUDED(write_mu_);
  // At open: where every page of every generation lies, from its SSTs' properties; records no
  // index entry points at are copies left by the last run, and are retired.
  absl::Status LoadBlobRefs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Makes generation `g`'s family known to Located.
  void RegisterFamily(const Generation& g) ABSL_LOCKS_EXCLUDED(locate_mu_);

  // ---- single pages evicted (StoreOptions::Eviction::kPages; store_evict.cc) ----

  bool PageEviction() const { return options_.eviction == StoreOptions::Eviction::kPages; }
  // Whether the eviction order's journal is kept (StoreOptions::eviction_order_interval).
  bool Journaling() const {
    return PageEviction() && options_.eviction_order_interval > absl::ZeroDuration();
  }
  // Evicts the least recently used pages until their blob records add up to `bytes`: marks
  // their index records evicted (generation 0) and retires their records. Returns the bytes
  // retired; 0 when no page can be freed now (none in a blob file yet). Then drops
  // generations left without a live page.
  // With `only_ns`, only that namespace's pages go, and the others keep their places.
  absl::StatusOr<uint64_t> EvictPages(uint64_t bytes,
                                      std::optional<uint32_t> only_ns = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Makes room for `incoming` page bytes within `ns`'s quota, if it has one, by evicting its
  // own least recently used pages (NamespaceOptions::quota_bytes).
  absl::Status MakeNamespaceRoom(NamespaceState& ns, uint64_t incoming)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Drops every generation but the newest that holds no live page.
  void DropEmptyGenerations() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Frees the expired pages (past their namespace's TTL) of every namespace, ahead of any
  // live page, when a put needs room (store_expire.cc): their index records are marked
  // evicted and their records retired as EvictPages does, counted as expired pages reclaimed,
  // not as evictions, and remembered by no ghost (the policy did not choose them). Looks at
  // the key index at most once a second, and less often where a look takes longer (it costs
  // a pass over every entry), for at most kReapScanPages expired pages; frees at most
  // kReapBatchPages a call (one write batch), the rest at the next calls. Returns the bytes
  // retired.
  absl::StatusOr<uint64_t> ReapExpired() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  static constexpr size_t kReapScanPages = size_t{1} << 20;
  static constexpr size_t kReapBatchPages = 16384;
  // ---- the eviction order across restarts (store_order.cc) ----

  // At open: the LRU and unread queues in the order saved (eviction_order.h), and the duel as
  // it was, then the uses of its journal (order_journal.h) replayed. Pages a file saved before
  // the last writes does not list (written since) are queued as the most recent, unread;
  // without a file of this DB every page is queued oldest generation first. Opens the journal
  // for the syncs of StoreOptions::eviction_order_interval, or removes it without them.
  void BuildLru() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(saver_mu_);
  // SaveEvictionOrder, under saver_mu_.
  absl::Status SaveEvictionOrderLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(saver_mu_);
  // The thread of StoreOptions::eviction_order_interval: SyncEvictionOrder each interval,
  // until saver_stop_.
  void SyncOrderPeriodically() ABSL_LOCKS_EXCLUDED(saver_mu_);
  // Pages of one chain just used (written or read; `pages` in chain order, each with the
  // generation it was used in) become the most recently used, the deepest least recent of
  // them: a chain is evicted from its end, and its prefix stays usable longest (as SGLang's
  // radix cache evicts leaves first). A page whose entry has moved since is skipped.
  // Returns whether a queue has grown past the point where CompactLru looks at it.
  // Use::kWritten: pages a put just wrote, queued as `how` (insertion_duel.h): kFront puts
  // them at the front instead, the deepest at the very front; with adaptive insertion they are
  // also queued as unread (but for those evicted unread lately: ProbationTarget::Written). A
  // page used again is no longer unread.
  enum class Use { kUsed, kWritten };
  bool TouchPages(uint32_t ns_id, std::span<const std::pair<KeyHash, uint32_t>> pages,
                  Use use = Use::kUsed,
                  InsertionDuel::Insertion how = InsertionDuel::Insertion::kLru)
      ABSL_LOCKS_EXCLUDED(lru_mu_);
  // Drops the LRU and unread queues' stale entries once one has doubled since the last look
  // (pages read again leave one each; eviction drops those it meets): a store read far more
  // than it evicts does not grow them without bound. Counts the unread pages afresh.
  void CompactLru() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(lru_mu_);
  // With the journal on (store_order.cc), adds to journal_buf_ a use of pages as TouchPages
  // takes it, or pages evicted (their ghost fingerprints; `unread`: not read since written).
  void RecordUse(uint32_t ns_id, std::span<const std::pair<KeyHash, uint32_t>> pages, Use use,
                 InsertionDuel::Insertion how) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lru_mu_);
  void RecordGhost(std::span<const uint64_t> evicted, bool unread)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lru_mu_);

  // ---- generations and the budget (store_budget.cc) ----

  // The generation `number` if it is live, else nullptr (dropped: the page was evicted).
  GenerationPtr Find(uint64_t number);
  GenerationPtr Newest();
  bool Live(uint64_t number) const {
    return number >= oldest_live_.load(std::memory_order_relaxed);
  }
  // Creates generation `number` (opening the store: every existing one).
  absl::StatusOr<GenerationPtr> CreateGeneration(uint64_t number)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Makes room for `incoming` more bytes of pages: starts a new generation when the newest is
  // full, and drops the oldest while the files would pass the capacity.
  // RESOURCE_EXHAUSTED when nothing is left to drop and the pages still do not fit.
  // `opening`: at start-up, evict only past 102 % of the capacity.
  absl::Status MakeRoom(uint64_t incoming, bool opening = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Drops the oldest generation. Its files are counted as gone at once (DiskEstimate); with
  // `await_files`, waits (at most kDroppedFilesWait) until they are. REQUIRES: the caller
  // holds no reference to that generation.
  absl::Status DropOldest(bool await_files) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Drops generation `number` (never the newest) as DropOldest does.
  absl::Status DropGeneration(uint64_t number, bool await_files)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Removes keys_'s entries of generations dropped past the eviction horizon and of pages
  // evicted alone, once they are an eighth of it (a sweep reads every entry).
  void SweepKeyIndex() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void AwaitDeleted(uint64_t number, const std::vector<DroppedFile>& files)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The bytes the store's files may take now: the capacity (102 % of it at open), and no
  // more than the file system can give; `by_file_system` when the latter is the limit.
  struct Room {
    uint64_t bytes;
    bool by_file_system;
  };
  Room Budget(bool opening) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes a batch of pages into generation `target`; on a full device, evicts the oldest
  // generation (never `target`), resumes RocksDB and retries once. RESOURCE_EXHAUSTED when
  // there is still no room.
  absl::Status WriteWithRoom(rocksdb::WriteBatch* batch, uint64_t target)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Bytes under the store path, from a scan at most 100 ms old (less the files of dropped
  // generations not deleted yet, at the blocks they hold, and less the blob files flushes are
  // still writing, up to the unflushed bytes), plus the page bytes not in blob files at that
  // scan (Generation::Unflushed) and the index family's unflushed records
  // (kIndexEntryDiskBytes each), less the blob records retired and not freed yet.
  uint64_t DiskEstimate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The live generations' page bytes not in blob files at the last scan (Generation::Unflushed).
  uint64_t UnflushedBytes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Copies pages served from old generations into the newest one; `bytes[i]` is the page
  // of `recs[i]`, valid during the call.
  void Promote(NamespaceState& ns, const std::vector<const IndexRecord*>& recs,
               const std::vector<std::string_view>& bytes) ABSL_LOCKS_EXCLUDED(write_mu_);

  const StoreOptions options_;
  // Tuning (store_tuning.cc). The page family options template is guarded by gen_mu_ (new
  // generations are created from it).
  mutable absl::Mutex tuning_mu_;
  Tuning tuning_ ABSL_GUARDED_BY(tuning_mu_);
  std::atomic<double> promote_fraction_{0};
  std::shared_ptr<rocksdb::Statistics> statistics_;
  std::shared_ptr<rocksdb::RateLimiter> rate_limiter_;
  PageCache cache_{options_.memory_cache_bytes};  // verified hot pages
  CorruptLog corrupt_keys_{kCorruptKeysRemembered};  // pages dropped as corrupt, recently
  KeyIndex keys_;  // the index family in memory, for Exists and Get
  // Pages of generations dropped since keys_ was last swept (SweepKeyIndex).
  uint64_t unswept_pages_ ABSL_GUARDED_BY(write_mu_) = 0;
  uint64_t write_buffer_bytes_ = 0;  // resolved from options_
  uint64_t generation_bytes_ = 0;    // resolved from options_
  rocksdb::ColumnFamilyOptions page_family_options_ ABSL_GUARDED_BY(tuning_mu_);
  // Declared before db_ so that they outlive the DB that calls them.
  std::atomic<uint64_t> oldest_live_{0};
  DeadRecords dead_;  // dead records to drop from the generations' SSTs (dead_records.h)
  std::unique_ptr<StaleIndexFilter> index_filter_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;   // owned by db_ (the default family)
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;  // destroyed before db_

  // Serialises writers so that "present?" checks and counts stay exact.
  absl::Mutex write_mu_;
  uint64_t scanned_bytes_ ABSL_GUARDED_BY(write_mu_) = 0;
  // Bytes Promote may still copy (StoreOptions::promote_budget).
  double promote_credit_ ABSL_GUARDED_BY(write_mu_) = 0;
  uint64_t next_corrupt_seq_ ABSL_GUARDED_BY(write_mu_) = 0;  // of the next corrupt marker
  std::chrono::steady_clock::time_point last_scan_ ABSL_GUARDED_BY(write_mu_);
  std::atomic<uint64_t> evicted_generations_{0}, promoted_bytes_{0}, promotions_declined_{0};
  // Time inside Put, Get and Exists calls (errors included), for the controller's signals.
  util::LatencyHistogram put_latency_, get_latency_, exists_latency_;
  // Files of dropped generations that were still on the disk at the last scan.
  std::vector<DroppedFile> dropped_files_ ABSL_GUARDED_BY(write_mu_);

  // Blob records freed in place (store_reclaim.cc).
  ReadRegistry reads_;  // Get's reads in flight
  struct Retired {
    uint64_t generation;
    NamespacedKey page;
    BlobRef ref;
    uint64_t ticket;  // reads_.Now() when it was retired
  };
  std::vector<Retired> retired_ ABSL_GUARDED_BY(write_mu_);
  // (file number, offset) of each record in retired_.
  absl::flat_hash_set<std::pair<uint64_t, uint64_t>> retired_refs_ ABSL_GUARDED_BY(write_mu_);
  uint64_t retired_bytes_ ABSL_GUARDED_BY(write_mu_) = 0;  // of retired_, not freed yet
  // Freed extents of each blob file, by file number (start -> end), merged where records
  // touch: records are packed end to end, so a block shared by two records is freed once
  // both are (a 32 KiB page alone frees only its whole blocks, 28 of its 36 KiB of blocks).
  absl::flat_hash_map<uint64_t, std::map<uint64_t, uint64_t>> freed_extents_
      ABSL_GUARDED_BY(write_mu_);
  // The DB's last sequence number when it opened, and its identity: an eviction order saved at
  // that sequence is exact; one of another DB is not used.
  uint64_t opened_sequence_ = 0;
  std::string db_identity_;
  // Eviction order saves and syncs (store_order.cc), one at a time: the journal of the last
  // save (none: the next sync saves in full) and that save's size. The syncing thread runs
  // until saver_stop_.
  absl::Mutex saver_mu_ ABSL_ACQUIRED_BEFORE(lru_mu_);
  std::optional<OrderJournal> journal_ ABSL_GUARDED_BY(saver_mu_);
  uint64_t saved_bytes_ ABSL_GUARDED_BY(saver_mu_) = 0;
  bool saver_stop_ ABSL_GUARDED_BY(saver_mu_) = false;
  std::thread saver_;
  // Eviction::kPages: pages in the order of their last use, least recent first, each with the
  // generation and tick of that use. An entry is current while the page's key index entry is
  // in that generation with that tick (Entry::touched): a page used again is queued again and
  // its older entry goes stale, as does the entry of a page moved, deleted or evicted since.
  // Stale entries are skipped where met. Ticks are 31 bits (the top one marks unread pages,
  // below): a page unused for 2^31 uses of others may find a stale entry matching and go
  // early, which costs a hit, not a page.
  // Pops happen under write_mu_ only (EvictPages); pushes come from gets too.
  struct LruEntry {
    NamespacedKey page;
    uint32_t generation;
    uint32_t tick;
  };
  absl::Mutex lru_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::deque<LruEntry> lru_ ABSL_GUARDED_BY(lru_mu_);
  uint32_t lru_tick_ ABSL_GUARDED_BY(lru_mu_) = 0;
  size_t lru_compact_at_ ABSL_GUARDED_BY(lru_mu_) = 1024;  // twice its size at the last look
  // Adaptive insertion's probation (insertion_duel.h): the pages written and not used since,
  // in write order, with the same staleness rule. Their ticks carry kUnreadTick, so a touch
  // that replaces such a tick knows the page was unread (unread_live_ counts them; pages
  // deleted or replaced unread are counted until the next CompactLru). `probation_` keeps
  // the hand's target for them, and the ghosts it adapts from (probation_target.h).
  static constexpr uint32_t kUnreadTick = uint32_t{1} << 31;
  std::deque<LruEntry> unread_ ABSL_GUARDED_BY(lru_mu_);
  uint64_t unread_live_ ABSL_GUARDED_BY(lru_mu_) = 0;
  size_t unread_compact_at_ ABSL_GUARDED_BY(lru_mu_) = 1024;
  ProbationTarget probation_ ABSL_GUARDED_BY(lru_mu_);
  // CompactLru holds a queue outside lru_mu_ while it filters it: a save waits.
  bool compacting_ ABSL_GUARDED_BY(lru_mu_) = false;
  // What changed the order since the last sync or save (RecordUse, RecordGhost), encoded for
  // the journal, while journal_uses_; past kMaxJournalBuffer it is dropped and
  // journal_overflow_ set.
  bool journal_uses_ ABSL_GUARDED_BY(lru_mu_) = false;
  bool journal_overflow_ ABSL_GUARDED_BY(lru_mu_) = false;
  std::string journal_buf_ ABSL_GUARDED_BY(lru_mu_);
  static uint64_t GhostKey(const NamespacedKey& k);
  // For pages of `ns_id`: which ghost of probation_ holds each (evicted lately: about the last
  // cache's worth of evictions), so that a miss on a page the key index forgot counts as
  // evicted, not as never written, and one evicted unread says so. All kNo without adaptive
  // insertion (no ghosts).
  std::vector<ProbationTarget::Ghosted> Ghosts(uint32_t ns_id, std::span<const KeyHash> hashes)
      ABSL_LOCKS_EXCLUDED(lru_mu_);
  // A page about to be freed in place (EvictPages, ReapExpired): where its entry was queued,
  // its key index entry, and its index record marked evicted.
  struct Victim {
    LruEntry at;
    KeyIndex::Entry entry;
    IndexRecord evicted;
    bool from_unread;
  };
  // Reads the index record of the page at `at` (whose key index entry is `e`) and, if it is
  // in that generation, adds it to `batch` marked evicted and appends the victim; false if the
  // family disagrees with the key index (the page is left alone).
  absl::StatusOr<bool> TakeVictim(const LruEntry& at, const KeyIndex::Entry& e, bool from_unread,
                                  rocksdb::WriteBatch* batch, std::vector<Victim>* victims)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes `batch` (with the WAL: a restart must not bring back an index record whose page's
  // blocks have been freed) and frees the victims' pages: their entries, generations and
  // namespaces' counts, as evictions (with ghosts, when adaptive insertion runs) or, with
  // `expired`, as expired pages reclaimed. Nothing is freed if the write fails.
  absl::Status RetireVictims(rocksdb::WriteBatch* batch, std::span<const Victim> victims,
                             bool expired) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // When ReapExpired looks at the key index next, and the expired pages its last look found
  // that it has not freed yet (checked again before they go).
  absl::Time next_reap_ ABSL_GUARDED_BY(write_mu_) = absl::InfinitePast();
  std::vector<NamespacedKey> reap_backlog_ ABSL_GUARDED_BY(write_mu_);
  // Whether `at` is still the page's newest entry, in a live generation.
  bool Current(const LruEntry& at) const;
  // Where puts queue their pages (StoreOptions::adaptive_insertion); null without it.
  std::unique_ptr<InsertionDuel> duel_;
  std::atomic<uint64_t> evicted_pages_{0};
  std::atomic<uint64_t> reclaimed_bytes_{0}, reclaimed_records_{0};
  struct Unmatched {
    uint64_t generation;
    NamespacedKey page;
    BlobRef ref;
    bool flushed;  // as Located was told
  };
  absl::Mutex locate_mu_;  // taken on RocksDB's threads: never held while calling the DB
  absl::flat_hash_map<uint32_t, uint64_t> generation_of_family_ ABSL_GUARDED_BY(locate_mu_);
  std::vector<Unmatched> unmatched_ ABSL_GUARDED_BY(locate_mu_);

  // Generations queued for a compaction of their dead records, in order, and the same as a
  // set; the thread runs until compactor_stop_.
  absl::Mutex compact_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::deque<uint64_t> compact_queue_ ABSL_GUARDED_BY(compact_mu_);
  absl::flat_hash_set<uint64_t> compact_queued_ ABSL_GUARDED_BY(compact_mu_);
  bool compactor_stop_ ABSL_GUARDED_BY(compact_mu_) = false;
  std::atomic<uint64_t> record_compactions_{0};
  std::thread compactor_;

  absl::Mutex gen_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::map<uint64_t, GenerationPtr> gens_ ABSL_GUARDED_BY(gen_mu_);

  absl::Mutex ns_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<NamespaceState>> namespaces_
      ABSL_GUARDED_BY(ns_mu_);
  absl::flat_hash_map<uint32_t, std::shared_ptr<NamespaceState>> by_id_ ABSL_GUARDED_BY(ns_mu_);
  uint32_t next_ns_id_ ABSL_GUARDED_BY(ns_mu_) = 1;
};

}  // namespace prefixd::storage
