#include "util/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace prefixd::util {

absl::Status UnixAddress(const std::string& path, sockaddr_un* addr) {
  *addr = sockaddr_un{};
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unix socket path must be 1..", sizeof(addr->sun_path) - 1, " bytes: '", path, "'"));
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return absl::OkStatus();
}

absl::StatusOr<int> ConnectUnix(const std::string& path, int type, const std::string& what) {
  sockaddr_un addr;
  if (auto s = UnixAddress(path, &addr); !s.ok()) return s;
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto s = absl::UnavailableError(
        absl::StrCat("cannot connect to the ", what, " ", path, ": ", std::strerror(errno)));
    ::close(fd);
    return s;
  }
  return fd;
}

absl::Status RemoveStaleSocket(const std::string& path, int type) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return absl::OkStatus();  // nothing there
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; not touching it"));
  }
  sockaddr_un addr;
  if (auto s = UnixAddress(path, &addr); !s.ok()) return s;
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  bool live = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (fd >= 0) ::close(fd);
  if (live) {
    return absl::FailedPreconditionError(
        absl::StrCat("another process serves the socket ", path));
  }
  ::unlink(path.c_str());
  return absl::OkStatus();
}

}  // namespace prefixd::util
