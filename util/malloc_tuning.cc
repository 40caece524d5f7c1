#include "util/malloc_tuning.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace prefixd::util {

std::string TuneMallocForPageBuffers(bool single_arena) {
#if defined(__GLIBC__)
  std::string arenas;
  if (single_arena && std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    arenas = mallopt(M_ARENA_MAX, 1) == 1 ? "; one arena" : "; could not limit arenas";
  }
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr ||
      std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) {
    return "malloc: thresholds left as the environment sets them" + arenas;
  }
  // Both, or neither: a high mmap threshold with the default trim threshold makes every free
  // of a large buffer at the heap top shrink the heap, and the next allocation grow it again
  // (measured: 10x slower reads than glibc's defaults).
  constexpr int kTrim = 256 << 20, kMmap = 32 << 20;
  if (mallopt(M_TRIM_THRESHOLD, kTrim) == 1 && mallopt(M_MMAP_THRESHOLD, kMmap) == 1) {
    return "malloc: buffers up to 32 MiB kept in the heap (trim threshold 256 MiB)" + arenas;
  }
  return "malloc: could not raise the mmap and trim thresholds; glibc defaults in use" + arenas;
#else
  (void)single_arena;
  return "malloc: not glibc; allocator defaults in use";
#endif
}

}  // namespace prefixd::util
