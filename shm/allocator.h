// prefixd::shm::SlotAllocator — hands out aligned byte ranges of an arena (first fit, freed
// ranges merge with their neighbours), so that many requests of one client can use one arena
// at once. Thread-safe: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace prefixd::shm {

class SlotAllocator {
 public:
  // Manages [0, size); every range starts at a multiple of `align` (a power of two).
  explicit SlotAllocator(uint64_t size, uint64_t align = 4096);

  // The offset of `bytes` free bytes (rounded up to `align`), or nullopt if no free range is
  // large enough now (or `bytes` is 0).
  std::optional<uint64_t> Allocate(uint64_t bytes);

  // Returns the range Allocate gave for `bytes` at `offset`.
  void Free(uint64_t offset, uint64_t bytes);

  uint64_t free_bytes() const;
  uint64_t size() const { return size_; }

 private:
  uint64_t Round(uint64_t bytes) const { return (bytes + align_ - 1) & ~(align_ - 1); }

  const uint64_t size_, align_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, uint64_t> free_ ABSL_GUARDED_BY(mu_);  // offset -> length
  uint64_t free_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace prefixd::shm
