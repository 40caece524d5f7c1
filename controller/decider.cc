#include "controller/decider.h"

#include "absl/strings/str_format.h"

namespace prefixd::controller {

std::string DescribeRates(const EpochRates& e) {
  return absl::StrFormat(
      "put %.1f MB/s, get %.1f MB/s, exists %.0f keys/s, flush %.1f MB/s, compaction w %.1f "
      "MB/s, promote %.1f MB/s, stall %.1f%%, L0 %u, hit ratio %.2f, blob garbage %.1f MB, "
      "get p50/p99 %.0f/%.0f us, put p99 %.0f us, exists p99 %.0f us",
      e.put_bytes / 1e6, e.get_bytes / 1e6, e.exists_keys, e.flush_bytes / 1e6,
      e.compaction_write_bytes / 1e6, e.promoted_bytes / 1e6, 100 * e.stall_fraction,
      static_cast<unsigned>(e.l0_files), e.hit_ratio, e.blob_garbage_bytes / 1e6, e.get_p50_us,
      e.get_p99_us, e.put_p99_us, e.exists_p99_us);
}

std::optional<Decision> Decider::Step(uint64_t epoch_number, const EpochRates& epoch,
                                      const CostModel& model, Profile current,
                                      const storage::Tuning& base) {
  const double bw = model.device_bandwidth();
  const storage::Tuning now = ProfileTuning(current, base, bw);
  const Cost cost_now = model.Predict(epoch, now, now);
  Profile best = current;
  Cost cost_best = cost_now;
  for (Profile p : AllProfiles()) {
    if (p == current) continue;
    Cost c = model.Predict(epoch, now, ProfileTuning(p, base, bw));
    if (c.total() < cost_best.total()) {
      best = p;
      cost_best = c;
    }
  }
  const double gain = cost_now.total() > options_.idle_cost
                          ? (cost_now.total() - cost_best.total()) / cost_now.total()
                          : 0.0;
  if (best == current || gain <= options_.threshold) {
    candidate_.reset();
    streak_ = 0;
    return std::nullopt;
  }
  if (candidate_ != best) {
    candidate_ = best;
    streak_ = 0;
  }
  if (++streak_ < options_.patience) return std::nullopt;
  candidate_.reset();
  streak_ = 0;
  return Decision{epoch_number, current, best, gain, cost_now, cost_best, DescribeRates(epoch)};
}

}  // namespace prefixd::controller
