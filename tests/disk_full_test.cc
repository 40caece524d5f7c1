// End-to-end: the file system under the data directory fills up (a small tmpfs mounted by the
// test). The daemon evicts to stay within what the file system can give, keeps serving reads,
// answers writes it cannot take with RESOURCE_EXHAUSTED, recovers by itself when space
// returns, and never crashes or serves a wrong byte.
//
// The other writer here leaves 3 MiB free: RocksDB as Debian builds it asserts (aborts) when a
// file write fails, so prefixd keeps a reserve and never lets RocksDB meet a full device; a
// writer that takes the very last byte can still bring it down (README, "Not there yet").
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/daemon.h"

namespace prefixd::testing {
namespace {

constexpr uint64_t kPage = 256 << 10;
constexpr int kPerChain = 8;

uint64_t FreeBytes(const std::string& path) {
  struct statvfs fs;
  return ::statvfs(path.c_str(), &fs) == 0 ? uint64_t{fs.f_bavail} * fs.f_frsize : 0;
}

TEST(DiskFull, EvictsServesReadsRefusesWritesAndRecovers) {
  TempDir dir("diskfull");
  const std::string mnt = dir.path() + "/mnt";
  std::filesystem::create_directories(mnt);
  if (::geteuid() != 0 || ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=96m") != 0) {
    GTEST_SKIP() << "needs root to mount a 96 MiB tmpfs (mount: " << std::strerror(errno) << ")";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};

  // No --capacity: the file system's own size is the limit.
  // Its log outside the tmpfs: not in the way of the space accounting, and kept for a failure.
  Daemon d(mnt + "/data", {"--write-buffer-size", "1MiB", "--batch-bytes", "1MiB"},
           dir.path() + "/prefixd.log");
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  // 200 MiB into 96 MiB: every write succeeds, older generations make room.
  for (int ch = 0; ch < 100; ++ch) {
    auto s = PutTestChain(*c, *ns, 5, ch, kPerChain);
    ASSERT_TRUE(s.ok()) << "chain " << ch << ": " << s;
  }
  // Without --capacity the file system's size sets the generations' (1/32 of it, here at least
  // 4 memtables of 1 MiB): eviction takes a small share of the cache, not all of it (1 GiB
  // generations did, and then left nothing to evict once the disk filled). Pages go one by
  // one (--eviction pages), the unread ones first (probation): a generation goes once none of
  // its pages is left, which here, with a chain's last page unread and the rest read as the
  // parent of the next put, may not happen before the disk is full.
  {
    auto st = c->Stats();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_GT(st->namespaces(0).evicted_pages(), 0u) << "200 MiB into 96 MiB evicted nothing?";
    EXPECT_GT(st->pages(), 100u) << "eviction emptied most of the cache (100 pages: 25 MiB)";
    EXPECT_GE(st->generations(), 8u);
  }
  EXPECT_GT(FreeBytes(mnt), 0u);

  // Another writer fills the file system and takes every byte freed: the daemon evicts its
  // own generations to keep taking writes, until nothing is left to evict; then it refuses.
  const std::string filler = mnt + "/filler";
  int fd = ::open(filler.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  constexpr uint64_t kLeave = 3 << 20;
  uint64_t filled = 0;
  auto top_up = [&] {  // the other writer takes all but kLeave of what is free
    uint64_t free = FreeBytes(mnt);
    if (free > kLeave) {
      filled += free - kLeave;
      ASSERT_EQ(::posix_fallocate(fd, 0, filled), 0);
    }
  };
  int refused = 0, taken = 0;
  std::string first_refusal;
  for (int ch = 100; ch < 160; ++ch) {
    top_up();
    auto s = PutTestChain(*c, *ns, 5, ch, kPerChain);
    if (s.ok()) {
      ++taken;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
      if (refused++ == 0) first_refusal = absl::StrCat("chain ", ch, ": ", s.ToString());
    }
    // Reads keep working, and whatever is returned is byte-exact.
    int wrong = -1;
    auto got = GetTestChain(*c, *ns, 5, ch, kPerChain, &wrong);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(wrong, 0);
  }
  ::close(fd);
  EXPECT_GT(taken, 0) << "while something could be evicted, writes must be taken; first refused "
                      << first_refusal;
  EXPECT_GT(refused, 0) << "with nothing left to evict, writes must be refused";
  if (::testing::Test::HasFailure()) {
    std::ifstream log(d.log_path());
    std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    ADD_FAILURE() << "prefixd log (" << d.log_path() << ", last 6,000 bytes):\n"
                  << all.substr(all.size() > 6000 ? all.size() - 6000 : 0);
  }
  ASSERT_TRUE(c->Health().ok()) << "the daemon must still be serving";

  // Space comes back: writes succeed again without a restart.
  std::filesystem::remove(filler);
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; ++i) {
    recovered = PutTestChain(*c, *ns, 5, 200 + i, kPerChain).ok();
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(recovered) << "writes did not resume once space returned";
  int wrong = -1;
  for (int ch = 0; ch < 160; ++ch) {
    auto got = GetTestChain(*c, *ns, 5, ch, kPerChain, &wrong);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(wrong, 0) << "chain " << ch;
  }
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace prefixd::testing
