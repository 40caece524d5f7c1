// A lock-free latency histogram for hot paths: Record costs one relaxed atomic increment.
// Buckets grow by 2^(1/4) from 1 µs to about 56 s, so a percentile read from it is within
// 19 % of the true value. Readers take a Snapshot (cumulative counts) and compute percentiles
// of what happened between two snapshots. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace prefixd::util {

// Bucket b < 104 holds (2^((b-1)/4), 2^(b/4)] µs (bucket 0: up to 1 µs); bucket 104 the rest.
inline constexpr int kLatencyBuckets = 105;

using LatencyCounts = std::array<uint64_t, kLatencyBuckets>;

class LatencyHistogram {
 public:
  LatencyHistogram();
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  void Record(double micros);
  // Cumulative counts since construction (each bucket read atomically, not all at once).
  LatencyCounts Snapshot() const;

  // The bucket a sample falls in, and the largest value bucket `b` holds (its upper bound;
  // +infinity for the last).
  static int Bucket(double micros);
  static double UpperBound(int b);

 private:
  std::array<std::atomic<uint64_t>, kLatencyBuckets> counts_;
};

// Records into `h` the time from its construction to its destruction.
class ScopedLatency {
 public:
  explicit ScopedLatency(LatencyHistogram* h) : h_(h), start_(std::chrono::steady_clock::now()) {}
  ScopedLatency(const ScopedLatency&) = delete;
  ScopedLatency& operator=(const ScopedLatency&) = delete;
  ~ScopedLatency() {
    h_->Record(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start_)
                   .count());
  }

 private:
  LatencyHistogram* h_;
  std::chrono::steady_clock::time_point start_;
};

// The q-quantile (q in [0, 1]) of the samples recorded between `before` and `after`, as the
// upper bound of the bucket holding it (the largest finite bound for the overflow bucket);
// nullopt with no samples. Buckets that went backwards count as empty.
std::optional<double> LatencyPercentile(const LatencyCounts& before, const LatencyCounts& after,
                                        double q);

}  // namespace prefixd::util
