#include "util/malloc_tuning.h"

#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace prefixd::util {
namespace {

#if defined(__GLIBC__)
TEST(MallocTuning, PageSizedBuffersComeFromTheHeapNotFreshMappings) {
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("MALLOC_MMAP_THRESHOLD_")) {
    GTEST_SKIP() << "the environment sets malloc's thresholds; the tuning leaves them";
  }
  std::string note = TuneMallocForPageBuffers(/*single_arena=*/false);
  EXPECT_NE(note.find("kept in the heap"), std::string::npos) << note;
  // Under glibc's defaults a fresh 4 MiB block is a separate mapping (counted in hblks);
  // after the tuning it is carved from the heap.
  const size_t before = mallinfo2().hblks;
  char* page = static_cast<char*>(std::malloc(4 << 20));
  ASSERT_NE(page, nullptr);
  std::memset(page, 1, 4 << 20);
  EXPECT_EQ(mallinfo2().hblks, before);
  std::free(page);
  // Blocks over 32 MiB still get their own mapping.
  char* huge = static_cast<char*>(std::malloc(48 << 20));
  ASSERT_NE(huge, nullptr);
  EXPECT_EQ(mallinfo2().hblks, before + 1);
  std::free(huge);
}
#endif

}  // namespace
}  // namespace prefixd::util
