#include "storage/insertion_duel.h"

#include <algorithm>
#include <utility>

#include "storage/order_journal.h"

namespace prefixd::storage {

InsertionDuel::InsertionDuel(const Options& options) : options_(options), rng_(options.seed) {}

std::vector<NamespacedKey> InsertionDuel::SampledOf(uint32_t ns_id,
                                                    std::span<const KeyHash> pages) const {
  std::vector<NamespacedKey> out;
  for (const KeyHash& h : pages) {
    if (Sampled(h)) out.push_back({ns_id, h});
  }
  return out;
}

size_t InsertionDuel::Lead(const Shadow& s, const std::vector<NamespacedKey>& pages) {
  size_t lead = 0;
  while (lead < pages.size() && s.where.contains(pages[lead])) ++lead;
  return lead;
}

void InsertionDuel::Use(Shadow& s, const NamespacedKey& k) {
  s.order.splice(s.order.end(), s.order, s.where.at(k));
}

void InsertionDuel::EvictOne(Shadow& s) {
  s.where.erase(s.order.front());
  s.order.pop_front();
}

void InsertionDuel::Hold(Shadow& s, const std::vector<NamespacedKey>& pages, size_t lead,
                         bool front) {
  for (size_t i = lead; i-- > 0;) Use(s, pages[i]);
  std::vector<NamespacedKey> fresh;
  for (size_t i = pages.size(); i-- > lead;) {
    if (s.where.contains(pages[i])) {
      Use(s, pages[i]);
    } else {
      fresh.push_back(pages[i]);
    }
  }
  std::reverse(fresh.begin(), fresh.end());  // chain order
  Insert(s, fresh, front);
}

void InsertionDuel::Insert(Shadow& s, const std::vector<NamespacedKey>& fresh, bool front) {
  if (fresh.empty()) return;
  while (capacity_ != 0 && !s.order.empty() && s.order.size() + fresh.size() > capacity_) {
    EvictOne(s);
  }
  if (front) {
    for (const NamespacedKey& k : fresh) {  // root first: the deepest ends at the very front
      s.order.push_front(k);
      s.where[k] = s.order.begin();
    }
  } else {
    for (auto k = fresh.rbegin(); k != fresh.rend(); ++k) {
      s.order.push_back(*k);
      s.where[*k] = std::prev(s.order.end());
    }
  }
}

void InsertionDuel::AddScores(double& a, size_t a_lead, double& b, size_t b_lead,
                              uint64_t halve_at) {
  a += double(a_lead);
  b += double(b_lead);
  if (a + b > double(halve_at)) {
    a /= 2;
    b /= 2;
  }
}

void InsertionDuel::Read(uint32_t ns_id, std::span<const KeyHash> pages) {
  const std::vector<NamespacedKey> mine = SampledOf(ns_id, pages);
  if (mine.empty()) return;
  absl::MutexLock l(&mu_);
  Journal(/*wrote=*/false, mine);
  const size_t lru_lead = Lead(lru_, mine), bimodal_lead = Lead(bimodal_, mine);
  AddScores(lru_score_, lru_lead, bimodal_score_, bimodal_lead, options_.halve_at);
  Hold(lru_, mine, lru_lead, /*front=*/false);
  Hold(bimodal_, mine, bimodal_lead, /*front=*/!Admit());
}

void InsertionDuel::Wrote(uint32_t ns_id, std::span<const KeyHash> pages) {
  const std::vector<NamespacedKey> mine = SampledOf(ns_id, pages);
  if (mine.empty()) return;
  absl::MutexLock l(&mu_);
  Journal(/*wrote=*/true, mine);
  for (Shadow* s : {&lru_, &bimodal_}) {
    std::vector<NamespacedKey> fresh;
    for (const NamespacedKey& k : mine) {
      if (!s->where.contains(k)) fresh.push_back(k);
    }
    Insert(*s, fresh, /*front=*/s == &bimodal_ && !Admit());
  }
}

InsertionDuel::Insertion InsertionDuel::Choose() {
  absl::MutexLock l(&mu_);
  if (Bimodal()) {
    if (Admit()) return Insertion::kLru;
    ++front_puts_;
    return Insertion::kFront;
  }
  if (ProbationNow()) {
    ++probation_puts_;
    return Insertion::kProbation;
  }
  return Insertion::kLru;
}

bool InsertionDuel::Probation() const {
  absl::MutexLock l(&mu_);
  return ProbationNow();
}

void InsertionDuel::SetCapacity(uint64_t pages) {
  absl::MutexLock l(&mu_);
  const uint64_t capacity = std::max<uint64_t>(4, pages / options_.sample);
  if (capacity == capacity_) return;
  if (journal_on_ && !journal_overflow_) AppendDuelCapacity(&journal_, pages);
  capacity_ = capacity;
  for (Shadow* s : {&lru_, &bimodal_}) {
    while (s->order.size() > capacity_) EvictOne(*s);
  }
}

InsertionDuel::Stats InsertionDuel::GetStats() const {
  absl::MutexLock l(&mu_);
  return {.front_puts = front_puts_,
          .probation_puts = probation_puts_,
          .lru_score = lru_score_,
          .bimodal_score = bimodal_score_,
          .bimodal = Bimodal(),
          .probation = ProbationNow()};
}

void InsertionDuel::set_journal(bool on) {
  absl::MutexLock l(&mu_);
  journal_on_ = on;
  journal_.clear();
  journal_overflow_ = false;
}

std::string InsertionDuel::TakeJournal(bool* overflow) {
  absl::MutexLock l(&mu_);
  *overflow = journal_overflow_;
  journal_overflow_ = false;
  return std::exchange(journal_, {});
}

void InsertionDuel::Journal(bool wrote, const std::vector<NamespacedKey>& keys) {
  if (!journal_on_ || journal_overflow_) return;
  if (journal_.size() > (size_t{16} << 20)) {
    journal_overflow_ = true;
    journal_.clear();
    return;
  }
  AppendDuelInput(&journal_, wrote, keys);
}

InsertionDuel::State InsertionDuel::Save() const {
  absl::MutexLock l(&mu_);
  State st;
  st.lru_score = lru_score_;
  st.bimodal_score = bimodal_score_;
  st.capacity = capacity_;
  st.lru.assign(lru_.order.begin(), lru_.order.end());
  st.bimodal.assign(bimodal_.order.begin(), bimodal_.order.end());
  return st;
}

void InsertionDuel::Restore(const State& st) {
  absl::MutexLock l(&mu_);
  lru_score_ = st.lru_score;
  bimodal_score_ = st.bimodal_score;
  capacity_ = st.capacity;
  auto fill = [](Shadow& s, const std::vector<NamespacedKey>& keys) {
    for (const NamespacedKey& k : keys) {
      if (s.where.contains(k)) continue;
      s.order.push_back(k);
      s.where[k] = std::prev(s.order.end());
    }
  };
  fill(lru_, st.lru);
  fill(bimodal_, st.bimodal);
}

}  // namespace prefixd::storage
