#include "controller/profiles.h"

#include <algorithm>

namespace prefixd::controller {

const std::vector<Profile>& AllProfiles() {
  static const auto* kAll =
      new std::vector<Profile>{Profile::kBalanced, Profile::kWriteHeavy, Profile::kReadHeavy};
  return *kAll;
}

std::string_view ProfileName(Profile p) {
  switch (p) {
    case Profile::kBalanced: return "balanced";
    case Profile::kWriteHeavy: return "write-heavy";
    case Profile::kReadHeavy: return "read-heavy";
  }
  return "?";
}

std::optional<Profile> ParseProfile(std::string_view name) {
  for (Profile p : AllProfiles()) {
    if (ProfileName(p) == name) return p;
  }
  return std::nullopt;
}

storage::Tuning ProfileTuning(Profile p, const storage::Tuning& base, double device_bandwidth) {
  storage::Tuning t = base;
  switch (p) {
    case Profile::kBalanced:
      break;
    case Profile::kWriteHeavy:
      t.write_buffer_bytes = base.write_buffer_bytes * 2;
      t.l0_slowdown_trigger = std::max(base.l0_slowdown_trigger, 40);
      t.l0_stop_trigger = std::max(base.l0_stop_trigger, 64);
      t.max_background_jobs = std::min(64, base.max_background_jobs * 2);
      t.background_rate_bytes = 0;
      break;
    case Profile::kReadHeavy:
      t.background_rate_bytes =
          std::max<uint64_t>(uint64_t{32} << 20, static_cast<uint64_t>(device_bandwidth / 4));
      break;
  }
  return t;
}

}  // namespace prefixd::controller
