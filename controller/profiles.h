// Named settings the controller chooses among (and `--controller=pin:<name>` holds).
//   balanced     the store's start-up settings (what `--controller=off` keeps)
//   write-heavy  population: larger memtables (fewer, larger flushes), higher L0 triggers,
//                more background jobs, no background rate limit
//   read-heavy   serving: start-up memtables and triggers, background writes limited to a
//                quarter of the device's calibrated bandwidth so that gets keep the rest
// No profile changes promote_fraction: copying pages forward trades writes for hit rate, which
// the cost model does not price, so the controller leaves it as configured.
// Thread-compatible (pure functions).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/tuning.h"

namespace prefixd::controller {

enum class Profile { kBalanced, kWriteHeavy, kReadHeavy };

const std::vector<Profile>& AllProfiles();
std::string_view ProfileName(Profile p);
std::optional<Profile> ParseProfile(std::string_view name);

// The settings of `p`, derived from the start-up settings `base` and the device bandwidth the
// cost model has calibrated (bytes/s).
storage::Tuning ProfileTuning(Profile p, const storage::Tuning& base, double device_bandwidth);

}  // namespace prefixd::controller
