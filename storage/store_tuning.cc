// StoreImpl: the controller's view (Signals) and its levers (CurrentTuning, ApplyTuning).
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/rate_limiter.h"
#include "rocksdb/statistics.h"
#include "spdlog/spdlog.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"

namespace prefixd::storage {

StoreSignals StoreImpl::Signals() {
  StoreSignals s;
  {
    absl::MutexLock l(&ns_mu_);
    for (const auto& [name, ns] : namespaces_) {
      const uint64_t page = ns->info.fingerprint.page_bytes;
      const uint64_t puts = ns->puts.load(std::memory_order_relaxed);
      const uint64_t hits = ns->hits.load(std::memory_order_relaxed);
      s.put_pages += puts;
      s.put_bytes += puts * page;
      s.get_pages += hits;
      s.get_bytes += hits * page;
      s.get_misses += ns->misses.load(std::memory_order_relaxed);
      s.exists_keys += ns->exists_queries.load(std::memory_order_relaxed);
    }
  }
  if (statistics_) {
    s.flush_write_bytes = statistics_->getTickerCount(rocksdb::FLUSH_WRITE_BYTES);
    s.compaction_read_bytes = statistics_->getTickerCount(rocksdb::COMPACT_READ_BYTES);
    s.compaction_write_bytes = statistics_->getTickerCount(rocksdb::COMPACT_WRITE_BYTES);
    s.stall_micros = statistics_->getTickerCount(rocksdb::STALL_MICROS);
  }
  std::vector<GenerationPtr> gens;
  {
    absl::MutexLock l(&gen_mu_);
    for (const auto& [n, g] : gens_) gens.push_back(g);
  }
  const std::string l0_property =
      rocksdb::DB::Properties::kNumFilesAtLevelPrefix + std::string("0");
  for (const auto& g : gens) {
    uint64_t v = 0;
    // "num-files-at-level<N>" has only a string form in RocksDB 7.8 (GetIntProperty fails).
    std::string text;
    if (db_->GetProperty(g->handle, l0_property, &text) && absl::SimpleAtoi(text, &v)) {
      s.l0_files = std::max(s.l0_files, v);
    }
    if (db_->GetIntProperty(g->handle, rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
                            &v)) {
      s.pending_compaction_bytes += v;
    }
    if (db_->GetIntProperty(g->handle, rocksdb::DB::Properties::kLiveBlobFileGarbageSize, &v)) {
      s.blob_garbage_bytes += v;
    }
  }
  s.promoted_bytes = promoted_bytes_.load(std::memory_order_relaxed);
  s.put_latency = put_latency_.Snapshot();
  s.get_latency = get_latency_.Snapshot();
  s.exists_latency = exists_latency_.Snapshot();
  return s;
}

Tuning StoreImpl::CurrentTuning() {
  absl::MutexLock l(&tuning_mu_);
  return tuning_;
}

absl::Status StoreImpl::ApplyTuning(const Tuning& t) {
  if (t.write_buffer_bytes < (uint64_t{1} << 20) || t.l0_slowdown_trigger < 2 ||
      t.l0_stop_trigger <= t.l0_slowdown_trigger || t.max_background_jobs < 1 ||
      t.max_background_jobs > 64 || !(t.promote_fraction >= 0 && t.promote_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("tuning out of range: ", t.ToString()));
  }
  // Never let memtables grow past what the capacity's reserve was sized for.
  if (options_.capacity_bytes != 0 && t.write_buffer_bytes > write_buffer_bytes_ * 4) {
    return absl::InvalidArgumentError(
        "write buffer more than 4x its start-up size is not allowed with a capacity");
  }
  absl::MutexLock l(&tuning_mu_);
  std::unordered_map<std::string, std::string> cf = {
      {"write_buffer_size", absl::StrCat(t.write_buffer_bytes)},
      {"level0_slowdown_writes_trigger", absl::StrCat(t.l0_slowdown_trigger)},
      {"level0_stop_writes_trigger", absl::StrCat(t.l0_stop_trigger)},
  };
  std::vector<GenerationPtr> gens;
  {
    absl::MutexLock gl(&gen_mu_);
    for (const auto& [n, g] : gens_) gens.push_back(g);
  }
  for (const auto& g : gens) {
    if (auto s = db_->SetOptions(g->handle, cf); !s.ok()) {
      return FromRocks(s, "changing a generation's options");
    }
  }
  page_family_options_.write_buffer_size = t.write_buffer_bytes;
  page_family_options_.level0_slowdown_writes_trigger = t.l0_slowdown_trigger;
  page_family_options_.level0_stop_writes_trigger = t.l0_stop_trigger;
  if (t.max_background_jobs != tuning_.max_background_jobs) {
    if (auto s = db_->SetDBOptions(
            {{"max_background_jobs", absl::StrCat(t.max_background_jobs)}});
        !s.ok()) {
      return FromRocks(s, "changing max_background_jobs");
    }
  }
  rate_limiter_->SetBytesPerSecond(t.background_rate_bytes == 0
                                       ? kUnlimitedRate
                                       : static_cast<int64_t>(t.background_rate_bytes));
  promote_fraction_.store(t.promote_fraction, std::memory_order_relaxed);
  tuning_ = t;
  return absl::OkStatus();
}

}  // namespace prefixd::storage
