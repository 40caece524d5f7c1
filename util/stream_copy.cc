#include "util/stream_copy.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace prefixd::util {
namespace {

#if defined(__x86_64__)
constexpr size_t kStep = 128;  // bytes per loop turn: four 32-byte or eight 16-byte stores

// `dst` is 32-byte aligned and n a multiple of kStep.
__attribute__((target("avx2"))) void StreamAvx2(char* dst, const char* src, size_t n) {
  for (size_t i = 0; i < n; i += kStep) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 64));
    const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 96));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i), a);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 32), b);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 64), c);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i + 96), d);
  }
}

// SSE2 is part of x86-64: the fallback for CPUs without AVX2.
void StreamSse2(char* dst, const char* src, size_t n) {
  for (size_t i = 0; i < n; i += kStep) {
    __m128i v[8];
    for (int k = 0; k < 8; ++k) {
      v[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16 * k));
    }
    for (int k = 0; k < 8; ++k) _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 16 * k), v[k]);
  }
}

const bool kHaveAvx2 = __builtin_cpu_supports("avx2");
#endif

void Copy(void* dst, const void* src, size_t n, bool allow_avx2) {
#if defined(__x86_64__)
  if (n >= kStreamCopyMinBytes) {
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    // Align the destination to 32 bytes with an ordinary copy of the head.
    const size_t head = (32 - reinterpret_cast<uintptr_t>(d) % 32) % 32;
    std::memcpy(d, s, head);
    d += head;
    s += head;
    n -= head;
    const size_t body = n - n % kStep;
    if (allow_avx2 && kHaveAvx2) {
      StreamAvx2(d, s, body);
    } else {
      StreamSse2(d, s, body);
    }
    std::memcpy(d + body, s + body, n - body);
    _mm_sfence();  // streaming stores are weakly ordered: order them before what follows
    return;
  }
#endif
  (void)allow_avx2;
  std::memcpy(dst, src, n);
}

}  // namespace

void StreamCopy(void* dst, const void* src, size_t n) { Copy(dst, src, n, /*allow_avx2=*/true); }

void TEST_StreamCopySse2(void* dst, const void* src, size_t n) {
  Copy(dst, src, n, /*allow_avx2=*/false);
}

}  // namespace prefixd::util
