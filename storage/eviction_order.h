// Internal to storage/: the eviction order of Eviction::kPages kept across restarts.
//
// The order in which pages were last used lives in memory (StoreImpl's LRU and unread queues),
// and so does what adaptive insertion has learnt (insertion_duel.h: its scores and shadows). A
// clean close writes both to StoreOptions::kEvictionOrderFile in the data directory, and so
// does Store::SaveEvictionOrder; with StoreOptions::eviction_order_interval the uses of pages
// since are appended to a journal of the save (order_journal.h). The next open reads the file,
// rebuilds the queues and the duel, and replays the journal. A file saved at the DB's sequence
// number at open (a clean close) restores the order exactly; one saved at another (a crash)
// restores the pages it lists in its order (but for those in another generation than saved:
// written again since) and queues the pages it does not list as the most recent, unread,
// before the journal's uses are replayed. Without a file of this DB (a crash with no save, or
// the file of another DB) the open falls back to the oldest generations first and an empty
// duel (docs/benchmarks.md measures what each case costs a replay restarted halfway). The
// file is a hint: no page is kept or lost for what it says.
//
// Format, little-endian: "PFXEVO03", the RocksDB DB identity (a u32 length, at most 256, and
// its bytes), the save's nonce (u64), the DB's sequence number when saved (u64), the duel's
// two scores and probation's target (IEEE doubles as u64; the target negative when not set
// yet) and the shadows' capacity (u64), then four lists of pages (a u64 count, then per page a
// u32 namespace id and a 16-byte key hash): the LRU queue least recent first, the unread queue
// oldest first, and the duel's LRU and bimodal shadows (empty without adaptive insertion);
// then the fingerprints of the pages evicted unread, and of those evicted read (probation's
// ghosts, probation_target.h: a u64 count, a u64 each, oldest first); then the generation of
// each page of the LRU queue, and of the unread queue (a u32 each, in their order); last a
// CRC32C of everything before it (u32). 24 bytes a page, plus 24 per unread page, ~1/8 of 20
// for the shadows and up to 16 a page for the ghosts. A file of an earlier version (stop 28's
// PFXEVO02) reads as DATA_LOSS: the open falls back as without a file, once. The journal
// (order_journal.h) records the pages evicted unread, not those evicted read: after a crash
// the read ghost is the last save's.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/insertion_duel.h"
#include "storage/page_key.h"
#include "storage/probation_target.h"

namespace prefixd::storage {

struct EvictionOrder {
  std::string db_identity;            // rocksdb::DB::GetDbIdentity of the store saved
  uint64_t nonce = 0;                 // drawn for each save: names its journal (order_journal.h)
  uint64_t sequence = 0;              // the DB's last sequence number when saved
  std::vector<NamespacedKey> lru;     // least recently used first
  std::vector<NamespacedKey> unread;  // written and not used since, oldest first
  // The generation each page of lru / unread was in when saved: a page in another one at the
  // next open was written again since.
  std::vector<uint32_t> lru_generations, unread_generations;
  ProbationTarget::State probation;   // unset and empty without adaptive insertion
  InsertionDuel::State duel;          // all empty without adaptive insertion
};

// Writes `order` to `path` through a temporary file renamed over it (fsynced before the
// rename), so a reader sees the whole file or none. The error says what failed
// (INVALID_ARGUMENT for an identity over 256 bytes, or generations not one a queued page).
absl::Status WriteEvictionOrder(const std::string& path, const EvictionOrder& order);

// The order in `path`: NOT_FOUND when there is no file, DATA_LOSS when it is not one whole
// file this version wrote (wrong magic, size or checksum).
absl::StatusOr<EvictionOrder> ReadEvictionOrder(const std::string& path);

}  // namespace prefixd::storage
