#include "shm/progress.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace prefixd::shm {
namespace {

// Both words are shared with another process: futexes without FUTEX_PRIVATE_FLAG.
std::atomic_ref<uint32_t> Word(uint8_t* board, uint64_t at) {
  return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(board + at));
}

void WakeAll(uint8_t* board) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(board), FUTEX_WAKE, INT32_MAX, nullptr,
          nullptr, 0);
}

}  // namespace

constexpr uint32_t kNonceBits = 0xFFFFFF00u;

ProgressWriter::ProgressWriter(uint8_t* board, uint32_t pages, uint32_t nonce)
    : board_(board), pages_(std::min(pages, kCountMask)), nonce_(nonce) {
  Store(0);
}

ProgressWriter::~ProgressWriter() { Finish(); }

void ProgressWriter::Publish(uint32_t i, uint32_t crc) {
  if (finished_ || i >= pages_) return;
  const uint32_t sealed = crc ^ nonce_;
  std::memcpy(board_ + kBoardHeaderBytes + 4 * uint64_t{i}, &sealed, 4);
  count_ = i + 1;
  Store(count_);
}

void ProgressWriter::Finish(uint8_t stop) {
  if (finished_) return;
  finished_ = true;
  if (stop != 0) Word(board_, 8).store((nonce_ & kNonceBits) | stop, std::memory_order_relaxed);
  Store(count_ | kFinished);
}

void ProgressWriter::Store(uint32_t value) {
  Word(board_, 0).store(value | kStarted, std::memory_order_seq_cst);
  // Seen by a reader that set `waiting` before its last look at `count` (Dekker's pattern;
  // the futex itself covers a store between that look and the sleep).
  if (Word(board_, 4).load(std::memory_order_seq_cst) != 0) WakeAll(board_);
}

ProgressReader::ProgressReader(uint8_t* board, uint32_t nonce) : board_(board), nonce_(nonce) {
  Word(board_, 12).store(0, std::memory_order_relaxed);
  Word(board_, 8).store(0, std::memory_order_relaxed);
  Word(board_, 4).store(0, std::memory_order_relaxed);
  Word(board_, 0).store(0, std::memory_order_seq_cst);
}

uint32_t ProgressReader::Wait(uint32_t seen, absl::Duration timeout) {
  auto count = Word(board_, 0);
  uint32_t now = count.load(std::memory_order_acquire);
  if (now != seen) return now;
  Word(board_, 4).store(1, std::memory_order_seq_cst);
  now = count.load(std::memory_order_seq_cst);
  if (now == seen) {
    timespec ts = absl::ToTimespec(timeout);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(board_), FUTEX_WAIT, seen, &ts, nullptr, 0);
    now = count.load(std::memory_order_acquire);
  }
  Word(board_, 4).store(0, std::memory_order_relaxed);
  return now;
}

uint32_t ProgressReader::Crc(uint32_t i) const {
  uint32_t crc;
  std::memcpy(&crc, board_ + kBoardHeaderBytes + 4 * uint64_t{i}, 4);
  return crc ^ nonce_;
}

uint8_t ProgressReader::Outcome() const {
  const uint32_t v = Word(board_, 8).load(std::memory_order_acquire);
  return (v & kNonceBits) == (nonce_ & kNonceBits) ? static_cast<uint8_t>(v & 0xFF) : 0;
}

void ProgressReader::Nudge() {
  Word(board_, 0).fetch_or(kNudged, std::memory_order_seq_cst);
  WakeAll(board_);
}

}  // namespace prefixd::shm
