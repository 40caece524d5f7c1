#include "storage/read_registry.h"

#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace prefixd::storage {
namespace {

TEST(ReadRegistry, QuietOnceEveryReadOlderThanTheTicketHasEnded) {
  ReadRegistry r;
  EXPECT_TRUE(r.Quiet(r.Now()));
  auto first = std::make_unique<ReadRegistry::Read>(&r);
  const uint64_t retired = r.Now();  // retired while `first` runs
  EXPECT_FALSE(r.Quiet(retired));
  {
    ReadRegistry::Read later(&r);  // started after: it cannot reach what was retired
    EXPECT_FALSE(r.Quiet(retired));
    EXPECT_FALSE(r.Quiet(r.Now()));
  }
  first.reset();
  EXPECT_TRUE(r.Quiet(retired));
}

TEST(ReadRegistry, MoreReadsThanSlotsWaitForOne) {
  ReadRegistry r;
  std::vector<std::unique_ptr<ReadRegistry::Read>> reads;
  for (size_t i = 0; i < ReadRegistry::kSlots; ++i) {
    reads.push_back(std::make_unique<ReadRegistry::Read>(&r));
  }
  std::thread extra([&] { ReadRegistry::Read one_more(&r); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const uint64_t t = r.Now();
  reads.clear();  // frees every slot: the extra read gets one and ends
  extra.join();
  EXPECT_TRUE(r.Quiet(t));
}

}  // namespace
}  // namespace prefixd::storage
