#include "storage/order_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace prefixd::storage {

absl::Status ErrnoError(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

bool WriteAllAt(int fd, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

absl::StatusOr<int> ReplaceFile(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  absl::Status s;
  if (!WriteAllAt(fd, contents, 0)) {
    s = ErrnoError("cannot write", tmp);
  } else if (::fsync(fd) != 0) {
    s = ErrnoError("cannot sync", tmp);
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoError("cannot rename to", path);
  }
  if (!s.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  return fd;
}

absl::StatusOr<int> OpenAndRead(const std::string& path, std::string* contents) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no file ", path));
    return ErrnoError("cannot open", path);
  }
  contents->clear();
  if (struct stat st; ::fstat(fd, &st) == 0 && st.st_size > 0) {
    contents->reserve(size_t(st.st_size));
  }
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = ErrnoError("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) return fd;
    contents->append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace prefixd::storage
