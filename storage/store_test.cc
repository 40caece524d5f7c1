#include "storage/store.h"

#include <filesystem>
#include <functional>
#include <random>
#include <thread>
#include <utility>

#include "gtest/gtest.h"
#include "storage/test_files.h"
#include "storage/test_pages.h"
#include "util/crc32c.h"

namespace prefixd::storage {
using util::Crc32c;
namespace {

constexpr uint64_t kPageBytes = 4096;

Fingerprint TestFingerprint() {
  return Fingerprint{"llama", "rev1", "bfloat16", "layer_first", 16, kPageBytes, 0, 1,
                     "client"};
}

std::string PageBytes(int seed) {
  std::mt19937_64 rng(seed);
  std::string s(kPageBytes, '\0');
  for (auto& c : s) c = char(rng());
  return s;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen(uint64_t memory_cache_bytes = 0) {
    store_.reset();
    StoreOptions o;
    o.path = dir_.string();
    o.memory_cache_bytes = memory_cache_bytes;
    o.read_group_bytes = 3 * kPageBytes;  // several MultiGet groups per Get
    o.testing_after_get_snapshot = [this] {
      if (auto f = std::exchange(after_snapshot_, nullptr)) f();  // once
    };
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  // Writes pages keyed "<prefix>0".."<prefix>n-1" with contents PageBytes(seed + i).
  void PutChain(const std::string& prefix, int n, int seed) {
    std::vector<std::string> data;
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) {
      data.push_back(PageBytes(seed + i));
      keys.push_back(prefix + std::to_string(i));
    }
    std::vector<PageWrite> pages;
    for (int i = 0; i < n; ++i) pages.push_back({keys[i], data[i], Crc32c(data[i])});
    auto r = store_->Put({"ns"}, "", pages);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  std::vector<std::string> Keys(const std::string& prefix, int n) {
    std::vector<std::string> k;
    for (int i = 0; i < n; ++i) k.push_back(prefix + std::to_string(i));
    return k;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  std::function<void()> after_snapshot_;  // run once inside the next Get, after its snapshot
};

TEST_F(StoreTest, OpenNamespaceCreatesThenChecksFingerprint) {
  auto a = store_->OpenNamespace("ns", TestFingerprint());
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->created);
  auto b = store_->OpenNamespace("ns", TestFingerprint());
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->created);
  EXPECT_EQ(a->info.id, b->info.id);
  Fingerprint fp8 = TestFingerprint();
  fp8.dtype = "fp8_e4m3";
  auto c = store_->OpenNamespace("ns", fp8);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("dtype"), std::string_view::npos) << c.status();
  EXPECT_EQ(store_->OpenNamespace("bad name!", TestFingerprint()).status().code(),
            absl::StatusCode::kInvalidArgument);
  Reopen();
  EXPECT_EQ(store_->OpenNamespace("ns", fp8).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreTest, PutExistsGetRoundTripAcrossReopen) {
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  PutChain("k", 10, 1);
  auto keys = Keys("k", 12);
  auto ex = store_->Exists({"ns"}, keys);
  ASSERT_TRUE(ex.ok());
  for (int i = 0; i < 12; ++i) EXPECT_EQ((*ex)[i], i < 10) << i;
  Reopen();
  int seen = 0;
  auto g = store_->Get({"ns"}, keys, 0, [&](size_t i, std::string_view k, std::string_view b,
                                            uint32_t crc) {
    EXPECT_EQ(i, size_t(seen));
    EXPECT_EQ(k, keys[i]);
    EXPECT_EQ(b, PageBytes(1 + int(i)));
    EXPECT_EQ(crc, Crc32c(b));
    ++seen;
    return true;
  });
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->returned, 10u);
  EXPECT_EQ(g->stop, GetResult::Stop::kAbsent);
  EXPECT_EQ(seen, 10);
  auto stats = store_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pages, 10u);
  EXPECT_EQ(stats->bytes, 10 * kPageBytes);
  EXPECT_GT(stats->disk_bytes, 10 * kPageBytes);
}

TEST_F(StoreTest, PutIsIdempotentAndChecksEverythingBeforeWriting) {
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  PutChain("k", 3, 1);
  std::string d = PageBytes(1);
  PageWrite same{"k0", d, Crc32c(d)};
  auto again = store_->Put({"ns"}, "", std::span(&same, 1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->written, 0u);
  EXPECT_EQ(again->existing, 1u);

  std::string good = PageBytes(9), short_page(100, 'x');
  std::vector<PageWrite> wrong_size = {{"n0", good, Crc32c(good)},
                                       {"n1", short_page, Crc32c(short_page)}};
  EXPECT_EQ(store_->Put({"ns"}, "", wrong_size).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<PageWrite> bad_crc = {{"n0", good, Crc32c(good)}, {"n1", good, Crc32c(good) ^ 1}};
  EXPECT_EQ(store_->Put({"ns"}, "", bad_crc).status().code(), absl::StatusCode::kDataLoss);
  std::vector<PageWrite> long_key = {{std::string(65, 'a'), good, Crc32c(good)}};
  EXPECT_EQ(store_->Put({"ns"}, "", long_key).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing of the refused batches was written.
  std::vector<std::string> n = {"n0"};
  EXPECT_FALSE((*store_->Exists({"ns"}, n))[0]);
  EXPECT_EQ(store_->Stats()->pages, 3u);
}

TEST_F(StoreTest, UnknownAndStaleNamespacesAreRefused) {
  auto keys = Keys("k", 1);
  EXPECT_EQ(store_->Exists({"nope"}, keys).status().code(), absl::StatusCode::kNotFound);
  auto a = store_->OpenNamespace("ns", TestFingerprint());
  ASSERT_TRUE(a.ok());
  PutChain("k", 2, 1);
  auto del = store_->DeleteNamespace({"ns", a->info.id});
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(*del, 2u);
  auto b = store_->OpenNamespace("ns", TestFingerprint());
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->info.id, b->info.id);
  EXPECT_EQ(store_->Exists({"ns", a->info.id}, keys).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The recreated namespace does not see the old pages, even after a reopen.
  Reopen();
  EXPECT_FALSE((*store_->Exists({"ns", b->info.id}, keys))[0]);
  EXPECT_EQ(store_->Stats()->pages, 0u);
}

TEST_F(StoreTest, ChainContinuedFromParentAndDelete) {
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  PutChain("k", 2, 1);
  std::string d = PageBytes(3);
  PageWrite next{"k2", d, Crc32c(d)};
  ASSERT_TRUE(store_->Put({"ns"}, "k1", std::span(&next, 1)).ok());
  auto keys = Keys("k", 3);
  auto g = store_->Get({"ns"}, keys, 2, [](size_t, auto, auto, auto) { return true; });
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->returned, 2u);
  EXPECT_EQ(g->stop, GetResult::Stop::kLimit);
  std::vector<std::string> mid = {"k1"};
  EXPECT_EQ(*store_->Delete({"ns"}, mid), 1u);
  g = store_->Get({"ns"}, keys, 0, [](size_t, auto, auto, auto) { return true; });
  EXPECT_EQ(g->returned, 1u);
  EXPECT_EQ(g->stop, GetResult::Stop::kAbsent);
  EXPECT_EQ(store_->Stats()->pages, 2u);
  std::vector<std::string> empty;
  EXPECT_EQ(store_->Exists({"ns"}, empty).status().code(), absl::StatusCode::kInvalidArgument);
}

// Returned pages, concatenated, with the number returned.
std::pair<std::string, uint32_t> ReadAll(Store& s, std::span<const std::string> keys) {
  std::string out;
  auto g = s.Get({"ns"}, keys, 0, [&](size_t, auto, std::string_view b, auto) {
    out.append(b);
    return true;
  });
  EXPECT_TRUE(g.ok()) << g.status();
  return {out, g.ok() ? g->returned : 0};
}

TEST_F(StoreTest, EveryGetMissHasOneCause) {
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  PutChain("k", 5, 1);
  std::vector<std::string> k1 = {"k1"};
  ASSERT_EQ(*store_->Delete({"ns"}, k1), 1u);
  auto keys = Keys("k", 5);
  keys.push_back("never");
  auto g = store_->Get({"ns"}, keys, 0, [](size_t, auto, auto, auto) { return true; });
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->returned, 1u);
  const auto c = store_->Stats()->namespaces[0].counters;
  EXPECT_EQ(c.misses, 5u);
  EXPECT_EQ(c.miss_not_stored, 2u);  // k1 (deleted) and "never"
  EXPECT_EQ(c.miss_stranded, 3u);    // k2..k4, stored behind k1
  EXPECT_EQ(c.miss_evicted + c.miss_corrupt, 0u);
  EXPECT_EQ(c.misses, c.miss_not_stored + c.miss_stranded + c.miss_evicted + c.miss_corrupt);
  // A different fingerprint is refused and counted.
  Fingerprint other = TestFingerprint();
  other.dtype = "fp8";
  EXPECT_EQ(store_->OpenNamespace("ns", other).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Stats()->namespaces[0].counters.refused_opens, 1u);
}

TEST_F(StoreTest, ExistsAnsweredOutsideTheStoreAreCountedLikeItsOwn) {
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  PutChain("k", 2, 1);
  auto keys = Keys("k", 3);
  ASSERT_TRUE(store_->Exists({"ns"}, keys).ok());  // 3 asked, 2 present
  ASSERT_TRUE(store_->CountOutsideExists({"ns"}, 10, 6, 3).ok());
  EXPECT_EQ(store_->CountOutsideExists({"ns"}, 10, 8, 3).code(),
            absl::StatusCode::kInvalidArgument);  // 11 of 10: counts nothing
  EXPECT_EQ(store_->CountOutsideExists({"other"}, 1, 1, 0).code(), absl::StatusCode::kNotFound);
  const auto c = store_->Stats()->namespaces[0].counters;
  EXPECT_EQ(c.exists_queries, 13u);
  EXPECT_EQ(c.exists_hits, 8u);
  EXPECT_EQ(c.miss_expired, 3u);
}

TEST_F(StoreTest, CountStrandedFollowsParentsAcrossPuts) {
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  ASSERT_TRUE(store_->OpenNamespace("empty", TestFingerprint()).ok());
  PutChain("a", 5, 1);  // a0..a4 in one put
  PutChain("b", 2, 10);  // b0 b1, then b2 b3 continued from b1 in a second put
  std::string d2 = PageBytes(12), d3 = PageBytes(13);
  PageWrite more[2] = {{"b2", d2, Crc32c(d2)}, {"b3", d3, Crc32c(d3)}};
  ASSERT_TRUE(store_->Put({"ns"}, "b1", more).ok());
  PutChain("c", 3, 20);
  auto count = [&](const std::string& ns) {
    auto r = store_->CountStranded();
    EXPECT_TRUE(r.ok()) << r.status();
    for (const auto& c : *r) {
      if (c.ns_name == ns) return c;
    }
    ADD_FAILURE() << "no count for " << ns;
    return StrandedCount{};
  };
  StrandedCount c = count("ns");
  EXPECT_EQ(c.pages, 12u);
  EXPECT_EQ(c.stranded_pages, 0u);
  EXPECT_EQ(c.parent_unknown, 0u);
  EXPECT_EQ(count("empty").pages, 0u);

  std::vector<std::string> gone = {"a1", "b1"};
  ASSERT_EQ(*store_->Delete({"ns"}, gone), 2u);
  c = count("ns");
  EXPECT_EQ(c.pages, 10u);
  EXPECT_EQ(c.stranded_pages, 5u);  // a2 a3 a4 behind a1; b2 b3 behind b1, across puts
  EXPECT_EQ(c.stranded_bytes, 5 * kPageBytes);
  // The count agrees with what gets serve.
  EXPECT_EQ(ReadAll(*store_, Keys("a", 5)).second, 1u);
  EXPECT_EQ(ReadAll(*store_, Keys("b", 4)).second, 1u);

  // a1 written again: a2..a4 are reachable again.
  std::string d1 = PageBytes(2);
  PageWrite a1{"a1", d1, Crc32c(d1)};
  ASSERT_TRUE(store_->Put({"ns"}, "a0", std::span(&a1, 1)).ok());
  c = count("ns");
  EXPECT_EQ(c.pages, 11u);
  EXPECT_EQ(c.stranded_pages, 2u);
  EXPECT_EQ(ReadAll(*store_, Keys("a", 5)).second, 5u);
  // And after a reopen (the parents are in the index records).
  Reopen();
  EXPECT_EQ(count("ns").stranded_pages, 2u);
}

// Client keys need not be prefix hashes: parents that form a cycle must not hang the count.
TEST_F(StoreTest, CountStrandedSurvivesACycleOfParents) {
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  std::string dx = PageBytes(1), dy = PageBytes(2);
  PageWrite x{"x", dx, Crc32c(dx)}, y{"y", dy, Crc32c(dy)};
  ASSERT_TRUE(store_->Put({"ns"}, "y", std::span(&x, 1)).ok());  // x's parent is y (absent)
  ASSERT_TRUE(store_->Put({"ns"}, "x", std::span(&y, 1)).ok());  // y's parent is x
  auto r = store_->CountStranded();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].pages, 2u);
  EXPECT_EQ((*r)[0].stranded_pages, 0u);  // documented: a cycle counts as reachable
}

TEST_F(StoreTest, PagesPastTheTtlAreNotServedAndAreWrittenAgain) {
  auto opened = store_->OpenNamespace("ns", TestFingerprint(), {.ttl_seconds = 1});
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->info.ttl_seconds, 1u);
  PutChain("k", 3, 1);
  auto keys = Keys("k", 3);
  EXPECT_EQ(*store_->Exists({"ns"}, keys), (std::vector<bool>{true, true, true}));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(*store_->Exists({"ns"}, keys), (std::vector<bool>{false, false, false}));
  auto states = store_->Explain({"ns"}, keys);
  ASSERT_TRUE(states.ok());
  EXPECT_EQ((*states)[0].state, PageState::State::kExpired);
  auto g = store_->Get({"ns"}, keys, 0, [](size_t, auto, auto, auto) { return true; });
  EXPECT_EQ(g->returned, 0u);
  auto c = store_->Stats()->namespaces[0].counters;
  EXPECT_EQ(c.miss_expired, 3u + 3u);  // exists, then get
  EXPECT_EQ(c.misses, 3u);
  // Written again: served, and counted once.
  PutChain("k", 3, 1);
  EXPECT_EQ(*store_->Exists({"ns"}, keys), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(store_->Stats()->pages, 3u);
  // The TTL survives a restart; 0 removes it (then the old pages would be served again).
  Reopen();
  auto again = store_->OpenNamespace("ns", TestFingerprint());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->info.ttl_seconds, 1u);
  auto cleared = store_->OpenNamespace("ns", TestFingerprint(), {.ttl_seconds = 0});
  EXPECT_EQ(cleared->info.ttl_seconds, 0u);
  Reopen();
  EXPECT_EQ(store_->LookupNamespace({"ns"})->ttl_seconds, 0u);
}

TEST_F(StoreTest, MemoryCacheServesTheSameBytesAndNeverAStaleWrite) {
  Reopen(64 << 20);
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  PutChain("k", 6, 10);
  auto keys = Keys("k", 6);
  std::string want;
  for (int i = 0; i < 6; ++i) want += PageBytes(10 + i);
  auto s = store_->Stats();
  EXPECT_EQ(s->memory_cache_bytes, 6 * PageBytes(0).size());  // kept when written
  auto first = ReadAll(*store_, keys);  // from memory
  EXPECT_EQ(first.first, want);
  EXPECT_EQ(store_->Stats()->memory_cache_hits, 6u);
  EXPECT_EQ(store_->Stats()->memory_cache_misses, 0u);
  Reopen(64 << 20);  // an empty cache: read from disk, and kept
  EXPECT_EQ(ReadAll(*store_, keys).first, want);
  EXPECT_EQ(store_->Stats()->memory_cache_misses, 6u);
  auto second = ReadAll(*store_, keys);
  EXPECT_EQ(second.first, want);
  EXPECT_EQ(store_->Stats()->memory_cache_hits, 6u);
  // Deleted, then written again with other bytes: the cached write is never served.
  std::vector<std::string> k2 = {"k2"};
  ASSERT_EQ(*store_->Delete({"ns"}, k2), 1u);
  EXPECT_EQ(ReadAll(*store_, keys).second, 2u);
  std::string other = PageBytes(99);
  PageWrite w{"k2", other, Crc32c(other)};
  ASSERT_TRUE(store_->Put({"ns"}, "k1", std::span(&w, 1)).ok());
  auto third = ReadAll(*store_, keys);
  EXPECT_EQ(third.second, 6u);
  EXPECT_EQ(third.first.substr(2 * other.size(), other.size()), other);
}

// A get reads its records from the key index and its pages at a snapshot taken just before;
// a write landing in between makes them disagree, and the get must then trust the index
// family at its snapshot: never a page it cannot verify, never a false "corrupt".
TEST_F(StoreTest, AGetRacingAPutOfItsChainFallsBackToTheIndexAtItsSnapshot) {
  ASSERT_TRUE(store_->OpenNamespace("ns", TestFingerprint()).ok());
  // The chain is put after the snapshot: memory names pages the snapshot does not have.
  after_snapshot_ = [&] { PutChain("x", 3, 50); };
  int served = 0;
  auto g = store_->Get({"ns"}, Keys("x", 3), 0, [&](auto...) { return ++served, true; });
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(served, 0);
  EXPECT_EQ(g->stop, GetResult::Stop::kAbsent);
  auto st = store_->Stats();
  EXPECT_EQ(st->namespaces[0].counters.miss_not_stored, 3u);  // as of the snapshot
  EXPECT_EQ(st->namespaces[0].counters.miss_stranded, 0u);

  // Deleted and written again with other bytes after the snapshot: memory's checksums no
  // longer match the pages the snapshot reads, which the family's records at the snapshot do.
  PutChain("y", 3, 60);
  after_snapshot_ = [&] {
    ASSERT_TRUE(store_->Delete({"ns"}, Keys("y", 3)).ok());
    PutChain("y", 3, 70);
  };
  served = 0;
  g = store_->Get({"ns"}, Keys("y", 3), 0, [&](size_t i, auto, std::string_view b, auto) {
    EXPECT_EQ(b, PageBytes(60 + int(i))) << "the page as of the snapshot";
    return ++served, true;
  });
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(served, 3);
  st = store_->Stats();
  EXPECT_EQ(st->namespaces[0].counters.corrupt_dropped, 0u);
  EXPECT_EQ(st->namespaces[0].counters.miss_corrupt, 0u);
  // And the next get serves the new bytes.
  served = 0;
  g = store_->Get({"ns"}, Keys("y", 3), 0, [&](size_t i, auto, std::string_view b, auto) {
    EXPECT_EQ(b, PageBytes(70 + int(i)));
    return ++served, true;
  });
  EXPECT_EQ(served, 3);
}

// Every flush is atomic: each one makes the index family's memtable immutable too, so that
// family must allow as many immutable memtables as the page families, or writes stop at two
// flushes in flight instead of four (measured: a 1 MiB-page put over shared memory waited
// 1.3 s of a 1.6 s phase on it). Here flushes are held back by the rate limiter and two
// memtables' worth of puts must not stop writes.
TEST(StoreStallTest, TwoFlushesInFlightDoNotStopWrites) {
  const testing::ScratchFile dir("store_stall_test", "store");
  StoreOptions o;
  o.path = dir.path();
  o.write_buffer_size = uint64_t{1} << 20;
  auto opened = Store::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<Store> store = *std::move(opened);
  constexpr uint64_t kPage = 64 << 10;
  Fingerprint fp = TestFingerprint();
  fp.page_bytes = kPage;
  ASSERT_TRUE(store->OpenNamespace("ns", fp).ok());
  // A flush of one memtable (1 MiB of page blobs) now takes about four seconds.
  Tuning slow = store->CurrentTuning();
  slow.background_rate_bytes = 256 << 10;
  ASSERT_TRUE(store->ApplyTuning(slow).ok());
  const std::string data(kPage, 'p');
  // Each chain fills a memtable past its size; the next put switches it (a flush starts).
  // The third put comes after two switches: two immutable memtables in every family.
  for (int chain = 0; chain < 3; ++chain) {
    const std::vector<std::string> keys = testing::ChainKeys(chain, 17);
    std::vector<PageWrite> pages;
    for (const std::string& k : keys) pages.push_back({k, data, Crc32c(data)});
    auto r = store->Put({"ns"}, "", pages);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  const StoreSignals after = store->Signals();
  EXPECT_EQ(after.stall_micros, 0u) << "writes waited for a flush";
  EXPECT_LT(after.flush_write_bytes, 2 * o.write_buffer_size) << "the flushes were not held back";
  Tuning fast = slow;
  fast.background_rate_bytes = 0;
  ASSERT_TRUE(store->ApplyTuning(fast).ok());
}

}  // namespace
}  // namespace prefixd::storage
