// Where --eviction pages queues the pages a put writes: at the most recently used end (LRU), or
// mostly at the least recently used end (bimodal insertion, Qureshi et al., ISCA'07), chosen
// online by set dueling between two shadow caches.
//
// Plain LRU keeps nothing of a cyclic workload whose cycle is longer than the cache (the
// LMCache multi-turn shape: each user's conversation comes back after all the others): every
// page is evicted just before it is asked again. Bimodal insertion queues a put's new pages at
// the front but for one put in `admit_one_in`, so the cache keeps the chains it admitted across
// the cycle, at the price of keeping new pages a shorter time on other workloads. Two shadow
// caches (keys only, no bytes) see the same requests for a sample of the pages (by key hash,
// one in `sample`) with a sample of the capacity: one runs LRU, one bimodal insertion. Puts
// insert bimodally only while the bimodal shadow has served `margin` times more leading pages
// than the LRU one; scores are halved as they grow, so that the choice follows a workload that
// changes. On the replays of docs/benchmarks-why.md the margin keeps LRU's hits wherever LRU
// is the better policy, and takes most of bimodal insertion's on the cyclic shape.
//
// A store whose clients never call Exists (a get of the whole chain, or presence answered from
// shared memory) feeds no shadow: insertion stays LRU.
//
// Thread-safe. Memory: two shadows of at most capacity/sample keys each (~100 bytes a key).
#ifndef PREFIXD_STORAGE_INSERTION_DUEL_H_
#define PREFIXD_STORAGE_INSERTION_DUEL_H_

#include <cstdint>
#include <list>
#include <random>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "storage/page_key.h"

namespace prefixd::storage {

class InsertionDuel {
 public:
  struct Options {
    uint32_t sample = 16;       // one page in `sample` (by key hash) is shadowed; a power of 2
    uint32_t admit_one_in = 8;  // bimodal: one put in this many still queues at the back
    double margin = 1.5;        // bimodal shadow hits / LRU shadow hits needed to insert so
    uint64_t halve_at = 1024;   // both scores halve once their sum passes this
    uint64_t seed = 1;
  };
  explicit InsertionDuel(const Options& options);

  // A lookup of one chain (`pages` in chain order, the whole chain asked): each shadow scores
  // the leading sampled pages it holds, then holds all of them, as the client writes what it
  // missed. The store calls it from Exists: serving engines ask which pages are there before
  // they get them (SGLang's batch_exists, LMCache's contains, vLLM's lookup), and a get asks
  // only the prefix found, which would show the shadows only what the real cache holds.
  void Read(uint32_t ns_id, std::span<const KeyHash> pages) ABSL_LOCKS_EXCLUDED(mu_);
  // Pages a put wrote (chain order): each shadow inserts the sampled ones it does not hold
  // (a put with no lookup before it); those it holds stay where the lookup left them.
  void Wrote(uint32_t ns_id, std::span<const KeyHash> pages) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether this put's new pages go to the front of the queue: bimodal insertion is winning and
  // this put is not one of the one in admit_one_in. Draws a number: ask once per put.
  bool InsertAtFront() ABSL_LOCKS_EXCLUDED(mu_);
  // The real cache holds `pages` pages when it is full (it tells so when it evicts): each
  // shadow holds pages / sample. Until the first call the shadows are unbounded (each holds
  // every sampled key looked up or written: nothing was evicted yet, so neither choice
  // mattered, and both score alike).
  void SetCapacity(uint64_t pages) ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    uint64_t front_puts = 0;  // puts whose pages went to the front
    double lru_score = 0;     // leading sampled pages each shadow served (decayed)
    double bimodal_score = 0;
    bool bimodal = false;     // the choice now
  };
  Stats GetStats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `hash` is one of the sampled pages.
  bool Sampled(const KeyHash& hash) const { return (hash[15] & (options_.sample - 1)) == 0; }

 private:
  // An LRU cache of keys. Bimodal inserts at the LRU end but for one in admit_one_in.
  struct Shadow {
    std::list<NamespacedKey> order;  // least recent first
    absl::flat_hash_map<NamespacedKey, std::list<NamespacedKey>::iterator> where;
    double score = 0;
  };
  // As the store does for a request whose first `lead` pages were served: those become the
  // most recent (deepest least recent of them), then the pages held after the first missing
  // one (its put queues them again before it makes room); the missing pages are inserted, room
  // made first, at the back (deepest first) or with `front` at the front (deepest at the very
  // front).
  void Hold(Shadow& s, const std::vector<NamespacedKey>& pages, size_t lead, bool front)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inserts `fresh` (chain order, none held), room made first.
  void Insert(Shadow& s, const std::vector<NamespacedKey>& fresh, bool front)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The leading pages of `pages` that `s` holds.
  static size_t Lead(const Shadow& s, const std::vector<NamespacedKey>& pages);
  // Whether the bimodal shadow's next insertion goes to the back (one in admit_one_in).
  bool Admit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return rng_() % options_.admit_one_in == 0; }
  std::vector<NamespacedKey> SampledOf(uint32_t ns_id, std::span<const KeyHash> pages) const;
  bool Bimodal() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return bimodal_.score > options_.margin * lru_.score;
  }

  const Options options_;
  mutable absl::Mutex mu_;
  Shadow lru_ ABSL_GUARDED_BY(mu_);
  Shadow bimodal_ ABSL_GUARDED_BY(mu_);
  uint64_t capacity_ ABSL_GUARDED_BY(mu_) = 0;  // keys per shadow; 0 = unbounded
  std::minstd_rand rng_ ABSL_GUARDED_BY(mu_);
  uint64_t front_puts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace prefixd::storage

#endif  // PREFIXD_STORAGE_INSERTION_DUEL_H_
