// prefixd::shm progress boards — how the daemon tells a client, through the client's own
// arena, which slots of a shared-memory get are filled, without a gRPC message per batch.
//
// A board is a small range of the arena, named in the request (GetShmRequest.progress) with a
// nonce the client chose for the call (GetShmRequest.progress_nonce):
//   bytes 0..3    `count`: pages copied so far; bit 29 (kStarted) from the moment the daemon
//                 takes the request up, before it looks at the clock for its first page; bit 31
//                 (kFinished) once the daemon is done with the request (it writes no slot after
//                 setting it); bit 30 (kNudged) may be set by the client itself to wake its own
//                 waiter
//   bytes 4..7    `waiting`: non-zero while the client sleeps on `count` (a futex)
//   bytes 8..11   `outcome`: written before kFinished when the request succeeded: the nonce's
//                 upper 24 bits, and in the low byte how the get stopped (a GetDone.Stop, 1..255)
//   bytes 12..15  zero
//   bytes 16..    page i's CRC32C XOR the nonce, at 16 + 4 i
// The daemon writes page i's slot and its CRC32C, then stores count = i + 1 (release) and
// wakes the client if it is waiting. The board lives in memory the client can write, so the
// daemon reads nothing from it but `waiting`. The nonce keeps a board's bytes from being taken
// for another call's: a daemon still serving an earlier call that gave up on the same bytes
// (a deadline) writes checksums and an outcome that this call's nonce does not decode, so its
// pages fail their checks or the client waits for the call's own gRPC summary.
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace prefixd::shm {

inline constexpr uint32_t kFinished = 1u << 31;
inline constexpr uint32_t kNudged = 1u << 30;
inline constexpr uint32_t kStarted = 1u << 29;
inline constexpr uint32_t kCountMask = kStarted - 1;
inline constexpr uint64_t kBoardHeaderBytes = 16;
inline constexpr uint64_t kBoardAlign = 8;

// Bytes of a board for `pages` pages.
inline uint64_t BoardBytes(uint64_t pages) { return kBoardHeaderBytes + 4 * pages; }

// The daemon's side. `board` must be kBoardAlign-aligned and BoardBytes(pages) long.
class ProgressWriter {
 public:
  // Sets kStarted.
  ProgressWriter(uint8_t* board, uint32_t pages, uint32_t nonce);
  // Finish()es if the request did not.
  ~ProgressWriter();
  ProgressWriter(const ProgressWriter&) = delete;
  ProgressWriter& operator=(const ProgressWriter&) = delete;

  // Page `i` (the next one, in order) is in its slot and its CRC32C is `crc`.
  void Publish(uint32_t i, uint32_t crc);
  // No slot will be written any more; `stop` (1..255) says how the get ended, 0 that it failed
  // (the client learns why from the call's status). Idempotent: the first call counts.
  void Finish(uint8_t stop = 0);

 private:
  void Store(uint32_t value);

  uint8_t* const board_;
  const uint32_t pages_, nonce_;
  uint32_t count_ = 0;
  bool finished_ = false;
};

// The client's side. It clears the board's header when created.
class ProgressReader {
 public:
  // `board` as for ProgressWriter; `nonce` is the one the request carries.
  ProgressReader(uint8_t* board, uint32_t nonce);

  // The board's `count` word once it differs from `seen` (returns at once if it does already),
  // or after `timeout`, whichever comes first.
  uint32_t Wait(uint32_t seen, absl::Duration timeout);
  // The CRC32C the daemon gave page `i`; read only after `count` passed i.
  uint32_t Crc(uint32_t i) const;
  // How the get stopped (a GetDone.Stop), once `count` has kFinished; 0 if the daemon wrote no
  // outcome for this nonce (the call failed, or the board is not this call's).
  uint8_t Outcome() const;
  // Sets kNudged and wakes a Wait() in progress: for the client's own code that learns the call
  // ended (e.g. failed before the daemon touched the board). Safe from any thread.
  void Nudge();

 private:
  uint8_t* const board_;
  const uint32_t nonce_;
};

}  // namespace prefixd::shm
