// StreamCopy: memcpy for pages that another process reads next (a shared-memory arena's slot).
// The stores go around this core's caches (non-temporal stores on x86-64), so the copy does not
// fight the reader's core for the lines it just wrote, and does not evict this core's working
// set. In prefixd's shared-memory gets (the daemon copies, the client checksums the slots next)
// memcpy ran at about half the speed (docs/transport.md). Small copies, and CPUs other than
// x86-64, use memcpy. Thread-safe.
#pragma once

#include <cstddef>

namespace prefixd::util {

// Copies `src[0, n)` to `dst[0, n)`, as memcpy does (the ranges must not overlap). On return
// the bytes are visible to other cores and processes like those of any store (the copy ends
// with a store fence).
void StreamCopy(void* dst, const void* src, size_t n);

// Copies shorter than this use memcpy: their lines are cheaper to leave in the cache. 64 KiB
// pages got out of shared memory 0-12 % faster with memcpy than with streaming stores (two A/Bs
// of five alternating rounds, `bench/ab_shm.sh`, one and four workers); 256 KiB pages the same
// either way (3,707 vs 3,653 MB/s); 1 MiB pages 1.85x faster streamed (d6f7f22).
inline constexpr size_t kStreamCopyMinBytes = 128 * 1024;

// For tests: StreamCopy with the baseline (SSE2) stores even where the CPU has AVX2; memcpy
// off x86-64.
void TEST_StreamCopySse2(void* dst, const void* src, size_t n);

}  // namespace prefixd::util
