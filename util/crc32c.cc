#include "util/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace prefixd::util {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // 0x1EDC6F41 reflected

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr auto kTable = MakeTable();

uint32_t ExtendPortable(uint32_t crc, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) crc = kTable[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ExtendSse42Serial(uint32_t crc, const unsigned char* p,
                                                             size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return c32;
}

// The crc32 instruction takes 3 cycles but can start one per cycle: three streams over three
// adjacent blocks run at once, and their registers are joined with Shift (the raw register is
// linear: crc(r, A|B) = Shift(crc(r, A), |B|) ^ crc(0, B)).
constexpr size_t kBlock = 4096;

// Shift(r) = the raw register r advanced over kBlock zero bytes, as four byte-indexed tables.
struct ShiftTables {
  uint32_t t[4][256];
};

__attribute__((target("sse4.2"))) ShiftTables MakeShiftTables() {
  static const unsigned char kZeros[kBlock] = {};
  ShiftTables s;
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) s.t[k][b] = ExtendSse42Serial(b << (8 * k), kZeros, kBlock);
  }
  return s;
}

inline uint32_t ShiftBlock(const ShiftTables& s, uint32_t r) {
  return s.t[0][r & 0xFF] ^ s.t[1][(r >> 8) & 0xFF] ^ s.t[2][(r >> 16) & 0xFF] ^ s.t[3][r >> 24];
}

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const unsigned char* p,
                                                       size_t n) {
  static const ShiftTables* kShift = new ShiftTables(MakeShiftTables());
  while (n >= 3 * kBlock) {
    uint64_t a = crc, b = 0, c = 0;
    const unsigned char* pa = p;
    const unsigned char* pb = p + kBlock;
    const unsigned char* pc = p + 2 * kBlock;
    for (size_t i = 0; i < kBlock; i += 8) {
      uint64_t va, vb, vc;
      std::memcpy(&va, pa + i, 8);
      std::memcpy(&vb, pb + i, 8);
      std::memcpy(&vc, pc + i, 8);
      a = _mm_crc32_u64(a, va);
      b = _mm_crc32_u64(b, vb);
      c = _mm_crc32_u64(c, vc);
    }
    uint32_t ab = ShiftBlock(*kShift, static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b);
    crc = ShiftBlock(*kShift, ab) ^ static_cast<uint32_t>(c);
    p += 3 * kBlock;
    n -= 3 * kBlock;
  }
  return ExtendSse42Serial(crc, p, n);
}

const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  if (kHaveSse42) return ~ExtendSse42(crc, p, n);
#endif
  return ~ExtendPortable(crc, p, n);
}

}  // namespace prefixd::util
