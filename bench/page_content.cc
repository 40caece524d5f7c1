#include "bench/page_content.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace prefixd::bench {
namespace {

inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The stream's starting state for page `index`: distinct pages start far apart.
inline uint64_t StartState(uint64_t seed, uint64_t index) {
  uint64_t s = seed ^ (index * 0xD1B54A32D192ED03ull);
  return SplitMix64(s);
}

}  // namespace

void FillPage(uint64_t seed, uint64_t index, char* out, size_t n) {
  uint64_t state = StartState(seed, index);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = SplitMix64(state);
    std::memcpy(out + i, &w, 8);
  }
  if (i < n) {
    uint64_t w = SplitMix64(state);
    std::memcpy(out + i, &w, n - i);
  }
}

bool PageMatches(uint64_t seed, uint64_t index, std::string_view page, size_t expected_bytes) {
  if (page.size() != expected_bytes) return false;
  uint64_t state = StartState(seed, index);
  const char* p = page.data();
  const size_t n = page.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = SplitMix64(state), got;
    std::memcpy(&got, p + i, 8);
    if (got != w) return false;
  }
  if (i < n) {
    uint64_t w = SplitMix64(state);
    return std::memcmp(p + i, &w, n - i) == 0;
  }
  return true;
}

std::string PageKey(uint64_t seed, uint64_t chain, uint64_t pos) {
  return absl::StrCat("s", seed, "-c", chain, "-p", pos);
}

}  // namespace prefixd::bench
