#include "storage/generations.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "storage/records.h"

namespace prefixd::storage {
namespace {
constexpr std::string_view kPrefix = "gen.";
}  // namespace

Generation::~Generation() {
  // Closing or dropped: nothing to do about a failure but leave the handle to the DB.
  db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
}

void Generation::Add(uint32_t ns_id, uint64_t bytes) {
  ++total.pages;
  total.bytes += bytes;
  written += bytes;
  Count& c = per_namespace[ns_id];
  ++c.pages;
  c.bytes += bytes;
}

void Generation::Remove(uint32_t ns_id, uint64_t bytes) {
  --total.pages;
  total.bytes -= bytes;
  auto it = per_namespace.find(ns_id);
  if (it == per_namespace.end()) return;
  --it->second.pages;
  it->second.bytes -= bytes;
  if (it->second.pages == 0) per_namespace.erase(it);
}

uint64_t BlobRecordBytes(const rocksdb::ColumnFamilyMetaData& meta) {
  uint64_t bytes = 0;
  for (const auto& b : meta.blob_files) bytes += b.total_blob_bytes;
  return bytes;
}

uint64_t SstRecords(const rocksdb::ColumnFamilyMetaData& meta) {
  uint64_t records = 0;
  for (const auto& level : meta.levels) {
    for (const auto& f : level.files) {
      records += f.num_entries > f.num_deletions ? f.num_entries - f.num_deletions : 0;
    }
  }
  return records;
}

std::vector<uint64_t> Generation::SeeBlobFiles(const rocksdb::ColumnFamilyMetaData& meta,
                                               bool scan) {
  absl::flat_hash_map<uint64_t, uint64_t> now;
  for (const auto& b : meta.blob_files) now[b.blob_file_number] = b.total_blob_bytes;
  std::vector<uint64_t> gone;
  for (const auto& [number, bytes] : file_bytes) {
    if (now.contains(number)) continue;
    gone.push_back(number);
    gone_files.insert(number);
    stored -= std::min(stored, bytes);
    if (blob_files.erase(number) > 0) flushed -= std::min(flushed, bytes);
  }
  file_bytes = std::move(now);
  if (scan) {
    flushed = 0;
    blob_files.clear();
    for (const auto& [number, bytes] : file_bytes) {
      flushed += bytes;
      blob_files.insert(number);
    }
  }
  return gone;
}

std::optional<uint64_t> ParseBlobFileName(std::string_view name) {
  constexpr std::string_view kSuffix = ".blob";
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  const std::string_view digits = name.substr(0, name.size() - kSuffix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t number = 0;
  if (!absl::SimpleAtoi(std::string(digits), &number)) return std::nullopt;
  return number;
}

std::string GenerationFamilyName(uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "gen.%020llu", static_cast<unsigned long long>(number));
  return buf;
}

std::optional<uint64_t> ParseGenerationFamilyName(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  uint64_t n = 0;
  if (!absl::SimpleAtoi(std::string(name.substr(kPrefix.size())), &n)) return std::nullopt;
  return n;
}

bool StaleIndexFilter::Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value,
                              std::string*, bool*) const {
  auto gen = IndexRecordGeneration(std::string_view(value.data(), value.size()));
  uint64_t oldest = oldest_->load(std::memory_order_relaxed);
  // Generation 0 marks a page evicted alone (StoreOptions::Eviction::kPages): its record is
  // kept only until a compaction reaches it, or evicted pages would pile up for as long as a
  // read page keeps the oldest generation alive.
  return gen.has_value() &&
         (*gen == 0 || (oldest > kEvictedHorizon && *gen < oldest - kEvictedHorizon));
}

}  // namespace prefixd::storage
