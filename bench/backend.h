// The storage tiers the benchmark compares, behind one interface so that every workload drives
// each of them with the same code:
//   grpc            prefixd over gRPC (--target HOST:PORT or unix:///PATH)
//   inproc          prefixd's storage library in this process (no RPC): what the hop costs
//   file            one file per page in one flat directory, as SGLang's HiCacheFile does it
//   file-sharded    the strongest file tier we could write: hashed subdirectories, an I/O
//                   thread pool, batched existence checks
//   rocksdb-inline  RocksDB with default options and values inline (no blob files)
// The file tiers take an optional LRU size cap (capacity_bytes); inproc passes it to prefixd's
// store as its capacity (grpc: the daemon's own --capacity).
//
// Thread-safety: every method may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prefixd::bench {

struct BackendOptions {
  // One of: grpc, inproc, file, file-sharded, rocksdb-inline.
  std::string kind = "grpc";
  // grpc only: the daemon's address.
  std::string target;
  // grpc only: how page bytes travel. "grpc" (in gRPC messages, TCP or unix target), "uds"
  // (the same, and the target must be unix://), "shm" (through a shared-memory arena
  // registered on the daemon's `shm_socket`; only descriptors travel over gRPC).
  std::string transport = "grpc";
  std::string shm_socket;
  // shm only: bytes of the client's arena; calls larger than half of it travel as bytes.
  uint64_t shm_arena_bytes = uint64_t{1} << 30;
  // shm only: gets as calls on the side socket where the daemon serves them
  // (client::ClientOptions::shm_side_calls); false keeps them on gRPC.
  bool shm_side_calls = true;
  // Every other kind: the directory that holds its data (created if missing).
  std::string dir;
  // Namespace (grpc, inproc) or subdirectory (file tiers) name.
  std::string ns_name = "bench";
  // Bytes of every page. Required.
  uint64_t page_bytes = 0;
  // Tokens per page (for the fingerprint; prefixd only). Default 64.
  uint32_t page_tokens = 64;
  // LRU size cap in bytes of pages; 0 = none. File tiers only for now.
  uint64_t capacity_bytes = 0;
  // inproc only: RocksDB's block cache (prefixd's --block-cache). Default 64 MiB.
  uint64_t block_cache_bytes = uint64_t{64} << 20;
  // inproc only: "pages" or "generations" (prefixd's --eviction, StoreOptions::Eviction).
  std::string eviction = "pages";
  // inproc only: "adaptive" or "lru" (prefixd's --insertion, StoreOptions::adaptive_insertion).
  std::string insertion = "adaptive";
  // inproc only: how often the eviction order's journal is synced
  // (StoreOptions::eviction_order_interval), as the daemon's --eviction-order-sync-seconds
  // (default 1, as the daemon's); 0: the order is saved at close only.
  double order_sync_seconds = 1;
  // I/O threads of file-sharded. Default 4.
  int io_threads = 4;
};

// Device and process figures of the process that does the I/O (the daemon for grpc, this
// process otherwise), from /proc/<pid>/io and /proc/<pid>/status.
struct IoCounters {
  uint64_t read_bytes = 0;   // bytes the process caused to be read from the device
  // Bytes the process caused to be written to the device, less those the kernel cancelled
  // (files deleted before writeback).
  uint64_t write_bytes = 0;
  uint64_t peak_rss_bytes = 0;
  // grpc only: pages the daemon moved through shared memory (puts, gets) since it started.
  uint64_t shm_put_pages = 0, shm_get_pages = 0;
  // grpc only: microseconds RocksDB held writers back (stalls) since the daemon started.
  uint64_t stall_micros = 0;
};

// Pages a Get returned, as views, and whatever keeps their bytes alive (when null, the views
// are valid until the same thread's next GetViews).
struct PageViews {
  std::vector<std::string_view> pages;
  std::shared_ptr<const void> keep;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const std::string& kind() const = 0;

  // Presence of each key of a chain, in order (prefix semantics are the caller's).
  virtual absl::StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys) = 0;

  // Stores one chain's pages (each exactly page_bytes), keys[i] for pages[i]. `parent_key` is
  // the key of the page before keys[0] ("" for a chain's first page): prefixd places the pages
  // after it; the other tiers ignore it. Idempotent.
  virtual absl::Status Put(std::span<const std::string> keys,
                           std::span<const std::string_view> pages,
                           std::string_view parent_key) = 0;

  // Reads the leading present pages of the chain into `pages` (cleared first), stopping at
  // the first absent one; returns how many were read.
  virtual absl::StatusOr<size_t> Get(std::span<const std::string> keys,
                                     std::vector<std::string>* pages) = 0;

  // As Get, but the pages may stay where the tier put them (the shared-memory transport
  // leaves them in its arena, as an engine would consume them): no copy into strings.
  // Default: Get into a vector this thread reuses, then views of its strings.
  virtual absl::StatusOr<PageViews> GetViews(std::span<const std::string> keys);

  // Readies the calling thread for GetViews of up to `pages` pages of `page_bytes`, before a
  // timed phase: default, the strings that thread's GetViews reads into are allocated and
  // written once, as an engine allocates its host memory pool at start-up (SGLang's HiCacheFile
  // reads into it; prefixd's shared-memory arena is populated when created). Without it a
  // file tier's first chain paid a page fault every 4 KiB of its buffers: a quarter of a
  // 64-page get phase of 8 MiB pages.
  virtual void PrepareGets(size_t pages, uint64_t page_bytes);

  // Makes what was written durable (flushes memtables, or the page cache), so that Io() then
  // counts every byte the writes cost the device.
  virtual absl::Status Sync() = 0;

  // Bytes of all files under the backend's directory (the daemon's for grpc).
  virtual absl::StatusOr<uint64_t> DiskBytes() = 0;

  // Read/write bytes and peak RSS so far of the process doing the I/O.
  virtual absl::StatusOr<IoCounters> Io() = 0;
  // What a Restart leaves of the eviction order for the open: the one its clean close saved;
  // none (a crash with no save); or the files as the last SyncEvictionOrder left them (a crash
  // after that sync; none if there was none).
  enum class OrderAtRestart { kClosed, kNone, kLastSync };
  // Closes the tier cleanly and opens it again with the eviction order `order` says (inproc
  // only; UNIMPLEMENTED elsewhere). Calls made meanwhile wait for the open.
  virtual absl::Status Restart(OrderAtRestart order);
  // Syncs the eviction order's journal now, as the daemon does every
  // --eviction-order-sync-seconds, and keeps the order's files as they are for
  // Restart(kLastSync) (inproc with a BackendOptions::order_sync_seconds; UNIMPLEMENTED
  // elsewhere).
  virtual absl::Status SyncEvictionOrder();
};

// The counters of process `pid` (0: this one) from /proc. UNAVAILABLE if unreadable.
absl::StatusOr<IoCounters> ProcessIo(int pid = 0);

// INVALID_ARGUMENT for an unknown kind or missing settings; the tier's own error if it cannot
// open (e.g. UNAVAILABLE for an unreachable daemon).
absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const BackendOptions& options);

}  // namespace prefixd::bench
