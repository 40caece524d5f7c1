// What the kernel counts for a process: device bytes read and written (/proc/PID/io) and peak
// resident memory (/proc/PID/status VmHWM). Thread-safe: reads files, keeps nothing.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace prefixd::util {

struct ProcessStats {
  uint64_t read_bytes = 0;      // bytes this process caused to be fetched from storage
  uint64_t write_bytes = 0;     // bytes this process caused to be sent to storage
  // Of write_bytes, bytes of pages dropped before writeback (e.g. files deleted while dirty):
  // write_bytes - cancelled_write_bytes is what can have reached the device.
  uint64_t cancelled_write_bytes = 0;
  uint64_t peak_rss_bytes = 0;  // the high-water mark of resident memory
};

// `pid` 0 reads this process. UNAVAILABLE when /proc cannot be read (other user, no /proc).
absl::StatusOr<ProcessStats> ReadProcessStats(int pid = 0);

}  // namespace prefixd::util
