#include "util/process_stats.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace prefixd::util {
namespace {

// The value after "name:" on the first line that starts with it, or -1.
int64_t Field(const std::string& path, const std::string& name) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::istringstream v(line.substr(name.size() + 1));
      int64_t n = -1;
      v >> n;
      return n;
    }
  }
  return -1;
}

}  // namespace

absl::StatusOr<ProcessStats> ReadProcessStats(int pid) {
  std::string dir = pid == 0 ? "/proc/self" : absl::StrCat("/proc/", pid);
  int64_t r = Field(dir + "/io", "read_bytes"), w = Field(dir + "/io", "write_bytes");
  int64_t cancelled = Field(dir + "/io", "cancelled_write_bytes");
  int64_t hwm_kb = Field(dir + "/status", "VmHWM");
  if (r < 0 || w < 0 || cancelled < 0 || hwm_kb < 0) {
    return absl::UnavailableError(absl::StrCat("cannot read ", dir, "/io or ", dir, "/status"));
  }
  return ProcessStats{uint64_t(r), uint64_t(w), uint64_t(cancelled), uint64_t(hwm_kb) * 1024};
}

}  // namespace prefixd::util
