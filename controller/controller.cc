#include "controller/controller.h"

#include <time.h>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace prefixd::controller {
namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

absl::StatusOr<ControllerOptions> ControllerOptions::Parse(std::string_view mode) {
  ControllerOptions o;
  if (mode == "off") {
    o.mode = Mode::kOff;
  } else if (mode == "on") {
    o.mode = Mode::kOn;
  } else if (mode.substr(0, 4) == "pin:" && ParseProfile(mode.substr(4))) {
    o.mode = Mode::kPin;
    o.pinned = *ParseProfile(mode.substr(4));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--controller wants off, on, pin:balanced, pin:write-heavy or pin:read-heavy; got '",
        std::string(mode), "'"));
  }
  return o;
}

std::string ControllerOptions::ModeString() const {
  switch (mode) {
    case Mode::kOff: return "off";
    case Mode::kOn: return "on";
    case Mode::kPin: return absl::StrCat("pin:", std::string(ProfileName(pinned)));
  }
  return "?";
}

Controller::Controller(storage::Store* store, ControllerOptions options)
    : store_(store),
      options_(options),
      base_(store->CurrentTuning()),
      model_(options.model),
      decider_(options.decider) {
  status_.mode = options_.ModeString();
  status_.tuning = base_;
  status_.device_bandwidth = model_.device_bandwidth();
  status_.write_amplification = model_.write_amplification();
}

absl::StatusOr<std::unique_ptr<Controller>> Controller::Start(storage::Store* store,
                                                              ControllerOptions options) {
  if (options.epoch < absl::Milliseconds(50)) {
    return absl::InvalidArgumentError("--controller-epoch must be at least 50ms");
  }
  std::unique_ptr<Controller> c(new Controller(store, options));
  if (options.mode == ControllerOptions::Mode::kPin) {
    storage::Tuning t = ProfileTuning(options.pinned, c->base_, c->model_.device_bandwidth());
    if (auto s = store->ApplyTuning(t); !s.ok()) return s;
    absl::MutexLock l(&c->mu_);
    c->status_.profile = options.pinned;
    c->status_.tuning = t;
    spdlog::info("controller: pinned to {}: {}", ProfileName(options.pinned), t.ToString());
  }
  c->thread_ = std::thread([p = c.get()] { p->Loop(); });
  return c;
}

Controller::~Controller() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

ControllerStatus Controller::Status() const {
  absl::MutexLock l(&mu_);
  return status_;
}

void Controller::Loop() {
  storage::StoreSignals before = store_->Signals();
  auto start = absl::Now();
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.epoch)) return;
    }
    const auto now = absl::Now();
    storage::StoreSignals after = store_->Signals();
    Epoch(before, after, absl::ToDoubleSeconds(now - start));
    before = after;
    start = now;
  }
}

void Controller::Epoch(const storage::StoreSignals& before, const storage::StoreSignals& after,
                       double seconds) {
  const double cpu_start = ThreadCpuSeconds();
  const EpochRates rates = Rates(before, after, std::max(seconds, 1e-3));
  Profile profile;
  storage::Tuning tuning;
  uint64_t epoch;
  {
    absl::MutexLock l(&mu_);
    profile = status_.profile;
    tuning = status_.tuning;
    epoch = ++status_.epochs;
  }
  model_.Calibrate(rates, tuning);
  std::optional<Decision> decision;
  if (options_.mode == ControllerOptions::Mode::kOn) {
    decision = decider_.Step(epoch, rates, model_, profile, base_);
  }
  if (decision) {
    storage::Tuning next = ProfileTuning(decision->to, base_, model_.device_bandwidth());
    if (auto s = store_->ApplyTuning(next); s.ok()) {
      spdlog::info(
          "controller: epoch {}: {} -> {} (predicted gain {:.0f}%: {} -> {}); {}; now {}", epoch,
          ProfileName(decision->from), ProfileName(decision->to), 100 * decision->predicted_gain,
          decision->cost_from.ToString(), decision->cost_to.ToString(), decision->signals,
          next.ToString());
      profile = decision->to;
      tuning = next;
    } else {
      spdlog::warn("controller: could not apply {}: {}", ProfileName(decision->to), s.ToString());
      decision.reset();
    }
  }
  const double cpu = ThreadCpuSeconds() - cpu_start;
  absl::MutexLock l(&mu_);
  status_.profile = profile;
  status_.tuning = tuning;
  status_.last = rates;
  status_.device_bandwidth = model_.device_bandwidth();
  status_.write_amplification = model_.write_amplification();
  status_.cpu_seconds += cpu;
  if (decision) {
    status_.decisions.push_back(*decision);
    if (status_.decisions.size() > 16) status_.decisions.pop_front();
  }
}

}  // namespace prefixd::controller
