// A progress line on stderr while a phase runs: every `interval`, pages done of the total and
// the phase's MB/s so far. Thread-safe: Add may be called from any thread; the meter prints from
// its own thread, started by the constructor (when enabled) and joined by the destructor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace prefixd::bench {

class ProgressMeter {
 public:
  // `label` names the phase ("put", "get"); nothing is printed when `enabled` is false.
  ProgressMeter(std::string label, uint64_t total_pages, bool enabled,
                absl::Duration interval = absl::Seconds(2));
  ~ProgressMeter();
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  void Add(uint64_t pages, uint64_t bytes) {
    pages_.fetch_add(pages, std::memory_order_relaxed);
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }

 private:
  void Loop();

  const std::string label_;
  const uint64_t total_;
  const absl::Duration interval_;
  const std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> pages_{0}, bytes_{0};
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace prefixd::bench
