#include "client/shm_transport.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace prefixd::client {

void ShmSession::SetRef(v1::ShmArenaRef* ref) const {
  absl::MutexLock lock(&mu);
  ref->set_arena_id(registration.arena_id);
  ref->set_token(registration.token.data(), registration.token.size());
}

absl::Status ShmSession::EnsurePinned() {
  absl::MutexLock lock(&mu);
  if (!pin_status) {
    auto p = gpu::PinnedRegion::Pin(arena->data(), arena->size());
    pin_status = p.status();
    if (p.ok()) pinned = *std::move(p);
  }
  return *pin_status;
}

void ShmSession::CountPresence(uint64_t asked, uint64_t present, uint64_t expired) {
  absl::MutexLock lock(&mu);
  presence_asked += asked;
  presence_present += present;
  presence_expired += expired;
}

void ShmSession::TakePresenceReport(v1::PresenceReport* report) {
  absl::MutexLock lock(&mu);
  if (presence_asked == 0) return;
  report->set_pages_asked(std::exchange(presence_asked, 0));
  report->set_pages_present(std::exchange(presence_present, 0));
  report->set_pages_expired(std::exchange(presence_expired, 0));
}

absl::StatusOr<std::unique_ptr<ShmTransport>> ShmTransport::Connect(const std::string& path,
                                                                    uint64_t arena_bytes) {
  auto conn = shm::SideConnection::Connect(path);
  if (!conn.ok()) return conn.status();
  return std::unique_ptr<ShmTransport>(new ShmTransport(path, arena_bytes, *std::move(conn)));
}

absl::StatusOr<std::shared_ptr<ShmSession>> ShmTransport::Session(const std::string& name,
                                                                  uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (conn_ == nullptr || conn_->closed()) {
    // The daemon went away, and its mappings with it. Reconnect; arenas register again.
    conn_.reset();
    auto conn = shm::SideConnection::Connect(path_);
    if (!conn.ok()) return conn.status();
    conn_ = *std::move(conn);
    ++epoch_;
    idle_callers_.clear();  // connections to the daemon that went away
    calls_refused_ = false;
  }
  std::shared_ptr<ShmSession> s;
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    s = it->second;
  } else {
    s = std::make_shared<ShmSession>();
    auto arena = shm::Arena::Create(arena_bytes_, absl::StrCat("prefixd-", name));
    if (!arena.ok()) return arena.status();
    s->arena = *std::move(arena);
    s->slots = std::make_unique<shm::SlotAllocator>(s->arena->size());
  }
  {
    absl::MutexLock sl(&s->mu);
    if (s->epoch != epoch_) {
      auto reg = conn_->Register(s->arena->fd(), name, id);
      if (!reg.ok()) return reg.status();
      s->registration = *reg;
      s->epoch = epoch_;
    }
  }
  sessions_[id] = s;
  return s;
}

bool ShmTransport::SideClosed() {
  absl::MutexLock lock(&mu_);
  return conn_ == nullptr || conn_->closed();
}

std::shared_ptr<ShmSession> ShmTransport::Existing(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

std::unique_ptr<CallerLease> ShmTransport::Caller() {
  uint64_t epoch;
  {
    absl::MutexLock lock(&mu_);
    if (calls_refused_) return nullptr;
    epoch = epoch_;
    if (!idle_callers_.empty()) {
      auto c = std::move(idle_callers_.back());
      idle_callers_.pop_back();
      return std::make_unique<CallerLease>(this, std::move(c), epoch);
    }
  }
  // Connecting waits for the daemon's answer: not under the lock.
  auto c = shm::SideCaller::Connect(path_);
  if (!c.ok()) {
    if (absl::IsUnimplemented(c.status())) {
      absl::MutexLock lock(&mu_);
      if (epoch_ == epoch) calls_refused_ = true;
    }
    return nullptr;
  }
  return std::make_unique<CallerLease>(this, *std::move(c), epoch);
}

void ShmTransport::GiveBack(std::unique_ptr<shm::SideCaller> c, uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  if (c->broken() || epoch != epoch_ || idle_callers_.size() >= kMaxIdleCallers) return;
  idle_callers_.push_back(std::move(c));
}

CallerLease::~CallerLease() { owner_->GiveBack(std::move(caller_), epoch_); }

absl::StatusOr<std::unique_ptr<SlotLease>> ShmTransport::Lease(std::shared_ptr<ShmSession> s,
                                                               uint64_t bytes) {
  auto off = s->slots->Allocate(bytes);
  if (!off) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no ", bytes, " free bytes in the shared-memory arena of ", s->arena->size(), " bytes"));
  }
  return std::make_unique<SlotLease>(std::move(s), *off, bytes);
}

}  // namespace prefixd::client
