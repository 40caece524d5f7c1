// prefixd::shm progress boards — how the daemon tells a client, through the client's own
// arena, which slots of a shared-memory get are filled, without a gRPC message per batch.
//
// A board is a small range of the arena, named in the request (GetShmRequest.progress):
//   bytes 0..3   `count`: pages copied so far; bit 31 (kFinished) once the daemon is done
//                with the request (it writes no slot after setting it); bit 30 (kNudged) may be
//                set by the client itself to wake its own waiter
//   bytes 4..7   `waiting`: non-zero while the client sleeps on `count` (a futex)
//   bytes 8..    the CRC32C of page i at 8 + 4 i
// The daemon writes page i's slot and its CRC32C, then stores count = i + 1 (release) and
// wakes the client if it is waiting. The board lives in memory the client can write, so the
// daemon never reads anything from it but `waiting`, and the client confirms every CRC32C it
// checked against the list in the call's gRPC summary: a board changed under it fails the call
// (DATA_LOSS), it never passes a wrong page.
//
// Thread-safety: one ProgressWriter (the daemon's request) and one ProgressReader (the
// client's call) per board; they may live in different processes.
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace prefixd::shm {

inline constexpr uint32_t kFinished = 1u << 31;
inline constexpr uint32_t kNudged = 1u << 30;
inline constexpr uint32_t kCountMask = kNudged - 1;
inline constexpr uint64_t kBoardHeaderBytes = 8;
inline constexpr uint64_t kBoardAlign = 8;

// Bytes of a board for `pages` pages.
inline uint64_t BoardBytes(uint64_t pages) { return kBoardHeaderBytes + 4 * pages; }

// The daemon's side. `board` must be kBoardAlign-aligned and BoardBytes(pages) long.
class ProgressWriter {
 public:
  ProgressWriter(uint8_t* board, uint32_t pages);
  // Finish()es if the request did not.
  ~ProgressWriter();
  ProgressWriter(const ProgressWriter&) = delete;
  ProgressWriter& operator=(const ProgressWriter&) = delete;

  // Page `i` (the next one, in order) is in its slot and its CRC32C is `crc`.
  void Publish(uint32_t i, uint32_t crc);
  // No slot will be written any more. Idempotent.
  void Finish();

 private:
  void Store(uint32_t value);

  uint8_t* const board_;
  const uint32_t pages_;
  uint32_t count_ = 0;
  bool finished_ = false;
};

// The client's side. It sets the board to zero pages when created.
class ProgressReader {
 public:
  // `board` as for ProgressWriter.
  explicit ProgressReader(uint8_t* board);

  // The board's `count` word once it differs from `seen` (returns at once if it does already),
  // or after `timeout`, whichever comes first.
  uint32_t Wait(uint32_t seen, absl::Duration timeout);
  // The CRC32C the daemon gave page `i`; read only after `count` passed i.
  uint32_t Crc(uint32_t i) const;
  // Sets kNudged and wakes a Wait() in progress: for the client's own code that learns the call
  // ended (e.g. failed before the daemon touched the board). Safe from any thread.
  void Nudge();

 private:
  uint8_t* const board_;
};

}  // namespace prefixd::shm
