// The daemon's settings: one struct, set from an optional config file and then from flags.
// Every setting has one name, used both as `--name VALUE` (or `--name=VALUE`) and as
// `name = VALUE` in the file given by `--config FILE` (`#` starts a comment). Flags win over
// the file. Not thread-safe: built once in main(), then read-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prefixd::server {

struct ServerConfig {
  // TCP listener, HOST:PORT. Default 127.0.0.1:50051. Empty: no TCP listener.
  std::string listen = "127.0.0.1:50051";

  // Optional unix-socket listener path. Default: none.
  std::string unix_path;

  // Side socket (AF_UNIX, SOCK_SEQPACKET) on which co-located clients register shared-memory
  // arenas; created mode 0660. Default: none (shared memory off).
  std::string shm_socket;

  // Bytes of client arenas the daemon maps at once, all clients together. Default 64 GiB.
  uint64_t shm_max_bytes = uint64_t{64} << 30;

  // Client arenas registered at once. Default 256.
  uint32_t shm_max_arenas = 256;

  // Serve shared-memory gets as calls on the side socket (shm/side_call.h), skipping gRPC.
  // Default true; false refuses the calls' hello, and clients send their gets over gRPC.
  bool shm_calls = true;

  // Directory of the store. Default ./var/prefixd. Created if missing.
  std::string data_dir = "./var/prefixd";

  // Budget for every file under the data dir (accepts 512MiB, 10GiB); 0 = unlimited.
  // Default 0. At least 16 MiB. Pages are evicted a generation at a time to stay within it.
  uint64_t capacity_bytes = 0;

  // RocksDB's block cache: key blocks (not page values; index and filter blocks are kept by
  // the table readers, outside it). Default 64 MiB.
  uint64_t block_cache_bytes = uint64_t{64} << 20;

  // Bytes of verified pages kept in the daemon's memory, so that hot pages are served without
  // a disk read or a second checksum (accepts 4GiB). 0 = off. Default 0.
  uint64_t memory_cache_bytes = 0;

  // How room is made under --capacity: "pages" (default) evicts single pages, least recently
  // used first, and frees their blocks in place; "generations" drops the oldest generation
  // whole (StoreOptions::Eviction).
  bool evict_pages = true;

  // With --eviction pages, where a put queues its new pages: "adaptive" (default) at the least
  // recently used end while shadow caches find that serves 1.5 times what LRU would (a cyclic
  // workload longer than the cache), else at the most recently used end; "lru" always there
  // (StoreOptions::adaptive_insertion).
  bool adaptive_insertion = true;

  // With --eviction pages, the uses of pages since are appended to the eviction order's journal
  // this often (when pages were used), so that a crash loses at most this much of the order;
  // the order itself is saved at SIGTERM and when the journal outgrows it
  // (StoreOptions::eviction_order_interval). 0 = only at SIGTERM. Default 1.
  int eviction_order_sync_seconds = 1;

  // Page bytes per generation (with --eviction generations, the unit of eviction); 0 =
  // capacity / 24 with pages eviction, / 32 with generations. Default 0.
  uint64_t generation_bytes = 0;

  // Pages read from the oldest promote_fraction of the generations (at least two) are copied
  // into the newest before their generation is dropped: hit rate for device writes. Default
  // 0.25; 0 never copies. 0.125 halves the copies (write amplification on the Mooncake
  // replay 1.15-1.18 against 1.21-1.23) at about the same hit rate, but a prefix must then be
  // read again within fewer generations to survive (docs/benchmarks-why.md).
  double promote_fraction = 0.25;

  // Copies forward may write at most this share of the page bytes accepted (a credit capped at
  // one generation), so that with the store's own ~1.08 the device writes stay under 1.2 per
  // accepted byte. Default 0.1; 0 never copies; 1 lifts the cap in practice. Mooncake replay
  // at 10-50 % of its working set: write amplification 1.16-1.19 against 1.20-1.23 uncapped, hit
  // rate within 0.006 (docs/benchmarks-why.md).
  double promote_budget = 0.1;

  // Page bytes all requests together may hold in memory; beyond it a request waits up to
  // `admission_wait_ms`, then fails with RESOURCE_EXHAUSTED. Default 1 GiB.
  uint64_t max_inflight_bytes = uint64_t{1} << 30;

  // How long a request waits for in-flight budget. Default 2000 ms.
  uint32_t admission_wait_ms = 2000;

  // A put is written in batches of about this many bytes; each put holds at most twice this
  // much (or one page, if larger). Default 16 MiB.
  uint64_t batch_bytes = uint64_t{16} << 20;

  // A get reads its pages in groups of about this many bytes (one RocksDB MultiGet each, at
  // least one page) and starts sending a group as soon as it is read. Default 4 MiB: smaller
  // groups overlap reading and sending more (16 MiB groups gave 0.6-0.8x the get throughput
  // of 4 MiB groups for 1 MiB pages: see docs/transport.md).
  uint64_t read_group_bytes = uint64_t{4} << 20;

  // Bytes of page data per streamed frame of a get. Default 2 MiB.
  uint64_t frame_bytes = uint64_t{2} << 20;

  // Threads serving RPCs (gRPC synchronous server). Default 64.
  int max_threads = 64;

  // A put or get stream that moves no message for this long is cancelled (its thread and
  // in-flight budget go back). 0 disables it. Default 30 s.
  int stream_idle_timeout_seconds = 30;

  // On SIGTERM, how long in-flight requests may run before they are cancelled. Default 10 s.
  int shutdown_grace_seconds = 10;

  // RocksDB background flush/compaction threads. Default 4.
  int background_jobs = 4;

  // Memtable size of the page store: unflushed pages (lost on a crash, never on SIGTERM) are
  // at most about 4x this. Default 64 MiB; at least 1 MiB.
  uint64_t write_buffer_bytes = uint64_t{64} << 20;

  // The adaptive controller: off (start-up settings), on, or pin:<profile> (balanced,
  // write-heavy, read-heavy). Default off.
  std::string controller = "off";

  // Length of a controller epoch, e.g. 5s or 500ms. Default 5 s; at least 50 ms.
  std::string controller_epoch = "5s";

  // The controller's hysteresis: a profile must be predicted cheaper than the current one by
  // more than controller_threshold_percent, in controller_patience epochs running. Defaults
  // 10 % and 2; patience in [1, 100], threshold in [0, 99] (whole percents).
  uint32_t controller_threshold_percent = 10;
  uint32_t controller_patience = 2;

  // trace, debug, info, warn, error. Default info.
  std::string log_level = "info";

  // Settings file this config was read from, if any.
  std::string config_file;

  absl::Status Validate() const;

  // Sets one setting by name from text. INVALID_ARGUMENT for an unknown name or bad value.
  absl::Status Set(std::string_view name, std::string_view value);

  // Reads `name = value` lines from `path`.
  absl::Status LoadFile(const std::string& path);

  // Applies argv (after argv[0]): first the file of --config, then every flag.
  // Returns the positional arguments (none are expected by prefixd). `--help` is the caller's.
  absl::StatusOr<std::vector<std::string>> ParseArgs(int argc, char** argv);

  // One line per setting, `name = value`, in the config-file syntax.
  std::string Describe() const;
};

// The help text listing every setting.
std::string ConfigUsage();

}  // namespace prefixd::server
