#include "util/byte_size.h"

#include "gtest/gtest.h"

namespace prefixd::util {
namespace {

TEST(ByteSize, ParsesPlainAndBinaryAndSiUnits) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("512MiB"), 512ull << 20);
  EXPECT_EQ(*ParseByteSize("10GiB"), 10ull << 30);
  EXPECT_EQ(*ParseByteSize("10G"), 10ull << 30);
  EXPECT_EQ(*ParseByteSize(" 1.5 GiB "), 3ull << 29);
  EXPECT_EQ(*ParseByteSize("1GB"), 1000000000u);
  EXPECT_EQ(*ParseByteSize("64kib"), 65536u);
}

TEST(ByteSize, RejectsGarbage) {
  for (const char* s : {"", "MiB", "-1", "12 parsecs", "1e99TiB", "1..2"}) {
    EXPECT_EQ(ParseByteSize(s).status().code(), absl::StatusCode::kInvalidArgument) << s;
  }
}

TEST(ByteSize, Formats) {
  EXPECT_EQ(FormatByteSize(123), "123 B");
  EXPECT_EQ(FormatByteSize(512ull << 20), "512 MiB");
  EXPECT_EQ(FormatByteSize(3ull << 29), "1.50 GiB");
}

}  // namespace
}  // namespace prefixd::util
