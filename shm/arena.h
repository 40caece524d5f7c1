// prefixd::shm::Arena — a shared-memory region (a sealed memfd) that a co-located client and
// the daemon both map, so page bytes move between them with no copy through gRPC.
//
// The client creates the arena (Create) and sends its descriptor to the daemon over the side
// socket (side_channel.h); the daemon maps what it received (Adopt) only if the descriptor is a
// memfd sealed against shrinking and growing, so the client can never truncate it under the
// daemon's mapping (which would turn the daemon's next access into SIGBUS).
//
// Thread-safety: an Arena is immutable after construction; Slice may be called from any thread.
// The bytes themselves are shared with another process that may change them at any time: the
// daemon checksums what it copies and never trusts their content.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace prefixd::shm {

class Arena {
 public:
  // Creates a memfd of `bytes` (rounded up to the page size), reserves its memory
  // (fallocate), seals it against shrinking and growing, and maps it read-write, populated
  // (no page faults on first use: they would cost more than the copies).
  // INVALID_ARGUMENT for 0 bytes; RESOURCE_EXHAUSTED if the memory cannot be reserved.
  static absl::StatusOr<std::unique_ptr<Arena>> Create(uint64_t bytes, const std::string& name);

  // Maps a descriptor received from a peer, populated; takes ownership of `fd` (closed on
  // every path).
  // INVALID_ARGUMENT unless it is a memfd sealed with F_SEAL_SHRINK and F_SEAL_GROW, of
  // 1..`max_bytes` bytes, and not sealed against writing.
  static absl::StatusOr<std::unique_ptr<Arena>> Adopt(int fd, uint64_t max_bytes);

  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // The memfd; -1 for an adopted arena (the daemon keeps only the mapping).
  int fd() const { return fd_; }

  // The bytes [offset, offset + length). OUT_OF_RANGE if any of them lies outside the arena
  // (overflow-safe); INVALID_ARGUMENT for length 0.
  absl::StatusOr<std::span<uint8_t>> Slice(uint64_t offset, uint64_t length) const;

 private:
  Arena(int fd, uint8_t* data, uint64_t size) : fd_(fd), data_(data), size_(size) {}

  const int fd_;
  uint8_t* const data_;
  const uint64_t size_;
};

}  // namespace prefixd::shm
