#include "storage/page_cache.h"

#include "absl/hash/hash.h"
#include "util/crc32c.h"

namespace prefixd::storage {

PageCache::PageCache(uint64_t capacity_bytes)
    : capacity_(capacity_bytes), shard_capacity_(capacity_bytes / kShards) {}

PageCache::Shard& PageCache::ShardOf(std::string_view key) {
  return shards_[absl::HashOf(key) % kShards];
}

std::shared_ptr<const std::string> PageCache::Lookup(std::string_view page_key,
                                                     uint64_t generation, uint32_t crc32c) {
  if (capacity_ == 0) return nullptr;
  Shard& s = ShardOf(page_key);
  absl::MutexLock lock(&s.mu);
  auto it = s.index.find(page_key);
  if (it == s.index.end() || it->second->generation != generation ||
      it->second->crc32c != crc32c) {
    ++s.misses;
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  ++s.hits;
  return it->second->bytes;
}

void PageCache::Insert(std::string_view page_key, uint64_t generation, uint32_t crc32c,
                       std::string_view bytes) {
  if (capacity_ == 0 || bytes.size() > capacity_ / 16 || bytes.size() > shard_capacity_) return;
  Keep(page_key, generation, crc32c, std::make_shared<const std::string>(bytes));
}

void PageCache::InsertChecked(std::string_view page_key, uint64_t generation, uint32_t crc32c,
                              std::string_view bytes) {
  if (capacity_ == 0 || bytes.size() > capacity_ / 16 || bytes.size() > shard_capacity_) return;
  auto copy = std::make_shared<const std::string>(bytes);
  if (util::Crc32c(*copy) != crc32c) return;
  Keep(page_key, generation, crc32c, std::move(copy));
}

void PageCache::Keep(std::string_view page_key, uint64_t generation, uint32_t crc32c,
                     std::shared_ptr<const std::string> copy) {
  const size_t size = copy->size();
  Shard& s = ShardOf(page_key);
  absl::MutexLock lock(&s.mu);
  if (auto it = s.index.find(page_key); it != s.index.end()) {
    s.bytes -= it->second->bytes->size();
    auto node = it->second;
    s.index.erase(it);
    s.lru.erase(node);
  }
  s.lru.push_front(Entry{std::string(page_key), generation, crc32c, std::move(copy)});
  s.index.emplace(s.lru.front().key, s.lru.begin());
  s.bytes += size;
  ++s.inserts;
  while (s.bytes > shard_capacity_ && !s.lru.empty()) {
    Entry& last = s.lru.back();
    s.bytes -= last.bytes->size();
    s.index.erase(last.key);
    s.lru.pop_back();
  }
}

PageCacheStats PageCache::Stats() const {
  PageCacheStats t;
  t.capacity_bytes = capacity_;
  for (const Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    t.bytes += s.bytes;
    t.pages += s.lru.size();
    t.hits += s.hits;
    t.misses += s.misses;
    t.inserts += s.inserts;
  }
  return t;
}

}  // namespace prefixd::storage
