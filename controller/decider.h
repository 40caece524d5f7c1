// The decision rule: each epoch, the cost model prices every profile; a switch happens only
// when the same profile is predicted better than the current one by more than `threshold`
// (relative) for more than one epoch in a row (`patience`), so that one noisy epoch changes
// nothing. Thread-compatible: owned by the controller thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/cost_model.h"
#include "controller/profiles.h"

namespace prefixd::controller {

struct DeciderOptions {
  // Relative predicted gain a switch needs. Default 0.10.
  double threshold = 0.10;
  // Consecutive epochs the same better profile must win. Default 2.
  int patience = 2;
  // Below this predicted cost (seconds per second) the store is idle: nothing changes.
  double idle_cost = 1e-4;
};

struct Decision {
  uint64_t epoch = 0;
  Profile from = Profile::kBalanced, to = Profile::kBalanced;
  double predicted_gain = 0;  // (cost(from) - cost(to)) / cost(from)
  Cost cost_from, cost_to;
  std::string signals;  // the epoch's rates, for the log
};

class Decider {
 public:
  explicit Decider(DeciderOptions options = {}) : options_(options) {}

  // Prices every profile for `epoch` and returns a decision when one is due.
  std::optional<Decision> Step(uint64_t epoch_number, const EpochRates& epoch,
                               const CostModel& model, Profile current,
                               const storage::Tuning& base);

 private:
  const DeciderOptions options_;
  std::optional<Profile> candidate_;
  int streak_ = 0;
};

// A one-line account of an epoch's rates.
std::string DescribeRates(const EpochRates& e);

}  // namespace prefixd::controller
