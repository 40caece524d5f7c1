#include "storage/read_registry.h"

#include <thread>

namespace prefixd::storage {

ReadRegistry::Read::Read(ReadRegistry* r) : registry_(r) {
  const uint64_t ticket = r->next_.fetch_add(1) + 1;
  // Start at a slot that differs by thread, so that concurrent reads rarely contend.
  size_t at = std::hash<std::thread::id>()(std::this_thread::get_id()) % kSlots;
  for (;;) {
    for (size_t i = 0; i < kSlots; ++i, at = (at + 1) % kSlots) {
      uint64_t free = 0;
      if (r->slots_[at].compare_exchange_strong(free, ticket)) {
        slot_ = at;
        return;
      }
    }
    std::this_thread::yield();  // kSlots reads in flight: wait for one to end
  }
}

ReadRegistry::Read::~Read() { registry_->slots_[slot_].store(0); }

uint64_t ReadRegistry::OldestInFlight() const {
  uint64_t oldest = UINT64_MAX;
  for (const auto& s : slots_) {
    const uint64_t t = s.load();
    if (t != 0 && t < oldest) oldest = t;
  }
  return oldest;
}

}  // namespace prefixd::storage
