#include "server/admission.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "util/byte_size.h"

namespace prefixd::server {

ByteBudget::Lease& ByteBudget::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    Release();
    budget_ = o.budget_;
    bytes_ = o.bytes_;
    o.budget_ = nullptr;
  }
  return *this;
}

void ByteBudget::Lease::Release() {
  if (budget_ != nullptr) budget_->Give(bytes_);
  budget_ = nullptr;
}

ByteBudget::Lease ByteBudget::Acquire(uint64_t bytes, absl::Duration wait) {
  bytes = std::min(bytes, limit_);
  absl::MutexLock l(&mu_);
  auto fits = [this, bytes]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return used_ + bytes <= limit_; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&fits), wait)) {
    ++rejected_;
    return Lease();
  }
  used_ += bytes;
  return Lease(this, bytes);
}

void ByteBudget::Give(uint64_t bytes) {
  absl::MutexLock l(&mu_);
  used_ -= bytes;
}

uint64_t ByteBudget::in_flight() const {
  absl::MutexLock l(&mu_);
  return used_;
}

uint64_t ByteBudget::rejected() const {
  absl::MutexLock l(&mu_);
  return rejected_;
}

absl::Status ByteBudget::Busy() const {
  return absl::ResourceExhaustedError(absl::StrCat("server busy: ",
                                                   util::FormatByteSize(in_flight()), " of ",
                                                   util::FormatByteSize(limit()),
                                                   " in flight; retry later"));
}

}  // namespace prefixd::server
