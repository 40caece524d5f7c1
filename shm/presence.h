// prefixd::shm presence tables — which pages of a namespace the daemon holds, in shared memory
// that clients on the node map read-only, so that an Exists is answered without a call (a gRPC
// round trip costs 100-150 µs here, the lookup a few µs; docs/transport.md).
//
// The daemon keeps one table per namespace in a memfd, mirrored from its key index (each page
// written, promoted, deleted or dropped as corrupt, each eviction and TTL change), and sends its
// descriptor with each arena registration of the namespace (shm/side_channel.h). The memfd is
// sealed against shrinking and against new writable mappings (F_SEAL_FUTURE_WRITE), so a client
// cannot change what another client of the namespace reads.
//
// Layout (host byte order, 64-byte header, then `slots` slots of 16 bytes; open addressing with
// linear probing):
//   header  magic "PFXPRS01" | slots (u64, a power of two) | seq (u32) | state (u32) |
//           oldest_live (u64) | ttl_seconds (u64) | live (u64) | tombstones (u64) |
//           max_slots (u64)
//   slot    tag (u64: 0 empty, 1 deleted) | generation (u32) | created_unix (u32)
// A table starts at kMinPresenceSlots and doubles (a rehash inside the seqlock) when its pages
// pass half of the slots, up to max_slots: its memory follows the pages it holds (21-64 bytes a
// page), not the capacity. Both sides map it at max_slots; the file grows (ftruncate) before
// the header names the new slots, and is sealed against shrinking, so a reader never touches
// a byte past its end. A client can grow the file itself, to no effect but unused zeros.
// A page's tag is the first 8 bytes of SHA-256 of its key, little-endian, with 0 and 1 made 2
// and 3 (PresenceTagOfKey; the store's KeyHash is the first 16 bytes of the same digest). A page
// is present when its tag is in the table, its generation is at least oldest_live, and, with a
// TTL, created_unix + ttl_seconds is still ahead. Two keys of a namespace with the same tag make
// the table say present for both: a get then finds the page missing, as it would for a page
// evicted between an Exists and its get.
//
// Consistency: one writer at a time changes the table inside a seqlock (seq odd while it
// writes); a reader retries while seq is odd or moved during its lookup, and after a few tries
// (or when the table is not usable: full, or its namespace deleted) says it cannot answer, and
// the client asks the daemon. The table is a hint, as Exists is: a get may still miss a page an
// Exists saw. The daemon's Exists counts (Stats) learn of the answers clients found here only
// from the clients' reports (v1::PresenceReport).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace prefixd::shm {

inline constexpr uint64_t kPresenceHeaderBytes = 64;
inline constexpr uint64_t kPresenceSlotBytes = 16;

enum class PresenceState : uint32_t {
  kUsable = 0,
  kFull = 1,  // a page could not be added: clients ask the daemon from then on
  kGone = 2,  // the namespace was deleted
};

// The tag of a page from the first 8 bytes of SHA-256 of its key (the store's KeyHash starts
// with them).
uint64_t PresenceTag(const uint8_t* digest_prefix);
// The tag of a page with client key `key`.
uint64_t PresenceTagOfKey(std::string_view key);

// The most slots for a table that must hold up to `pages` pages at most half full: a power of
// two in [kMinPresenceSlots, kMaxPresenceSlots].
inline constexpr uint64_t kMinPresenceSlots = uint64_t{1} << 12;
inline constexpr uint64_t kMaxPresenceSlots = uint64_t{1} << 24;  // 256 MiB
uint64_t PresenceSlotsFor(uint64_t pages);

// The daemon's side: owns the memfd and its writable mapping. Thread-safe.
class PresenceTable {
 public:
  // A table of kMinPresenceSlots that may grow to `max_slots` (a power of two in
  // [kMinPresenceSlots, kMaxPresenceSlots]).
  static absl::StatusOr<std::unique_ptr<PresenceTable>> Create(uint64_t max_slots,
                                                               const std::string& name);
  ~PresenceTable();
  PresenceTable(const PresenceTable&) = delete;
  PresenceTable& operator=(const PresenceTable&) = delete;

  // The memfd, for SCM_RIGHTS (the table keeps it open).
  int fd() const { return fd_; }
  uint64_t max_slots() const { return max_slots_; }
  uint64_t slots() const;

  // Adds or updates the page `tag` (erases it if `generation` is evicted already). A table too
  // full to add it becomes kFull.
  void Set(uint64_t tag, uint32_t generation, uint32_t created_unix);
  void Erase(uint64_t tag);
  // Pages of generations below `generation` are evicted: says so, and frees their slots.
  void SetOldestLive(uint64_t generation);
  void SetTtl(uint64_t ttl_seconds);
  void MarkGone();

  PresenceState state() const;
  uint64_t live() const;

 private:
  PresenceTable(int fd, uint8_t* base, uint64_t max_slots);
  void EraseLocked(uint64_t tag) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes the file at least `bytes` long. False if it cannot.
  bool GrowFile(uint64_t bytes);
  // Inside the seqlock: lays every page out again in `slots` slots (at least slots_; the file
  // holds them), where a probe from its tag finds it first, and forgets the tombstones.
  void Rebuild(uint64_t slots) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BeginWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int fd_;
  uint8_t* const base_;
  const uint64_t max_slots_;
  mutable absl::Mutex mu_;
  uint64_t slots_ ABSL_GUARDED_BY(mu_) = kMinPresenceSlots;
  uint32_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t live_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t tombstones_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t oldest_live_ ABSL_GUARDED_BY(mu_) = 0;
};

// A client's read-only mapping of a table. Thread-safe.
class PresenceView {
 public:
  // Maps `fd` (taken over: closed once mapped, or on error) read-only after checking its
  // header against its size. INVALID_ARGUMENT for anything that is not a presence table.
  static absl::StatusOr<std::unique_ptr<PresenceView>> Map(int fd);
  ~PresenceView();
  PresenceView(const PresenceView&) = delete;
  PresenceView& operator=(const PresenceView&) = delete;

  // Whether each page is present at `now_unix`, or nullopt when the table cannot answer now
  // (not usable, or the daemon kept changing it during the lookup). `expired` (optional) is
  // set to how many of the pages are held but past the namespace's TTL.
  std::optional<std::vector<bool>> Lookup(std::span<const uint64_t> tags, uint64_t now_unix,
                                          uint64_t* expired = nullptr) const;

 private:
  PresenceView(const uint8_t* base, uint64_t max_slots) : base_(base), max_slots_(max_slots) {}
  const uint8_t* const base_;
  const uint64_t max_slots_;  // mapped
};

}  // namespace prefixd::shm
