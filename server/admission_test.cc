#include "server/admission.h"

#include <thread>

#include "gtest/gtest.h"

namespace prefixd::server {
namespace {

TEST(ByteBudget, GrantsWithinLimitAndRefusesBeyondAfterWaiting) {
  ByteBudget b(100);
  auto a = b.Acquire(60, absl::ZeroDuration());
  ASSERT_TRUE(a.held());
  EXPECT_EQ(b.in_flight(), 60u);
  auto c = b.Acquire(50, absl::Milliseconds(20));
  EXPECT_FALSE(c.held());
  EXPECT_EQ(b.rejected(), 1u);
  a.Release();
  EXPECT_EQ(b.in_flight(), 0u);
  EXPECT_TRUE(b.Acquire(50, absl::ZeroDuration()).held());
  EXPECT_EQ(b.in_flight(), 0u);  // the temporary lease was released
}

TEST(ByteBudget, WaiterProceedsWhenBytesReturn) {
  ByteBudget b(100);
  auto a = b.Acquire(100, absl::ZeroDuration());
  std::thread t([&] {
    absl::SleepFor(absl::Milliseconds(50));
    a.Release();
  });
  auto c = b.Acquire(80, absl::Seconds(10));
  EXPECT_TRUE(c.held());
  t.join();
}

TEST(ByteBudget, OversizedRequestIsClampedToRunAlone) {
  ByteBudget b(100);
  auto a = b.Acquire(1000, absl::ZeroDuration());
  ASSERT_TRUE(a.held());
  EXPECT_EQ(a.bytes(), 100u);
  EXPECT_FALSE(b.Acquire(1, absl::ZeroDuration()).held());
  ByteBudget::Lease moved = std::move(a);
  EXPECT_FALSE(a.held());
  EXPECT_TRUE(moved.held());
}

}  // namespace
}  // namespace prefixd::server
