// prefixd::client::Client — the library serving engines link to put and get KV pages.
//
// Chunking into 1-4 MiB frames, CRC32C checksums (computed on put, verified again on get) and
// retries on UNAVAILABLE (with exponential backoff) are hidden inside. Puts are idempotent,
// so retrying one is safe; a retried get starts over.
//
// Thread-safety: a Client may be used by any number of threads at once; each call is an
// independent RPC on one shared channel.
//
// Shared memory: with ClientOptions::shm_socket set (the daemon's --shm-socket, same node),
// page bytes move through a shared-memory arena per namespace instead of gRPC messages; only
// descriptors travel over gRPC. The same Put and Get calls use it (copying pages into and out
// of the arena); engines that lay pages out in the arena themselves use the slot calls
// (ArenaOf, AllocateSlots, PutSlots, GetSlots) and copy nothing.
//
// Allocator: over gRPC every page passes through page-sized buffers. A put reuses one frame
// buffer for the whole call: freed and allocated again per frame, with glibc's default
// thresholds each was a fresh mmap faulted in page by page, and one thread putting 1 MiB pages
// from an application that had not tuned malloc got 111 MB/s (now 499; 412 with the daemon's
// thresholds, util/malloc_tuning.h; `PREFIXD_BENCH_DEFAULT_MALLOC=1 prefixd-bench --backend
// grpc --workload micro --page-bytes 1MiB`, medians of three). Gets read the same either way.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prefixd/v1/prefixd.pb.h"

namespace prefixd::client {

struct ClientOptions {
  // "HOST:PORT" or "unix:///path/to.sock". Required.
  std::string target;
  // Attempts per call when the server is UNAVAILABLE or cancels the call (a daemon that is
  // shutting down cancels calls it has not started), the first included. Every RPC is safe to
  // repeat: puts skip pages already present. Default 4.
  int max_attempts = 4;
  // Backoff before the second attempt; doubles each time, up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Page bytes per put frame. Default 2 MiB; at most 8 MiB.
  uint64_t frame_bytes = uint64_t{2} << 20;
  // Deadline of each RPC attempt; zero for none. Default none.
  absl::Duration rpc_timeout = absl::ZeroDuration();

  // The daemon's shared-memory side socket (its --shm-socket); empty: bytes over gRPC only.
  std::string shm_socket;
  // Bytes of each namespace's arena (reserved in memory when the namespace is first used).
  // Put and Get calls larger than half of it use the byte path. Default 256 MiB.
  uint64_t shm_arena_bytes = uint64_t{256} << 20;
  // When the side socket cannot be reached: false (default) falls back to bytes over gRPC
  // (shared_memory() then says so); true makes Connect fail.
  bool shm_required = false;
  // Shared-memory gets of a chain of keys go as calls on the side socket, not gRPC, where the
  // daemon serves them (shm/side_call.h; 25 µs a round trip here against gRPC's 130-200). False
  // keeps every request on gRPC. Default true.
  bool shm_side_calls = true;

  absl::Status Validate() const;
};

// The pages a request names, in chain order: client keys, or token ids from which the server
// derives the keys (one per full page). `parent_key` is the key of the page before the first.
struct Chain {
  std::vector<std::string> keys;
  std::vector<uint32_t> token_ids;
  std::string parent_key;

  static Chain FromKeys(std::vector<std::string> keys, std::string parent_key = "");
  static Chain FromTokens(std::vector<uint32_t> token_ids, std::string parent_key = "");
};

// An opened namespace. Pass it to every page call.
struct Namespace {
  std::string name;
  uint64_t id = 0;
  v1::Fingerprint fingerprint;
  bool created = false;
  uint64_t ttl_seconds = 0;  // the TTL in force (0: none)
  uint64_t quota_bytes = 0;  // the quota in force (0: none)
};

// Settings given when a namespace is opened.
struct NamespaceOptions {
  // Pages written longer ago are never served (EXPIRED in Explain). nullopt keeps the
  // namespace's setting (none for a new one); 0 removes it.
  std::optional<uint64_t> ttl_seconds;
  // Bytes of pages the namespace may hold: its puts evict its own least recently used pages
  // past it (the daemon must run --eviction pages). nullopt keeps the setting; 0 removes it.
  std::optional<uint64_t> quota_bytes;
};

struct ExistsResult {
  uint32_t prefix_pages = 0;       // leading pages present (SGLang's batch_exists)
  std::vector<bool> present;       // per page
  std::vector<std::string> keys;   // derived keys, for token chains
};

struct PutResult {
  uint32_t written = 0;
  uint32_t existing = 0;
  std::vector<std::string> keys;  // derived keys, for token chains
};

struct GetResult {
  std::vector<std::string> pages;  // the leading present pages, byte-exact, in order
  v1::GetDone::Stop stop = v1::GetDone::STOP_UNSPECIFIED;
};

struct SlotGetResult {
  uint32_t pages = 0;  // slots 0..pages-1 hold the leading present pages, verified
  v1::GetDone::Stop stop = v1::GetDone::STOP_UNSPECIFIED;
  std::vector<std::string> keys;  // derived keys, for token chains
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  virtual ~Client() = default;

  // Opens (creating on first use) a namespace; FAILED_PRECONDITION names differing fields.
  virtual absl::StatusOr<Namespace> OpenNamespace(const std::string& name,
                                                  const v1::Fingerprint& fingerprint,
                                                  const NamespaceOptions& options = {}) = 0;

  virtual absl::StatusOr<ExistsResult> Exists(const Namespace& ns, const Chain& chain) = 0;

  // Writes `pages` (each exactly the namespace's page_bytes) as the chain's pages.
  virtual absl::StatusOr<PutResult> Put(const Namespace& ns, const Chain& chain,
                                        std::span<const std::string_view> pages) = 0;

  // Reads the leading present pages of the chain (at most `max_pages`; 0 = all).
  virtual absl::StatusOr<GetResult> Get(const Namespace& ns, const Chain& chain,
                                        uint32_t max_pages = 0) = 0;

  virtual absl::StatusOr<uint32_t> Delete(const Namespace& ns, const Chain& chain) = 0;

  // Deletes a namespace by name; `id` 0 matches any id.
  virtual absl::StatusOr<uint64_t> DeleteNamespace(const std::string& name, uint64_t id = 0) = 0;

  // The daemon's counters. `count_stranded` also counts stored pages no get can serve
  // (StatsRequest.count_stranded: the daemon reads its whole index for it).
  virtual absl::StatusOr<v1::StatsResponse> Stats(bool count_stranded) = 0;
  absl::StatusOr<v1::StatsResponse> Stats() { return Stats(false); }

  // Why each page of the chain is or is not served (index only; `ns.id` may be 0).
  virtual absl::StatusOr<v1::ExplainResponse> Explain(const Namespace& ns, const Chain& chain) = 0;

  // Asks the daemon to make every acknowledged page durable now.
  virtual absl::Status Flush() = 0;

  // OK when the server reports SERVING on the standard gRPC health service.
  virtual absl::Status Health() = 0;

  // True when page bytes move through shared memory (see ClientOptions::shm_socket).
  virtual bool shared_memory() const = 0;

  // ---- Slots: pages laid out in the namespace's arena by the caller (shared memory only;
  // FAILED_PRECONDITION otherwise). The arena is created and registered on first use; it
  // stays the same (and is registered again) if the daemon restarts.

  // The arena of `ns`: its bytes are this process's to read and write.
  virtual absl::StatusOr<std::span<uint8_t>> ArenaOf(const Namespace& ns) = 0;

  // Reserves `bytes` of the arena (4 KiB aligned) and returns its offset; RESOURCE_EXHAUSTED
  // when no free range is large enough. FreeSlots gives it back.
  virtual absl::StatusOr<uint64_t> AllocateSlots(const Namespace& ns, uint64_t bytes) = 0;
  virtual void FreeSlots(const Namespace& ns, uint64_t offset, uint64_t bytes) = 0;

  // Puts the chain's pages from the arena: page i is the page_bytes at offsets[i].
  virtual absl::StatusOr<PutResult> PutSlots(const Namespace& ns, const Chain& chain,
                                             std::span<const uint64_t> offsets) = 0;

  // Gets the chain's leading present pages into the arena, page i at offsets[i] (one offset per
  // page wanted, no two overlapping: INVALID_ARGUMENT), each verified against its checksum. After
  // an error the slots' bytes are unspecified. The call returns once the daemon is done with the
  // slots. Pages are checked as the daemon fills them: it reports each on a progress board, a few
  // bytes of the arena the library takes per get, with no gRPC message per batch (with no room in
  // the arena for a board, they are checked once the call has ended). With
  // ClientOptions::rpc_timeout, the daemon reads the clock (the client's deadline, sent with the
  // request) before each page and stops once it has passed; a get that timed out waits, up to a
  // second more, for the daemon to finish the page in hand and say so on the board. Only a daemon
  // stalled longer than that, or a get that had no room for a board, can still write the slots
  // after the call returned, so after DEADLINE_EXCEEDED a get into them must not follow at once;
  // a late write to a board the library has since reused fails that later get with DATA_LOSS,
  // never passes wrong pages.
  virtual absl::StatusOr<SlotGetResult> GetSlots(const Namespace& ns, const Chain& chain,
                                                 std::span<const uint64_t> offsets,
                                                 uint32_t max_pages = 0) = 0;

  // ---- GPU: pages in device memory (shared memory and a CUDA build with a usable GPU;
  // otherwise FAILED_PRECONDITION or UNAVAILABLE saying why). The namespace's arena is pinned
  // for DMA (cudaHostRegister) on first use; a request's copies are queued on one CUDA stream
  // of the GPU that holds the pages, and are done when the call returns. None of these waits
  // for the caller's own CUDA work: synchronise the stream or event that writes the pages
  // (a put) or still reads the destination (a get) first. The calling thread's current device
  // is left as it was.

  // Copies device_pages[i] (page_bytes each) into arena slots by DMA, then puts them.
  virtual absl::StatusOr<PutResult> PutFromDevice(const Namespace& ns, const Chain& chain,
                                                  std::span<const void* const> device_pages) = 0;

  // Gets the leading present pages into arena slots, verified, then copies page i to
  // device_pages[i] by DMA.
  virtual absl::StatusOr<SlotGetResult> GetToDevice(const Namespace& ns, const Chain& chain,
                                                    std::span<void* const> device_pages,
                                                    uint32_t max_pages = 0) = 0;

  // The same through CUDA IPC, no arena: the pages must lie in one cudaMalloc allocation,
  // which is exported (cudaIpcGetMemHandle, with its GPU's UUID) and copied by the daemon
  // itself, on that GPU (same node; the daemon built with CUDA and connected to through its
  // unix socket: over TCP it answers PERMISSION_DENIED). Page i's device bytes are
  // checksummed by the daemon. The allocation must not be freed before the call returns: the
  // daemon holds it open until then.
  virtual absl::StatusOr<PutResult> PutFromDeviceIpc(
      const Namespace& ns, const Chain& chain, std::span<const void* const> device_pages) = 0;
  virtual absl::StatusOr<SlotGetResult> GetToDeviceIpc(const Namespace& ns, const Chain& chain,
                                                       std::span<void* const> device_pages,
                                                       uint32_t max_pages = 0) = 0;
};

}  // namespace prefixd::client
