// The controller's cost model: predicts, for a candidate Tuning, what the next epoch costs the
// foreground if the workload stays as it was (docs/controller.md has the equations).
//
// The device's bandwidth and the store's write amplification are not constants: Calibrate
// learns them from what each epoch measured (exponentially weighted), so predictions follow
// the machine and the workload the daemon actually runs on.
//
// Thread-compatible: one controller thread owns a CostModel.
#pragma once

#include <string>

#include "controller/signals.h"
#include "storage/tuning.h"

namespace prefixd::controller {

struct CostModelOptions {
  // Device bandwidth assumed before any epoch shows more (bytes/s). Default 1 GB/s.
  double initial_device_bandwidth = 1e9;
  // Write amplification assumed before puts are seen. Default 1.1 (blob files: about 1).
  double initial_write_amplification = 1.1;
  // Weight of the newest epoch in the calibration averages. Default 0.3.
  double smoothing = 0.3;
  // Seconds of foreground time one second of stalled writers costs. Default 1.
  double stall_weight = 1.0;
};

// What one second of the workload is predicted to cost, in seconds of foreground time.
struct Cost {
  double read_seconds = 0;   // gets waiting on a device shared with background writes
  double stall_seconds = 0;  // writers delayed: background cannot keep up, or L0 is full
  double background_utilization = 0;  // share of the device background writes take
  double total() const { return read_seconds + stall_seconds; }
  std::string ToString() const;
};

class CostModel {
 public:
  explicit CostModel(CostModelOptions options = {});

  // Learns from an epoch that ran under `tuning`.
  void Calibrate(const EpochRates& epoch, const storage::Tuning& tuning);

  // The cost of running `epoch`'s workload for one second under `candidate`, starting from
  // the state `epoch` ended in (its L0 files), having run under `current`.
  Cost Predict(const EpochRates& epoch, const storage::Tuning& current,
               const storage::Tuning& candidate) const;

  double device_bandwidth() const { return bandwidth_; }
  double write_amplification() const { return write_amplification_; }
  // L0 files the background clears per second (0 until measured).
  double l0_clear_rate() const { return l0_clear_rate_; }

 private:
  const CostModelOptions options_;
  double bandwidth_;
  double write_amplification_;
  double l0_clear_rate_ = 0;
  uint64_t last_l0_ = 0;
  bool have_l0_ = false;
  bool have_clear_ = false;
};

}  // namespace prefixd::controller
