#include "bench/policy_sim.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <list>
#include <memory>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_map.h"

namespace prefixd::bench {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

// One policy: a set of at most `capacity` blocks. Access() is called once per block of every
// request, in order, with the block's position in that sequence.
class Policy {
 public:
  explicit Policy(uint64_t capacity) : capacity_(capacity) {}
  virtual ~Policy() = default;
  virtual bool Contains(uint64_t block) const = 0;
  virtual void Access(uint64_t block, uint64_t pos) = 0;
  uint64_t evictions() const { return evictions_; }

 protected:
  const uint64_t capacity_;
  uint64_t evictions_ = 0;
};

class Lru : public Policy {
 public:
  using Policy::Policy;
  bool Contains(uint64_t b) const override { return where_.contains(b); }
  void Access(uint64_t b, uint64_t) override {
    if (auto it = where_.find(b); it != where_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (where_.size() >= capacity_) {
      where_.erase(order_.back());
      order_.pop_back();
      ++evictions_;
    }
    order_.push_front(b);
    where_[b] = order_.begin();
  }

 private:
  std::list<uint64_t> order_;  // most recent first
  absl::flat_hash_map<uint64_t, std::list<uint64_t>::iterator> where_;
};

class S3Fifo : public Policy {
 public:
  explicit S3Fifo(uint64_t capacity)
      : Policy(capacity),
        small_cap_(std::max<uint64_t>(1, capacity / 10)),
        main_cap_(capacity > small_cap_ ? capacity - small_cap_ : 1) {}
  bool Contains(uint64_t b) const override { return entries_.contains(b); }
  void Access(uint64_t b, uint64_t) override {
    if (auto it = entries_.find(b); it != entries_.end()) {
      it->second.freq = std::min<uint8_t>(it->second.freq + 1, 3);
      return;
    }
    while (entries_.size() >= capacity_) Evict();
    if (auto g = ghost_.find(b); g != ghost_.end()) {
      ghost_.erase(g);
      entries_[b] = Entry{0, true};
      main_.push_back(b);
    } else {
      entries_[b] = Entry{0, false};
      small_.push_back(b);
    }
  }

 private:
  struct Entry {
    uint8_t freq;
    bool in_main;
  };

  // Removes one block from the cache (moving others between queues on the way).
  void Evict() {
    while (true) {
      if (!small_.empty() && (small_.size() >= small_cap_ || main_.empty())) {
        uint64_t t = small_.front();
        small_.pop_front();
        Entry& e = entries_[t];
        if (e.freq >= 1) {  // accessed again while in small: promoted
          e = Entry{0, true};
          main_.push_back(t);
          continue;
        }
        entries_.erase(t);
        AddGhost(t);
        ++evictions_;
        return;
      }
      uint64_t t = main_.front();
      main_.pop_front();
      Entry& e = entries_[t];
      if (e.freq > 0) {  // a second chance
        --e.freq;
        main_.push_back(t);
        continue;
      }
      entries_.erase(t);
      ++evictions_;
      return;
    }
  }

  void AddGhost(uint64_t b) {
    ghost_[b] = ++ghost_seq_;
    ghost_order_.emplace_back(b, ghost_seq_);
    while (ghost_order_.size() > main_cap_) {
      auto [old, seq] = ghost_order_.front();
      ghost_order_.pop_front();
      if (auto g = ghost_.find(old); g != ghost_.end() && g->second == seq) ghost_.erase(g);
    }
  }

  const uint64_t small_cap_, main_cap_;
  absl::flat_hash_map<uint64_t, Entry> entries_;
  std::deque<uint64_t> small_, main_;
  // Ghost ids, each with the stamp of its latest entry; the queue may hold stale stamps of ids
  // that left the ghost (re-inserted) or were entered again since.
  absl::flat_hash_map<uint64_t, uint64_t> ghost_;
  std::deque<std::pair<uint64_t, uint64_t>> ghost_order_;
  uint64_t ghost_seq_ = 0;
};

class LfuAging : public Policy {
 public:
  using Policy::Policy;
  bool Contains(uint64_t b) const override { return entries_.contains(b); }
  void Access(uint64_t b, uint64_t pos) override {
    if (auto it = entries_.find(b); it != entries_.end()) {
      Entry& e = it->second;
      order_.erase({e.priority, e.last, b});
      ++e.freq;
      e.priority = age_ + e.freq;
      e.last = pos;
      order_.insert({e.priority, e.last, b});
      return;
    }
    if (entries_.size() >= capacity_) {
      auto victim = order_.begin();
      age_ = std::get<0>(*victim);
      entries_.erase(std::get<2>(*victim));
      order_.erase(victim);
      ++evictions_;
    }
    Entry e{age_ + 1, pos, 1};
    entries_[b] = e;
    order_.insert({e.priority, e.last, b});
  }

 private:
  struct Entry {
    uint64_t priority, last, freq;
  };
  uint64_t age_ = 0;  // L: the priority of the last block evicted
  absl::flat_hash_map<uint64_t, Entry> entries_;
  std::set<std::tuple<uint64_t, uint64_t, uint64_t>> order_;  // (priority, last access, block)
};

class Opt : public Policy {
 public:
  // next_use[pos]: the position of the next access to the block accessed at pos, or kNever.
  Opt(uint64_t capacity, std::vector<uint64_t> next_use)
      : Policy(capacity), next_use_(std::move(next_use)) {}
  bool Contains(uint64_t b) const override { return next_.contains(b); }
  void Access(uint64_t b, uint64_t pos) override {
    const uint64_t next = next_use_[pos];
    if (auto it = next_.find(b); it != next_.end()) {
      order_.erase({it->second, b});
      it->second = next;
      order_.insert({next, b});
      return;
    }
    if (next_.size() >= capacity_) {
      auto victim = std::prev(order_.end());  // farthest next use (kNever first)
      next_.erase(victim->second);
      order_.erase(victim);
      ++evictions_;
    }
    next_[b] = next;
    order_.insert({next, b});
  }

 private:
  const std::vector<uint64_t> next_use_;
  absl::flat_hash_map<uint64_t, uint64_t> next_;
  std::set<std::pair<uint64_t, uint64_t>> order_;  // (next use, block)
};

PolicyResult Run(const char* name, Policy& p, std::span<const Request> trace) {
  PolicyResult r;
  r.policy = name;
  uint64_t pos = 0;
  for (const Request& req : trace) {
    size_t served = 0;
    while (served < req.blocks.size() && p.Contains(req.blocks[served])) ++served;
    r.served_blocks += served;
    r.served_tokens += req.PrefixTokens(served);
    r.prompt_tokens += req.prompt_tokens;
    for (uint64_t b : req.blocks) p.Access(b, pos++);
  }
  r.evictions = p.evictions();
  return r;
}

std::vector<uint64_t> NextUses(std::span<const Request> trace) {
  std::vector<uint64_t> seq;
  for (const Request& req : trace) seq.insert(seq.end(), req.blocks.begin(), req.blocks.end());
  std::vector<uint64_t> next(seq.size(), kNever);
  absl::flat_hash_map<uint64_t, uint64_t> later;  // block -> its next position seen so far
  for (size_t i = seq.size(); i-- > 0;) {
    auto [it, inserted] = later.try_emplace(seq[i], i);
    if (!inserted) {
      next[i] = it->second;
      it->second = i;
    }
  }
  return next;
}

}  // namespace

std::vector<PolicyResult> SimulatePolicies(std::span<const Request> trace,
                                           uint64_t capacity_pages) {
  capacity_pages = std::max<uint64_t>(capacity_pages, 1);
  std::vector<PolicyResult> out;
  {
    Lru p(capacity_pages);
    out.push_back(Run("lru", p, trace));
  }
  {
    S3Fifo p(capacity_pages);
    out.push_back(Run("s3fifo", p, trace));
  }
  {
    LfuAging p(capacity_pages);
    out.push_back(Run("lfu_aging", p, trace));
  }
  {
    Opt p(capacity_pages, NextUses(trace));
    out.push_back(Run("opt", p, trace));
  }
  return out;
}

}  // namespace prefixd::bench
