#include "server/presence_tables.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace prefixd::server {

std::shared_ptr<shm::PresenceTable> PresenceTables::For(uint32_t ns_id, uint64_t page_bytes) {
  absl::MutexLock l(&mu_);
  return ForLocked(ns_id, page_bytes);
}

std::shared_ptr<shm::PresenceTable> PresenceTables::ForLocked(uint32_t ns_id,
                                                              uint64_t page_bytes) {
  if (auto it = tables_.find(ns_id); it != tables_.end()) return it->second;
  const uint64_t pages = capacity_ == 0 ? shm::kMaxPresenceSlots
                                         : capacity_ / std::max<uint64_t>(page_bytes, 1) + 1;
  auto t = shm::PresenceTable::Create(shm::PresenceSlotsFor(pages),
                                      absl::StrCat("prefixd-presence-", ns_id));
  if (!t.ok()) {
    if (!failed_) {
      spdlog::warn("shm: no presence table for namespace {} (clients ask the daemon): {}", ns_id,
                   t.status().ToString());
    }
    failed_ = true;
    tables_[ns_id] = nullptr;  // not tried again for every page
    return nullptr;
  }
  std::shared_ptr<shm::PresenceTable> table = *std::move(t);
  table->SetOldestLive(oldest_live_);
  if (auto ttl = ttl_.find(ns_id); ttl != ttl_.end()) table->SetTtl(ttl->second);
  tables_[ns_id] = table;
  return table;
}

void PresenceTables::Set(uint32_t ns_id, const uint8_t* hash, uint32_t generation,
                         uint32_t created_unix, uint32_t bytes) {
  absl::MutexLock l(&mu_);
  if (auto t = ForLocked(ns_id, bytes)) t->Set(shm::PresenceTag(hash), generation, created_unix);
}

void PresenceTables::Erase(uint32_t ns_id, const uint8_t* hash) {
  absl::MutexLock l(&mu_);
  if (auto it = tables_.find(ns_id); it != tables_.end() && it->second != nullptr) {
    it->second->Erase(shm::PresenceTag(hash));
  }
}

void PresenceTables::EraseNamespace(uint32_t ns_id) {
  absl::MutexLock l(&mu_);
  ttl_.erase(ns_id);
  if (auto it = tables_.find(ns_id); it != tables_.end()) {
    if (it->second != nullptr) it->second->MarkGone();  // its clients ask the daemon from now on
    tables_.erase(it);
  }
}

void PresenceTables::OldestLive(uint64_t generation) {
  absl::MutexLock l(&mu_);
  oldest_live_ = generation;
  for (auto& [id, t] : tables_) {
    if (t != nullptr) t->SetOldestLive(generation);
  }
}

void PresenceTables::Ttl(uint32_t ns_id, uint64_t ttl_seconds) {
  absl::MutexLock l(&mu_);
  ttl_[ns_id] = ttl_seconds;
  if (auto it = tables_.find(ns_id); it != tables_.end() && it->second != nullptr) {
    it->second->SetTtl(ttl_seconds);
  }
}

}  // namespace prefixd::server
