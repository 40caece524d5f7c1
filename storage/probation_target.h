// How many unread pages probation keeps (insertion_duel.h), adapted online as ARC (Megiddo and
// Modha, FAST'03) adapts the size of its first list.
//
// While probation runs, the hand takes the oldest page not read since it was written for as
// long as at least target() pages are unread, and the least recently used page otherwise. Two
// ghosts remember, by a 64-bit fingerprint, the pages evicted lately: those evicted unread
// (ARC's B1) and those evicted after a read (B2), as many as the cache holds each. A page
// written again while in B1 was wanted back after the hand took it unread: the target grows,
// by `step` times max(|B2| / |B1|, 1) pages; one in B2 was wanted back after it aged out read:
// the target shrinks by `step` times max(|B1| / |B2|, 1). A fixed share (stops 23-28: a quarter
// of the cache, chosen by a third shadow cache against LRU) kept too few unread pages where
// conversations come back once each (the SGLang shape) and too many where tails are never
// read (the Mooncake trace); replays in docs/benchmarks-why.md.
//
// Thread-compatible (the store calls it under its LRU mutex). Memory: ~35 bytes a fingerprint
// (up to ~50 with the order's entries of fingerprints forgotten), at most twice as many
// fingerprints as the cache holds pages.
#ifndef PREFIXD_STORAGE_PROBATION_TARGET_H_
#define PREFIXD_STORAGE_PROBATION_TARGET_H_

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace prefixd::storage {

class ProbationTarget {
 public:
  struct Options {
    double initial_share = 0.5;  // the target at the first SetCapacity, of the pages held
    double step = 2;             // pages the target moves per ghost hit (times ARC's ratio)
  };
  explicit ProbationTarget(const Options& options);
  ProbationTarget() : ProbationTarget(Options{}) {}

  // The cache holds `pages` pages when full (the store says so at each eviction): each ghost
  // keeps at most that many, and the target stays within [0, pages]. The first call sets the
  // target to initial_share of `pages`, unless one was restored.
  void SetCapacity(uint64_t pages);
  // A page was evicted; `unread`: not read since it was written. Ignored before the first
  // SetCapacity (a namespace's quota evicts in a cache not full: no ghost is kept then).
  void Evicted(uint64_t fingerprint, bool unread);
  // As Evicted, for the journal replayed at open, before the capacity is known (the ghosts are
  // trimmed to it at the first SetCapacity).
  void Remember(uint64_t fingerprint, bool unread);
  // A put is about to write the page, before it makes its room: moves the target if the page
  // is in a ghost (once per ghost entry), so that the room is made as the target now says.
  // (Moved only after the room was made, a put of a tenth of the cache, the SGLang shape at a
  // 10 % budget, evicted by the old target: 0.85x of the simulated policy's hits, stop 26.)
  void Wanted(uint64_t fingerprint);
  // A page is written: moves the target if the page is in a ghost and Wanted did not, and
  // forgets it there. Returns whether it was evicted unread lately (in B1): such a page is not
  // queued as unread again (2Q's rule: wanted back soon after it went, it is worth keeping).
  bool Written(uint64_t fingerprint);
  // The unread pages the hand leaves alone: at least 1.
  uint64_t target() const;
  double exact_target() const { return target_; }
  size_t unread_ghosts() const { return unread_.keys.size(); }
  size_t read_ghosts() const { return read_.keys.size(); }
  // Which ghost holds the page, if one does: evicted lately, unread or after a read, and not
  // written since. (The store explains misses with it.)
  enum class Ghosted { kNo, kUnread, kRead };
  Ghosted Which(uint64_t fingerprint) const {
    if (unread_.keys.contains(fingerprint)) return Ghosted::kUnread;
    return read_.keys.contains(fingerprint) ? Ghosted::kRead : Ghosted::kNo;
  }

  // For a clean restart (eviction_order.h): the target (negative: not set yet) and both
  // ghosts, oldest first. Restore is for a target nothing has reached yet.
  struct State {
    double target = -1;
    std::vector<uint64_t> unread_ghost, read_ghost;
  };
  State Save() const;
  void Restore(const State& state);

 private:
  // Fingerprints in the order they came, each with the number of its latest entry in `order`
  // (a fingerprint forgotten and added again leaves its old entry behind, which must not
  // forget it a second time when it reaches the front), and whether Wanted counted it (the
  // top bit of the number).
  static constexpr uint64_t kCounted = uint64_t{1} << 63;
  struct Ghost {
    absl::flat_hash_map<uint64_t, uint64_t> keys;
    std::deque<std::pair<uint64_t, uint64_t>> order;
    uint64_t next = 0;
    void Add(uint64_t fingerprint, uint64_t capacity);
    void Trim(uint64_t capacity);
    std::vector<uint64_t> List() const;
  };

  // Moves the target for a want-back from `from` (the unread ghost or the read one).
  void Move(const Ghost& from);

  Options options_;
  double target_ = -1;  // unset until SetCapacity or Restore
  double pending_ = 0;  // moves made while unset, applied when it is set
  // The pages held at the last SetCapacity; 0 before the first (after a restart, too: the
  // target is not bounded by it until then).
  uint64_t capacity_ = 0;
  Ghost unread_, read_;
};

}  // namespace prefixd::storage

#endif  // PREFIXD_STORAGE_PROBATION_TARGET_H_
