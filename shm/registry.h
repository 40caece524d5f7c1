// prefixd::shm::ArenaRegistry — the daemon's table of client arenas.
//
// An arena is registered by one peer (its process credentials, from SO_PEERCRED) for one
// namespace, and gets an id and a random 128-bit token. Page requests name an arena by id and
// token and must be for the arena's namespace: the token is a capability only the registering
// peer ever received (over its own side socket), so a client cannot reach another's arena by
// guessing ids, and cannot use its own arena for a namespace it did not register it for.
//
// Thread-safety: every method may be called concurrently. Find hands out shared ownership: an
// arena removed while a request uses it stays mapped until that request lets go.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "shm/arena.h"
#include "shm/presence.h"

namespace prefixd::shm {

inline constexpr size_t kTokenBytes = 16;
using Token = std::array<uint8_t, kTokenBytes>;

struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct RegisteredArena {
  uint64_t id = 0;
  Token token{};
  uint64_t namespace_id = 0;
  Peer owner;
  std::unique_ptr<Arena> arena;
  // The namespace's presence table, sent with the registration's reply; null: none.
  std::shared_ptr<PresenceTable> presence;
};

struct RegistryLimits {
  // Arenas registered at once, all peers together. Default 256.
  uint64_t max_arenas = 256;
  // Bytes of arenas mapped at once, all peers together. Default 64 GiB.
  uint64_t max_bytes = uint64_t{64} << 30;
};

class ArenaRegistry {
 public:
  explicit ArenaRegistry(RegistryLimits limits) : limits_(limits) {}

  // Registers `arena` for `namespace_id` on behalf of `owner`, with a fresh id and token, and
  // the namespace's presence table (may be null). RESOURCE_EXHAUSTED if the limits would be
  // exceeded.
  absl::StatusOr<std::shared_ptr<const RegisteredArena>> Add(
      std::unique_ptr<Arena> arena, uint64_t namespace_id, Peer owner,
      std::shared_ptr<PresenceTable> presence = nullptr);

  // The arena `id` if `token` is its token and `namespace_id` its namespace.
  // NOT_FOUND for an unknown (or released) id, PERMISSION_DENIED for a wrong token or
  // namespace. Tokens are compared in constant time.
  absl::StatusOr<std::shared_ptr<const RegisteredArena>> Find(uint64_t id, std::string_view token,
                                                              uint64_t namespace_id) const;

  // Releases arena `id` (no-op if unknown).
  void Remove(uint64_t id);

  uint64_t arenas() const;
  uint64_t mapped_bytes() const;

 private:
  const RegistryLimits limits_;
  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::shared_ptr<const RegisteredArena>> arenas_ ABSL_GUARDED_BY(mu_);
};

}  // namespace prefixd::shm
