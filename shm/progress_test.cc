#include "shm/progress.h"

#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "shm/arena.h"

namespace prefixd::shm {
namespace {

constexpr uint32_t kNonce = 0x5eed1234;

uint32_t CrcFor(uint32_t i) { return i * 2654435761u + 1; }

TEST(Progress, AnotherProcessFillsTheBoardInOrder) {
  constexpr uint32_t kPages = 200;
  auto a = Arena::Create(BoardBytes(kPages), "test");
  ASSERT_TRUE(a.ok()) << a.status();
  uint8_t* board = (*a)->data();
  ProgressReader reader(board, kNonce);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the "daemon": publishes in bursts, sleeping between them
    ProgressWriter w(board, kPages, kNonce);
    for (uint32_t i = 0; i < kPages; ++i) {
      w.Publish(i, CrcFor(i));
      if (i % 20 == 19) usleep(2000);
    }
    w.Finish(/*stop=*/2);
    _exit(0);
  }
  uint32_t seen = 0, checked = 0;
  while ((seen & kFinished) == 0) {
    seen = reader.Wait(seen, absl::Seconds(10));
    for (; checked < (seen & kCountMask); ++checked) {
      ASSERT_EQ(reader.Crc(checked), CrcFor(checked));
    }
  }
  EXPECT_EQ(seen, kPages | kStarted | kFinished);
  EXPECT_EQ(checked, kPages);
  EXPECT_EQ(reader.Outcome(), 2);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Progress, WaitReturnsAfterItsTimeoutWhenNothingChanges) {
  auto a = Arena::Create(BoardBytes(4), "test");
  ASSERT_TRUE(a.ok());
  ProgressReader reader((*a)->data(), kNonce);
  const absl::Time start = absl::Now();
  EXPECT_EQ(reader.Wait(0, absl::Milliseconds(30)), 0u);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(25));
}

TEST(Progress, NudgeWakesAWaiter) {
  auto a = Arena::Create(BoardBytes(4), "test");
  ASSERT_TRUE(a.ok());
  ProgressReader reader((*a)->data(), kNonce);
  uint32_t got = 0;
  absl::Duration waited;
  std::thread waiter([&] {
    const absl::Time start = absl::Now();
    got = reader.Wait(0, absl::Seconds(20));
    waited = absl::Now() - start;
  });
  absl::SleepFor(absl::Milliseconds(50));
  reader.Nudge();
  waiter.join();
  EXPECT_EQ(got, kNudged);
  EXPECT_LT(waited, absl::Seconds(10));
}

TEST(Progress, TheWriterFinishesWhenDestroyedAndStaysInItsBoard) {
  constexpr uint32_t kPages = 3;
  auto a = Arena::Create(4096, "test");
  ASSERT_TRUE(a.ok());
  uint8_t* board = (*a)->data();
  std::memset(board, 0xAB, 4096);
  ProgressReader reader(board, kNonce);
  {
    ProgressWriter w(board, kPages, kNonce);
    EXPECT_EQ(reader.Wait(0, absl::ZeroDuration()), kStarted) << "taken up, nothing copied";
    w.Publish(0, 7);
    w.Publish(kPages, 9);  // past the board: ignored
  }
  EXPECT_EQ(reader.Wait(0, absl::ZeroDuration()), 1 | kStarted | kFinished);
  EXPECT_EQ(reader.Crc(0), 7u);
  EXPECT_EQ(reader.Outcome(), 0) << "a writer destroyed unfinished reports no outcome";
  for (uint64_t at = BoardBytes(kPages); at < 4096; ++at) ASSERT_EQ(board[at], 0xAB) << at;
}

// What a writer serving another call (another nonce) leaves on the board decodes to nothing
// this call could take: other checksums and no outcome.
TEST(Progress, AnotherCallsWriterIsNotTakenForThisCalls) {
  auto a = Arena::Create(4096, "test");
  ASSERT_TRUE(a.ok());
  uint8_t* board = (*a)->data();
  ProgressReader reader(board, kNonce);
  ProgressWriter stale(board, 2, kNonce ^ 0x100);
  stale.Publish(0, 7);
  stale.Finish(/*stop=*/1);
  EXPECT_EQ(reader.Wait(0, absl::ZeroDuration()), 1 | kStarted | kFinished);
  EXPECT_NE(reader.Crc(0), 7u);
  EXPECT_EQ(reader.Outcome(), 0);
}

}  // namespace
}  // namespace prefixd::shm
