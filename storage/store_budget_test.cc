// The disk budget: generations, eviction by dropping the oldest, promotion of pages read.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "storage/eviction_order.h"
#include "storage/generations.h"
#include "storage/page_key.h"
#include "storage/test_pages.h"
#include "storage/store.h"
#include "util/crc32c.h"
#include "util/process_stats.h"

namespace prefixd::storage {
namespace {

constexpr uint64_t kPage = 64 << 10;
constexpr uint64_t kCapacity = 32 << 20;
constexpr int kChain = 8;

Fingerprint Fp() {
  return Fingerprint{"m", "r", "bf16", "l", 16, kPage, 0, 1, "client"};
}

std::string Bytes(int chain, int i) { return testing::PageBytes(chain, i, kPage); }

std::vector<std::string> Keys(int chain) { return testing::ChainKeys(chain, kChain); }

class BudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            ("budget_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    Open(kCapacity);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(uint64_t capacity, double promote_budget = StoreOptions().promote_budget) {
    StoreOptions o;
    o.capacity_bytes = capacity;
    o.promote_budget = promote_budget;
    OpenWith(o);
  }
  void OpenWith(StoreOptions o) {
    store_.reset();
    o.path = dir_;
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    ASSERT_TRUE(store_->OpenNamespace("ns", Fp()).ok());
  }
  void Put(int chain) { PutIn("ns", chain); }
  void PutIn(std::string_view ns, int chain) {
    std::vector<std::string> data;
    for (int i = 0; i < kChain; ++i) data.push_back(Bytes(chain, i));
    auto keys = Keys(chain);
    std::vector<PageWrite> w;
    for (int i = 0; i < kChain; ++i) w.push_back({keys[i], data[i], util::Crc32c(data[i])});
    auto r = store_->Put({ns}, "", w);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // The page bytes namespace `name` holds now.
  uint64_t BytesOf(std::string_view name) {
    const auto st = store_->Stats();  // held: the loop must not outlive it
    for (const auto& n : st->namespaces) {
      if (n.info.name == name) return n.counters.bytes;
    }
    return 0;
  }
  // kCapacity with Eviction::kPages, adaptive insertion on or off.
  static StoreOptions PageEvictionOptions(bool adaptive) {
    StoreOptions o;
    o.capacity_bytes = kCapacity;
    o.eviction = StoreOptions::Eviction::kPages;
    o.adaptive_insertion = adaptive;
    return o;
  }
  // A new, empty store with `o`.
  void OpenEmpty(StoreOptions o) {
    store_.reset();
    std::filesystem::remove_all(dir_);
    OpenWith(std::move(o));
  }
  // A new, empty store with PageEvictionOptions(adaptive).
  void OpenEmptyWithPageEviction(bool adaptive) { OpenEmpty(PageEvictionOptions(adaptive)); }
  // Leading pages of `chain` present (Exists: not a use).
  int Prefix(int chain) {
    auto e = store_->Exists({"ns"}, Keys(chain));
    EXPECT_TRUE(e.ok()) << e.status();
    int n = 0;
    while (e.ok() && n < kChain && (*e)[n]) ++n;
    return n;
  }
  // Chain "long<chain>" of `pages` pages, written in one put (one batch).
  void PutLong(int chain, int pages) {
    std::vector<std::string> data, keys;
    for (int i = 0; i < pages; ++i) {
      data.push_back(Bytes(chain, i));
      keys.push_back("long" + std::to_string(chain) + "p" + std::to_string(i));
    }
    std::vector<PageWrite> w;
    for (int i = 0; i < pages; ++i) w.push_back({keys[i], data[i], util::Crc32c(data[i])});
    auto r = store_->Put({"ns"}, "", w);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Leading pages of `chain` returned byte-exact.
  int Read(int chain) {
    int n = 0;
    auto keys = Keys(chain);
    auto r = store_->Get({"ns"}, keys, 0, [&](size_t i, auto, std::string_view b, auto) {
      EXPECT_EQ(b, Bytes(chain, static_cast<int>(i)));
      ++n;
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.status();
    return n;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(BudgetTest, DiskStaysWithinTheCapacityWhileWritesNeverFail) {
  uint64_t peak = 0;
  for (int c = 0; c < 200; ++c) {  // 100 MiB of pages through a 32 MiB budget
    Put(c);
    auto st = store_->Stats();
    ASSERT_TRUE(st.ok());
    peak = std::max(peak, st->disk_bytes);
  }
  auto st = store_->Stats();
  EXPECT_LE(peak, kCapacity + kCapacity / 10) << "disk passed the budget by more than 10 %";
  EXPECT_GT(st->evicted_generations, 0u);
  EXPECT_LT(st->pages, 200u * kChain);
  EXPECT_GT(st->namespaces[0].counters.evicted_pages, 0u);
  EXPECT_EQ(st->pages + st->namespaces[0].counters.evicted_pages, 200u * kChain);
  // The newest chain is whole; the oldest was evicted, and misses on recent evictions say so.
  EXPECT_EQ(Read(199), kChain);
  EXPECT_EQ(Read(0), 0);
  for (int c = 0; c < 200; ++c) {
    auto e = store_->Exists({"ns"}, Keys(c));
    ASSERT_TRUE(e.ok());
  }
  EXPECT_GT(store_->Stats()->namespaces[0].counters.miss_evicted, 0u);
}

// RocksDB's own LOG files took 14 % of a 33 MiB budget (each new file began with the options of
// every family ever created), and were rewritten on every line. Its log now goes to the daemon's,
// and files left by earlier versions are removed.
TEST_F(BudgetTest, RocksDBLogsToTheDaemonsLogAndKeepsNoLogFiles) {
  store_.reset();
  for (const char* name : {"LOG", "LOG.old.1796281795231276"}) {
    std::FILE* f = std::fopen((std::filesystem::path(dir_) / name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("left by an earlier version\n", f);
    std::fclose(f);
  }
  std::ostringstream out;
  struct Restore {  // the default logger, however the test ends (declared after `out`)
    std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
    ~Restore() { spdlog::set_default_logger(previous); }
  } restore;
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);
  Open(kCapacity);
  ASSERT_NE(store_, nullptr);
  for (int c = 0; c < 100; ++c) Put(c);  // 50 MiB: generations created and dropped
  EXPECT_GT(store_->Stats()->evicted_generations, 0u);
  store_.reset();
  spdlog::set_default_logger(restore.previous);
  Open(kCapacity);
  EXPECT_NE(out.str().find("rocksdb: [db/db_impl/db_impl.cc"), std::string::npos)
      << "RocksDB's lines did not reach spdlog";
  EXPECT_NE(out.str().find("Created column family [gen."), std::string::npos);
  std::vector<std::string> logs;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("LOG")) logs.push_back(name);
  }
  EXPECT_EQ(logs, std::vector<std::string>{});
}

// RocksDB stops counting a memtable's growth once it asks for a flush, and one put's batch is
// never split: an 8 MiB chain in a 1 MiB memtable read as 1 MiB until the next write switched
// it. The budget now counts the bytes not yet in blob files itself.
TEST_F(BudgetTest, AChainBiggerThanTheMemtableIsCountedBeforeItIsFlushed) {
  for (int c = 0; c < 60; ++c) Put(c);  // 30 MiB in 512 KiB chains: the budget nearly full
  PutLong(1, 128);                      // 8 MiB in one batch
  // Past the estimate's 100 ms between scans, so that the next put reads the memtables anew.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  PutLong(2, 96);  // 6 MiB: fits only if the 8 MiB still in memory were missed
  ASSERT_TRUE(store_->Flush().ok());
  auto st = store_->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_LE(st->disk_bytes, kCapacity) << "the 8 MiB chain was not counted until it was flushed";
}

// A generation reopened with pages in its blob files takes more: what its memtables then hold
// is counted from zero, not from what the files held.
TEST_F(BudgetTest, AReopenedGenerationCountsWhatItsMemtablesHold) {
  StoreOptions o;
  o.capacity_bytes = kCapacity;
  o.generation_bytes = 24 << 20;  // the 8 MiB below stay in the reopened generation
  OpenWith(o);
  for (int c = 0; c < 16; ++c) Put(c);  // 8 MiB
  ASSERT_TRUE(store_->Flush().ok());
  OpenWith(o);
  PutLong(1, 128);  // 8 MiB more into the same generation, in one batch
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  PutLong(2, 320);  // 20 MiB: fits beside 16 MiB only if 8 of them were missed
  ASSERT_TRUE(store_->Flush().ok());
  auto st = store_->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_LE(st->disk_bytes, kCapacity);
  EXPECT_EQ(Read(15), 0) << "the reopened generation should have been dropped for the 20 MiB";
}

// The MANIFEST logs every flush and every generation created or dropped, a few hundred bytes
// each, until it reaches max_manifest_bytes (RocksDB's default was 1 GiB) and starts anew.
TEST_F(BudgetTest, TheManifestStartsAnewAtItsLimit) {
  constexpr uint64_t kLimit = 16 << 10;
  store_.reset();
  StoreOptions o;
  o.path = dir_;
  o.capacity_bytes = kCapacity;
  o.max_manifest_bytes = 1000;
  EXPECT_EQ(Store::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.max_manifest_bytes = kLimit;
  OpenWith(o);
  ASSERT_NE(store_, nullptr);
  auto manifest_bytes = [&] {
    uint64_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.path().filename().string().starts_with("MANIFEST-")) bytes += e.file_size();
    }
    return bytes;
  };
  uint64_t peak = 0;
  for (int c = 0; c < 300; ++c) {  // 150 MiB: ~150 flushes, ~37 generations created and dropped
    Put(c);
    peak = std::max(peak, manifest_bytes());
  }
  // Measured 16.5 KB; 64.3 KB without the limit, growing with every MiB put. Up to
  // twice the limit: the old file may still be there when the new one has its first records.
  EXPECT_LE(peak, 2 * kLimit) << "the MANIFEST was not started anew";
  EXPECT_EQ(Read(299), kChain);
  // And a store reopened from a new MANIFEST has its pages.
  Open(kCapacity);
  EXPECT_EQ(Read(299), kChain);
}

TEST_F(BudgetTest, PagesReadFromTheOldestGenerationSurviveItsDrop) {
  Put(0);  // the chain an engine keeps reading
  Put(1);  // written once, never read
  for (int c = 2; c < 200; ++c) {
    Put(c);
    if (c % 10 == 0) {
      ASSERT_EQ(Read(0), kChain) << "after chain " << c;
    }
  }
  EXPECT_EQ(Read(0), kChain);
  EXPECT_EQ(Read(1), 0);
  auto st = store_->Stats();
  EXPECT_GT(st->namespaces[0].counters.promoted_pages, 0u);
  EXPECT_GT(st->promoted_bytes, 0u);
  // The counts kept in memory agree with the index rebuilt at the next open.
  Open(kCapacity);
  auto reopened = store_->Stats();
  EXPECT_EQ(reopened->pages, st->pages);
  EXPECT_EQ(reopened->bytes, st->bytes);
  EXPECT_EQ(Read(0), kChain);
}

// Eviction::kPages: single pages go, least recently used first, and their blocks are freed in
// place; a chain read all along stays where it was written, nothing is copied, and the disk
// stays within the budget.
// A flush writes its blob file while its pages still count as unflushed: counted in the
// directory as well, they read twice, and a put evicted as many pages again for them (8 MiB
// of a 512 MiB budget at every sixth flush of the fill replay). Here a flush is held after
// writing its blob file, before installing it, while the cache is full: a one-page put must
// evict about a page, not the flush's 17.
TEST_F(BudgetTest, AFlushInProgressIsNotCountedTwice) {
  absl::Mutex mu;
  bool armed = false, held = false, release = false;
  StoreOptions o = PageEvictionOptions(/*adaptive=*/false);
  o.write_buffer_size = uint64_t{1} << 20;
  o.testing_blob_file_written = [&] {
    absl::MutexLock l(&mu);
    if (!armed) return;
    held = true;
    mu.Await(absl::Condition(&release));
  };
  OpenEmpty(o);
  for (int c = 0; c < 80; ++c) Put(c);  // 40 MiB through 32 MiB: full, evicting
  ASSERT_TRUE(store_->Flush().ok());
  auto evicted = [&] { return store_->Stats()->namespaces[0].counters.evicted_pages; };
  {
    absl::MutexLock l(&mu);
    armed = true;
  }
  PutLong(1, 17);  // past a memtable: the next write switches it and its flush starts
  PutLong(2, 1);
  {
    absl::MutexLock l(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&held), absl::Seconds(30)))
        << "no flush wrote a blob file";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the disk is scanned again
  const uint64_t before = evicted();
  PutLong(3, 1);
  const uint64_t after = evicted();
  {
    absl::MutexLock l(&mu);
    armed = false;
    release = true;
  }
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_LE(after - before, 2u) << "a one-page put evicted " << after - before << " pages";
  EXPECT_LE(store_->Stats()->disk_bytes, kCapacity + kCapacity / 10);
}

// A blob file no generation lists is left out of the budget only up to the bytes flushes can
// be writing; one beyond (a failed flush's leftover) takes its room from the pages.
TEST_F(BudgetTest, ABlobFileNoFlushCanBeWritingIsCounted) {
  OpenEmptyWithPageEviction(/*adaptive=*/false);
  for (int c = 0; c < 80; ++c) Put(c);  // 40 MiB through 32 MiB: full, evicting
  ASSERT_TRUE(store_->Flush().ok());
  {
    std::ofstream leftover(dir_ + "/999999.blob");
    leftover << std::string(4 << 20, 'x');
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the disk is scanned again
  const uint64_t before = store_->Stats()->namespaces[0].counters.evicted_pages;
  Put(80);
  const uint64_t after = store_->Stats()->namespaces[0].counters.evicted_pages;
  EXPECT_GE(after - before, (4u << 20) / kPage) << "the leftover was not counted";
  std::filesystem::remove(dir_ + "/999999.blob");
}

TEST_F(BudgetTest, PageEvictionKeepsWhatIsReadWithoutCopiesAndStaysWithinTheBudget) {
  StoreOptions o;
  o.capacity_bytes = kCapacity;
  o.eviction = StoreOptions::Eviction::kPages;
  OpenWith(o);
  uint64_t peak = 0;
  Put(0);  // the chain an engine keeps reading
  Put(1);  // written once, never read
  for (int c = 2; c < 200; ++c) {  // 100 MiB through 32 MiB
    Put(c);
    if (c % 10 == 0) {
      ASSERT_EQ(Read(0), kChain) << "after chain " << c;
    }
    peak = std::max(peak, store_->Stats()->disk_bytes);
  }
  EXPECT_LE(peak, kCapacity + kCapacity / 10) << "disk passed the budget by more than 10 %";
  EXPECT_EQ(Read(0), kChain);
  EXPECT_EQ(Read(1), 0);
  EXPECT_EQ(Read(199), kChain);
  auto st = store_->Stats();
  const auto& c = st->namespaces[0].counters;
  EXPECT_EQ(c.promoted_pages, 0u);
  EXPECT_EQ(st->promoted_bytes, 0u);
  EXPECT_GT(c.evicted_pages, 0u);
  EXPECT_EQ(st->pages + c.evicted_pages, 200u * kChain);
  EXPECT_GT(st->reclaimed_records, 0u);
  EXPECT_GT(st->evicted_generations, 0u) << "generations left without live pages stay";
  // The key index forgets pages evicted alone once they are an eighth of it, even while the
  // oldest generation stays (chain 0 lives there).
  EXPECT_LT(st->key_index_entries, 200u * kChain);
  // A miss on a page evicted recently (not swept yet) says so. A sweep of the key index follows
  // an eighth of it evicted (~8 chains here), so of two more chains' evictions, one is seen.
  for (int ch = 200; ch < 202 && store_->Stats()->namespaces[0].counters.miss_evicted == 0; ++ch) {
    Put(ch);
    for (int k = 2; k <= ch; ++k) ASSERT_TRUE(store_->Exists({"ns"}, Keys(k)).ok());
  }
  int explained = 0;
  for (int ch = 2; ch < 200; ++ch) {
    auto why = store_->Explain({"ns"}, Keys(ch));
    ASSERT_TRUE(why.ok()) << why.status();
    explained += (*why)[0].state == PageState::State::kEvicted;
  }
  EXPECT_GT(explained, 0);
  EXPECT_GT(store_->Stats()->namespaces[0].counters.miss_evicted, 0u);
  // Exists agrees with Get, and the counts with the index rebuilt at the next open.
  auto agree = [&](const char* when) {
    for (int ch = 0; ch < 200; ++ch) {
      auto e = store_->Exists({"ns"}, Keys(ch));
      ASSERT_TRUE(e.ok());
      int prefix = 0;
      while (prefix < kChain && (*e)[prefix]) ++prefix;
      ASSERT_EQ(prefix, Read(ch)) << "chain " << ch << " " << when;
    }
  };
  agree("before a reopen");
  st = store_->Stats();
  OpenWith(o);
  auto reopened = store_->Stats();
  EXPECT_EQ(reopened->pages, st->pages);
  EXPECT_EQ(reopened->bytes, st->bytes);
  EXPECT_EQ(Read(0), kChain);
  // Eviction goes on from the queue rebuilt at open. When pages were last used is not known
  // across a restart, so eviction starts again at the oldest generations: a chain read since
  // keeps its place.
  for (int ch = 200; ch < 260; ++ch) {
    Put(ch);
    ASSERT_EQ(Read(0), kChain) << "after chain " << ch;
    peak = std::max(peak, store_->Stats()->disk_bytes);
  }
  EXPECT_LE(peak, kCapacity + kCapacity / 10);
  EXPECT_GT(store_->Stats()->namespaces[0].counters.evicted_pages, 0u);  // since the open
  agree("after a reopen");
}

// Eviction::kPages goes by last use, not by age: of chains written in order, one read again
// outlives those written after it; and a chain loses its deepest pages first, so that what is
// left of it is still a usable prefix. Exists (which does not count as a use) watches.
TEST_F(BudgetTest, PageEvictionGoesLeastRecentlyUsedFirstAndTakesAChainFromItsEnd) {
  const StoreOptions o = PageEvictionOptions(/*adaptive=*/false);  // the order of plain LRU
  OpenWith(o);
  // 48 chains of 512 KiB: 24 MiB, within the 32 MiB budget; nothing evicted yet.
  constexpr int kFirst = 48;
  for (int c = 0; c < kFirst; ++c) Put(c);
  ASSERT_EQ(store_->Stats()->namespaces[0].counters.evicted_pages, 0u);
  ASSERT_EQ(Read(0), kChain);  // the oldest chain, used again: now the most recent
  // Then one page at a time (chains of one page each, "long<c>p0"), until chain 1 is gone.
  bool partial = false;
  int next = 1000;
  while (Prefix(1) > 0) {
    ASSERT_LT(next, 1400) << "chain 1 never evicted";
    const int before = Prefix(1);
    PutLong(next++, 1);
    const int after = Prefix(1);
    ASSERT_LE(after, before);
    if (after > 0 && after < kChain) partial = true;  // its end went, its prefix stayed
    // One put may evict more than its page (the disk estimate learns of RocksDB's own files at
    // its next scan): once chain 1 is gone, chain 2 is next.
    if (after > 0) {
      ASSERT_EQ(Prefix(2), kChain) << "chain 2 went while chain 1, less recently used, stayed";
    }
    ASSERT_EQ(Prefix(0), kChain) << "chain 0, read after chain 1 was written, went first";
  }
  EXPECT_TRUE(partial) << "chain 1 went root first: its stored pages were stranded";
  EXPECT_EQ(Read(0), kChain);
  EXPECT_GT(store_->Stats()->namespaces[0].counters.evicted_pages, 0u);
}

// A clean close saves the LRU order (eviction_order.h); the next open evicts in that order, not
// oldest generation first. 48 chains fill 24 MiB of the 32 MiB budget (6 generations of 4 MiB),
// chain 0 (in the oldest) is read, the store closes and opens again, and single pages are
// written until chain 16 (a later generation) starts to go: chain 0, used last, must be whole.
// Without the file (a crash with no save), or with one of another DB, the open takes the oldest
// generation first and chain 0 is gone by then. A file saved before the last writes (an unclean
// stop after a periodic save) still keeps chain 0, and queues what was written since as the
// most recent: chain 48, and chain 1, deleted and written again (the file lists it as it was,
// among the least recent). With the journal on, a crash after a save made before chain 0 was
// read loses that read, and one after the read was synced to the journal keeps it.
class EvictionOrderTest : public BudgetTest {
 protected:
  enum class Restart {
    kClean,
    kFileRemoved,
    kFileStale,
    kFileOfAnotherDb,
    kCrashAfterSave,
    kCrashAfterSync
  };
  std::string File() const { return (std::filesystem::path(dir_) / "EVICTION-ORDER").string(); }
  std::string Journal() const { return File() + ".journal"; }
  // The order's files copied aside as they are now (what a crash now would leave), and put
  // back over those a clean close wrote since.
  void KeepOrderFiles() {
    for (const std::string& f : {File(), Journal()}) {
      ASSERT_TRUE(std::filesystem::exists(f)) << f;
      std::filesystem::copy_file(f, f + ".kept",
                                 std::filesystem::copy_options::overwrite_existing);
    }
  }
  void PutBackOrderFiles() {
    for (const std::string& f : {File(), Journal()}) std::filesystem::rename(f + ".kept", f);
  }
  // What a crash leaves: the order's files as they are now, put back after a clean close
  // (which saves them again).
  void CloseAsIfCrashed() {
    KeepOrderFiles();
    store_.reset();
    PutBackOrderFiles();
  }
  // Pages of chains 0, 48 and 1 (both written after the save with kFileStale) left when chain
  // 16 starts to go.
  struct Left {
    int zero, newer, rewritten;
  };
  Left ChainsLeft(Restart restart) {
    StoreOptions o = PageEvictionOptions(/*adaptive=*/false);
    const bool crash = restart == Restart::kCrashAfterSave || restart == Restart::kCrashAfterSync;
    // The journal on, with syncs only when the test says (SyncEvictionOrder).
    if (crash) o.eviction_order_interval = absl::Hours(1);
    OpenEmpty(o);
    const std::string file = File();
    for (int c = 0; c < 48; ++c) Put(c);
    if (crash) EXPECT_TRUE(store_->SaveEvictionOrder().ok());
    EXPECT_EQ(Read(0), kChain);
    if (restart == Restart::kCrashAfterSync) EXPECT_TRUE(store_->SyncEvictionOrder().ok());
    if (crash) {
      CloseAsIfCrashed();
    } else {
      store_.reset();  // a clean close saves the order
    }
    EXPECT_TRUE(std::filesystem::exists(file));
    if (restart == Restart::kFileRemoved) std::filesystem::remove(file);
    if (restart == Restart::kFileOfAnotherDb) {
      auto order = ReadEvictionOrder(file);
      EXPECT_TRUE(order.ok()) << order.status();
      if (order.ok()) {
        order->db_identity[0] = order->db_identity[0] == 'x' ? 'y' : 'x';
        EXPECT_TRUE(WriteEvictionOrder(file, *order).ok());
      }
    }
    if (restart == Restart::kFileStale) {
      std::filesystem::copy_file(file, file + ".old");
      OpenWith(o);
      Put(48);  // the store moves on; its next close saves another order
      EXPECT_EQ(*store_->Delete({"ns"}, Keys(1)), uint32_t(kChain));
      Put(1);
      store_.reset();
      std::filesystem::rename(file + ".old", file);  // and the old one is put back
    }
    OpenWith(o);
    EXPECT_EQ(std::filesystem::exists(file), restart != Restart::kFileRemoved)
        << "the order read stays until the next save";
    EXPECT_EQ(store_->Stats()->namespaces[0].counters.evicted_pages, 0u);
    for (int next = 1000; Prefix(16) == kChain; ++next) {
      if (next >= 1400) {
        ADD_FAILURE() << "chain 16 never evicted";
        break;
      }
      PutLong(next, 1);
    }
    return {Prefix(0), Prefix(48), Prefix(1)};
  }
};

TEST_F(EvictionOrderTest, ACleanRestartKeepsTheLruOrder) {
  EXPECT_EQ(ChainsLeft(Restart::kClean).zero, kChain);
}

TEST_F(EvictionOrderTest, WithoutTheFileTheOldestGenerationGoesFirst) {
  EXPECT_EQ(ChainsLeft(Restart::kFileRemoved).zero, 0);
}

TEST_F(EvictionOrderTest, ACrashLosesTheUsesAfterTheLastSyncOnly) {
  EXPECT_EQ(ChainsLeft(Restart::kCrashAfterSave).zero, 0) << "a read never synced was kept?";
  EXPECT_EQ(ChainsLeft(Restart::kCrashAfterSync).zero, kChain) << "the journal was not replayed";
}

TEST_F(EvictionOrderTest, AFileOfAnotherDbIsNotUsed) {
  EXPECT_EQ(ChainsLeft(Restart::kFileOfAnotherDb).zero, 0);
}

TEST_F(EvictionOrderTest, AFileSavedBeforeTheLastWritesKeepsItsOrderAndTheNewPagesAsNewest) {
  const Left left = ChainsLeft(Restart::kFileStale);
  EXPECT_EQ(left.zero, kChain) << "the pages the file lists lost their order";
  EXPECT_EQ(left.newer, kChain) << "a page written after the save went before older ones";
  EXPECT_EQ(left.rewritten, kChain) << "a page written again after the save kept its old place";
}

// With eviction_order_interval the first sync saves the whole order (no journal yet), later
// ones append the uses since to the journal, and none writes when no page was used; an open
// replays the journal on top of the save. The syncs run on their own clock (every 20 ms), so
// the test waits for states, not for moments: the first save may come after any of the puts
// (the test once assumed it came after the read, and failed under a loaded ctest -j 2).
TEST_F(EvictionOrderTest, PeriodicSyncsJournalTheUsesAndOnlyThem) {
  StoreOptions o = PageEvictionOptions(/*adaptive=*/false);
  o.eviction_order_interval = absl::Milliseconds(20);
  OpenEmpty(o);
  for (int c = 0; c < 4; ++c) Put(c);
  EXPECT_EQ(Read(0), kChain);
  const auto deadline = absl::Now() + absl::Seconds(20);
  while (!(std::filesystem::exists(File()) && std::filesystem::exists(Journal())) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(std::filesystem::exists(File())) << "no save in 20 s";
  ASSERT_TRUE(std::filesystem::exists(Journal())) << "a save began no journal";
  // Once the uses above are synced, nothing more is written while no page is used: the files
  // settle (unchanged over 300 ms, 15 intervals), and stay so.
  auto sizes = [&] {
    return std::pair(std::filesystem::file_size(File()), std::filesystem::file_size(Journal()));
  };
  auto settled = sizes();
  for (auto since = absl::Now(); absl::Now() - since < absl::Milliseconds(300);) {
    ASSERT_LT(absl::Now(), deadline) << "the order files never stopped changing";
    absl::SleepFor(absl::Milliseconds(10));
    if (sizes() != settled) settled = sizes(), since = absl::Now();
  }
  auto saved = ReadEvictionOrder(File());
  ASSERT_TRUE(saved.ok()) << saved.status();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(sizes(), settled) << "synced with no page used";
  // A use goes to the journal, not to a new save.
  EXPECT_EQ(Read(2), kChain);
  while (sizes().second == settled.second && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GT(sizes().second, settled.second) << "no sync after a use";
  auto after = ReadEvictionOrder(File());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->lru.size(), saved->lru.size());
  EXPECT_EQ(after->nonce, saved->nonce) << "saved again instead of journaled";
  // After a crash the open replays the save and its journal: saved again at once, chain 2 is
  // the most recent, chain 0 (read before it) next, each queued deepest first.
  CloseAsIfCrashed();
  OpenWith(o);
  ASSERT_TRUE(store_->SaveEvictionOrder().ok());
  auto order = ReadEvictionOrder(File());
  ASSERT_TRUE(order.ok()) << order.status();
  ASSERT_EQ(order->lru.size(), 4u * kChain);
  EXPECT_EQ(order->lru.back().hash, HashKey(Keys(2)[0]));
  EXPECT_EQ(order->lru[3 * kChain - 1].hash, HashKey(Keys(0)[0]));
}

// The journal brings back everything the order was at the last sync: with adaptive insertion
// and probation chosen (the workload of AdaptiveInsertionEvictsPagesNeverReadFirst below), a
// full save at step 120, 40 steps synced to its journal, then a crash: the store opened again
// holds the same queues, the same unread pages, the pages evicted (unread and read: both of
// probation's ghosts), and the same LRU shadow (the bimodal shadow draws random numbers, not
// replayed alike; probation's target moves as a put's pages reach the ghosts, which the
// replay does once their uses come, after the evictions the put made room with, so it may
// differ by a little).
TEST_F(EvictionOrderTest, AJournalReplayedAfterACrashRestoresTheOrderAsSynced) {
  StoreOptions o = PageEvictionOptions(/*adaptive=*/true);
  o.eviction_order_interval = absl::Hours(1);  // syncs only when the test says
  OpenEmpty(o);
  auto request = [&](int c) {
    EXPECT_TRUE(store_->Exists({"ns"}, Keys(c)).ok());
    if (Read(c) < kChain) Put(c);
  };
  for (int s = 0; s < 160; ++s) {
    if (s == 120) ASSERT_TRUE(store_->SaveEvictionOrder().ok());
    request(s);
    if (s >= 1) request(s - 1);
    if (s >= 24) request(s - 24);
    for (int t = 0; t < 2; ++t) request(100000 + 2 * s + t);
  }
  ASSERT_TRUE(store_->SyncEvictionOrder().ok());
  ASSERT_TRUE(store_->Stats()->probation_insertion);
  const auto journal_bytes = std::filesystem::file_size(Journal());
  EXPECT_GT(journal_bytes, 1000u) << "40 steps were not journaled";
  KeepOrderFiles();  // what a crash now would leave
  ASSERT_TRUE(store_->SaveEvictionOrder().ok());  // the truth, as it is now
  auto truth = ReadEvictionOrder(File());
  ASSERT_TRUE(truth.ok()) << truth.status();
  const uint64_t unread = store_->Stats()->unread_pages;
  EXPECT_GT(unread, 0u);
  EXPECT_FALSE(truth->probation.unread_ghost.empty())
      << "no page evicted unread: the test shows nothing";
  store_.reset();  // the close saves again; the files of the sync come back
  PutBackOrderFiles();
  OpenWith(o);
  EXPECT_EQ(store_->Stats()->unread_pages, unread);
  ASSERT_TRUE(store_->SaveEvictionOrder().ok());
  auto restored = ReadEvictionOrder(File());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->lru, truth->lru);
  EXPECT_EQ(restored->unread, truth->unread);
  const auto& ghost = restored->probation.unread_ghost;
  for (uint64_t g : truth->probation.unread_ghost) {  // trimmed at the next eviction
    EXPECT_NE(std::find(ghost.begin(), ghost.end(), g), ghost.end());
  }
  EXPECT_FALSE(truth->probation.read_ghost.empty())
      << "no page evicted after a read: the test shows nothing of that ghost";
  const auto& read_ghost = restored->probation.read_ghost;
  for (uint64_t g : truth->probation.read_ghost) {
    EXPECT_NE(std::find(read_ghost.begin(), read_ghost.end(), g), read_ghost.end());
  }
  EXPECT_GE(restored->probation.target, 0) << "the target was not restored";
  EXPECT_EQ(restored->duel.lru, truth->duel.lru);
  EXPECT_EQ(restored->duel.lru_score, truth->duel.lru_score);
  EXPECT_EQ(restored->duel.capacity, truth->duel.capacity);
}

// Syncs and saves every few milliseconds while two threads read and write past the budget
// (queues compacted, pages evicted meanwhile): nothing deadlocks, every save lists most pages,
// and a crash at the end restores a queue entry for every page the store holds. (A save during
// a compaction, which would list only the entries queued meanwhile, is too rare here to be
// caught: removing the wait for it passed three runs.)
TEST_F(EvictionOrderTest, SyncsRacingReadsWritesAndEvictionKeepEveryPageQueued) {
  StoreOptions o = PageEvictionOptions(/*adaptive=*/true);
  o.eviction_order_interval = absl::Milliseconds(1);
  OpenEmpty(o);
  std::atomic<bool> stop{false};
  auto work = [&](int first) {
    for (int c = first; !stop; c += 2) {
      Put(c % 200);
      Read((c * 7) % 200);
    }
  };
  std::thread a(work, 0), b(work, 1);
  int partial = 0;
  for (int i = 0; i < 100; ++i) {  // explicit saves too, racing the thread's syncs
    absl::SleepFor(absl::Milliseconds(5));
    const uint64_t pages = store_->Stats()->pages;
    ASSERT_TRUE(store_->SaveEvictionOrder().ok());
    auto order = ReadEvictionOrder(File());
    ASSERT_TRUE(order.ok()) << order.status();
    // Pages come and go meanwhile, but a whole queue lists most of them.
    if (order->lru.size() < pages / 2) ++partial;
  }
  EXPECT_EQ(partial, 0) << "saves listed under half the pages";
  stop = true;
  a.join();
  b.join();
  const auto st = store_->Stats();
  EXPECT_GT(st->namespaces[0].counters.evicted_pages, 0u) << "nothing evicted: no race shown";
  ASSERT_TRUE(store_->SyncEvictionOrder().ok());
  CloseAsIfCrashed();
  o.eviction_order_interval = absl::ZeroDuration();
  OpenWith(o);
  ASSERT_TRUE(store_->SaveEvictionOrder().ok());
  auto order = ReadEvictionOrder(File());
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->lru.size(), store_->Stats()->pages) << "a page without its queue entry";
}

// Adaptive insertion's unread pages stay unread across a clean restart, and its shadows are saved.
TEST_F(EvictionOrderTest, UnreadPagesStayUnreadAndTheDuelIsSaved) {
  OpenEmptyWithPageEviction(/*adaptive=*/true);
  for (int c = 0; c < 10; ++c) Put(c);
  EXPECT_EQ(Read(3), kChain);
  const uint64_t unread = store_->Stats()->unread_pages;
  EXPECT_EQ(unread, 9u * kChain);
  const StoreOptions o = PageEvictionOptions(/*adaptive=*/true);
  store_.reset();
  // The close saved the queues and what the duel's shadows hold (a sample of the pages).
  auto saved = ReadEvictionOrder((std::filesystem::path(dir_) / "EVICTION-ORDER").string());
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->lru.size(), 10u * kChain);
  EXPECT_EQ(saved->unread.size(), unread);
  EXPECT_FALSE(saved->duel.lru.empty());
  EXPECT_EQ(saved->duel.lru.size(), saved->duel.bimodal.size());  // unbounded, until full
  EXPECT_LT(saved->probation.target, 0) << "nothing evicted yet: no target";
  OpenWith(o);
  EXPECT_EQ(store_->Stats()->unread_pages, unread);
  EXPECT_EQ(Read(5), kChain);
  EXPECT_EQ(store_->Stats()->unread_pages, unread - kChain);
}

// Page records (entries less deletions) in the SSTs of the generation families under `dir`,
// read with the store closed.
uint64_t GenerationSstRecords(const std::string& dir) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& n : names) families.push_back({n, rocksdb::ColumnFamilyOptions()});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, families, &handles, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return 0;
  uint64_t records = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    if (ParseGenerationFamilyName(names[i])) {
      rocksdb::ColumnFamilyMetaData meta;
      db->GetColumnFamilyMetaData(handles[i], &meta);
      records += SstRecords(meta);
    }
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(handles[i]).ok());
  }
  delete db;
  return records;
}

// Pages evicted alone leave their generations' SSTs too once a generation is written into no
// more and a quarter dead (dead_records.h): a generation kept alive by one chain still read
// held every record written into it until it was dropped. Live pages stay byte-exact, also
// after a reopen, which learns only the records left.
TEST_F(BudgetTest, EvictedPagesLeaveTheGenerationsSsts) {
  StoreOptions o = PageEvictionOptions(/*adaptive=*/false);
  o.generation_bytes = 4 << 20;  // 8 chains a generation
  OpenEmpty(o);
  constexpr int kChains = 160;   // 80 MiB through 32 MiB
  for (int c = 0; c < kChains; ++c) {
    Put(c);
    for (int r = 0; r <= c; r += 8) ASSERT_EQ(Read(r), kChain) << "chain " << r << " at " << c;
  }
  // The compactions run on the store's thread: wait until they stop.
  uint64_t compactions = 0;
  for (int quiet = 0, i = 0; quiet < 5 && i < 300; ++i) {
    const uint64_t now = store_->Stats()->record_compactions;
    quiet = now == compactions ? quiet + 1 : 0;
    compactions = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto st = store_->Stats();
  EXPECT_GT(st->record_compactions, 0u);
  EXPECT_GT(st->dead_records_dropped, 0u);
  EXPECT_GT(st->generations, 15u) << "every generation keeps a chain read";
  const uint64_t live = st->pages;
  store_.reset();
  const uint64_t records = GenerationSstRecords(dir_);
  std::printf("%lu page records in the generations' SSTs for %lu live pages of %d written; "
              "%lu dropped by %lu compactions\n",
              static_cast<unsigned long>(records), static_cast<unsigned long>(live),
              kChains * kChain, static_cast<unsigned long>(st->dead_records_dropped),
              static_cast<unsigned long>(st->record_compactions));
  // Without it: a record for every page written into the live generations, nearly all.
  EXPECT_LT(records, uint64_t(kChains * kChain) / 2);
  EXPECT_GE(records + 64, live) << "live pages lost their records?";  // the newest's memtable
  OpenWith(o);
  EXPECT_EQ(store_->Stats()->pages, live);
  for (int r = 0; r < kChains; r += 8) EXPECT_EQ(Read(r), kChain) << "chain " << r;
  EXPECT_EQ(Read(kChains - 1), kChain);
}

// A cycle of chains twice the budget, each looked up (Exists), read and written again when
// missed, as serving engines do (the LMCache multi-turn shape): plain LRU evicts every page just before it is asked again and serves
// nothing; with adaptive insertion the shadows see it, puts queue their pages at the front, and
// the chains admitted stay across the cycle.
TEST_F(BudgetTest, AdaptiveInsertionKeepsPartOfACycleLongerThanTheCache) {
  constexpr int kCycle = 128;  // 64 MiB of chains through 32 MiB
  auto replay = [&](bool adaptive) {
    OpenEmptyWithPageEviction(adaptive);
    int served = 0;
    for (int round = 0; round < 5; ++round) {
      for (int c = 0; c < kCycle; ++c) {
        EXPECT_TRUE(store_->Exists({"ns"}, Keys(c)).ok());
        const int n = Read(c);
        if (round >= 3) served += n;
        if (n < kChain) Put(c);
      }
    }
    const auto st = store_->Stats();
    EXPECT_EQ(st->bimodal_insertion, adaptive);
    EXPECT_EQ(st->bimodal_puts > 0, adaptive);
    EXPECT_LE(st->disk_bytes, kCapacity * 11 / 10);
    return served;
  };
  const int lru = replay(false);
  const int adaptive = replay(true);
  std::printf("pages served in the last two rounds of %d: LRU %d, adaptive %d\n",
              2 * kCycle * kChain, lru, adaptive);
  EXPECT_LE(lru, kCycle * kChain / 20) << "plain LRU kept a cycle twice its size?";
  EXPECT_GE(adaptive, 2 * kCycle * kChain / 8) << "adaptive insertion kept too little";
  EXPECT_GT(adaptive, 4 * lru);
}

// Each step writes a new chain and two chains no one asks for again (unique prompt tails, the
// Mooncake trace), and asks for the chain written a step before and the one written 24 steps
// before, as a serving engine does (Exists, Get, Put of what was missed). 24 steps of writes
// are 36 MiB, more than the 32 MiB budget: LRU loses the old chain to the tails every time.
// With adaptive insertion the hand takes pages never read first (probation), and the chains
// read once stay.
TEST_F(BudgetTest, AdaptiveInsertionEvictsPagesNeverReadFirst) {
  auto replay = [&](bool adaptive) {
    OpenEmptyWithPageEviction(adaptive);
    auto request = [&](int c) {
      EXPECT_TRUE(store_->Exists({"ns"}, Keys(c)).ok());
      const int n = Read(c);
      if (n < kChain) Put(c);
      return n;
    };
    int served = 0, asked = 0;
    for (int s = 0; s < 160; ++s) {
      request(s);
      if (s >= 1) request(s - 1);
      if (s >= 24) {
        const int n = request(s - 24);
        if (s >= 100) served += n, asked += kChain;
      }
      for (int t = 0; t < 2; ++t) request(100000 + 2 * s + t);
    }
    const auto st = store_->Stats();
    EXPECT_FALSE(st->bimodal_insertion);
    EXPECT_EQ(st->probation_insertion, adaptive);
    EXPECT_EQ(st->probation_puts > 0, adaptive);
    EXPECT_EQ(st->unread_pages > 0, adaptive);
    // What probation adapts from: pages evicted unread (the tails), remembered; the target
    // stays within the cache.
    EXPECT_EQ(st->ghost_unread_pages > 0, adaptive);
    EXPECT_LE(st->probation_target_pages, st->pages);
    EXPECT_LE(st->disk_bytes, kCapacity * 11 / 10);
    std::printf("%s: %d of %d pages of chains 24 steps old served (probation target %llu of "
                "%llu pages; ghosts %llu unread, %llu read)\n",
                adaptive ? "adaptive" : "LRU", served, asked,
                (unsigned long long)st->probation_target_pages, (unsigned long long)st->pages,
                (unsigned long long)st->ghost_unread_pages,
                (unsigned long long)st->ghost_read_pages);
    return double(served) / asked;
  };
  const double lru = replay(false);
  const double adaptive = replay(true);
  EXPECT_LE(lru, 0.05) << "LRU kept chains 24 steps old?";
  EXPECT_GE(adaptive, 0.5) << "probation kept too little";
}

// A client gets a chain's prefix and puts the rest: the pages after the first missing one may
// be stored already. The put uses them too, so the room it makes for its new pages does not
// come from them (it used to: evicted, then written again as missing, a wasted device write
// for each, and room made for them from other pages).
TEST_F(BudgetTest, APutDoesNotEvictItsOwnChainsStoredPages) {
  const StoreOptions o = PageEvictionOptions(/*adaptive=*/false);
  OpenWith(o);
  constexpr int kLong = 40;  // 2.5 MiB: a put of its tail makes room for 2.3 MiB
  std::vector<std::string> keys, data;
  for (int i = 0; i < kLong; ++i) {
    keys.push_back(testing::ChainKeys(9999, kLong)[i]);
    data.push_back(Bytes(9999, i));
  }
  auto put_from = [&](int from) -> uint32_t {
    std::vector<PageWrite> w;
    for (int i = from; i < kLong; ++i) w.push_back({keys[i], data[i], util::Crc32c(data[i])});
    auto r = store_->Put({"ns"}, from == 0 ? "" : keys[from - 1], w);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->written : 0;
  };
  put_from(0);
  for (int round = 0; round < 150; ++round) {  // 75 MiB of other chains: evicting from round ~55
    ASSERT_TRUE(store_->Delete({"ns"}, std::vector<std::string>{keys[3]}).ok());
    auto got = store_->Get({"ns"}, keys, 0, [](size_t, auto, std::string_view, auto) { return true; });
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->returned, 3u);
    ASSERT_EQ(put_from(3), 1u) << "round " << round << ": pages of the chain written again";
    auto e = store_->Exists({"ns"}, keys);
    ASSERT_TRUE(e.ok());
    ASSERT_EQ(std::count(e->begin(), e->end(), true), kLong)
        << "round " << round << ": the chain is not whole after its put";
    Put(100 + round);
  }
  EXPECT_GT(store_->Stats()->namespaces[0].counters.evicted_pages, 0u);
}

// A namespace with a quota makes room for its puts from its own pages: another namespace's
// pages, older and never read, stay; the quota holds across a reopen and can be removed.
TEST_F(BudgetTest, NamespaceQuotaEvictsTheNamespacesOwnPagesFirst) {
  StoreOptions o;
  o.capacity_bytes = kCapacity;
  o.eviction = StoreOptions::Eviction::kPages;
  OpenWith(o);  // "ns": no quota
  constexpr uint64_t kQuota = 8 << 20;  // a quarter of the budget
  auto opened = store_->OpenNamespace("q", Fp(), {.quota_bytes = kQuota});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->info.quota_bytes, kQuota);
  for (int c = 0; c < 16; ++c) Put(c);  // 8 MiB in "ns", written first, never read again
  uint64_t most = 0;
  for (int c = 100; c < 160; ++c) {  // 30 MiB into "q": within the budget, four times its quota
    PutIn("q", c);
    most = std::max(most, BytesOf("q"));
  }
  // Up to a memtable's worth of unflushed pages may be over it for a while.
  EXPECT_LE(most, kQuota + (2u << 20)) << "the quota did not hold";
  EXPECT_EQ(BytesOf("ns"), 16u * kChain * kPage) << "\"ns\" lost pages to \"q\"'s puts";
  for (int c = 0; c < 16; ++c) ASSERT_EQ(Read(c), kChain);
  // Persisted: a reopen keeps it; 0 removes it.
  OpenWith(o);
  opened = store_->OpenNamespace("q", Fp());
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->info.quota_bytes, kQuota);
  opened = store_->OpenNamespace("q", Fp(), {.quota_bytes = 0});
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->info.quota_bytes, 0u);
  // A put larger than a quota is refused as such.
  ASSERT_TRUE(store_->OpenNamespace("tiny", Fp(), {.quota_bytes = kPage}).ok());
  std::vector<std::string> data = {Bytes(7, 0), Bytes(7, 1)};
  auto keys = Keys(7);
  auto r = store_->Put({"tiny"}, "", std::vector<PageWrite>{{keys[0], data[0], util::Crc32c(data[0])},
                                                           {keys[1], data[1], util::Crc32c(data[1])}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
}

// A namespace's pages that its quota pass had to leave (not in blob files yet, so the namespace
// went past its quota) go at a later pass once flushed, and the quota holds again; the other
// namespace loses nothing. (Fails if a pass skips the pages an earlier one left: a per-namespace
// start position tried at stop 26 and not kept, when placed after them.)
TEST_F(BudgetTest, AQuotaTakesThePagesAPassLeftOnceTheyAreFlushed) {
  OpenWith(PageEvictionOptions(/*adaptive=*/false));
  // One chain: the chain a put wrote last is still in a memtable when the next put's pass
  // runs, and is left in place.
  constexpr uint64_t kQuota = kChain * kPage;
  ASSERT_TRUE(store_->OpenNamespace("q", Fp(), {.quota_bytes = kQuota}).ok());
  for (int c = 0; c < 16; ++c) Put(c);  // 8 MiB of "ns" ahead of "q" in the queue
  uint64_t most_flushed = 0;
  for (int c = 100; c < 140; ++c) {  // 20 MiB into "q", forty times its quota
    PutIn("q", c);
    if (c % 3 == 0) {  // a pass met unflushed pages of "q" and left them; now they can go
      ASSERT_TRUE(store_->Flush().ok());
      PutIn("q", 1000 + c);
      most_flushed = std::max(most_flushed, BytesOf("q"));
    }
  }
  // Over the quota by at most the pages not flushed since: the last put's chain.
  EXPECT_LE(most_flushed, 2 * kQuota) << "pages a pass left were never taken";
  EXPECT_EQ(BytesOf("ns"), 16u * kChain * kPage) << "\"ns\" lost pages to \"q\"'s puts";
  for (int c = 0; c < 16; ++c) ASSERT_EQ(Read(c), kChain);
}

// With generations, a namespace's pages cannot go alone: a quota is refused.
TEST_F(BudgetTest, NamespaceQuotaNeedsPageEviction) {
  auto r = store_->OpenNamespace("q", Fp(), {.quota_bytes = 1 << 20});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
}


// Expired pages go before live ones when a put needs room. "t"'s pages, read after "ns"'s were
// written, are the most recently used when they expire: in LRU order the hand would take the
// live pages of "ns" first. Their space reclaimed counts as expired, not evicted, and misses on
// them (and Explain) say expired.
TEST_F(BudgetTest, ExpiredPagesGoFirstWhenAPutNeedsRoom) {
  OpenWith(PageEvictionOptions(/*adaptive=*/false));  // "ns": no TTL
  ASSERT_TRUE(store_->OpenNamespace("t", Fp(), {.ttl_seconds = 3, .quota_bytes = {}}).ok());
  // Few pages of "t" against the whole index, so that the key index keeps their entries (it
  // sweeps those of pages freed alone once they are an eighth of it) for the misses below.
  for (int c = 0; c < 48; ++c) Put(c);  // 24 MiB of "ns", never read
  for (int c = 100; c < 106; ++c) PutIn("t", c);  // 3 MiB of "t", then read
  for (int c = 100; c < 106; ++c) {
    int n = 0;
    auto r = store_->Get({"t"}, Keys(c), 0, [&](size_t, auto, std::string_view, auto) {
      ++n;
      return true;
    });
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(n, kChain) << "chain " << c << " of \"t\" before its TTL";
  }
  ASSERT_TRUE(store_->Flush().ok());  // in blob files: freed in place once expired
  // created_unix has a second's resolution: a page is past 3 s between 2 and 3 s after its put
  // (the reads above came well within the first), and surely after 4.
  absl::SleepFor(absl::Milliseconds(4100));
  for (int c = 48; c < 58; ++c) Put(c);  // 5 MiB more: 32 MiB of pages in a 32 MiB budget
  for (int c = 0; c < 58; ++c) EXPECT_EQ(Read(c), kChain) << "chain " << c << " of \"ns\"";
  auto counters = [&](std::string_view name) {
    auto st = store_->Stats();
    EXPECT_TRUE(st.ok());
    for (const auto& n : st->namespaces) {
      if (n.info.name == name) return n.counters;
    }
    ADD_FAILURE() << "no namespace " << name;
    return NamespaceCounters{};
  };
  NamespaceCounters t = counters("t");
  EXPECT_GT(t.expired_pages, 0u);
  EXPECT_EQ(t.expired_bytes, t.expired_pages * kPage);
  EXPECT_EQ(t.evicted_pages, 0u);
  EXPECT_EQ(t.pages + t.expired_pages, 6u * kChain);
  EXPECT_EQ(counters("ns").evicted_pages, 0u);
  // A miss on a page reclaimed so is expired, not evicted.
  const uint64_t expired_before = t.miss_expired;
  int served = 0;
  auto r = store_->Get({"t"}, Keys(100), 0, [&](size_t, auto, std::string_view, auto) {
    ++served;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(served, 0);
  t = counters("t");
  EXPECT_EQ(t.miss_expired, expired_before + kChain);
  EXPECT_EQ(t.miss_evicted, 0u);
  auto why = store_->Explain({"t"}, Keys(100));
  ASSERT_TRUE(why.ok()) << why.status();
  for (const PageState& p : *why) EXPECT_EQ(p.state, PageState::State::kExpired);
}
// Every read queues its pages again in the LRU queue; a store read far more than it evicts
// must not grow the queue without bound: stale entries go once they are half of it.
TEST_F(BudgetTest, PageEvictionQueueStaysBoundedWhenReadsFarOutnumberEvictions) {
  const StoreOptions o = PageEvictionOptions(/*adaptive=*/false);  // the order of plain LRU
  OpenWith(o);
  constexpr int kChains = 16;
  for (int c = 0; c < kChains; ++c) Put(c);
  auto st = store_->Stats();
  ASSERT_EQ(st->lru_entries, uint64_t{kChains * kChain}) << "one entry a page written";
  uint64_t most = 0;
  for (int round = 0; round < 40; ++round) {  // 5,120 pages read, no eviction
    for (int c = 0; c < kChains; ++c) ASSERT_EQ(Read(c), kChain);
    most = std::max(most, store_->Stats()->lru_entries);
  }
  st = store_->Stats();
  EXPECT_EQ(st->namespaces[0].counters.evicted_pages, 0u);
  EXPECT_LE(most, 2 * st->key_index_entries + 1024 + kChain) << "stale entries piled up";
  EXPECT_GE(st->lru_entries, uint64_t{kChains * kChain}) << "a live page lost its entry";
  // The order survived the compactions: chain 0, read last in every round, is read again
  // now, so the least recently used is chain 1.
  ASSERT_EQ(Read(0), kChain);
  for (int c = 100; c < 160 && store_->Exists({"ns"}, Keys(1))->at(0); ++c) {
    Put(c);
    ASSERT_EQ(store_->Exists({"ns"}, Keys(0))->at(0), true) << "chain 0 went before chain 1";
  }
  EXPECT_FALSE(store_->Exists({"ns"}, Keys(1))->at(0));
}

// With a copy budget of 0, nothing is copied forward: the chain read all along is evicted.
TEST_F(BudgetTest, WithoutACopyBudgetReadPagesAreNotCopiedForward) {
  Open(kCapacity, /*promote_budget=*/0);
  Put(0);
  for (int c = 1; c < 200; ++c) {
    Put(c);
    if (c % 10 == 0) Read(0);  // read as in the test above, but nothing may be copied
  }
  auto st = store_->Stats();
  EXPECT_EQ(st->promoted_bytes, 0u);
  EXPECT_EQ(st->namespaces[0].counters.promoted_pages, 0u);
  EXPECT_GT(st->promotions_declined, 0u);
  EXPECT_EQ(Read(0), 0) << "chain 0 survived 100 MiB of puts through 32 MiB uncopied";
}

// Reads that want more copies than the budget allows: the copies stay within it (uncapped, the
// same reads copied 9 MiB against a bound of 6.3 MiB).
TEST_F(BudgetTest, CopiesForwardStayWithinTheirShareOfTheAcceptedBytes) {
  constexpr double kBudget = 0.02;
  Open(kCapacity, kBudget);
  uint64_t put_bytes = 0;
  for (int c = 0; c < 200; ++c) {
    Put(c);
    put_bytes += kChain * kPage;
    // Read a band of old chains after every put: more wants copying than the budget allows.
    for (int old = std::max(0, c - 62); old < std::max(0, c - 50); ++old) Read(old);
  }
  auto st = store_->Stats();
  EXPECT_GT(st->promoted_bytes, 0u);
  EXPECT_GT(st->promotions_declined, 0u);
  EXPECT_DOUBLE_EQ(st->promote_budget, kBudget);
  // The credit starts at 0, grows by kBudget per accepted byte and never passes one generation.
  EXPECT_LE(st->promoted_bytes, kBudget * put_bytes + st->generation_bytes)
      << "put " << put_bytes << " bytes, generations of " << st->generation_bytes;
}


// Misses on pages evicted alone stay explained after the key index forgets them (it sweeps
// their entries once they are an eighth of it): adaptive insertion's ghosts remember about the
// last cache's worth of evictions, so Exists, Get and Explain call such a miss evicted, and say
// whether the page went unread (probation's choice) or after a read; a page evicted longer ago
// than that is "not stored", as before.
TEST_F(BudgetTest, MissesOnPagesEvictedLatelyAreExplainedAfterTheIndexForgetsThem) {
  OpenEmptyWithPageEviction(/*adaptive=*/true);
  constexpr int kChains = 160;  // 80 MiB through 32 MiB: the cache holds about 60 chains
  auto read_once = [](int c) { return c % 4 == 0; };  // read right after their put
  for (int c = 0; c < kChains; ++c) {
    Put(c);
    if (read_once(c)) ASSERT_EQ(Read(c), kChain);
  }
  int first_held = 0;  // of the chains never read
  while (first_held < kChains && (read_once(first_held) || Prefix(first_held) == 0)) ++first_held;
  ASSERT_GT(first_held, 40) << "too little was evicted";
  auto counters = [&] { return store_->Stats()->namespaces[0].counters; };
  auto explain = [&](int c) {
    auto why = store_->Explain({"ns"}, Keys(c));
    EXPECT_TRUE(why.ok()) << why.status();
    return why.ok() ? *why : std::vector<PageState>(kChain);
  };
  // A chain never read, evicted 160 pages of evictions or so before the first one held: within
  // the ghosts (as many as the cache holds, ~480), past two sweeps of the index (one each ~60
  // pages evicted).
  int lately = first_held - 20;
  if (read_once(lately)) --lately;
  NamespaceCounters before = counters();
  ASSERT_EQ(Prefix(lately), 0);
  NamespaceCounters after = counters();
  EXPECT_EQ(after.miss_evicted - before.miss_evicted, uint64_t{kChain}) << "Exists";
  EXPECT_EQ(after.miss_evicted_unread - before.miss_evicted_unread, uint64_t{kChain});
  before = after;
  EXPECT_EQ(Read(lately), 0);
  after = counters();
  EXPECT_EQ(after.miss_evicted - before.miss_evicted, uint64_t{kChain}) << "Get";
  EXPECT_EQ(after.miss_evicted_unread - before.miss_evicted_unread, uint64_t{kChain});
  EXPECT_EQ(after.miss_not_stored, before.miss_not_stored);
  for (const PageState& p : explain(lately)) {
    EXPECT_EQ(p.state, PageState::State::kEvicted);
    EXPECT_EQ(p.evicted_by, PageState::Eviction::kUnread);
  }
  // The last chain read that went: least recently used after its read.
  int read_gone = kChains - 1;
  while (read_gone >= 0 && !(read_once(read_gone) && Prefix(read_gone) == 0)) --read_gone;
  ASSERT_GE(read_gone, 0) << "no chain that was read went";
  before = counters();
  EXPECT_EQ(Read(read_gone), 0);
  after = counters();
  EXPECT_EQ(after.miss_evicted - before.miss_evicted, uint64_t{kChain});
  EXPECT_EQ(after.miss_evicted_unread, before.miss_evicted_unread);
  for (const PageState& p : explain(read_gone)) {
    EXPECT_EQ(p.state, PageState::State::kEvicted);
    EXPECT_EQ(p.evicted_by, PageState::Eviction::kRead);
  }
  // Chain 1 went about twice the cache's worth of evictions ago: forgotten.
  before = counters();
  EXPECT_EQ(Read(1), 0);
  after = counters();
  EXPECT_EQ(after.miss_not_stored - before.miss_not_stored, uint64_t{kChain});
  EXPECT_EQ(explain(1)[0].state, PageState::State::kNotStored);
}

// A chain continued in a later put outlives its parent's generation: its pages are stored but
// stranded, and CountStranded says so.
TEST_F(BudgetTest, PagesBehindAnEvictedParentAreCountedStranded) {
  Put(0);
  for (int c = 1; c < 20; ++c) Put(c);  // chain 0's generation is now an old one
  std::vector<std::string> data, keys;
  for (int i = 0; i < 4; ++i) {
    data.push_back(Bytes(1000, i));
    keys.push_back("x" + std::to_string(i));
  }
  std::vector<PageWrite> w;
  for (int i = 0; i < 4; ++i) w.push_back({keys[i], data[i], util::Crc32c(data[i])});
  ASSERT_TRUE(store_->Put({"ns"}, Keys(0).back(), w).ok());
  int c = 20;
  while (store_->Exists({"ns"}, Keys(0)).value()[0]) {
    ASSERT_LT(c, 400) << "chain 0 was never evicted";
    Put(c++);
  }
  ASSERT_TRUE(store_->Exists({"ns"}, keys).value()[0]) << "the continuation went with it";
  auto r = store_->CountStranded();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].stranded_pages, 4u);
  EXPECT_EQ((*r)[0].stranded_bytes, 4 * kPage);
  EXPECT_EQ((*r)[0].pages, store_->Stats()->pages);
}

// Exists answers from the key index in memory, Get from the index family: through eviction
// (and the key index's sweeps), promotion, deletes and a reopen, both name the same pages.
TEST_F(BudgetTest, ExistsAgreesWithGetThroughEvictionPromotionDeletesAndReopen) {
  auto check = [&](int chains, const char* when) {
    int present = 0;
    for (int c = 0; c < chains; ++c) {
      auto e = store_->Exists({"ns"}, Keys(c));
      ASSERT_TRUE(e.ok()) << e.status();
      int prefix = 0;
      while (prefix < kChain && (*e)[prefix]) ++prefix;
      // A get promotes pages it reads from old generations, which changes nothing Exists says.
      ASSERT_EQ(prefix, Read(c)) << "chain " << c << " " << when;
      present += prefix;
    }
    EXPECT_GT(present, 0) << when;
  };
  for (int c = 0; c < 150; ++c) {  // 75 MiB through 32 MiB: sweeps the key index
    Put(c);
    if (c % 25 == 24) Read(c - 20);  // some reads, so that some pages are promoted
  }
  check(150, "after eviction");
  auto keys = Keys(149);
  ASSERT_TRUE(store_->Delete({"ns"}, std::span<const std::string>(keys).subspan(4)).ok());
  auto e = store_->Exists({"ns"}, keys);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(std::count(e->begin(), e->end(), true), 4) << "deleted pages still exist";
  check(150, "after a delete");
  Open(kCapacity);
  check(150, "after a reopen");
  ASSERT_TRUE(store_->DeleteNamespace({"ns"}).ok());
  ASSERT_TRUE(store_->OpenNamespace("ns", Fp()).ok());
  e = store_->Exists({"ns"}, Keys(149));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(std::count(e->begin(), e->end(), true), 0) << "pages of a deleted namespace exist";
}

// What an IndexObserver hears, kept as the daemon's presence tables keep it: enough to answer
// Exists like the store.
class MirrorObserver : public IndexObserver {
 public:
  void Set(uint32_t ns, const uint8_t* hash, uint32_t generation, uint32_t created,
           uint32_t) override {
    absl::MutexLock l(&mu_);
    pages_[{ns, std::string(reinterpret_cast<const char*>(hash), 16)}] = {generation, created};
  }
  void Erase(uint32_t ns, const uint8_t* hash) override {
    absl::MutexLock l(&mu_);
    pages_.erase({ns, std::string(reinterpret_cast<const char*>(hash), 16)});
  }
  void EraseNamespace(uint32_t ns) override {
    absl::MutexLock l(&mu_);
    std::erase_if(pages_, [&](const auto& kv) { return kv.first.first == ns; });
  }
  void OldestLive(uint64_t generation) override {
    absl::MutexLock l(&mu_);
    EXPECT_GE(generation, oldest_) << "the eviction horizon went back";
    oldest_ = generation;
  }
  void Ttl(uint32_t ns, uint64_t ttl) override {
    absl::MutexLock l(&mu_);
    ttl_[ns] = ttl;
  }
  void Clear() {
    absl::MutexLock l(&mu_);
    pages_.clear();
    ttl_.clear();
    oldest_ = 0;
  }
  std::vector<bool> Exists(uint32_t ns, const std::vector<std::string>& keys, uint64_t now) {
    absl::MutexLock l(&mu_);
    std::vector<bool> out;
    for (const auto& k : keys) {
      const KeyHash h = HashKey(k);
      auto it = pages_.find({ns, std::string(reinterpret_cast<const char*>(h.data()), 16)});
      const uint64_t ttl = ttl_.count(ns) ? ttl_[ns] : 0;
      out.push_back(it != pages_.end() && it->second.first >= oldest_ &&
                    (ttl == 0 || it->second.second + ttl > now));
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::map<std::pair<uint32_t, std::string>, std::pair<uint32_t, uint32_t>> pages_;
  std::map<uint32_t, uint64_t> ttl_;
  uint64_t oldest_ = 0;
};

TEST_F(BudgetTest, AnIndexObserverHearsEnoughToAnswerExistsLikeTheStore) {
  MirrorObserver mirror;
  StoreOptions o;
  o.capacity_bytes = kCapacity;
  o.index_observer = &mirror;
  OpenWith(o);
  auto agree = [&](int chains, const char* when, bool some_present = true) {
    auto ns = store_->LookupNamespace({"ns"});
    ASSERT_TRUE(ns.ok());
    const uint64_t now = static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now()));
    int present = 0;
    for (int c = 0; c < chains; ++c) {
      auto e = store_->Exists({"ns"}, Keys(c));
      ASSERT_TRUE(e.ok()) << e.status();
      ASSERT_EQ(mirror.Exists(ns->id, Keys(c), now), *e) << "chain " << c << " " << when;
      present += static_cast<int>(std::count(e->begin(), e->end(), true));
    }
    EXPECT_EQ(present > 0, some_present) << when;
  };
  for (int c = 0; c < 150; ++c) {  // 75 MiB through 32 MiB, with promotions
    Put(c);
    if (c % 25 == 24) Read(c - 20);
  }
  agree(150, "after eviction");
  auto keys = Keys(149);
  ASSERT_TRUE(store_->Delete({"ns"}, std::span<const std::string>(keys).subspan(4)).ok());
  agree(150, "after a delete");
  mirror.Clear();
  OpenWith(o);  // the observer hears the index loaded
  agree(150, "after a reopen");
  ASSERT_TRUE(store_->OpenNamespace("ns", Fp(), {.ttl_seconds = 1}).ok());
  absl::SleepFor(absl::Milliseconds(2100));  // every page is past the TTL
  agree(150, "with a TTL", /*some_present=*/false);
  ASSERT_TRUE(store_->OpenNamespace("ns", Fp(), {.ttl_seconds = 0}).ok());
  agree(150, "without the TTL again");
  ASSERT_TRUE(store_->DeleteNamespace({"ns"}).ok());
  ASSERT_TRUE(store_->OpenNamespace("ns", Fp()).ok());
  Put(0);
  agree(1, "after the namespace was deleted and made again");
}

// The key index under concurrency: writers, a deleter and readers at once, with eviction and
// promotion running. Whatever a get serves is byte-exact, Exists never names a page no put
// wrote, and once all stop, Exists and Get name the same pages for every chain.
TEST_F(BudgetTest, ExistsStaysTrueToTheIndexUnderConcurrentPutsDeletesAndEviction) {
  constexpr int kChains = 120;  // 60 MiB through 32 MiB
  std::atomic<int> next{0};
  std::atomic<bool> done{false};
  auto writer = [&] {
    for (int c; (c = next.fetch_add(1)) < kChains;) Put(c);
  };
  auto deleter = [&] {
    std::mt19937 rng(7);
    while (!done.load()) {
      const int upto = next.load();
      if (upto > 4) {
        auto keys = Keys(int(rng() % (upto - 1)));
        auto d = store_->Delete({"ns"}, std::span<const std::string>(keys).subspan(rng() % kChain));
        EXPECT_TRUE(d.ok()) << d.status();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  };
  auto reader = [&](int seed) {
    std::mt19937 rng(seed);
    while (!done.load()) {
      // Half the time a chain being written now (a get racing its put), else any, or one of
      // 20 chains never written.
      const int c =
          rng() % 2 ? std::max(0, next.load() - int(rng() % 3)) : int(rng() % (kChains + 20));
      auto e = store_->Exists({"ns"}, Keys(c));
      ASSERT_TRUE(e.ok()) << e.status();
      if (c >= kChains) {
        EXPECT_EQ(std::count(e->begin(), e->end(), true), 0) << "chain " << c << " never written";
      }
      Read(c);  // checks every byte it gets
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(writer);
  threads.emplace_back(writer);
  threads.emplace_back(deleter);
  threads.emplace_back(reader, 1);
  threads.emplace_back(reader, 2);
  threads[0].join();
  threads[1].join();
  done.store(true);
  for (size_t i = 2; i < threads.size(); ++i) threads[i].join();
  int present = 0;
  for (int c = 0; c < kChains; ++c) {
    auto e = store_->Exists({"ns"}, Keys(c));
    ASSERT_TRUE(e.ok());
    int prefix = 0;
    while (prefix < kChain && (*e)[prefix]) ++prefix;
    ASSERT_EQ(prefix, Read(c)) << "chain " << c;
    present += prefix;
  }
  EXPECT_GT(present, 0);
  EXPECT_GT(store_->Stats()->evicted_generations, 0u);
}

TEST_F(BudgetTest, ReopenKeepsCountsAndAShrunkCapacityEvictsAtOnce) {
  for (int c = 0; c < 100; ++c) Put(c);
  auto before = store_->Stats();
  ASSERT_TRUE(before.ok());
  Open(kCapacity);
  auto after = store_->Stats();
  EXPECT_EQ(after->pages, before->pages);
  EXPECT_EQ(after->bytes, before->bytes);
  EXPECT_EQ(after->generations, before->generations);
  EXPECT_EQ(Read(0), 0);  // evicted before the restart, still absent after it
  EXPECT_EQ(Read(99), kChain);
  Open(16 << 20);
  auto shrunk = store_->Stats();
  EXPECT_LT(shrunk->pages, after->pages);
  EXPECT_LE(shrunk->disk_bytes, (16u << 20) + (16u << 20) / 10);
  EXPECT_EQ(Read(99), kChain);  // the newest survive
}

TEST_F(BudgetTest, EvictionDoesNotMultiplyDiskWrites) {
  auto io0 = util::ReadProcessStats();
  ASSERT_TRUE(io0.ok());
  for (int c = 0; c < 200; ++c) Put(c);
  ASSERT_TRUE(store_->Flush().ok());
  auto io1 = util::ReadProcessStats();
  ASSERT_TRUE(io1.ok());
  double written = double((io1->write_bytes - io1->cancelled_write_bytes) -
                          (io0->write_bytes - io0->cancelled_write_bytes));
  if (written == 0) GTEST_SKIP() << "this file system does not count writes (tmpfs?)";
  double accepted = 200.0 * kChain * kPage;
  std::printf("write amplification under continuous eviction: %.3f\n", written / accepted);
  // Dropping generations rewrites nothing; deleting keys with blob GC measured 1.63 here.
  EXPECT_LE(written / accepted, 1.2) << "write amplification " << written / accepted;
}

}  // namespace
}  // namespace prefixd::storage
