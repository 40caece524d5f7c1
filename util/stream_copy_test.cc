#include "util/stream_copy.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace prefixd::util {
namespace {

std::string Pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Every length around the streaming threshold and the loop step, at every destination and
// source alignment within a cache line: the bytes copied match, and not one byte around them
// changes.
void ExpectExactCopies(void (*copy)(void*, const void*, size_t)) {
  const size_t lengths[] = {0, 1, 31, 4096, kStreamCopyMinBytes - 1, kStreamCopyMinBytes,
                            kStreamCopyMinBytes + 1, kStreamCopyMinBytes + 127,
                            kStreamCopyMinBytes + 128, (1u << 20) + 77};
  for (size_t n : lengths) {
    const std::string src = Pattern(n + 64, static_cast<unsigned>(n));
    for (size_t doff : {0, 1, 8, 31, 32, 63}) {
      for (size_t soff : {0, 3, 32}) {
        std::string dst(n + 128, '\x5a');
        copy(dst.data() + doff, src.data() + soff, n);
        ASSERT_EQ(0, std::memcmp(dst.data() + doff, src.data() + soff, n))
            << "n " << n << " dst+" << doff << " src+" << soff;
        for (size_t i = 0; i < doff; ++i) ASSERT_EQ(dst[i], '\x5a') << "before, n " << n;
        for (size_t i = doff + n; i < dst.size(); ++i) ASSERT_EQ(dst[i], '\x5a') << "after, n " << n;
      }
    }
  }
}

TEST(StreamCopy, CopiesExactlyAtEveryLengthAndAlignment) { ExpectExactCopies(StreamCopy); }

TEST(StreamCopy, BaselineStoresCopyExactly) { ExpectExactCopies(TEST_StreamCopySse2); }

}  // namespace
}  // namespace prefixd::util
