#include "storage/insertion_duel.h"

#include <algorithm>
#include <utility>

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

void InsertionDuel::Hold(Shadow& s, const std::vector<NamespacedKey>& pages, size_t lead,
                         bool front) {
  for (size_t i = lead; i-- > 0;) {
    s.order.splice(s.order.end(), s.order, s.where.at(pages[i]));
  }
  std::vector<NamespacedKey> fresh;
  for (size_t i = pages.size(); i-- > lead;) {
    if (auto at = s.where.find(pages[i]); at != s.where.end()) {
      s.order.splice(s.order.end(), s.order, at->second);
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
    s.where.erase(s.order.front());
    s.order.pop_front();
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

void InsertionDuel::Read(uint32_t ns_id, std::span<const KeyHash> pages) {
  const std::vector<NamespacedKey> mine = SampledOf(ns_id, pages);
  if (mine.empty()) return;
  absl::MutexLock l(&mu_);
  const size_t lru_lead = Lead(lru_, mine), bimodal_lead = Lead(bimodal_, mine);
  lru_.score += double(lru_lead);
  bimodal_.score += double(bimodal_lead);
  if (lru_.score + bimodal_.score > double(options_.halve_at)) {
    lru_.score /= 2;
    bimodal_.score /= 2;
  }
  Hold(lru_, mine, lru_lead, /*front=*/false);
  Hold(bimodal_, mine, bimodal_lead, /*front=*/!Admit());
}

void InsertionDuel::Wrote(uint32_t ns_id, std::span<const KeyHash> pages) {
  const std::vector<NamespacedKey> mine = SampledOf(ns_id, pages);
  if (mine.empty()) return;
  absl::MutexLock l(&mu_);
  for (Shadow* s : {&lru_, &bimodal_}) {
    std::vector<NamespacedKey> fresh;
    for (const NamespacedKey& k : mine) {
      if (!s->where.contains(k)) fresh.push_back(k);
    }
    Insert(*s, fresh, /*front=*/s == &bimodal_ && !Admit());
  }
}

bool InsertionDuel::InsertAtFront() {
  absl::MutexLock l(&mu_);
  if (!Bimodal() || Admit()) return false;
  ++front_puts_;
  return true;
}

void InsertionDuel::SetCapacity(uint64_t pages) {
  absl::MutexLock l(&mu_);
  capacity_ = std::max<uint64_t>(4, pages / options_.sample);
  for (Shadow* s : {&lru_, &bimodal_}) {
    while (s->order.size() > capacity_) {
      s->where.erase(s->order.front());
      s->order.pop_front();
    }
  }
}

InsertionDuel::Stats InsertionDuel::GetStats() const {
  absl::MutexLock l(&mu_);
  return {.front_puts = front_puts_,
          .lru_score = lru_.score,
          .bimodal_score = bimodal_.score,
          .bimodal = Bimodal()};
}

}  // namespace prefixd::storage
