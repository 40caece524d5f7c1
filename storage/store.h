// The page store: namespaces with fingerprints, and chains of pages in RocksDB with values in
// blob files. Knows nothing of gRPC.
//
// Thread-safety: every method may be called concurrently from any thread. Puts and deletes
// are serialised internally so that page and byte counts stay exact; reads run in parallel.
//
// Durability: page writes skip the WAL. They are durable once flushed (memtable full, Flush(),
// or the destructor). After a crash a page is either served byte-exact or absent: the page and
// its index record are written in one batch and flushed atomically, and every page's CRC32C is
// verified before it is returned. Namespace creation and deletion use the WAL, synced; page
// deletions use the WAL unsynced (after a power cut a deleted page may reappear, byte-exact).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/fingerprint.h"
#include "storage/store_options.h"
#include "storage/tuning.h"

namespace prefixd::storage {

// The longest chain one request may name: 65,536 pages (4M tokens at 64 tokens a page).
inline constexpr size_t kMaxChainPages = 65536;

// Identifies a namespace in a request. `id` 0 accepts whatever namespace has the name; any
// other id must match the namespace's current id (it changes when a name is recreated).
struct NamespaceRef {
  std::string_view name;
  uint64_t id = 0;
};

struct NamespaceInfo {
  std::string name;
  uint32_t id = 0;
  Fingerprint fingerprint;
  uint64_t ttl_seconds = 0;  // pages older than this are not served; 0 = no limit
  uint64_t quota_bytes = 0;  // page bytes the namespace may hold; 0 = no quota
};

// Settings of a namespace given when it is opened.
struct NamespaceOptions {
  // Pages written longer ago than this are expired: never served, reported EXPIRED by
  // Explain, counted as expired misses, and written again by a put of the same key. With
  // Eviction::kPages their space is the first to go when a put needs room (within the budget
  // or a quota), before any live page, at most a second after they expire
  // (NamespaceCounters::expired_pages); until then a longer TTL, or none, serves them again.
  // With generations their space returns when their generation is evicted. nullopt keeps the
  // namespace's current setting (none for a new one); 0 removes it.
  std::optional<uint64_t> ttl_seconds;
  // Bytes of pages the namespace may hold, within the store's capacity: a put that would pass
  // it evicts the namespace's own least recently used pages first, so one namespace cannot
  // push another's pages out beyond its share. Pages not in blob files yet cannot be evicted
  // and may take it past the quota by up to a memtable. Needs StoreOptions::Eviction::kPages
  // (FAILED_PRECONDITION otherwise). nullopt keeps the current setting; 0 removes it.
  std::optional<uint64_t> quota_bytes;
};

struct OpenResult {
  NamespaceInfo info;
  bool created = false;
};

// One page to write. `data` must stay valid for the call.
struct PageWrite {
  std::string_view key;
  std::string_view data;
  uint32_t crc32c = 0;  // CRC32C of `data` as the client computed it
};

struct PutResult {
  uint32_t written = 0;   // newly stored
  uint32_t existing = 0;  // already present; not rewritten
};

struct GetResult {
  enum class Stop { kComplete, kAbsent, kCorrupt, kLimit, kCancelled };
  uint32_t returned = 0;
  Stop stop = Stop::kComplete;
};

// Receives page `index` of a Get, verified. `bytes` is valid only during the call. Returning
// false cancels the Get (GetResult::Stop::kCancelled).
using PageSink = std::function<bool(size_t index, std::string_view key, std::string_view bytes,
                                    uint32_t crc32c)>;

// Why a page is or is not served (Store::Explain).
struct PageState {
  // kCorrupt: not stored because it was dropped as corrupt (recently: the store remembers the
  // last 32,768 such keys, until a restart; older ones read as kNotStored).
  enum class State { kPresent, kStranded, kEvicted, kNotStored, kExpired, kCorrupt };
  State state = State::kNotStored;
  // kEvicted: how. kGeneration: dropped with its generation (Eviction::kGenerations, or a
  // generation whose pages could not go alone). Evicted alone (Eviction::kPages): kUnread, not
  // read since written (probation takes those first), or kRead, least recently used after a
  // read, as adaptive insertion's ghosts remember (about the last cache's worth of
  // evictions); kAlone when no ghost does.
  enum class Eviction { kNone, kGeneration, kUnread, kRead, kAlone };
  Eviction evicted_by = Eviction::kNone;
  uint64_t generation = 0;
  uint32_t depth = 0;
  uint64_t created_unix = 0;
};

struct NamespaceCounters {
  uint64_t pages = 0;
  uint64_t bytes = 0;
  uint64_t puts = 0;
  uint64_t put_existing = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t exists_queries = 0;
  uint64_t exists_hits = 0;
  uint64_t corrupt_dropped = 0;
  uint64_t deleted = 0;
  uint64_t evicted_pages = 0;   // evicted for space (alone, or with their generation)
  uint64_t evicted_bytes = 0;
  uint64_t promoted_pages = 0;  // copied forward out of an old generation on a read
  uint64_t miss_evicted = 0;    // pages asked (exists or get) that were evicted
  // Get misses by cause (each page a Get asked for and did not return has one): evicted is
  // above (with adaptive insertion, a page the key index forgot counts as evicted while a
  // ghost remembers it: about the last cache's worth of evictions); never written (or
  // deleted, or evicted longer ago than that); stranded (stored, but a page
  // before it in the chain is not); dropped as corrupt (by this Get, or recently: see
  // PageState::kCorrupt).
  uint64_t miss_not_stored = 0;
  uint64_t miss_stranded = 0;
  uint64_t miss_corrupt = 0;
  uint64_t refused_opens = 0;   // OpenNamespace calls refused for a different fingerprint
  uint64_t miss_expired = 0;    // pages asked (exists or get) older than the namespace's TTL
  // Expired pages whose space was reclaimed (when a put needed room), not counted as evicted.
  uint64_t expired_pages = 0;
  uint64_t expired_bytes = 0;
  // Of miss_evicted, pages evicted alone before anyone read them since they were written (a
  // ghost says so: PageState::Eviction::kUnread): what probation's choice cost.
  uint64_t miss_evicted_unread = 0;
  uint64_t put_bytes = 0;  // page bytes puts wrote (`puts` pages): what write amplification divides
};

struct NamespaceStatsEntry {
  NamespaceInfo info;
  NamespaceCounters counters;
};

// Stored pages no get can serve, found by Store::CountStranded.
struct StrandedCount {
  std::string ns_name;
  uint64_t pages = 0;           // live pages scanned (not evicted, not expired)
  uint64_t stranded_pages = 0;  // of those, behind a page that is gone (evicted, deleted,
  uint64_t stranded_bytes = 0;  // expired, dropped as corrupt) or itself stranded
  // Live pages written before parents were recorded (index records of version 2): taken as
  // reachable, since their parent is not known.
  uint64_t parent_unknown = 0;
};

struct StoreStats {
  uint64_t capacity_bytes = 0;
  uint64_t pages = 0;
  uint64_t bytes = 0;
  uint64_t disk_bytes = 0;  // bytes allocated to the files under the store path
  uint64_t generations = 0;            // live generation families
  uint64_t generation_bytes = 0;       // the size at which a new generation starts
  uint64_t evicted_generations = 0;    // dropped since the store opened
  uint64_t promoted_bytes = 0;         // copied forward since the store opened
  uint64_t promotions_declined = 0;    // pages not copied forward: the copy budget was spent
  double promote_budget = 0;           // StoreOptions::promote_budget
  uint64_t reclaimed_records = 0;      // dead pages' blob records freed in place (blob_refs.h)
  uint64_t reclaimed_bytes = 0;        // disk bytes that gave back
  uint64_t dead_records_dropped = 0;   // their SST records dropped since (dead_records.h)
  uint64_t record_compactions = 0;     // generations compacted to drop them
  uint64_t memory_cache_capacity = 0;  // the memory cache (StoreOptions::memory_cache_bytes)
  uint64_t memory_cache_bytes = 0;     // page bytes it holds now
  uint64_t memory_cache_hits = 0;      // pages served from it
  uint64_t memory_cache_misses = 0;    // pages read from disk while it was on
  uint64_t key_index_entries = 0;      // the in-memory key index that answers Exists
  uint64_t key_index_bytes = 0;        // memory it takes, approximately
  uint64_t lru_entries = 0;            // Eviction::kPages: the LRU queue, stale entries too
  bool bimodal_insertion = false;      // puts queue new pages at the front now (insertion_duel.h)
  uint64_t bimodal_puts = 0;           // puts that did, since the store opened
  bool probation_insertion = false;    // eviction takes unread pages first now (insertion_duel.h)
  uint64_t probation_puts = 0;         // puts made while it did, since the store opened
  uint64_t unread_pages = 0;           // pages written and not used since (approximately)
  uint64_t probation_target_pages = 0;  // unread pages probation leaves alone (probation_target.h)
  uint64_t ghost_unread_pages = 0;      // evicted pages it remembers: evicted unread,
  uint64_t ghost_read_pages = 0;        // and evicted after a read
  std::vector<NamespaceStatsEntry> namespaces;
};

class Store {
 public:
  // Opens (creating if needed) the store at `options.path`. Rebuilds the in-memory counts
  // and key index from the index family (no page values are read; about 68-136 bytes of
  // memory a page), learns where each page lies in its blob file from the SSTs' properties
  // (freeing copies nothing points at any more), and removes pages of deleted namespaces.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);

  // Flushes memtables and closes the store.
  virtual ~Store() = default;

  // Creates namespace `name` with `fp`, or checks `fp` against the stored fingerprint:
  // FAILED_PRECONDITION naming every differing field. INVALID_ARGUMENT for a bad name or `fp`.
  virtual absl::StatusOr<OpenResult> OpenNamespace(std::string_view name, const Fingerprint& fp,
                                                   const NamespaceOptions& options = {}) = 0;

  // NOT_FOUND if no such namespace; FAILED_PRECONDITION if `ref.id` is stale.
  virtual absl::StatusOr<NamespaceInfo> LookupNamespace(NamespaceRef ref) = 0;

  // Presence of each key, in order. Reads only the index, never page values.
  virtual absl::StatusOr<std::vector<bool>> Exists(NamespaceRef ns,
                                                   std::span<const std::string> keys) = 0;
  // Counts Exists answers given outside the store (a client's lookups in the namespace's
  // presence table, mirrored by an IndexObserver) as Exists counts its own: `asked` pages,
  // `present` of them present, `expired` held but past the TTL. INVALID_ARGUMENT (nothing
  // counted) when present + expired > asked.
  virtual absl::Status CountOutsideExists(NamespaceRef ns, uint64_t asked, uint64_t present,
                                          uint64_t expired) = 0;

  // The state of each page of a chain, in order, from the index alone (see PageState).
  // Changes no counter.
  virtual absl::StatusOr<std::vector<PageState>> Explain(NamespaceRef ns,
                                                         std::span<const std::string> keys) = 0;

  // Writes a chain's pages in one batch. `parent_key` (may be empty) is the page before
  // pages[0]. Every page must be `page_bytes` long with a matching CRC32C; otherwise nothing
  // is written: INVALID_ARGUMENT (size, key) or DATA_LOSS (checksum). Present keys are skipped.
  virtual absl::StatusOr<PutResult> Put(NamespaceRef ns, std::string_view parent_key,
                                        std::span<const PageWrite> pages) = 0;

  // Streams the leading present pages of `keys` to `sink`, in order, each verified against its
  // checksum; a page that fails is deleted, counted, and ends the Get. `max_pages` 0: no limit.
  // Counts returned pages as hits and the other pages within `max_pages` as misses.
  virtual absl::StatusOr<GetResult> Get(NamespaceRef ns, std::span<const std::string> keys,
                                        uint32_t max_pages, const PageSink& sink) = 0;

  // Deletes the given pages (not their descendants). Returns how many were present.
  virtual absl::StatusOr<uint32_t> Delete(NamespaceRef ns, std::span<const std::string> keys) = 0;

  // Deletes a namespace and all its pages. Returns the number of pages it held.
  virtual absl::StatusOr<uint64_t> DeleteNamespace(NamespaceRef ns) = 0;

  virtual absl::StatusOr<StoreStats> Stats() = 0;

  // Per namespace, the stored pages that can never be served as part of a prefix (stranded):
  // follows every live page's parent through the index. Reads the whole index at one snapshot:
  // O(pages) time and about 100 bytes of memory a page while it runs, so it is for diagnosis
  // (`prefixctl stats --stranded`), not for every Stats call. Pages whose parents form a cycle
  // (possible only with client keys that are not prefix hashes) count as reachable.
  virtual absl::StatusOr<std::vector<StrandedCount>> CountStranded() = 0;

  // Makes every acknowledged page durable (flushes memtables, waits).
  virtual absl::Status Flush() = 0;

  // With Eviction::kPages: writes the whole eviction order now (StoreOptions::
  // kEvictionOrderFile; a clean close does), so that an open after a crash from here on
  // restores it as of this call, and the pages written since as the most recent. With
  // StoreOptions::eviction_order_interval, starts a new journal of the uses after it. Does not
  // flush. OK and nothing written with Eviction::kGenerations; INTERNAL with the reason when
  // the file cannot be written (the previous save stays).
  virtual absl::Status SaveEvictionOrder() = 0;
  // With Eviction::kPages and eviction_order_interval (which calls it that often): appends the
  // uses of pages since the last save or sync to the order's journal, or saves the whole order
  // when there is no journal or it has grown past the last save. Nothing when no page was
  // used since. INTERNAL with the reason on a failed write (the next call saves in full).
  virtual absl::Status SyncEvictionOrder() = 0;

  // What the controller watches: cheap (counters and RocksDB properties, no I/O).
  virtual StoreSignals Signals() = 0;

  // The settings in force, and a change of them, applied online (SetOptions on every page
  // family, present and future; SetDBOptions; the background rate limiter). INVALID_ARGUMENT
  // for out-of-range values; RocksDB's refusal otherwise (settings already applied stay).
  virtual Tuning CurrentTuning() = 0;
  virtual absl::Status ApplyTuning(const Tuning& tuning) = 0;
};

// OK if `name` is a valid namespace name: 1..128 bytes of [A-Za-z0-9._:/-].
absl::Status ValidateNamespaceName(std::string_view name);

}  // namespace prefixd::storage
