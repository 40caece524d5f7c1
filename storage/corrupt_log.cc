#include "storage/corrupt_log.h"

namespace prefixd::storage {

std::vector<NamespacedKey> CorruptLog::Add(uint32_t ns_id, const KeyHash& key) {
  std::vector<NamespacedKey> forgotten;
  if (capacity_ == 0) return forgotten;
  absl::MutexLock l(&mu_);
  ever_added_.store(true, std::memory_order_relaxed);
  const Entry e{ns_id, key};
  const uint64_t seq = next_seq_++;
  seq_[e] = seq;
  order_.emplace_back(e, seq);
  auto live = [&](const std::pair<Entry, uint64_t>& o) {
    auto it = seq_.find(o.first);
    return it != seq_.end() && it->second == o.second;
  };
  while (seq_.size() > capacity_) {  // forget the oldest remembered key
    if (live(order_.front())) {
      seq_.erase(order_.front().first);
      forgotten.push_back(order_.front().first);
    }
    order_.pop_front();
  }
  if (order_.size() > 2 * capacity_) {  // mostly stale: keep only the live entries
    std::deque<std::pair<Entry, uint64_t>> kept;
    for (const auto& o : order_) {
      if (live(o)) kept.push_back(o);
    }
    order_.swap(kept);
  }
  return forgotten;
}

bool CorruptLog::Contains(uint32_t ns_id, const KeyHash& key) const {
  absl::MutexLock l(&mu_);
  return seq_.contains(Entry{ns_id, key});
}

void CorruptLog::Erase(uint32_t ns_id, const KeyHash& key) {
  absl::MutexLock l(&mu_);
  seq_.erase(Entry{ns_id, key});
}

size_t CorruptLog::size() const {
  absl::MutexLock l(&mu_);
  return seq_.size();
}

}  // namespace prefixd::storage
