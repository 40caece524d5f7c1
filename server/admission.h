// Admission control: a budget of in-flight page bytes shared by all requests, so that memory
// stays bounded however many streams are open. Thread-safe: every method may be called
// concurrently.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace prefixd::server {

class ByteBudget {
 public:
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}

  // Holds `bytes` of the budget until destroyed (or moved from).
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : budget_(o.budget_), bytes_(o.bytes_) { o.budget_ = nullptr; }
    Lease& operator=(Lease&& o) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { Release(); }
    void Release();
    bool held() const { return budget_ != nullptr; }
    uint64_t bytes() const { return bytes_; }

   private:
    friend class ByteBudget;
    Lease(ByteBudget* b, uint64_t bytes) : budget_(b), bytes_(bytes) {}
    ByteBudget* budget_ = nullptr;
    uint64_t bytes_ = 0;
  };

  // Waits up to `wait` for `bytes` to fit; a request larger than the whole budget is clamped
  // to it (it then runs alone). Returns a lease that is not held() on timeout, and counts it.
  Lease Acquire(uint64_t bytes, absl::Duration wait);

  uint64_t in_flight() const;
  uint64_t rejected() const;
  uint64_t limit() const { return limit_; }

  // RESOURCE_EXHAUSTED saying how much is in flight: the answer to a request that waited in
  // vain.
  absl::Status Busy() const;

 private:
  void Give(uint64_t bytes);

  const uint64_t limit_;
  mutable absl::Mutex mu_;
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace prefixd::server
