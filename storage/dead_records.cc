#include "storage/dead_records.h"

#include <string>
#include <utility>

namespace prefixd::storage {

void DeadRecords::Add(uint64_t generation, const NamespacedKey& page) {
  absl::MutexLock l(&mu_);
  by_generation_[generation].dead.insert(page);
}

void DeadRecords::Erase(uint64_t generation, const NamespacedKey& page) {
  absl::MutexLock l(&mu_);
  auto it = by_generation_.find(generation);
  if (it == by_generation_.end()) return;
  it->second.dead.erase(page);
  it->second.compacting.erase(page);
}

bool DeadRecords::Contains(uint64_t generation, const NamespacedKey& page) const {
  absl::MutexLock l(&mu_);
  auto it = by_generation_.find(generation);
  return it != by_generation_.end() &&
         (it->second.dead.contains(page) || it->second.compacting.contains(page));
}

size_t DeadRecords::Count(uint64_t generation) const {
  absl::MutexLock l(&mu_);
  auto it = by_generation_.find(generation);
  return it == by_generation_.end() ? 0 : it->second.dead.size() + it->second.compacting.size();
}

void DeadRecords::BeginCompaction(uint64_t generation) {
  absl::MutexLock l(&mu_);
  auto it = by_generation_.find(generation);
  if (it == by_generation_.end()) return;
  Named& n = it->second;
  n.compacting.merge(n.dead);  // what is left in `dead` was set aside already
  n.dead.clear();
}

void DeadRecords::EndCompaction(uint64_t generation, bool ok) {
  absl::MutexLock l(&mu_);
  auto it = by_generation_.find(generation);
  if (it == by_generation_.end()) return;
  Named& n = it->second;
  if (!ok) n.dead.merge(n.compacting);
  n.compacting.clear();
  if (n.dead.empty()) by_generation_.erase(it);
}

void DeadRecords::Forget(uint64_t generation) {
  absl::MutexLock l(&mu_);
  by_generation_.erase(generation);
}

namespace {

class DeadRecordFilter final : public rocksdb::CompactionFilter {
 public:
  DeadRecordFilter(DeadRecords* dead, uint64_t generation,
                   const std::function<bool(uint64_t, const NamespacedKey&)>* live)
      : dead_(dead), generation_(generation), live_(live) {}

  const char* Name() const override { return "prefixd.DeadRecordFilter"; }

  // Blob records: decided by key, so that RocksDB does not read the blob (a hole, once freed).
  Decision FilterBlobByKey(int, const rocksdb::Slice& key, std::string*,
                           std::string*) const override {
    return Decide(key);
  }
  // Pages small enough to be stored inline, and whatever RocksDB passes after reading a blob.
  Decision FilterV2(int, const rocksdb::Slice& key, ValueType type, const rocksdb::Slice&,
                    std::string*, std::string*) const override {
    if (type == ValueType::kMergeOperand) return Decision::kKeep;
    return Decide(key);
  }

 private:
  Decision Decide(const rocksdb::Slice& key) const {
    NamespacedKey page;
    if (!DecodePageKey(std::string_view(key.data(), key.size()), &page)) return Decision::kKeep;
    if (!dead_->Contains(generation_, page) || (*live_)(generation_, page)) {
      return Decision::kKeep;
    }
    dead_->CountRemoved();
    return Decision::kRemove;
  }

  DeadRecords* const dead_;
  const uint64_t generation_;
  const std::function<bool(uint64_t, const NamespacedKey&)>* const live_;
};

class DeadRecordFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  DeadRecordFilterFactory(DeadRecords* dead,
                          std::function<std::optional<uint64_t>(uint32_t)> generation_of,
                          std::function<bool(uint64_t, const NamespacedKey&)> live)
      : dead_(dead), generation_of_(std::move(generation_of)), live_(std::move(live)) {}

  const char* Name() const override { return "prefixd.DeadRecordFilterFactory"; }

  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& context) override {
    auto generation = generation_of_(context.column_family_id);
    if (!generation) return nullptr;  // a family not registered yet, or dropped: keep all
    return std::make_unique<DeadRecordFilter>(dead_, *generation, &live_);
  }

 private:
  DeadRecords* const dead_;
  const std::function<std::optional<uint64_t>(uint32_t)> generation_of_;
  const std::function<bool(uint64_t, const NamespacedKey&)> live_;
};

}  // namespace

std::shared_ptr<rocksdb::CompactionFilterFactory> NewDeadRecordFilterFactory(
    DeadRecords* dead, std::function<std::optional<uint64_t>(uint32_t)> generation_of,
    std::function<bool(uint64_t, const NamespacedKey&)> live) {
  return std::make_shared<DeadRecordFilterFactory>(dead, std::move(generation_of),
                                                   std::move(live));
}

}  // namespace prefixd::storage
