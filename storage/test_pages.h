// For storage's tests: deterministic page contents and chain keys.
#pragma once

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace prefixd::storage::testing {

// `bytes` of pseudo-random contents for page `i` of chain `chain` (the same every call).
inline std::string PageBytes(int chain, int i, size_t bytes) {
  std::mt19937_64 rng(chain * 1000 + i);
  std::string s(bytes, '\0');
  for (size_t j = 0; j + 8 <= s.size(); j += 8) {
    const uint64_t v = rng();
    std::memcpy(&s[j], &v, 8);
  }
  return s;
}

// "c<chain>p0" .. "c<chain>p<n-1>".
inline std::vector<std::string> ChainKeys(int chain, int n) {
  std::vector<std::string> k;
  for (int i = 0; i < n; ++i) k.push_back("c" + std::to_string(chain) + "p" + std::to_string(i));
  return k;
}

}  // namespace prefixd::storage::testing
