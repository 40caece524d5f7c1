#include "server/cancel_poll.h"

#include "gtest/gtest.h"

namespace prefixd::server {
namespace {

TEST(CancelPoll, AsksOnceEveryIntervalOfBytesAndNeverBeforeTheFirstPage) {
  int asked = 0;
  bool cancelled = false;
  auto ask = [&] {
    ++asked;
    return cancelled;
  };
  CancelPoll poll(ask, /*every=*/100);
  EXPECT_FALSE(poll.CancelledBefore(40));  // the first page: 0 bytes handled before it
  EXPECT_FALSE(poll.CancelledBefore(40));  // 40
  EXPECT_FALSE(poll.CancelledBefore(40));  // 80
  EXPECT_EQ(asked, 0);
  EXPECT_FALSE(poll.CancelledBefore(40));  // 120 >= 100: asks, then counts this page
  EXPECT_EQ(asked, 1);
  EXPECT_FALSE(poll.CancelledBefore(40));  // 40
  cancelled = true;
  EXPECT_FALSE(poll.CancelledBefore(40));  // 80: not asked, so not seen yet
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(poll.CancelledBefore(40));  // 120: asks and sees it
  EXPECT_EQ(asked, 2);
}

TEST(CancelPoll, PagesLargerThanTheIntervalAskBeforeEveryPageButTheFirst) {
  int asked = 0;
  auto ask = [&] {
    ++asked;
    return false;
  };
  CancelPoll poll(ask, CancelPoll::kEveryBytes);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(poll.CancelledBefore(CancelPoll::kEveryBytes * 2));
  EXPECT_EQ(asked, 4);
}

TEST(CancelPoll, APassedDeadlineStopsEveryPageTheFirstIncluded) {
  int asked = 0;
  auto ask = [&] {
    ++asked;
    return false;
  };
  CancelPoll later(ask, /*every=*/100);
  later.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(1));
  EXPECT_FALSE(later.CancelledBefore(40));
  CancelPoll passed(ask, /*every=*/100);
  passed.set_deadline(std::chrono::system_clock::now() - std::chrono::milliseconds(1));
  EXPECT_TRUE(passed.CancelledBefore(40));
  EXPECT_TRUE(passed.CancelledBefore(40));
  EXPECT_EQ(asked, 0) << "the clock answers; the call is not asked";
}

}  // namespace
}  // namespace prefixd::server
