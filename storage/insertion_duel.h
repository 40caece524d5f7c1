// Where --eviction pages queues the pages a put writes, and which page its hand takes first,
// chosen online by set dueling between shadow caches: LRU; bimodal insertion (Qureshi et al.,
// ISCA'07) for cycles longer than the cache; or probation (2Q, Johnson and Shasha, VLDB'94)
// where pages read again are worth more than pages written once.
//
// Plain LRU keeps nothing of a cyclic workload whose cycle is longer than the cache (the
// LMCache multi-turn shape: each user's conversation comes back after all the others): every
// page is evicted just before it is asked again. Bimodal insertion queues a put's new pages at
// the front but for one put in `admit_one_in`, so the cache keeps the chains it admitted across
// the cycle, at the price of keeping new pages a shorter time on other workloads.
//
// LRU also lets pages written once and never read (the unique tails of prompts, the Mooncake
// trace) push out pages read again and again. Probation treats the pages not read since they
// were written as 2Q's first queue (Johnson and Shasha, VLDB'94): the hand takes the oldest
// unread page while more are unread than a target, else the least recently used one; the
// target adapts as ARC's does (probation_target.h), so a workload whose pages are read once, a
// while after they are written (multi-turn conversations), keeps most of the cache unread.
//
// Two shadow caches (keys only, no bytes) see the same requests for a sample of the pages (by
// key hash, one in `sample`) with a sample of the capacity: LRU and bimodal. Puts insert
// bimodally while the bimodal shadow has served `margin` times the leading pages of the LRU
// one; otherwise the store runs probation (with `probation`). Scores halve as they grow, so
// that the choice follows a workload that changes. Replays: docs/benchmarks-why.md,
// bench/page_policies.py (`duel-arc` is this class and the store's queues together). Until
// stop 28 a third shadow ran probation with a fixed share and the store followed it only
// while it served more than the LRU one; replayed over nine seeds of the SGLang and fill
// shapes, always-on probation with the adaptive target lost fewer hits.
//
// A store whose clients never call Exists (a get of the whole chain, or presence answered from
// shared memory) feeds no shadow: puts never insert bimodally, and the store runs probation alone.
//
// Thread-safe. Memory: two shadows of at most capacity/sample keys each (~100 bytes a key).
#ifndef PREFIXD_STORAGE_INSERTION_DUEL_H_
#define PREFIXD_STORAGE_INSERTION_DUEL_H_

#include <cstdint>
#include <list>
#include <random>
#include <span>
#include <string>
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
    bool probation = true;      // false: LRU and bimodal only
    uint64_t seed = 1;
  };
  enum class Insertion {
    kLru,        // at the most recently used end
    kFront,      // at the least recently used end (bimodal)
    kProbation,  // at the most recently used end, and the hand takes unread pages first
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
  // How this put queues its new pages: kFront while bimodal insertion is winning and this put
  // is not one of the one in admit_one_in; else kProbation with `probation`; else kLru. Draws
  // a number: ask once per put.
  Insertion Choose() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the hand should take unread pages first now (probation on, bimodal not chosen).
  bool Probation() const ABSL_LOCKS_EXCLUDED(mu_);
  // The real cache holds `pages` pages when it is full (it tells so when it evicts): each
  // shadow holds pages / sample. Until the first call the shadows are unbounded (each holds
  // every sampled key looked up or written: nothing was evicted yet, so no choice mattered,
  // and all score alike; starting them empty at the first eviction instead cost the replays
  // up to 13 % of their hits, docs/benchmarks-why.md).
  void SetCapacity(uint64_t pages) ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    uint64_t front_puts = 0;      // puts whose pages went to the front
    uint64_t probation_puts = 0;  // puts made while probation was chosen
    double lru_score = 0;         // leading sampled pages each shadow served (decayed)
    double bimodal_score = 0;
    bool bimodal = false;         // the choice now
    bool probation = false;
  };
  Stats GetStats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Everything the choice depends on, for a clean restart (eviction_order.h): the scores, each
  // shadow's keys least recent first, and the shadows' capacity. Restore is for a duel no
  // request has reached yet.
  struct State {
    double lru_score = 0, bimodal_score = 0;
    uint64_t capacity = 0;  // keys per shadow; 0 = unbounded (SetCapacity not called yet)
    std::vector<NamespacedKey> lru, bimodal;
  };
  State Save() const ABSL_LOCKS_EXCLUDED(mu_);
  void Restore(const State& state) ABSL_LOCKS_EXCLUDED(mu_);

  // What the shadows were fed since the last TakeJournal, for the eviction order's journal
  // (order_journal.h: Read and Wrote of the sampled pages, as AppendDuelInput encodes them,
  // and SetCapacity where it changed the shadows' size), while set_journal(true). Past 16 MiB
  // it is dropped and `*overflow` says so at the next TakeJournal (a full save is due).
  void set_journal(bool on) ABSL_LOCKS_EXCLUDED(mu_);
  std::string TakeJournal(bool* overflow) ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `hash` is one of the sampled pages.
  bool Sampled(const KeyHash& hash) const { return (hash[15] & (options_.sample - 1)) == 0; }

 private:
  // An LRU cache of keys. Bimodal inserts at the LRU end but for one in admit_one_in.
  struct Shadow {
    std::list<NamespacedKey> order;  // least recent first
    absl::flat_hash_map<NamespacedKey, std::list<NamespacedKey>::iterator> where;
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
  // `k` (held) becomes the most recent.
  static void Use(Shadow& s, const NamespacedKey& k);
  // Evicts the least recent key.
  static void EvictOne(Shadow& s);
  // Adds two shadows' leading pages to their scores; both halve once their sum passes
  // `halve_at`.
  static void AddScores(double& a, size_t a_lead, double& b, size_t b_lead, uint64_t halve_at);
  // The leading pages of `pages` that `s` holds.
  static size_t Lead(const Shadow& s, const std::vector<NamespacedKey>& pages);
  // Whether the bimodal shadow's next insertion goes to the back (one in admit_one_in).
  bool Admit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return rng_() % options_.admit_one_in == 0; }
  std::vector<NamespacedKey> SampledOf(uint32_t ns_id, std::span<const KeyHash> pages) const;
  bool Bimodal() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return bimodal_score_ > options_.margin * lru_score_;
  }
  bool ProbationNow() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return options_.probation && !Bimodal();
  }

  const Options options_;
  mutable absl::Mutex mu_;
  Shadow lru_ ABSL_GUARDED_BY(mu_);
  Shadow bimodal_ ABSL_GUARDED_BY(mu_);
  double lru_score_ ABSL_GUARDED_BY(mu_) = 0;
  double bimodal_score_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t capacity_ ABSL_GUARDED_BY(mu_) = 0;  // keys per shadow; 0 = unbounded
  std::minstd_rand rng_ ABSL_GUARDED_BY(mu_);
  bool journal_on_ ABSL_GUARDED_BY(mu_) = false;
  bool journal_overflow_ ABSL_GUARDED_BY(mu_) = false;
  std::string journal_ ABSL_GUARDED_BY(mu_);
  void Journal(bool wrote, const std::vector<NamespacedKey>& keys)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t front_puts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t probation_puts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace prefixd::storage

#endif  // PREFIXD_STORAGE_INSERTION_DUEL_H_
