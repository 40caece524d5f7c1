#include "bench/file_backend.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace prefixd::bench {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kPageBytes = 4096;

// Deterministic bytes for (key, version): concurrent writers of one key write the same bytes.
std::string PageFor(const std::string& key, int version = 0) {
  uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(version + 1);
  for (unsigned char c : key) x = (x ^ c) * 0x100000001b3ULL;
  std::string page(kPageBytes, '\0');
  for (char& c : page) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return page;
}

std::vector<std::string_view> Views(const std::vector<std::string>& pages) {
  return {pages.begin(), pages.end()};
}

std::vector<std::string> Keys(std::initializer_list<int> ids, const std::string& prefix = "k") {
  std::vector<std::string> keys;
  for (int id : ids) keys.push_back(absl::StrCat(prefix, id));
  return keys;
}

class FileBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = absl::StrCat(::testing::TempDir(), "/file_backend_test.", getpid(), ".",
                        counter.fetch_add(1));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  BackendOptions Options(uint64_t capacity_pages = 0) const {
    BackendOptions o;
    o.kind = GetParam();
    o.dir = dir_;
    o.page_bytes = kPageBytes;
    o.capacity_bytes = capacity_pages * kPageBytes;
    o.io_threads = 4;
    return o;
  }

  static absl::StatusOr<std::unique_ptr<Backend>> Open(const BackendOptions& o) {
    return o.kind == "file" ? NewFileBackend(o) : NewShardedFileBackend(o);
  }

  std::unique_ptr<Backend> OpenOk(uint64_t capacity_pages = 0) const {
    absl::StatusOr<std::unique_ptr<Backend>> b = Open(Options(capacity_pages));
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::move(*b) : nullptr;
  }

  static void PutOk(Backend& b, const std::vector<std::string>& keys) {
    std::vector<std::string> pages;
    for (const std::string& k : keys) pages.push_back(PageFor(k));
    ASSERT_TRUE(b.Put(keys, Views(pages), "").ok());
  }

  static std::vector<bool> ExistsOk(Backend& b, const std::vector<std::string>& keys) {
    absl::StatusOr<std::vector<bool>> e = b.Exists(keys);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : std::vector<bool>();
  }

  // The file that holds `key`'s page, wherever the tier put it.
  fs::path FileOf(const std::string& key) const {
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir_)) {
      if (e.path().filename() == PageFileName(key)) return e.path();
    }
    ADD_FAILURE() << "no file for " << key;
    return {};
  }

  std::string dir_;
};

TEST_P(FileBackendTest, RoundTripIsByteExact) {
  auto b = OpenOk();
  EXPECT_EQ(b->kind(), GetParam());
  const std::vector<std::string> keys = {
      "plain-key_1.x",      std::string("\0\xff/..", 5), ".",  "..",
      std::string(64, 'z'), std::string(64, '\x80'),     "=3d"};
  std::vector<std::string> pages;
  for (const std::string& k : keys) pages.push_back(PageFor(k));
  ASSERT_TRUE(b->Put(keys, Views(pages), "").ok());
  EXPECT_EQ(ExistsOk(*b, keys), std::vector<bool>(keys.size(), true));
  std::vector<std::string> got;
  absl::StatusOr<size_t> n = b->Get(keys, &got);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, keys.size());
  ASSERT_EQ(got.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(got[i], pages[i]) << i;
  absl::StatusOr<uint64_t> disk = b->DiskBytes();
  ASSERT_TRUE(disk.ok()) << disk.status();
  EXPECT_EQ(*disk, keys.size() * kPageBytes);
}

TEST_P(FileBackendTest, ExistsAnswersPerKey) {
  auto b = OpenOk();
  PutOk(*b, Keys({0, 2}));
  EXPECT_EQ(ExistsOk(*b, Keys({0, 1, 2, 3})), (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(ExistsOk(*b, {}), std::vector<bool>());
}

TEST_P(FileBackendTest, GetStopsAtFirstAbsentPage) {
  auto b = OpenOk();
  PutOk(*b, Keys({0, 1, 3}));
  std::vector<std::string> got = {"stale"};
  absl::StatusOr<size_t> n = b->Get(Keys({0, 1, 2, 3}), &got);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], PageFor("k0"));
  EXPECT_EQ(got[1], PageFor("k1"));
  n = b->Get(Keys({2, 3}), &got);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(got.empty());
}

// A get reads into the strings of the caller's last one, as an engine reads into buffers it
// keeps: the same buffers (their capacity, larger than a page, is kept), the new pages' bytes.
TEST_P(FileBackendTest, GetReadsIntoTheCallersStrings) {
  auto b = OpenOk();
  PutOk(*b, Keys({0, 1}));
  std::vector<std::string> got(2, std::string(3, 'x'));
  for (std::string& g : got) g.reserve(3 * kPageBytes);
  absl::StatusOr<size_t> n = b->Get(Keys({0, 1}), &got);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 2u);
  ASSERT_EQ(got.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i], PageFor(absl::StrCat("k", i))) << i;
    EXPECT_GE(got[i].capacity(), 3 * kPageBytes) << i << ": a string of its own";
  }
}

TEST_P(FileBackendTest, PutIsIdempotentAndKeepsTheFirstBytes) {
  auto b = OpenOk();
  PutOk(*b, Keys({0}));
  const std::string other = PageFor("k0", 1);
  const std::vector<std::string> keys = Keys({0});
  const std::vector<std::string_view> pages = {other};
  ASSERT_TRUE(b->Put(keys, pages, "").ok());
  std::vector<std::string> got;
  ASSERT_TRUE(b->Get(keys, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], PageFor("k0"));
  EXPECT_EQ(*b->DiskBytes(), kPageBytes);
}

TEST_P(FileBackendTest, TruncatedFileIsAbsent) {
  auto b = OpenOk();
  PutOk(*b, Keys({0, 1, 2}));
  fs::resize_file(FileOf("k1"), kPageBytes / 2);
  EXPECT_EQ(ExistsOk(*b, Keys({0, 1, 2})), (std::vector<bool>{true, false, true}));
  std::vector<std::string> got;
  absl::StatusOr<size_t> n = b->Get(Keys({0, 1, 2}), &got);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  PutOk(*b, Keys({1}));  // a short file is rewritten
  EXPECT_EQ(ExistsOk(*b, Keys({0, 1, 2})), (std::vector<bool>{true, true, true}));
}

TEST_P(FileBackendTest, RejectsBadInput) {
  auto b = OpenOk();
  const std::string short_page(kPageBytes - 1, 'x');
  const std::vector<std::string> one = Keys({0});
  EXPECT_TRUE(absl::IsInvalidArgument(b->Put(one, std::vector<std::string_view>{short_page}, "")));
  EXPECT_TRUE(absl::IsInvalidArgument(b->Put(one, std::vector<std::string_view>{}, "")));
  EXPECT_TRUE(absl::IsInvalidArgument(b->Exists(std::vector<std::string>{""}).status()));
  std::vector<std::string> got;
  EXPECT_TRUE(absl::IsInvalidArgument(
      b->Get(std::vector<std::string>{std::string(65, 'a')}, &got).status()));
  for (auto edit :
       {+[](BackendOptions& o) { o.dir.clear(); }, +[](BackendOptions& o) { o.page_bytes = 0; },
        +[](BackendOptions& o) { o.io_threads = 0; },
        +[](BackendOptions& o) { o.io_threads = 257; },
        +[](BackendOptions& o) { o.ns_name = "a/b"; }}) {
    BackendOptions o = Options();
    edit(o);
    EXPECT_TRUE(absl::IsInvalidArgument(Open(o).status()));
  }
}

TEST_P(FileBackendTest, LruCapKeepsTheMostRecentlyUsed) {
  auto b = OpenOk(/*capacity_pages=*/3);
  PutOk(*b, Keys({0, 1, 2, 3, 4}));
  EXPECT_EQ(ExistsOk(*b, Keys({0, 1, 2, 3, 4})),
            (std::vector<bool>{false, false, true, true, true}));
  std::vector<std::string> got;
  ASSERT_TRUE(b->Get(Keys({2}), &got).ok());  // k2 becomes the most recent
  ASSERT_EQ(got.size(), 1u);
  PutOk(*b, Keys({5}));  // evicts k3, now the least recent
  EXPECT_EQ(ExistsOk(*b, Keys({2, 3, 4, 5})), (std::vector<bool>{true, false, true, true}));
  PutOk(*b, Keys({2}));  // an idempotent Put refreshes too: evicts nothing
  PutOk(*b, Keys({6}));  // evicts k4
  EXPECT_EQ(ExistsOk(*b, Keys({2, 4, 5, 6})), (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(*b->DiskBytes(), 3 * kPageBytes);
}

TEST_P(FileBackendTest, ReopenRebuildsLruFromDirectory) {
  {
    auto b = OpenOk(/*capacity_pages=*/3);
    PutOk(*b, Keys({0, 1, 2}));
  }
  // Recency on disk: k1 oldest, then k0, then k2 (not the order they were written).
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(FileOf("k1"), now - std::chrono::hours(3));
  fs::last_write_time(FileOf("k0"), now - std::chrono::hours(2));
  fs::last_write_time(FileOf("k2"), now - std::chrono::hours(1));
  {
    auto b = OpenOk(/*capacity_pages=*/3);
    EXPECT_EQ(ExistsOk(*b, Keys({0, 1, 2})), (std::vector<bool>{true, true, true}));
    PutOk(*b, Keys({3}));  // evicts k1
    EXPECT_EQ(ExistsOk(*b, Keys({0, 1, 2, 3})), (std::vector<bool>{true, false, true, true}));
  }
  // A smaller cap is enforced at open: k0 (oldest mtime) goes.
  fs::last_write_time(FileOf("k0"), now - std::chrono::hours(5));
  auto b = OpenOk(/*capacity_pages=*/2);
  EXPECT_EQ(ExistsOk(*b, Keys({0, 2, 3})), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(*b->DiskBytes(), 2 * kPageBytes);
}

TEST_P(FileBackendTest, UncappedBackendDeletesNothing) {
  {
    auto b = OpenOk();
    PutOk(*b, Keys({0, 1, 2, 3}));
  }
  auto b = OpenOk();
  EXPECT_EQ(ExistsOk(*b, Keys({0, 1, 2, 3})), std::vector<bool>(4, true));
}

void ConcurrentPutsAndGets(Backend& b, bool capped) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 30;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        // Half the chains are shared by all threads (same keys, same bytes), half are private.
        const std::string prefix = r % 2 == 0 ? absl::StrCat("shared", r) : absl::StrCat(t, "-", r);
        std::vector<std::string> keys;
        std::vector<std::string> pages;
        for (int p = 0; p < 6; ++p) {
          keys.push_back(absl::StrCat(prefix, "-p", p));
          pages.push_back(PageFor(keys.back()));
        }
        if (!b.Put(keys, Views(pages), "").ok()) ++failures;
        std::vector<std::string> got;
        absl::StatusOr<size_t> n = b.Get(keys, &got);
        if (!n.ok() || got.size() != *n || (!capped && *n != keys.size())) ++failures;
        for (size_t i = 0; i < got.size(); ++i) {
          if (got[i] != pages[i]) ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(FileBackendTest, ConcurrentPutsAndGetsStayByteExact) {
  auto b = OpenOk();
  ConcurrentPutsAndGets(*b, /*capped=*/false);
}

TEST_P(FileBackendTest, ConcurrentPutsAndGetsUnderCapStayWithinIt) {
  auto b = OpenOk(/*capacity_pages=*/20);
  ConcurrentPutsAndGets(*b, /*capped=*/true);
  absl::StatusOr<uint64_t> disk = b->DiskBytes();
  ASSERT_TRUE(disk.ok());
  EXPECT_LE(*disk, 20 * kPageBytes);
  EXPECT_GT(*disk, 0u);
}

TEST_P(FileBackendTest, IoReportsThisProcess) {
  auto b = OpenOk();
  absl::StatusOr<IoCounters> io = b->Io();
  ASSERT_TRUE(io.ok()) << io.status();
  EXPECT_GT(io->peak_rss_bytes, 0u);
}

INSTANTIATE_TEST_SUITE_P(Kinds, FileBackendTest, ::testing::Values("file", "file-sharded"),
                         [](const auto& info) {
                           return info.param == "file" ? std::string("File")
                                                       : std::string("Sharded");
                         });

TEST(PageFileNameTest, KeepsSafeKeysAndHexesTheRest) {
  EXPECT_EQ(PageFileName("ab-C_9.x"), "ab-C_9.x.bin");
  EXPECT_EQ(PageFileName("a/b"), "=612f62.bin");
  EXPECT_EQ(PageFileName("=61"), "=3d3631.bin");
  EXPECT_EQ(PageFileName(std::string("\0", 1)), "=00.bin");
}

TEST(ShardOfTest, IsStableAndSpreads) {
  EXPECT_EQ(ShardOf("s1-c0-p0"), ShardOf("s1-c0-p0"));
  std::vector<int> counts(256, 0);
  for (int i = 0; i < 25600; ++i) ++counts[ShardOf(absl::StrCat("s1-c", i / 16, "-p", i % 16))];
  for (int c : counts) {
    EXPECT_GT(c, 50);
    EXPECT_LT(c, 170);
  }
}

TEST(ProcessIoTest, ReadsSelfAndFailsForMissingProcess) {
  absl::StatusOr<IoCounters> io = ProcessIo(0);
  ASSERT_TRUE(io.ok()) << io.status();
  EXPECT_GT(io->peak_rss_bytes, 1u << 20);
  absl::StatusOr<IoCounters> by_pid = ProcessIo(getpid());
  ASSERT_TRUE(by_pid.ok()) << by_pid.status();
  EXPECT_GE(by_pid->peak_rss_bytes, io->peak_rss_bytes);
  EXPECT_FALSE(ProcessIo(0x7ffffff0).ok());  // no such process
}

}  // namespace
}  // namespace prefixd::bench
