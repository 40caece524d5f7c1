#include "bench/cold.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace prefixd::bench {

ColdResult DropPageCache() {
  ColdResult r;
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    r.note = std::string("cannot open /proc/sys/vm/drop_caches (") + std::strerror(errno) +
             "): the read phase ran with a warm page cache";
    return r;
  }
  ssize_t n = write(fd, "3\n", 2);
  int err = errno;
  close(fd);
  if (n != 2) {
    r.note = std::string("cannot write /proc/sys/vm/drop_caches (") + std::strerror(err) +
             "): the read phase ran with a warm page cache";
    return r;
  }
  r.dropped = true;
  return r;
}

}  // namespace prefixd::bench
