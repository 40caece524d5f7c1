#include "util/latency_histogram.h"

#include <limits>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace prefixd::util {
namespace {

TEST(LatencyHistogram, BucketsBoundTheirSamplesWithin19Percent) {
  for (double us : {1.5, 7.0, 100.0, 999.0, 12345.0, 3e6, 5e7}) {
    const int b = LatencyHistogram::Bucket(us);
    EXPECT_GE(LatencyHistogram::UpperBound(b), us) << us;
    EXPECT_LE(LatencyHistogram::UpperBound(b), us * 1.19) << us;
    EXPECT_LT(LatencyHistogram::UpperBound(b - 1), us) << us;
  }
  EXPECT_EQ(LatencyHistogram::Bucket(0), 0);
  EXPECT_EQ(LatencyHistogram::Bucket(-3), 0);
  EXPECT_EQ(LatencyHistogram::Bucket(1e12), kLatencyBuckets - 1);
  EXPECT_EQ(LatencyHistogram::Bucket(std::numeric_limits<double>::infinity()), kLatencyBuckets - 1);
}

TEST(LatencyHistogram, PercentilesOfTheSamplesBetweenTwoSnapshots) {
  LatencyHistogram h;
  for (int i = 0; i < 1000; ++i) h.Record(1e6);  // before: a slow second
  const LatencyCounts before = h.Snapshot();
  EXPECT_EQ(LatencyPercentile(before, before, 0.5), std::nullopt);
  for (int i = 0; i < 98; ++i) h.Record(100);
  h.Record(5000);
  h.Record(5000);
  const LatencyCounts after = h.Snapshot();
  const double p50 = *LatencyPercentile(before, after, 0.5);
  EXPECT_GE(p50, 100);
  EXPECT_LE(p50, 119);
  const double p99 = *LatencyPercentile(before, after, 0.99);
  EXPECT_GE(p99, 5000);
  EXPECT_LE(p99, 5950);
  EXPECT_LE(*LatencyPercentile(before, after, 0.98), 119);  // 98 of 100 are 100 µs
  // Everything since construction: dominated by the slow second.
  EXPECT_GE(*LatencyPercentile(LatencyCounts{}, after, 0.5), 1e6);
}

TEST(LatencyHistogram, OverflowReportsTheLargestFiniteBound) {
  LatencyHistogram h;
  h.Record(1e12);
  const double p = *LatencyPercentile(LatencyCounts{}, h.Snapshot(), 0.5);
  EXPECT_EQ(p, LatencyHistogram::UpperBound(kLatencyBuckets - 2));
  EXPECT_GT(p, 5e7);
}

TEST(LatencyHistogram, ConcurrentRecordsAreAllCounted) {
  LatencyHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.Record(50);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.Snapshot()[LatencyHistogram::Bucket(50)], 40000u);
}

}  // namespace
}  // namespace prefixd::util
