#include "shm/arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace prefixd::shm {
namespace {

absl::Status Errno(const char* what) {
  int e = errno;
  std::string msg = absl::StrCat(what, ": ", std::strerror(e));
  if (e == ENOMEM || e == ENOSPC) return absl::ResourceExhaustedError(msg);
  if (e == EINVAL || e == EBADF) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

// Closes a descriptor unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Arena>> Arena::Create(uint64_t bytes, const std::string& name) {
  if (bytes == 0) return absl::InvalidArgumentError("an arena needs at least one byte");
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  if (bytes > (uint64_t{1} << 46)) {
    return absl::InvalidArgumentError(absl::StrCat("arena of ", bytes, " bytes is too large"));
  }
  bytes = (bytes + page - 1) / page * page;
  int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Errno("memfd_create");
  FdGuard guard(fd);
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) return Errno("ftruncate");
  // Reserve the memory now, so that neither side ever faults on a page tmpfs cannot supply.
  if (int e = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)); e != 0) {
    errno = e;
    return Errno("fallocate of the arena");
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return Errno("sealing the arena");
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return Errno("mmap of the arena");
  return std::unique_ptr<Arena>(new Arena(guard.release(), static_cast<uint8_t*>(p), bytes));
}

absl::StatusOr<std::unique_ptr<Arena>> Arena::Adopt(int fd, uint64_t max_bytes) {
  FdGuard guard(fd);
  int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    return absl::InvalidArgumentError(
        "the arena descriptor is not a memfd (it cannot carry seals); create it with "
        "memfd_create(MFD_ALLOW_SEALING)");
  }
  const int required = F_SEAL_SHRINK | F_SEAL_GROW;
  if ((seals & required) != required) {
    return absl::InvalidArgumentError(
        "the arena memfd is not sealed against resizing (F_SEAL_SHRINK | F_SEAL_GROW)");
  }
  if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0) {
    return absl::InvalidArgumentError("the arena memfd is sealed against writing");
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return Errno("fstat of the arena");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0 || size > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the arena is ", size, " bytes; allowed 1..", max_bytes));
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return Errno("mmap of a client arena");
  // The mapping keeps the memory alive; the descriptor is not needed any more.
  return std::unique_ptr<Arena>(new Arena(-1, static_cast<uint8_t*>(p), size));
}

Arena::~Arena() {
  ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::span<uint8_t>> Arena::Slice(uint64_t offset, uint64_t length) const {
  if (length == 0) return absl::InvalidArgumentError("empty arena slice");
  if (offset > size_ || length > size_ - offset) {
    return absl::OutOfRangeError(absl::StrCat("slice [", offset, ", +", length,
                                              ") lies outside the arena of ", size_, " bytes"));
  }
  return std::span<uint8_t>(data_ + offset, length);
}

}  // namespace prefixd::shm
