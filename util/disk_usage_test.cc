#include "util/disk_usage.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"

namespace prefixd::util {
namespace {

std::string ScratchDir() {
  auto dir =
      std::filesystem::temp_directory_path() / ("prefixd_disk_usage_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "sub");
  return dir.string();
}

TEST(DirectoryBytes, CountsAllocatedBlocksNotSizes) {
  const std::string dir = ScratchDir();
  const std::string path = dir + "/sub/data";
  std::ofstream(path) << std::string(1 << 20, 'x');
  const uint64_t full = DirectoryBytes(dir);
  EXPECT_GE(full, uint64_t{1} << 20);
  // Freeing the middle half gives its blocks back; the size stays.
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 256 << 10, 512 << 10), 0);
  ::close(fd);
  // A sparse file counts what it holds, not its size.
  const int sparse = ::open((dir + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(sparse, 0);
  ASSERT_EQ(::ftruncate(sparse, 1 << 30), 0);
  ::close(sparse);
  EXPECT_EQ(std::filesystem::file_size(path), uint64_t{1} << 20);
  EXPECT_EQ(DirectoryBytes(dir), full - (512 << 10));
  std::filesystem::remove_all(dir);
}

TEST(DirectoryBytes, CountsFilesRecursively) {
  const std::string dir = ScratchDir();
  EXPECT_EQ(DirectoryBytes(dir), 0u);
  std::ofstream(dir + "/a") << std::string(10000, 'x');
  std::ofstream(dir + "/sub/b") << std::string(5000, 'y');
  const uint64_t bytes = DirectoryBytes(dir);
  EXPECT_GE(bytes, 15000u);
  EXPECT_LT(bytes, 15000u + 64 * 1024u);  // at most a few blocks of rounding
  EXPECT_EQ(DirectoryBytes(dir + "/missing"), 0u);
  std::filesystem::remove_all(dir);
}

TEST(ForEachFileBytes, VisitsEveryFileWithTheBytesDirectoryBytesCounts) {
  const std::string dir = ScratchDir();
  std::ofstream(dir + "/000007.blob") << std::string(40000, 'x');
  std::ofstream(dir + "/sub/000009.sst") << std::string(5000, 'y');
  std::map<std::string, uint64_t> seen;
  ForEachFileBytes(dir, [&](std::string_view name, uint64_t bytes) {
    seen[std::string(name)] += bytes;
  });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_GE(seen["000007.blob"], 40000u);
  EXPECT_GE(seen["000009.sst"], 5000u);
  EXPECT_EQ(seen["000007.blob"] + seen["000009.sst"], DirectoryBytes(dir));
  std::filesystem::remove_all(dir);
}

TEST(FileSystemBytes, IsTheSizeOfTheFileSystemOfThePathOrItsNearestAncestor) {
  const std::string dir = ScratchDir();
  struct statvfs fs;
  ASSERT_EQ(::statvfs(dir.c_str(), &fs), 0);
  const uint64_t expected = uint64_t{fs.f_blocks} * fs.f_frsize;
  ASSERT_GT(expected, 0u);
  EXPECT_EQ(FileSystemBytes(dir), expected);
  // A data directory not created yet is sized by the file system it will be created on.
  EXPECT_EQ(FileSystemBytes(dir + "/not/yet/there"), expected);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace prefixd::util
