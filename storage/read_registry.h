// Internal to storage/: which page reads are in flight, so that a page's blob record is freed
// in place (PunchBlob) only once no read that could still reach it is running.
//
// A read registers before it looks anything up (snapshot, key index) and gets a ticket; a
// record retired after a change (the page deleted, copied forward, ...) notes Now() once the
// change is visible to new reads. Every read registered later looks its pages up after the
// change and never reaches the old record; Quiet(t) says no read with a ticket at or below t
// is still running, so a record retired at t may be freed. (A read between taking its ticket
// and registering it cannot have looked anything up yet: registration happens before.)
// Thread-safe, lock-free for reads; a read waits only if kSlots reads are in flight at once.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace prefixd::storage {

class ReadRegistry {
 public:
  static constexpr size_t kSlots = 256;

  // Registers a read for its lifetime.
  class Read {
   public:
    explicit Read(ReadRegistry* r);
    ~Read();
    Read(const Read&) = delete;
    Read& operator=(const Read&) = delete;

   private:
    ReadRegistry* const registry_;
    size_t slot_;
  };

  // The newest ticket handed out so far: call after a change, to retire what it made
  // unreachable. A read-modify-write, so that every read ticketed after it sees the change.
  uint64_t Now() { return next_.fetch_add(0); }
  // The smallest ticket of a read in flight; UINT64_MAX when there is none. A record retired
  // at a ticket below it can no longer be reached by any read.
  uint64_t OldestInFlight() const;
  // True if no registered read holds a ticket <= `ticket`.
  bool Quiet(uint64_t ticket) const { return ticket < OldestInFlight(); }

 private:
  std::atomic<uint64_t> next_{0};
  std::array<std::atomic<uint64_t>, kSlots> slots_{};  // 0: free, else the read's ticket
};

}  // namespace prefixd::storage
