// prefixd::server::PresenceTables — the daemon's shared-memory presence tables
// (shm/presence.h), one per namespace, kept in step with the store's key index by listening to
// it (storage::IndexObserver). Each arena registration of a namespace hands its client the
// namespace's table, so that the client answers Exists without a call.
//
// A table is made on the first page of its namespace (or its first registration), small, and
// grows with its pages (21-64 bytes a page) up to what the capacity can hold at that
// namespace's page size (kMaxPresenceSlots at most, also when the capacity is unlimited). Past
// three quarters of that it stops answering (clients ask the daemon). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "shm/presence.h"
#include "storage/store_options.h"

namespace prefixd::server {

class PresenceTables final : public storage::IndexObserver {
 public:
  // `capacity_bytes`: the store's budget (0: unlimited).
  explicit PresenceTables(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // Namespace `ns_id`'s table (pages of `page_bytes`), made if need be; null if it cannot be
  // made (logged).
  std::shared_ptr<shm::PresenceTable> For(uint32_t ns_id, uint64_t page_bytes);

  void Set(uint32_t ns_id, const uint8_t* hash, uint32_t generation, uint32_t created_unix,
           uint32_t bytes) override;
  void Erase(uint32_t ns_id, const uint8_t* hash) override;
  void EraseNamespace(uint32_t ns_id) override;
  void OldestLive(uint64_t generation) override;
  void Ttl(uint32_t ns_id, uint64_t ttl_seconds) override;

 private:
  std::shared_ptr<shm::PresenceTable> ForLocked(uint32_t ns_id, uint64_t page_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t capacity_;
  absl::Mutex mu_;
  std::map<uint32_t, std::shared_ptr<shm::PresenceTable>> tables_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, uint64_t> ttl_ ABSL_GUARDED_BY(mu_);  // for tables made later
  uint64_t oldest_live_ ABSL_GUARDED_BY(mu_) = 0;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;  // a table could not be made (logged once)
};

}  // namespace prefixd::server
