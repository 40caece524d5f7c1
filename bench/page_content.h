// Deterministic bench pages: the bytes and the key of page `index` of a run seeded `seed`.
// The same (seed, index) gives the same bytes on every run and machine of the same byte order
// (the stream is 64-bit words stored in native order; little-endian on x86-64 and arm64), so a
// `--phase get` run can verify pages that an earlier run (or an earlier daemon) wrote.
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace prefixd::bench {

// Fills `out[0, n)` with page `index`'s bytes: a splitmix64 stream seeded from (seed, index),
// written 8 bytes at a time (about 1 GiB/s/core or better).
void FillPage(uint64_t seed, uint64_t index, char* out, size_t n);

// True when `page` is exactly the `expected_bytes` bytes FillPage gives for (seed, index).
// Compares word by word without materialising the expected page.
bool PageMatches(uint64_t seed, uint64_t index, std::string_view page, size_t expected_bytes);

// The client key of page `pos` of chain `chain`: "s<seed>-c<chain>-p<pos>" (at most 64 bytes).
std::string PageKey(uint64_t seed, uint64_t chain, uint64_t pos);

}  // namespace prefixd::bench
