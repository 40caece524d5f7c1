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

// A bit-at-a-time CRC32C, the definition itself.
uint32_t Reference(const std::string& d) {
  uint32_t c = ~0u;
  for (unsigned char ch : d) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

TEST(Crc32c, LongBuffersMatchTheDefinitionAtEveryLengthAndAlignment) {
  // Long enough for the three-stream path (12 KiB blocks), with odd lengths and offsets.
  std::string data;
  for (int i = 0; i < 70000; ++i) data.push_back(char((i * 2654435761u) >> 13));
  for (size_t len : {12287, 12288, 12289, 24576, 40000, 65536, 69990}) {
    for (size_t off : {0, 1, 3, 7}) {
      std::string part = data.substr(off, len);
      EXPECT_EQ(Crc32c(part), Reference(part)) << "len " << len << " offset " << off;
    }
  }
  // Extending across the block boundaries gives the same answer as one call.
  uint32_t c = Crc32cExtend(0, data.data(), 5000);
  c = Crc32cExtend(c, data.data() + 5000, 60000);
  EXPECT_EQ(c, Reference(data.substr(0, 65000)));
}

TEST(Crc32c, DetectsASingleBitFlip) {
  std::string data(4096, 'x');
  uint32_t before = Crc32c(data);
  data[2048] ^= 0x01;
  EXPECT_NE(Crc32c(data), before);
}

}  // namespace
}  // namespace prefixd::util
