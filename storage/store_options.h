// Options of the page store. Plain struct; Validate() rejects unusable values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace prefixd::storage {

// Told of each change to what Exists answers, for a mirror of the store's key index outside
// the store (the daemon's shared-memory presence tables, shm/presence.h). Calls come from the
// store's threads, each one after the change it reports, in the order of the changes to any one
// page; they must be quick and must not call into the store. A page is named by its
// namespace's id and `hash`, the first 16 bytes of SHA-256 of its key.
class IndexObserver {
 public:
  virtual ~IndexObserver() = default;
  // The page is in generation `generation` (written at `created_unix`, `bytes` long): a put,
  // a promotion, or the index loaded at start-up (evicted pages included).
  virtual void Set(uint32_t ns_id, const uint8_t* hash, uint32_t generation,
                   uint32_t created_unix, uint32_t bytes) = 0;
  // The page is gone: deleted, or dropped as corrupt.
  virtual void Erase(uint32_t ns_id, const uint8_t* hash) = 0;
  virtual void EraseNamespace(uint32_t ns_id) = 0;
  // Pages of generations below `generation` are evicted (every namespace).
  virtual void OldestLive(uint64_t generation) = 0;
  // Namespace `ns_id`'s pages older than `ttl_seconds` are expired (0: none).
  virtual void Ttl(uint32_t ns_id, uint64_t ttl_seconds) = 0;
};

struct StoreOptions {
  // Directory holding the RocksDB store. Created if missing. Not changeable online.
  std::string path;

  // Budget for every file under `path`, in bytes; 0 = unlimited. When the files would pass
  // it, room is made as `eviction` says. Not changeable online yet.
  uint64_t capacity_bytes = 0;

  // How room is made when the files would pass the budget.
  //  kGenerations (default): the oldest generation is dropped whole (pages read from the
  //    oldest promote_fraction of them were copied forward first).
  //  kPages: single pages go, least recently used (written or read) first, and of a chain
  //    used at once its deepest pages first: a page's index record is marked evicted and its
  //    blob record freed in place (blob_refs.h), so nothing is copied forward; a generation
  //    goes once no live page is left in it. Pages not in blob files
  //    yet cannot be freed: when nothing else can, the oldest generation is dropped.
  //    A clean close saves the order to kEvictionOrderFile under `path` (and with
  //    eviction_order_interval the uses since go to its journal), and the next open restores
  //    it; after a crash with no save, the oldest generations are taken as the least recent.
  // Not changeable online.
  enum class Eviction { kGenerations, kPages };
  static constexpr char kEvictionOrderFile[] = "EVICTION-ORDER";
  // The uses since the last save of kEvictionOrderFile (eviction_order_interval).
  static constexpr char kEvictionOrderJournal[] = "EVICTION-ORDER.journal";
  Eviction eviction = Eviction::kGenerations;

  // kPages: the uses of pages are appended to a journal of the last eviction order save this
  // often (Store::SyncEvictionOrder; 25 bytes a page used), so that a crash loses at most this
  // much of the order; a journal grown past the last save (20-50 bytes a page) is replaced by
  // a new save. Zero (default): the order is saved at a clean close only. Not changeable
  // online.
  absl::Duration eviction_order_interval = absl::ZeroDuration();

  // kPages: a put's new pages are queued at the least recently used end (but for one put in
  // eight) while shadow caches, fed by Exists, find that would serve half as many pages again
  // as LRU does: a cyclic workload longer than the cache keeps part of its cycle
  // (insertion_duel.h). False: always at the most recently used end (plain LRU). Not
  // changeable online.
  bool adaptive_insertion = true;

  // Bytes of pages per generation before a new one starts. 0 (default): capacity / 24 with
  // Eviction::kPages, / 32 with kGenerations, at least 4 memtables; 1 GiB when the capacity
  // is unlimited.
  uint64_t generation_bytes = 0;

  // Pages read from the oldest `promote_fraction` of the live generations (at least two) are
  // copied into the newest: a second chance before their generation is dropped. 0 disables
  // it; so does an unlimited capacity (nothing is evicted). Default 0.25 (see
  // ServerConfig::promote_fraction for the trade against 0.125).
  double promote_fraction = 0.25;

  // Copies forward may write at most this share of the page bytes Put accepts (a credit that
  // grows with every accepted page and is capped at one generation's bytes), so that second
  // chances cannot push the disk writes per accepted byte past 1 + promote_budget over time.
  // Pages read while the credit is spent are served and stay where they are. Default 0.1;
  // in [0, 1]. Not changeable online.
  double promote_budget = 0.1;

  // Memtable size per column family (bytes). Default 64 MiB; with a capacity, at most
  // capacity / 128 (at least 1 MiB) so that unflushed pages stay a small share. Changeable online.
  uint64_t write_buffer_size = uint64_t{64} << 20;

  // Memtables per column family before writes stall. Default 4. Changeable online.
  int max_write_buffer_number = 4;

  // Values of at least this size go to blob files. Default 512 bytes. Changeable online.
  uint64_t min_blob_size = 512;

  // Target size of one blob file (bytes). Default 256 MiB. Changeable online.
  uint64_t blob_file_size = uint64_t{256} << 20;

  // Size at which RocksDB starts a new MANIFEST (the log of every flush, compaction and
  // family created or dropped) and deletes the old one. RocksDB's default, 1 GiB, let it grow
  // by a few hundred bytes per flush and per generation (42.6 KB per 100 MiB put at a 32 MiB
  // budget), all counted against the budget and replayed at start-up.
  // 0 (default): capacity / 256, clamped to [64 KiB, 64 MiB]; 64 MiB when the capacity is
  // unlimited. At least 4 KiB. Not changeable online.
  uint64_t max_manifest_bytes = 0;

  // Background flush and compaction threads. Default 4. Changeable online.
  int max_background_jobs = 4;

  // Block cache for key blocks (bytes); index and filter blocks are kept by the table readers,
  // outside it. Default 64 MiB. Not changeable online.
  uint64_t block_cache_bytes = uint64_t{64} << 20;

  // Bytes of verified pages kept in memory (PageCache): hot pages are served without a blob
  // read or a second checksum. 0 disables it. Default 0. Not changeable online.
  uint64_t memory_cache_bytes = 0;

  // Reads of one Get are issued in MultiGet groups of at most this many bytes of pages (at
  // least one page). Bounds the memory one Get pins. Default 4 MiB (the daemon's
  // --read-group-bytes). Reading the next group on another thread while the last is handed
  // over was slower here (1 MiB pages, 2 CPUs: warm 2.1 -> 1.6 GB/s, cold 1.1 -> 0.86).
  uint64_t read_group_bytes = uint64_t{4} << 20;

  // Told of every change to the key index (IndexObserver), from before the store loads it at
  // open. Not owned; must outlive the store. Default none.
  IndexObserver* index_observer = nullptr;

  // Fault injection for tests only: called by Get between taking its snapshot and looking its
  // records up in the key index, where a concurrent write makes the two disagree.
  std::function<void()> testing_after_get_snapshot;
  // Fault injection for tests only: called on RocksDB's flush thread each time a flush has
  // written a blob file, before the flush installs it in its family's metadata (RocksDB's
  // EventListener::OnBlobFileCreated): the file is on disk and its pages count as unflushed.
  std::function<void()> testing_blob_file_written;

  absl::Status Validate() const;
};

}  // namespace prefixd::storage
