#include "controller/cost_model.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace prefixd::controller {
namespace {

double Ewma(double old_value, double sample, double weight) {
  return old_value + weight * (sample - old_value);
}

double RateOf(const storage::Tuning& t) {
  return t.background_rate_bytes == 0 ? 1e18 : static_cast<double>(t.background_rate_bytes);
}

}  // namespace

std::string Cost::ToString() const {
  return absl::StrFormat("read %.4f s/s + stall %.4f s/s = %.4f (background %.0f%% of the device)",
                         read_seconds, stall_seconds, total(), 100 * background_utilization);
}

CostModel::CostModel(CostModelOptions options)
    : options_(options),
      bandwidth_(options.initial_device_bandwidth),
      write_amplification_(options.initial_write_amplification) {}

void CostModel::Calibrate(const EpochRates& e, const storage::Tuning& tuning) {
  // Bandwidth: the most the device was seen to move, decaying slowly so that a one-off burst
  // does not stay forever, never below a quarter of the initial guess.
  const double moved = e.flush_bytes + e.compaction_write_bytes + e.compaction_read_bytes +
                       e.get_bytes + e.promoted_bytes;
  bandwidth_ = std::max({moved, bandwidth_ * 0.99, options_.initial_device_bandwidth / 4});
  // Write amplification: only from epochs with puts enough to mean something (1 MB/s).
  if (e.put_bytes > 1e6) {
    write_amplification_ =
        Ewma(write_amplification_, std::clamp(e.write_amplification(), 0.5, 20.0),
             options_.smoothing);
  }
  // L0 clear rate: files flushed (put bytes / memtable size) less the growth of L0.
  if (have_l0_ && e.seconds > 0 && tuning.write_buffer_bytes > 0) {
    const double made = e.put_bytes / static_cast<double>(tuning.write_buffer_bytes);
    const double grew = (static_cast<double>(e.l0_files) - static_cast<double>(last_l0_)) / e.seconds;
    if (made > 0) {
      const double sample = std::max(0.0, made - grew);
      l0_clear_rate_ = have_clear_ ? Ewma(l0_clear_rate_, sample, options_.smoothing) : sample;
      have_clear_ = true;
    }
  }
  last_l0_ = e.l0_files;
  have_l0_ = true;
}

Cost CostModel::Predict(const EpochRates& e, const storage::Tuning& current,
                        const storage::Tuning& candidate) const {
  Cost c;
  // Background write demand: what the epoch's background wrote (flushes, compactions,
  // including any debt it was paying off), or what its puts need at the calibrated write
  // amplification if that is more (a rate limit may have held the background back).
  const double demand = std::max(e.flush_bytes + e.compaction_write_bytes,
                                 e.put_bytes * write_amplification_);
  const double allowed = std::min(RateOf(candidate), bandwidth_);
  const double background = std::min(demand, allowed);
  c.background_utilization = std::min(0.95, background / bandwidth_);
  // Gets share the device with background writes: queueing inflates their time by 1/(1-u).
  c.read_seconds = (e.get_bytes / bandwidth_) / (1.0 - c.background_utilization);
  // Writers (put bytes, at the device's pace) wait when the background cannot keep up: the
  // background needs demand/allowed seconds per second ...
  const double put_seconds = e.put_bytes / bandwidth_;
  double wait = demand > allowed ? demand / allowed - 1.0 : 0.0;
  // ... or when L0 passes the slowdown trigger: files arrive at put bytes / memtable size and
  // leave at the calibrated clear rate (scaled by the background jobs allowed, at most 2x).
  if (candidate.write_buffer_bytes > 0 && e.seconds > 0) {
    const double arrive = e.put_bytes / static_cast<double>(candidate.write_buffer_bytes);
    const double jobs = static_cast<double>(candidate.max_background_jobs) /
                        std::max(1, current.max_background_jobs);
    const double leave = l0_clear_rate_ * std::min(jobs, 2.0);
    const double l0 = static_cast<double>(e.l0_files) + (arrive - leave) * e.seconds;
    const double slow = candidate.l0_slowdown_trigger, stop = candidate.l0_stop_trigger;
    double sigma = 0;  // share of the time writers are held
    if (l0 >= stop) {
      sigma = 0.95;
    } else if (l0 > slow) {
      sigma = 0.5 * (l0 - slow) / (stop - slow);
    }
    wait += sigma / (1.0 - sigma);
    // Stalls the epoch measured with L0 below its trigger come from flushes falling behind
    // (too many full memtables): they scale with flushes per second (1 / memtable size) and
    // inversely with the background jobs that run them.
    if (static_cast<double>(e.l0_files) <= current.l0_slowdown_trigger && e.stall_fraction > 0 &&
        current.write_buffer_bytes > 0) {
      const double scale = static_cast<double>(current.write_buffer_bytes) /
                           static_cast<double>(candidate.write_buffer_bytes) /
                           std::min(jobs, 2.0);
      const double m = std::min(0.95, e.stall_fraction * scale);
      wait += m / (1.0 - m);
    }
  }
  c.stall_seconds = options_.stall_weight * put_seconds * wait;
  return c;
}

}  // namespace prefixd::controller
