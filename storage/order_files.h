// Internal to storage/: the file I/O the eviction order's files share (eviction_order.h,
// order_journal.h). Thread-compatible; errors are INTERNAL and name the file and the errno.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prefixd::storage {

// INTERNAL: "`what` `path`: strerror(errno)".
absl::Status ErrnoError(const char* what, const std::string& path);

// Writes all of `data` at `offset` of `fd`. False (errno set) on failure.
bool WriteAllAt(int fd, std::string_view data, uint64_t offset);

// Writes `contents` to `path`.tmp, fsyncs it and renames it over `path`, so a reader sees the
// whole file or the old one. Returns the file open for reading and writing (the caller closes
// it); on error the temporary file is removed.
absl::StatusOr<int> ReplaceFile(const std::string& path, std::string_view contents);

// Opens `path` read-write and reads it whole into `*contents`; returns the descriptor (the
// caller closes it). NOT_FOUND when there is no file.
absl::StatusOr<int> OpenAndRead(const std::string& path, std::string* contents);

}  // namespace prefixd::storage
