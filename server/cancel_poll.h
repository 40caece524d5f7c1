// Asks whether a call was cancelled at most once per so many bytes of pages: a sync server's
// ServerContext::IsCancelled polls the call's completion queue, about 18 µs a question on this
// project's 2-CPU VM, where copying a 64 KiB page out of the memory cache takes 8 µs. Asked
// before every page, it was 290 µs of a shared-memory Get of a 16-page, 1 MiB chain's 520
// (docs/transport.md). A call's deadline is cheaper to ask about (a clock read) and is asked
// before every page, the first included: past it the client has given up, and may already be
// using the slots for something else. Not thread-safe: one per call, on the handler's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

namespace prefixd::server {

class CancelPoll {
 public:
  // Handlers ask every 4 MiB: after a client cancels, the daemon copies up to this much more
  // (plus the page in hand) before it stops.
  static constexpr uint64_t kEveryBytes = uint64_t{4} << 20;

  // `is_cancelled` is the question, e.g. [ctx] { return ctx->IsCancelled(); }.
  explicit CancelPoll(std::function<bool()> is_cancelled, uint64_t every = kEveryBytes)
      : is_cancelled_(std::move(is_cancelled)), every_(every) {}

  // The call's deadline (ServerContext::deadline(); the default, the clock's maximum, is none).
  void set_deadline(std::chrono::system_clock::time_point deadline) { deadline_ = deadline; }

  // Call before handling a page of `bytes`. True when the call's deadline has passed, or when
  // the call was cancelled: that question is asked only once the bytes handled since the last
  // one (or since the start) reach `every`, so the first page never asks it.
  bool CancelledBefore(uint64_t bytes) {
    if (deadline_ != std::chrono::system_clock::time_point::max() &&
        std::chrono::system_clock::now() >= deadline_) {
      return true;
    }
    bool cancelled = false;
    if (since_ >= every_) {
      since_ = 0;
      cancelled = is_cancelled_();
    }
    since_ += bytes;
    return cancelled;
  }

 private:
  const std::function<bool()> is_cancelled_;
  const uint64_t every_;
  uint64_t since_ = 0;
  std::chrono::system_clock::time_point deadline_ = std::chrono::system_clock::time_point::max();
};

}  // namespace prefixd::server
