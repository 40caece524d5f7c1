#include "storage/tuning.h"

#include "absl/strings/str_cat.h"
#include "util/byte_size.h"

namespace prefixd::storage {

std::string Tuning::ToString() const {
  return absl::StrCat(
      "write_buffer=", util::FormatByteSize(write_buffer_bytes), " l0_slowdown=",
      l0_slowdown_trigger, " l0_stop=", l0_stop_trigger, " background_jobs=", max_background_jobs,
      " background_rate=",
      background_rate_bytes == 0 ? std::string("unlimited")
                                 : util::FormatByteSize(background_rate_bytes) + "/s",
      " promote_fraction=", promote_fraction);
}

}  // namespace prefixd::storage
