// Disk space a directory tree takes. Thread-compatible (reads the file system, keeps nothing).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace prefixd::util {

// Bytes allocated to the regular files under `path`, recursively, as du counts them: blocks,
// not sizes. RocksDB preallocates its MANIFEST and WAL with fallocate(KEEP_SIZE), which takes
// disk without showing in st_size, and prefixd frees dead pages inside blob files by punching
// holes, which gives disk back without changing st_size. (A file system that reports no blocks,
// as some FUSE ones do, would read as empty.) A file removed between listing and stat counts 0;
// an unreadable tree counts what could be read.
uint64_t DirectoryBytes(const std::string& path);

// Calls `visit(name, bytes)` for each regular file under `path`, recursively, with its name
// (without its directory) and the bytes allocated to it, as DirectoryBytes counts them.
void ForEachFileBytes(const std::string& path,
                      const std::function<void(std::string_view name, uint64_t bytes)>& visit);

// The size of the file system that holds `path`, or would hold it (the nearest existing
// ancestor's); 0 when none can be read.
uint64_t FileSystemBytes(const std::string& path);

}  // namespace prefixd::util
