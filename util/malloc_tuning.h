// Allocator settings for processes that move large pages through malloc'd buffers (the daemon,
// prefixd-bench). With glibc's defaults every buffer above the mmap threshold (128 KiB until
// its dynamic adjustment kicks in) is a fresh mmap, and a heap top over 128 KiB is returned to
// the kernel at every free: a 1 MiB page read then pays 256 page faults and the kernel's zeroing
// of the pages, on every read. RocksDB allocates one such buffer per blob it reads, gRPC per
// message. Measured (prefixd-bench micro, 1,024 x 1 MiB, 2 CPUs; commands and profiles in
// docs/benchmarks-why.md): in-process warm gets 1.17 -> 1.96 GB/s with buffers up to 32 MiB kept
// in the heap. Every malloc arena keeps up to the trim threshold, so a daemon with one arena per
// busy thread grew to 0.72 GB RSS; with a single arena it stayed at 0.26 GB and took gRPC puts
// at 1.6-1.8x the rate (gets unchanged), freed heaps being reused instead of unmapped. Not yet
// measured past 2 CPUs, where one arena may contend: MALLOC_ARENA_MAX overrides it.
//
// Thread-safety: call once, early in main(), before other threads allocate.
#pragma once

#include <string>

namespace prefixd::util {

// Sets M_TRIM_THRESHOLD to 256 MiB and M_MMAP_THRESHOLD to 32 MiB (glibc's largest), unless the
// environment already sets MALLOC_TRIM_THRESHOLD_ or MALLOC_MMAP_THRESHOLD_; with
// `single_arena`, also M_ARENA_MAX 1 unless MALLOC_ARENA_MAX is set (the operator's choice
// wins). Returns a line saying what it did, for the log. No-op without glibc.
std::string TuneMallocForPageBuffers(bool single_arena);

}  // namespace prefixd::util
