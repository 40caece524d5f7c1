#include "shm/allocator.h"

namespace prefixd::shm {

SlotAllocator::SlotAllocator(uint64_t size, uint64_t align)
    : size_(size / align * align), align_(align) {
  if (size_ > 0) free_[0] = size_;
  free_bytes_ = size_;
}

std::optional<uint64_t> SlotAllocator::Allocate(uint64_t bytes) {
  if (bytes == 0 || bytes > size_) return std::nullopt;
  bytes = Round(bytes);
  absl::MutexLock lock(&mu_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < bytes) continue;
    uint64_t offset = it->first, left = it->second - bytes;
    free_.erase(it);
    if (left > 0) free_[offset + bytes] = left;
    free_bytes_ -= bytes;
    return offset;
  }
  return std::nullopt;
}

void SlotAllocator::Free(uint64_t offset, uint64_t bytes) {
  bytes = Round(bytes);
  absl::MutexLock lock(&mu_);
  free_bytes_ += bytes;
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && offset + bytes == next->first) {
    bytes += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += bytes;
      return;
    }
  }
  free_[offset] = bytes;
}

uint64_t SlotAllocator::free_bytes() const {
  absl::MutexLock lock(&mu_);
  return free_bytes_;
}

}  // namespace prefixd::shm
