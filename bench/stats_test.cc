#include "bench/stats.h"

#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

TEST(Latencies, NearestRankPercentiles) {
  Latencies l;
  EXPECT_FALSE(l.Percentile(0.5).has_value());
  for (int i = 100; i >= 1; --i) l.Add(i);
  EXPECT_EQ(*l.Percentile(0.5), 50);
  EXPECT_EQ(*l.Percentile(0.99), 99);
  EXPECT_EQ(*l.Percentile(0.999), 100);
  EXPECT_EQ(*l.Percentile(0), 1);
  Latencies more;
  more.Add(1000);
  l.Merge(more);
  EXPECT_EQ(*l.Percentile(1.0), 1000);
}

TEST(Latencies, SumAddsEverySample) {
  Latencies l;
  EXPECT_EQ(l.Sum(), 0);
  l.Add(1.5);
  l.Add(2.5);
  Latencies more;
  more.Add(6);
  l.Merge(more);
  EXPECT_DOUBLE_EQ(l.Sum(), 10);
}

TEST(JsonObject, RendersInOrderWithEscapesAndNulls) {
  JsonObject j;
  j.Str("s", "a\"b\\c\n\x01");
  j.Int("n", 42);
  j.Num("x", 1.5, 2);
  j.Num("none", std::nullopt);
  j.Bool("ok", true);
  EXPECT_EQ(j.Render(),
            "{\n  \"s\": \"a\\\"b\\\\c\\n\\u0001\",\n  \"n\": 42,\n  \"x\": 1.50,\n"
            "  \"none\": null,\n  \"ok\": true\n}\n");
}

}  // namespace
}  // namespace prefixd::bench
