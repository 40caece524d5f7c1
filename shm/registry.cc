#include "shm/registry.h"

#include <sys/random.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace prefixd::shm {
namespace {

absl::StatusOr<Token> RandomToken() {
  Token t;
  size_t got = 0;
  while (got < t.size()) {
    ssize_t n = ::getrandom(t.data() + got, t.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError("getrandom failed");
    }
    got += static_cast<size_t>(n);
  }
  return t;
}

bool SameToken(const Token& a, std::string_view b) {
  if (b.size() != a.size()) return false;
  uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ static_cast<uint8_t>(b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RegisteredArena>> ArenaRegistry::Add(
    std::unique_ptr<Arena> arena, uint64_t namespace_id, Peer owner,
    std::shared_ptr<PresenceTable> presence) {
  auto token = RandomToken();
  if (!token.ok()) return token.status();
  auto entry = std::make_shared<RegisteredArena>();
  entry->token = *token;
  entry->namespace_id = namespace_id;
  entry->owner = owner;
  entry->presence = std::move(presence);
  const uint64_t size = arena->size();
  entry->arena = std::move(arena);
  absl::MutexLock lock(&mu_);
  if (arenas_.size() >= limits_.max_arenas) {
    return absl::ResourceExhaustedError(
        absl::StrCat(arenas_.size(), " arenas are registered, the most allowed"));
  }
  if (size > limits_.max_bytes - bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "registering ", size, " more arena bytes would map over the limit of ", limits_.max_bytes));
  }
  entry->id = next_id_++;
  bytes_ += size;
  arenas_[entry->id] = entry;
  return std::shared_ptr<const RegisteredArena>(std::move(entry));
}

absl::StatusOr<std::shared_ptr<const RegisteredArena>> ArenaRegistry::Find(
    uint64_t id, std::string_view token, uint64_t namespace_id) const {
  std::shared_ptr<const RegisteredArena> e;
  {
    absl::MutexLock lock(&mu_);
    auto it = arenas_.find(id);
    if (it == arenas_.end()) {
      return absl::NotFoundError(absl::StrCat(
          "no arena ", id, " is registered (its side socket closed, or it never existed)"));
    }
    e = it->second;
  }
  if (!SameToken(e->token, token)) {
    return absl::PermissionDeniedError(absl::StrCat("wrong token for arena ", id));
  }
  if (e->namespace_id != namespace_id) {
    return absl::PermissionDeniedError(absl::StrCat("arena ", id, " was registered for namespace ",
                                                    e->namespace_id, ", not ", namespace_id));
  }
  return e;
}

void ArenaRegistry::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = arenas_.find(id);
  if (it == arenas_.end()) return;
  bytes_ -= it->second->arena->size();
  arenas_.erase(it);
}

uint64_t ArenaRegistry::arenas() const {
  absl::MutexLock lock(&mu_);
  return arenas_.size();
}

uint64_t ArenaRegistry::mapped_bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace prefixd::shm
