#include "util/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace prefixd::util {
namespace {

TEST(Crc32c, StandardCheckValue) { EXPECT_EQ(Crc32c("123456789"), 0xE3069283u); }

TEST(Crc32c, KnownVectors) {
  // RFC 3720 (iSCSI) B.4 test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);
  std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones), 0x62A8AB43u);
  std::string inc(32, 0);
  for (int i = 0; i < 32; ++i) inc[i] = char(i);
  EXPECT_EQ(Crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32c, ExtendEqualsWholeAtEverySplit) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(char(i * 131 + 7));
  uint32_t whole = Crc32c(data);
  for (size_t cut = 0; cut <= data.size(); cut += 37) {
    uint32_t c = Crc32cExtend(0, data.data(), cut);
    c = Crc32cExtend(c, data.data() + cut, data.size() - cut);
    EXPECT_EQ(c, whole) << "split at " << cut;
  }
}

TEST(Crc32c, DetectsASingleBitFlip) {
  std::string data(4096, 'x');
  uint32_t before = Crc32c(data);
  data[2048] ^= 0x01;
  EXPECT_NE(Crc32c(data), before);
}

}  // namespace
}  // namespace prefixd::util
