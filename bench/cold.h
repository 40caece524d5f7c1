// `--cold`: drop the kernel's page cache before a read phase, so that reads come from the device.
// Only root may (it writes /proc/sys/vm/drop_caches); otherwise the run goes on warm and says so.
// What is dropped is the kernel's cache only: a daemon's own memory (RocksDB's block cache,
// prefixd's --memory-cache) stays; a cold run of the grpc tier should restart the daemon first.
//
// Thread-safety: DropPageCache may be called from any thread; it syncs every file system.
#pragma once

#include <string>

namespace prefixd::bench {

struct ColdResult {
  bool dropped = false;  // the page cache was dropped
  std::string note;      // why not, when it was not ("" when it was)
};

// sync(), then "3" into /proc/sys/vm/drop_caches (page cache, dentries and inodes).
ColdResult DropPageCache();

}  // namespace prefixd::bench
