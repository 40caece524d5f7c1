#include "bench/page_content.h"

#include <string>

#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

std::string Page(uint64_t seed, uint64_t index, size_t n) {
  std::string p(n, '\0');
  FillPage(seed, index, p.data(), n);
  return p;
}

TEST(PageContent, DeterministicAndDistinct) {
  EXPECT_EQ(Page(7, 3, 4096), Page(7, 3, 4096));
  EXPECT_NE(Page(7, 3, 4096), Page(7, 4, 4096));
  EXPECT_NE(Page(7, 3, 4096), Page(8, 3, 4096));
  // A shorter page is a prefix of a longer one, odd sizes included.
  EXPECT_EQ(Page(7, 3, 4096).substr(0, 1001), Page(7, 3, 1001));
}

TEST(PageContent, MatchesDetectsEveryKindOfDifference) {
  for (size_t n : {1u, 7u, 8u, 13u, 4096u}) {
    std::string p = Page(1, 9, n);
    EXPECT_TRUE(PageMatches(1, 9, p, n)) << n;
    EXPECT_FALSE(PageMatches(1, 10, p, n)) << n;
    EXPECT_FALSE(PageMatches(1, 9, p.substr(0, n - 1), n)) << n;
    std::string flipped = p;
    flipped[n - 1] ^= 1;
    EXPECT_FALSE(PageMatches(1, 9, flipped, n)) << n;
  }
}

TEST(PageContent, KeysFitTheClientKeyLimit) {
  EXPECT_EQ(PageKey(1, 2, 3), "s1-c2-p3");
  EXPECT_LE(PageKey(~uint64_t{0}, ~uint64_t{0}, 65535).size(), 64u);
}

}  // namespace
}  // namespace prefixd::bench
