#include "bench/progress.h"

#include <cstdio>

namespace prefixd::bench {

ProgressMeter::ProgressMeter(std::string label, uint64_t total_pages, bool enabled,
                             absl::Duration interval)
    : label_(std::move(label)),
      total_(total_pages),
      interval_(interval),
      start_(std::chrono::steady_clock::now()) {
  if (enabled) thread_ = std::thread([this] { Loop(); });
}

ProgressMeter::~ProgressMeter() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void ProgressMeter::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(interval_)) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    uint64_t pages = pages_.load(std::memory_order_relaxed);
    double mb = static_cast<double>(bytes_.load(std::memory_order_relaxed)) / 1e6;
    std::fprintf(stderr, "prefixd-bench: %s %llu/%llu pages (%.0f%%), %.1f MB/s, %.1f s\n",
                 label_.c_str(), static_cast<unsigned long long>(pages),
                 static_cast<unsigned long long>(total_),
                 total_ ? 100.0 * static_cast<double>(pages) / static_cast<double>(total_) : 0.0,
                 s > 0 ? mb / s : 0.0, s);
  }
}

}  // namespace prefixd::bench
