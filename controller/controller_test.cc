#include "controller/controller.h"

#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "util/crc32c.h"

namespace prefixd::controller {
namespace {

storage::Tuning Base() {
  storage::Tuning t;
  t.write_buffer_bytes = 64 << 20;
  return t;
}

// A serving epoch: gets at 800 MB/s and few puts, while compactions left over from
// population keep the device busy in the background.
EpochRates Serving() {
  EpochRates e;
  e.seconds = 5;
  e.get_bytes = 800e6;
  e.put_bytes = 20e6;
  e.flush_bytes = 20e6;
  e.compaction_write_bytes = 400e6;
  e.l0_files = 2;
  return e;
}

// A population epoch: puts at 600 MB/s with L0 at `l0` files (it grows when the background
// falls behind).
EpochRates Population(uint64_t l0 = 18) {
  EpochRates e;
  e.seconds = 5;
  e.put_bytes = 600e6;
  e.flush_bytes = 620e6;
  e.compaction_write_bytes = 30e6;
  e.get_bytes = 10e6;
  e.l0_files = l0;
  return e;
}

EpochRates Idle() {
  EpochRates e;
  e.seconds = 5;
  return e;
}

TEST(Rates, AreDifferencesOverTheEpoch) {
  storage::StoreSignals a, b;
  a.put_bytes = 100;
  b.put_bytes = 1100;
  b.get_pages = 30;
  b.get_misses = 10;
  b.stall_micros = 500000;
  a.exists_keys = 50;  // went backwards (a namespace was deleted): 0, not negative
  b.flush_write_bytes = 2000;
  auto r = Rates(a, b, 2.0);
  EXPECT_DOUBLE_EQ(r.put_bytes, 500);
  EXPECT_DOUBLE_EQ(r.exists_keys, 0);
  EXPECT_DOUBLE_EQ(r.hit_ratio, 0.75);
  EXPECT_DOUBLE_EQ(r.stall_fraction, 0.25);
  EXPECT_DOUBLE_EQ(r.write_amplification(), 2.0);
  EXPECT_EQ(r.get_p99_us, 0);  // no gets timed in the epoch
}

TEST(Rates, LatencyPercentilesAreTheEpochsOwn) {
  storage::StoreSignals a, b;
  a.get_latency[util::LatencyHistogram::Bucket(1e6)] = 100;  // slow gets before the epoch
  b.get_latency = a.get_latency;
  b.get_latency[util::LatencyHistogram::Bucket(200)] += 99;
  b.get_latency[util::LatencyHistogram::Bucket(9000)] += 1;
  b.put_latency[util::LatencyHistogram::Bucket(3000)] = 5;
  b.blob_garbage_bytes = 7;
  auto r = Rates(a, b, 1.0);
  EXPECT_NEAR(r.get_p50_us, 200, 200 * 0.19);
  EXPECT_NEAR(r.get_p99_us, 200, 200 * 0.19);
  EXPECT_EQ(r.put_p99_us,
            util::LatencyHistogram::UpperBound(util::LatencyHistogram::Bucket(3000)));
  EXPECT_EQ(r.exists_p99_us, 0);
  EXPECT_EQ(r.blob_garbage_bytes, 7u);
  b.get_latency[util::LatencyHistogram::Bucket(9000)] += 1;  // now 2 of 101 are slow
  EXPECT_GE(Rates(a, b, 1.0).get_p99_us, 9000);
}

TEST(CostModel, CalibratesBandwidthAndWriteAmplificationFromEpochs) {
  CostModel m({.initial_device_bandwidth = 1e9, .initial_write_amplification = 1.1});
  EXPECT_DOUBLE_EQ(m.device_bandwidth(), 1e9);
  EpochRates e = Population();  // moves 660 MB/s: below the guess, which decays slowly
  m.Calibrate(e, Base());
  EXPECT_NEAR(m.device_bandwidth(), 0.99e9, 1e6);
  e.get_bytes = 2e9;  // a faster device shows itself
  m.Calibrate(e, Base());
  EXPECT_GT(m.device_bandwidth(), 2e9);
  for (int i = 0; i < 30; ++i) m.Calibrate(Population(), Base());
  EXPECT_NEAR(m.write_amplification(), (620e6 + 30e6) / 600e6, 0.01);
  // An epoch without puts says nothing about write amplification.
  double wa = m.write_amplification();
  m.Calibrate(Idle(), Base());
  EXPECT_DOUBLE_EQ(m.write_amplification(), wa);
}

TEST(CostModel, LimitingBackgroundWritesHelpsServingAndHurtsPopulation) {
  CostModel m;
  for (int i = 0; i < 5; ++i) m.Calibrate(Serving(), Base());
  const auto base = Base();
  const auto read = ProfileTuning(Profile::kReadHeavy, base, m.device_bandwidth());
  const auto write = ProfileTuning(Profile::kWriteHeavy, base, m.device_bandwidth());
  Cost serving_base = m.Predict(Serving(), base, base);
  Cost serving_read = m.Predict(Serving(), base, read);
  Cost serving_write = m.Predict(Serving(), base, write);
  EXPECT_LT(serving_read.total(), 0.9 * serving_base.total()) << serving_read.ToString();
  EXPECT_LT(serving_read.background_utilization, serving_base.background_utilization);
  EXPECT_DOUBLE_EQ(serving_write.read_seconds, serving_base.read_seconds);  // both unlimited
  // Population with L0 growing towards the slowdown trigger.
  CostModel p;
  for (uint64_t l0 : {6, 10, 14, 18}) p.Calibrate(Population(l0), base);
  EXPECT_GT(p.l0_clear_rate(), 0);
  Cost pop_read = p.Predict(Population(), base, read);
  Cost pop_write = p.Predict(Population(), base, write);
  Cost pop_base = p.Predict(Population(), base, base);
  EXPECT_GT(pop_base.stall_seconds, 0) << pop_base.ToString();
  EXPECT_GT(pop_read.stall_seconds, pop_base.stall_seconds) << pop_read.ToString();
  EXPECT_LT(pop_write.total(), 0.9 * pop_base.total()) << pop_write.ToString();
}

TEST(Decider, SwitchesOnlyAfterTheGainHoldsForPatienceEpochs) {
  CostModel m;
  for (int i = 0; i < 5; ++i) m.Calibrate(Serving(), Base());
  Decider d({.threshold = 0.10, .patience = 2});
  EXPECT_FALSE(d.Step(1, Serving(), m, Profile::kBalanced, Base()));  // first win: wait
  auto dec = d.Step(2, Serving(), m, Profile::kBalanced, Base());     // second: switch
  ASSERT_TRUE(dec);
  EXPECT_EQ(dec->to, Profile::kReadHeavy);
  EXPECT_GT(dec->predicted_gain, 0.10);
  EXPECT_FALSE(dec->signals.empty());
}

TEST(Decider, PopulationMovesToWriteHeavy) {
  CostModel m;
  for (uint64_t l0 : {6, 10, 14, 18}) m.Calibrate(Population(l0), Base());
  Decider d({.threshold = 0.10, .patience = 2});
  EXPECT_FALSE(d.Step(1, Population(), m, Profile::kReadHeavy, Base()));
  auto dec = d.Step(2, Population(), m, Profile::kReadHeavy, Base());
  ASSERT_TRUE(dec);
  EXPECT_EQ(dec->to, Profile::kWriteHeavy);
}

TEST(CostModel, MeasuredFlushStallsShrinkWithLargerMemtablesAndMoreJobs) {
  CostModel m;
  EpochRates e = Population(0);
  e.stall_fraction = 0.2;  // memtables full, L0 empty
  for (int i = 0; i < 3; ++i) m.Calibrate(e, Base());
  const auto base = Base();
  Cost now = m.Predict(e, base, base);
  Cost bigger = m.Predict(e, base, ProfileTuning(Profile::kWriteHeavy, base, 1e9));
  EXPECT_GT(now.stall_seconds, 0);
  EXPECT_LT(bigger.stall_seconds, now.stall_seconds / 2);
}

TEST(Decider, OneNoisyEpochChangesNothing) {
  CostModel m;
  for (int i = 0; i < 5; ++i) m.Calibrate(Serving(), Base());
  Decider d({.threshold = 0.10, .patience = 2});
  // Serving under read-heavy, interrupted by single population epochs: never a switch.
  for (int i = 0; i < 10; ++i) {
    EpochRates e = i % 2 == 0 ? Population() : Serving();
    EXPECT_FALSE(d.Step(i, e, m, Profile::kReadHeavy, Base())) << "epoch " << i;
  }
}

TEST(Decider, IdleAndSmallGainsChangeNothing) {
  CostModel m;
  Decider d({.threshold = 0.10, .patience = 1});
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(d.Step(i, Idle(), m, Profile::kBalanced, Base()));
  Decider strict({.threshold = 0.99, .patience = 1});
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(strict.Step(i, Serving(), m, Profile::kBalanced, Base()));
  }
}

TEST(Profiles, ParseAndBounds) {
  for (Profile p : AllProfiles()) EXPECT_EQ(ParseProfile(ProfileName(p)), p);
  EXPECT_FALSE(ParseProfile("fast"));
  auto w = ProfileTuning(Profile::kWriteHeavy, Base(), 1e9);
  EXPECT_GT(w.write_buffer_bytes, Base().write_buffer_bytes);
  EXPECT_GT(w.l0_stop_trigger, w.l0_slowdown_trigger);
  EXPECT_EQ(w.background_rate_bytes, 0u);
  EXPECT_EQ(w.promote_fraction, Base().promote_fraction);  // hit rate is not the model's to trade
  auto r = ProfileTuning(Profile::kReadHeavy, Base(), 1e9);
  EXPECT_EQ(r.background_rate_bytes, 250000000u);
  EXPECT_EQ(ProfileTuning(Profile::kBalanced, Base(), 1e9), Base());
  EXPECT_TRUE(ControllerOptions::Parse("pin:read-heavy").ok());
  EXPECT_EQ(ControllerOptions::Parse("pin:fast").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ControllerOptions::Parse("auto").status().code(), absl::StatusCode::kInvalidArgument);
}

// The thread against a real store: off and pin hold the settings still; pin applies them.
class ControllerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("controller_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    storage::StoreOptions o;
    o.path = dir_.string();
    auto s = storage::Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
};

TEST_F(ControllerStoreTest, PinAppliesItsProfileAndHoldsIt) {
  const storage::Tuning start = store_->CurrentTuning();
  auto o = ControllerOptions::Parse("pin:write-heavy");
  ASSERT_TRUE(o.ok());
  o->epoch = absl::Milliseconds(50);
  auto c = Controller::Start(store_.get(), *o);
  ASSERT_TRUE(c.ok()) << c.status();
  const storage::Tuning pinned = store_->CurrentTuning();
  EXPECT_EQ(pinned, ProfileTuning(Profile::kWriteHeavy, start, 1e9));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(store_->CurrentTuning(), pinned);
  auto st = (*c)->Status();
  EXPECT_EQ(st.mode, "pin:write-heavy");
  EXPECT_GE(st.epochs, 2u);
  EXPECT_TRUE(st.decisions.empty());
  EXPECT_GE(st.cpu_seconds, 0.0);
}

TEST_F(ControllerStoreTest, OffObservesAndChangesNothing) {
  const storage::Tuning start = store_->CurrentTuning();
  auto o = ControllerOptions::Parse("off");
  o->epoch = absl::Milliseconds(50);
  auto c = Controller::Start(store_.get(), *o);
  ASSERT_TRUE(c.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(store_->CurrentTuning(), start);
  EXPECT_GE((*c)->Status().epochs, 2u);
}

TEST_F(ControllerStoreTest, ApplyTuningChecksItsInput) {
  storage::Tuning t = store_->CurrentTuning();
  t.l0_stop_trigger = t.l0_slowdown_trigger;
  EXPECT_EQ(store_->ApplyTuning(t).code(), absl::StatusCode::kInvalidArgument);
  t = store_->CurrentTuning();
  t.background_rate_bytes = 100 << 20;
  t.write_buffer_bytes *= 2;
  ASSERT_TRUE(store_->ApplyTuning(t).ok());
  EXPECT_EQ(store_->CurrentTuning(), t);
}

// Lazy: a new memtable size and triggers apply to memtables yet to fill; ApplyTuning flushes
// nothing, compacts nothing, and the pages written before it are still there.
TEST_F(ControllerStoreTest, ApplyTuningIsLazy) {
  constexpr uint64_t kPage = 4096;
  storage::Fingerprint fp{"llama", "rev1", "bfloat16", "layer_first", 16, kPage, 0, 1, "client"};
  ASSERT_TRUE(store_->OpenNamespace("ns", fp).ok());
  std::vector<std::string> keys, data;
  for (int i = 0; i < 64; ++i) {
    keys.push_back("k" + std::to_string(i));
    data.push_back(std::string(kPage, char('a' + i % 26)));
  }
  std::vector<storage::PageWrite> pages;
  for (int i = 0; i < 64; ++i) pages.push_back({keys[i], data[i], util::Crc32c(data[i])});
  ASSERT_TRUE(store_->Put({"ns"}, "", pages).ok());
  const storage::StoreSignals before = store_->Signals();

  storage::Tuning t = store_->CurrentTuning();
  t.write_buffer_bytes *= 2;
  t.l0_slowdown_trigger += 10;
  t.l0_stop_trigger += 20;
  t.max_background_jobs += 2;
  ASSERT_TRUE(store_->ApplyTuning(t).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // room for a flush to start

  const storage::StoreSignals after = store_->Signals();
  EXPECT_EQ(after.flush_write_bytes, before.flush_write_bytes);
  EXPECT_EQ(after.compaction_write_bytes, before.compaction_write_bytes);
  EXPECT_EQ(after.l0_files, before.l0_files);
  EXPECT_EQ(store_->CurrentTuning(), t);
  size_t served = 0;
  auto g = store_->Get({"ns"}, keys, 0,
                       [&](size_t i, std::string_view, std::string_view b, uint32_t) {
                         served += b == data[i];
                         return true;
                       });
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(served, keys.size());
  // The store timed the put and the get.
  const EpochRates r = Rates(storage::StoreSignals{}, store_->Signals(), 1.0);
  EXPECT_GT(r.put_p99_us, 0);
  EXPECT_GT(r.get_p99_us, 0);
}

// The signals see level-0 files (the cost model's L0 terms depend on it): a flush makes one.
TEST_F(ControllerStoreTest, SignalsCountLevelZeroFiles) {
  constexpr uint64_t kPage = 4096;
  storage::Fingerprint fp{"llama", "rev1", "bfloat16", "layer_first", 16, kPage, 0, 1, "client"};
  ASSERT_TRUE(store_->OpenNamespace("ns", fp).ok());
  EXPECT_EQ(store_->Signals().l0_files, 0u);
  const std::string data(kPage, 'x');
  const storage::PageWrite page{"k0", data, util::Crc32c(data)};
  ASSERT_TRUE(store_->Put({"ns"}, "", std::span(&page, 1)).ok());
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_GE(store_->Signals().l0_files, 1u);
}

}  // namespace
}  // namespace prefixd::controller
