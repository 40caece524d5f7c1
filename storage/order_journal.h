// Internal to storage/: the uses of pages since the last eviction order save (eviction_order.h),
// appended to a journal so that a start after a crash replays them on top of that save.
//
// A full save writes every queued page (20-24 bytes each); the journal writes only what was
// used since, once per StoreOptions::eviction_order_interval, so a crash loses at most one
// interval of the order. A journal belongs to one save: its header names the save's nonce,
// and a journal whose nonce is not the save's is ignored (a crash between writing a save and
// starting its journal leaves the old journal beside the new save).
//
// File StoreOptions::kEvictionOrderJournal, little-endian: "PFXEVJ01", the save's
// nonce (u64), a CRC32C of those 16 bytes (u32); then blocks, each a u32 payload length, a u32
// CRC32C of the payload, and the payload: records, each a u8 kind, a u32 namespace id, then
//  - kinds 0 (read) and 1 (written), a use of pages: a u8 insertion (InsertionDuel::Insertion),
//    a u32 page count and per page a 16-byte key hash and a u32 generation, in chain order (as
//    StoreImpl::TouchPages takes them);
//  - kinds 2 (looked up) and 3 (written), what adaptive insertion's shadows were fed
//    (InsertionDuel::Read and Wrote; its sampled pages only): a u32 count and the 16-byte key
//    hashes, in chain order;
//  - kinds 4 and 6, pages evicted unread and pages evicted after a read (probation's two
//    ghosts, probation_target.h): a u32 count and a u64 fingerprint each (the namespace id is
//    0). Kind 6 is newer than the format's name: a binary from before it ends the journal at
//    the first block that holds one, as at a torn block;
//  - kind 5, the shadows' capacity changed (InsertionDuel::SetCapacity): a u64 page count (the
//    namespace id is 0).
// A block cut short or failing its CRC ends the journal there (a crash mid-append): what
// follows is not read, and the next append writes over it.
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/insertion_duel.h"
#include "storage/page_key.h"

namespace prefixd::storage {

// Appends one use of `pages` (hash, generation; chain order) in namespace `ns_id` to `buf`, a
// block's payload being built.
void AppendUse(std::string* buf, uint32_t ns_id, bool written, InsertionDuel::Insertion how,
               std::span<const std::pair<KeyHash, uint32_t>> pages);
// Appends what adaptive insertion's shadows were fed: `keys` (one namespace, chain order)
// looked up, or with `wrote` written.
void AppendDuelInput(std::string* buf, bool wrote, std::span<const NamespacedKey> keys);
// Appends InsertionDuel::SetCapacity(pages).
void AppendDuelCapacity(std::string* buf, uint64_t pages);
// Appends fingerprints of pages evicted, unread or after a read.
void AppendGhost(std::string* buf, std::span<const uint64_t> fingerprints, bool unread);

// A use read back from a journal.
struct JournalUse {
  uint32_t ns_id = 0;
  bool written = false;
  InsertionDuel::Insertion how = InsertionDuel::Insertion::kLru;
  std::span<const std::pair<KeyHash, uint32_t>> pages;  // valid during the callback only
};
// A feed of the shadows read back from a journal: `keys` looked up (kRead) or written
// (kWrote), or their capacity set to `capacity_pages` (kCapacity).
struct JournalDuelInput {
  enum class Kind { kRead, kWrote, kCapacity };
  Kind kind = Kind::kRead;
  uint32_t ns_id = 0;
  std::span<const KeyHash> keys;  // valid during the callback only
  uint64_t capacity_pages = 0;
};

// What Replay calls for each record, in the journal's order.
struct JournalHandlers {
  std::function<void(const JournalUse&)> use;
  std::function<void(const JournalDuelInput&)> duel;
  // Pages evicted (`unread`: not read since written); the span is valid during the call only.
  std::function<void(std::span<const uint64_t>, bool unread)> ghost;
};

class OrderJournal {
 public:
  // Creates the journal of the save with `nonce` at `path`, empty (through a temporary file
  // renamed over the old one, fsynced), open for appends.
  static absl::StatusOr<OrderJournal> Create(const std::string& path, uint64_t nonce);

  // Reads the journal at `path` if it belongs to the save with `nonce`, calling `handlers` for
  // each record of each whole block in order. Returns the journal open for appends after the
  // last whole block (the rest cut off), or NOT_FOUND (no file), FAILED_PRECONDITION (another
  // save's journal, or not a journal) without calling any.
  static absl::StatusOr<OrderJournal> Replay(const std::string& path, uint64_t nonce,
                                             const JournalHandlers& handlers);

  OrderJournal(OrderJournal&& other) noexcept;
  OrderJournal& operator=(OrderJournal&& other) noexcept;
  OrderJournal(const OrderJournal&) = delete;
  OrderJournal& operator=(const OrderJournal&) = delete;
  ~OrderJournal();

  // Appends `payload` (uses from AppendUse) as one block and syncs it to the device. On error
  // the journal may end in a cut block, which Replay ignores.
  absl::Status Append(std::string_view payload);

  // Bytes in the file.
  uint64_t bytes() const { return bytes_; }

 private:
  OrderJournal(int fd, uint64_t bytes) : fd_(fd), bytes_(bytes) {}

  int fd_ = -1;
  uint64_t bytes_ = 0;
};

}  // namespace prefixd::storage
