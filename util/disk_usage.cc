#include "util/disk_usage.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <filesystem>

namespace prefixd::util {

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t total = 0;
  ForEachFileBytes(path, [&](std::string_view, uint64_t bytes) { total += bytes; });
  return total;
}

void ForEachFileBytes(const std::string& path,
                      const std::function<void(std::string_view name, uint64_t bytes)>& visit) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      visit(it->path().filename().native(), uint64_t(st.st_blocks) * 512);
    }
  }
}

uint64_t FileSystemBytes(const std::string& path) {
  std::filesystem::path p = std::filesystem::absolute(path);
  for (;;) {
    struct statvfs fs;
    if (::statvfs(p.c_str(), &fs) == 0) return uint64_t{fs.f_blocks} * fs.f_frsize;
    if (!p.has_relative_path()) return 0;  // the root, unreadable
    p = p.parent_path();
  }
}

}  // namespace prefixd::util
