#include "server/write_amplification.h"

#include "gtest/gtest.h"

namespace prefixd::server {
namespace {

TEST(WriteAmplification, DeviceBytesAreSharedByPageBytesWritten) {
  // 300 MB written to the device for 200 MB of puts: 1.5 overall. Namespace b had 50 MB of its
  // pages copied forward besides its 50 MB of puts: a third of the page bytes written, so a
  // third of the device bytes over its 50 MB.
  const NamespaceWrites ns[] = {{.put_bytes = 150'000'000, .copied_bytes = 0},
                                {.put_bytes = 50'000'000, .copied_bytes = 50'000'000},
                                {.put_bytes = 0, .copied_bytes = 0}};
  const WriteAmplification wa = ShareDeviceWrites(300'000'000, ns);
  EXPECT_EQ(wa.put_bytes, 200'000'000u);
  EXPECT_DOUBLE_EQ(wa.overall, 1.5);
  ASSERT_EQ(wa.namespaces.size(), 3u);
  EXPECT_DOUBLE_EQ(wa.namespaces[0], 300e6 * (150.0 / 250.0) / 150e6);  // 1.2
  EXPECT_DOUBLE_EQ(wa.namespaces[1], 300e6 * (100.0 / 250.0) / 50e6);   // 2.4
  EXPECT_EQ(wa.namespaces[2], 0);  // no put: nothing to divide by
}

TEST(WriteAmplification, NothingPutReadsZero) {
  const WriteAmplification wa = ShareDeviceWrites(4096, {});
  EXPECT_EQ(wa.put_bytes, 0u);
  EXPECT_EQ(wa.overall, 0);
  EXPECT_TRUE(wa.namespaces.empty());
}

}  // namespace
}  // namespace prefixd::server
