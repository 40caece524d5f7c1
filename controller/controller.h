// prefixd::controller::Controller — a thread in the daemon that retunes the store between
// epochs: it reads the store's signals, calibrates the cost model, and switches the store to
// the profile the model predicts best (with hysteresis), applying settings online and lazily
// (RocksDB's SetOptions; no compaction is forced, nothing is reopened). Every decision is
// logged and kept for Status().
//
// Modes: off (the start-up settings, untouched), on, pin:<profile> (that profile's settings,
// applied once at start and held).
//
// Thread-safety: Status() may be called from any thread; Start/destruction from one owner.
// The store must outlive the controller.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/cost_model.h"
#include "controller/decider.h"
#include "controller/profiles.h"
#include "storage/store.h"

namespace prefixd::controller {

struct ControllerOptions {
  enum class Mode { kOff, kOn, kPin };
  Mode mode = Mode::kOff;
  Profile pinned = Profile::kBalanced;  // kPin only
  // Length of an epoch. Default 5 s; at least 50 ms.
  absl::Duration epoch = absl::Seconds(5);
  CostModelOptions model;
  DeciderOptions decider;

  // "off", "on" or "pin:<profile>". INVALID_ARGUMENT names the choices.
  static absl::StatusOr<ControllerOptions> Parse(std::string_view mode);
  std::string ModeString() const;
};

struct ControllerStatus {
  std::string mode;
  Profile profile = Profile::kBalanced;
  storage::Tuning tuning;       // in force now
  uint64_t epochs = 0;          // epochs observed
  double cpu_seconds = 0;       // the controller thread's own CPU time
  double device_bandwidth = 0;  // calibrated, bytes/s
  double write_amplification = 0;
  EpochRates last;              // the last epoch's rates
  std::deque<Decision> decisions;  // the last 16, oldest first
};

class Controller {
 public:
  // Starts the thread (mode on or pin; with off, only observes). A pinned profile is applied
  // before Start returns: its error is returned.
  static absl::StatusOr<std::unique_ptr<Controller>> Start(storage::Store* store,
                                                           ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  ControllerStatus Status() const;

 private:
  Controller(storage::Store* store, ControllerOptions options);
  void Loop();
  void Epoch(const storage::StoreSignals& before, const storage::StoreSignals& after,
             double seconds);

  storage::Store* const store_;
  const ControllerOptions options_;
  const storage::Tuning base_;  // the start-up settings
  CostModel model_;             // owned by the thread
  Decider decider_;             // owned by the thread
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  ControllerStatus status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace prefixd::controller
