// Internal to storage/: the RocksDB-backed Store. Split by concern across store_open.cc
// (open, namespaces, stats) and store_pages.cc (exists, put, get, delete).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "storage/records.h"
#include "storage/store.h"

namespace prefixd::storage {

// Counters of one namespace. Updated with relaxed atomics; pages/bytes only under write_mu_.
struct NamespaceState {
  NamespaceInfo info;
  std::atomic<uint64_t> pages{0}, bytes{0}, puts{0}, put_existing{0}, hits{0}, misses{0},
      exists_queries{0}, exists_hits{0}, corrupt_dropped{0}, deleted{0};

  NamespaceCounters Snapshot() const;
};

class StoreImpl final : public Store {
 public:
  explicit StoreImpl(const StoreOptions& options) : options_(options) {}
  ~StoreImpl() override;

  absl::Status Init();

  absl::StatusOr<OpenResult> OpenNamespace(std::string_view name, const Fingerprint& fp) override;
  absl::StatusOr<NamespaceInfo> LookupNamespace(NamespaceRef ref) override;
  absl::StatusOr<std::vector<bool>> Exists(NamespaceRef ns,
                                           std::span<const std::string> keys) override;
  absl::StatusOr<PutResult> Put(NamespaceRef ns, std::string_view parent_key,
                                std::span<const PageWrite> pages) override;
  absl::StatusOr<GetResult> Get(NamespaceRef ns, std::span<const std::string> keys,
                                uint32_t max_pages, const PageSink& sink) override;
  absl::StatusOr<uint32_t> Delete(NamespaceRef ns, std::span<const std::string> keys) override;
  absl::StatusOr<uint64_t> DeleteNamespace(NamespaceRef ns) override;
  absl::StatusOr<StoreStats> Stats() override;
  absl::Status Flush() override;

 private:
  absl::StatusOr<std::shared_ptr<NamespaceState>> Resolve(NamespaceRef ref);

  // Loads namespaces from "meta" and page counts from "index"; drops orphaned pages.
  absl::Status LoadState();

  // Index records of `keys` in namespace `ns_id`, in order; nullopt where absent. Reads at
  // `snapshot` when given.
  absl::StatusOr<std::vector<std::optional<IndexRecord>>> ReadIndex(
      uint32_t ns_id, std::span<const std::string> keys,
      const rocksdb::Snapshot* snapshot = nullptr);

  // Resolve() again under write_mu_: the namespace must still be `st` (not deleted or
  // recreated since the caller resolved it without the lock).
  absl::Status StillCurrent(const NamespaceState* st, NamespaceRef ref)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Removes one corrupt page and its index record, and counts it.
  void DropCorrupt(NamespaceState& ns, const std::string& key, const IndexRecord& rec);

  const StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;   // owned by db_ (the default family)
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;  // destroyed before db_
  rocksdb::ColumnFamilyHandle* pages_cf_ = nullptr;  // destroyed before db_

  // Serialises writers so that "present?" checks and counts stay exact.
  absl::Mutex write_mu_;

  absl::Mutex ns_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<NamespaceState>> namespaces_
      ABSL_GUARDED_BY(ns_mu_);
  uint32_t next_ns_id_ ABSL_GUARDED_BY(ns_mu_) = 1;
};

}  // namespace prefixd::storage
