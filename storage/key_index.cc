#include "storage/key_index.h"

#include <algorithm>
#include <string>
#include <utility>

namespace prefixd::storage {

KeyIndex::Entry KeyIndex::EntryOf(const IndexRecord& rec) {
  Entry e;
  e.generation = static_cast<uint32_t>(rec.generation);
  e.created_unix = static_cast<uint32_t>(std::min<uint64_t>(rec.created_unix, UINT32_MAX));
  e.depth = rec.depth;
  e.size = static_cast<uint32_t>(rec.size);
  e.crc32c = rec.crc32c;
  e.root_high = static_cast<uint32_t>(rec.root >> 32);
  e.root_low = static_cast<uint32_t>(rec.root);
  return e;
}

IndexRecord KeyIndex::RecordOf(const Entry& e, std::string_view key) {
  IndexRecord rec;
  rec.generation = e.generation;
  rec.root = e.root();
  rec.depth = e.depth;
  rec.size = e.size;
  rec.crc32c = e.crc32c;
  rec.created_unix = e.created_unix;
  rec.key = std::string(key);
  rec.parent_known = false;
  return rec;
}

std::optional<KeyIndex::Entry> KeyIndex::Set(uint32_t ns_id, const KeyHash& hash,
                                             const Entry& entry) {
  Shard& s = ShardOf(hash);
  absl::MutexLock l(&s.mu);
  std::optional<Entry> old;
  auto [it, inserted] = s.map.try_emplace(NamespacedKey{ns_id, hash}, entry);
  if (!inserted) {
    old = it->second;
    it->second = entry;
  }
  if (observer_ != nullptr) {
    observer_->Set(ns_id, hash.data(), entry.generation, entry.created_unix, entry.size);
  }
  return old;
}

std::optional<KeyIndex::Entry> KeyIndex::Erase(uint32_t ns_id, const KeyHash& hash) {
  Shard& s = ShardOf(hash);
  absl::MutexLock l(&s.mu);
  std::optional<Entry> old;
  if (auto it = s.map.find(NamespacedKey{ns_id, hash}); it != s.map.end()) {
    old = it->second;
    s.map.erase(it);
  }
  if (observer_ != nullptr) observer_->Erase(ns_id, hash.data());
  return old;
}

bool KeyIndex::Locate(uint32_t ns_id, const KeyHash& hash, uint64_t generation,
                      const BlobRef& ref) {
  if (ref.file_number > UINT32_MAX || ref.offset > UINT32_MAX || ref.bytes == 0 ||
      ref.bytes > UINT32_MAX) {
    return false;
  }
  Shard& s = ShardOf(hash);
  absl::MutexLock l(&s.mu);
  auto it = s.map.find(NamespacedKey{ns_id, hash});
  if (it == s.map.end() || it->second.generation != generation) return false;
  Entry& e = it->second;
  if (e.blob_bytes != 0 && (e.blob_file > ref.file_number ||
                            (e.blob_file == ref.file_number && e.blob_offset != ref.offset))) {
    return false;
  }
  it->second.blob_file = static_cast<uint32_t>(ref.file_number);
  it->second.blob_offset = static_cast<uint32_t>(ref.offset);
  it->second.blob_bytes = static_cast<uint32_t>(ref.bytes);
  return true;
}

std::optional<uint32_t> KeyIndex::Touch(uint32_t ns_id, const KeyHash& hash,
                                        uint64_t generation, uint32_t tick) {
  Shard& s = ShardOf(hash);
  absl::MutexLock l(&s.mu);
  auto it = s.map.find(NamespacedKey{ns_id, hash});
  if (it == s.map.end() || it->second.generation != generation) return std::nullopt;
  return std::exchange(it->second.touched, tick);
}

std::optional<KeyIndex::Entry> KeyIndex::Find(uint32_t ns_id, const KeyHash& hash) const {
  const Shard& s = ShardOf(hash);
  absl::MutexLock l(&s.mu);
  auto it = s.map.find(NamespacedKey{ns_id, hash});
  if (it == s.map.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<NamespacedKey, KeyIndex::Entry>> KeyIndex::EraseNamespace(uint32_t ns_id) {
  std::vector<std::pair<NamespacedKey, Entry>> located;
  for (Shard& s : shards_) {
    absl::MutexLock l(&s.mu);
    absl::erase_if(s.map, [&](const auto& kv) {
      if (kv.first.ns_id != ns_id) return false;
      if (kv.second.blob()) located.emplace_back(kv.first, kv.second);
      return true;
    });
  }
  if (observer_ != nullptr) observer_->EraseNamespace(ns_id);
  return located;
}

void KeyIndex::ForEach(const std::function<void(const NamespacedKey&, const Entry&)>& fn) const {
  for (const Shard& s : shards_) {
    absl::MutexLock l(&s.mu);
    for (const auto& [k, e] : s.map) fn(k, e);
  }
}

size_t KeyIndex::SweepBelow(uint64_t generation) {
  size_t removed = 0;
  for (Shard& s : shards_) {
    absl::MutexLock l(&s.mu);
    removed +=
        absl::erase_if(s.map, [&](const auto& kv) { return kv.second.generation < generation; });
  }
  return removed;
}

size_t KeyIndex::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    absl::MutexLock l(&s.mu);
    n += s.map.size();
  }
  return n;
}

size_t KeyIndex::MemoryBytes() const {
  size_t bytes = 0;
  for (const Shard& s : shards_) {
    absl::MutexLock l(&s.mu);
    bytes += s.map.capacity() * (sizeof(std::pair<const NamespacedKey, Entry>) + 1);
  }
  return bytes;
}

}  // namespace prefixd::storage
