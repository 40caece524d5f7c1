#include "util/process_stats.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace prefixd::util {
namespace {

TEST(ProcessStats, CountsThisProcessesMemoryAndWrites) {
  auto before = ReadProcessStats();
  ASSERT_TRUE(before.ok()) << before.status();
  std::vector<char> big(64 << 20, 1);  // touched: resident
  auto after = ReadProcessStats();
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->peak_rss_bytes, before->peak_rss_bytes);
  EXPECT_GE(after->peak_rss_bytes, uint64_t{64} << 20);
  EXPECT_EQ(big[12345], 1);
}

TEST(ProcessStats, UnknownProcessIsUnavailable) {
  EXPECT_EQ(ReadProcessStats(999999999).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace prefixd::util
