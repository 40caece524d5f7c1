#include "util/latency_histogram.h"

#include <cmath>
#include <limits>

namespace prefixd::util {

LatencyHistogram::LatencyHistogram() {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
}

int LatencyHistogram::Bucket(double micros) {
  if (!(micros > 1)) return 0;  // also NaN
  if (!(micros <= UpperBound(kLatencyBuckets - 2))) return kLatencyBuckets - 1;  // also +inf
  const int b = static_cast<int>(std::ceil(4 * std::log2(micros)));
  return b < kLatencyBuckets - 1 ? b : kLatencyBuckets - 1;
}

double LatencyHistogram::UpperBound(int b) {
  if (b >= kLatencyBuckets - 1) return std::numeric_limits<double>::infinity();
  return std::exp2(b / 4.0);
}

void LatencyHistogram::Record(double micros) {
  counts_[Bucket(micros)].fetch_add(1, std::memory_order_relaxed);
}

LatencyCounts LatencyHistogram::Snapshot() const {
  LatencyCounts out;
  for (int b = 0; b < kLatencyBuckets; ++b) out[b] = counts_[b].load(std::memory_order_relaxed);
  return out;
}

std::optional<double> LatencyPercentile(const LatencyCounts& before, const LatencyCounts& after,
                                        double q) {
  LatencyCounts d;
  uint64_t total = 0;
  for (int b = 0; b < kLatencyBuckets; ++b) {
    d[b] = after[b] > before[b] ? after[b] - before[b] : 0;
    total += d[b];
  }
  if (total == 0) return std::nullopt;
  // Nearest rank: the smallest bucket whose cumulative count reaches ceil(q · total).
  const double clamped = q < 0 ? 0 : q > 1 ? 1 : q;
  uint64_t rank = static_cast<uint64_t>(std::ceil(clamped * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int b = 0; b < kLatencyBuckets; ++b) {
    seen += d[b];
    if (seen >= rank) {
      return b == kLatencyBuckets - 1 ? LatencyHistogram::UpperBound(b - 1)
                                      : LatencyHistogram::UpperBound(b);
    }
  }
  return LatencyHistogram::UpperBound(kLatencyBuckets - 2);  // unreachable
}

}  // namespace prefixd::util
