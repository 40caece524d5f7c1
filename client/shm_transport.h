// The client's shared-memory path to a co-located daemon: one arena per namespace, registered
// on the daemon's side socket on first use, with a slot allocator so that concurrent requests
// share it. Internal to prefixd::client.
//
// Thread-safety: every method may be called concurrently. Sessions are shared: one that is
// replaced (the daemon restarted) stays valid for the requests still holding it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gpu/gpu.h"
#include "prefixd/v1/prefixd.pb.h"
#include "shm/allocator.h"
#include "shm/arena.h"
#include "shm/side_call.h"
#include "shm/side_channel.h"

namespace prefixd::client {

// One namespace's arena. The arena and its slots live as long as the session; after a daemon
// restart the same arena is registered again (new id and token), so offsets stay valid.
struct ShmSession {
  std::unique_ptr<shm::Arena> arena;
  std::unique_ptr<shm::SlotAllocator> slots;

  // The current registration, for a request.
  void SetRef(v1::ShmArenaRef* ref) const;

  // Pins the arena for GPU DMA, once; later calls return the first call's result.
  absl::Status EnsurePinned();

  // Exists answers found in the namespace's presence table since the last report
  // (v1::PresenceReport): added by each lookup, taken by the next put or get of the session.
  void CountPresence(uint64_t asked, uint64_t present, uint64_t expired);
  // Moves the counts into `report` (nothing when none): the daemon adds them to its Stats.
  // Counts taken by a request that fails before the daemon reads it are lost (statistics only).
  void TakePresenceReport(v1::PresenceReport* report);

  mutable absl::Mutex mu;
  shm::Registration registration ABSL_GUARDED_BY(mu);
  uint64_t epoch ABSL_GUARDED_BY(mu) = 0;  // the side connection it was registered on
  std::unique_ptr<gpu::PinnedRegion> pinned ABSL_GUARDED_BY(mu);
  std::optional<absl::Status> pin_status ABSL_GUARDED_BY(mu);
  uint64_t presence_asked ABSL_GUARDED_BY(mu) = 0;
  uint64_t presence_present ABSL_GUARDED_BY(mu) = 0;
  uint64_t presence_expired ABSL_GUARDED_BY(mu) = 0;
};

// A range of a session's arena, returned to its allocator when destroyed.
class SlotLease {
 public:
  SlotLease(std::shared_ptr<ShmSession> s, uint64_t offset, uint64_t bytes)
      : session_(std::move(s)), offset_(offset), bytes_(bytes) {}
  ~SlotLease() { session_->slots->Free(offset_, bytes_); }
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  uint64_t offset() const { return offset_; }
  uint8_t* data() const { return session_->arena->data() + offset_; }

 private:
  std::shared_ptr<ShmSession> session_;
  uint64_t offset_, bytes_;
};

class ShmTransport;

// A call connection on loan from ShmTransport::Caller: goes back to the pool when destroyed,
// unless it broke or the daemon restarted since it was made.
class CallerLease {
 public:
  CallerLease(ShmTransport* owner, std::unique_ptr<shm::SideCaller> c, uint64_t epoch)
      : owner_(owner), caller_(std::move(c)), epoch_(epoch) {}
  ~CallerLease();
  CallerLease(const CallerLease&) = delete;
  CallerLease& operator=(const CallerLease&) = delete;
  shm::SideCaller* operator->() const { return caller_.get(); }

 private:
  ShmTransport* const owner_;
  std::unique_ptr<shm::SideCaller> caller_;
  const uint64_t epoch_;
};

class ShmTransport {
 public:
  // Connects to the side socket at `path`; arenas will be `arena_bytes` each.
  static absl::StatusOr<std::unique_ptr<ShmTransport>> Connect(const std::string& path,
                                                               uint64_t arena_bytes);

  // The session of namespace `name` / `id`: creates and registers its arena on first use, and
  // registers it again after the daemon closed the side socket (a restart).
  absl::StatusOr<std::shared_ptr<ShmSession>> Session(const std::string& name, uint64_t id);

  // True when the side socket is not connected or the daemon has closed it (it exited): the
  // next Session() registers the arenas again.
  bool SideClosed();

  // The session of namespace `id` if one exists, as it is (no connection or registration).
  std::shared_ptr<ShmSession> Existing(uint64_t id);

  // A call connection to the daemon (shm/side_call.h), from the pool or new; null when the
  // daemon serves no calls (asked once per daemon: a restarted one is asked again) or none
  // could be opened now. The lease must not outlive this transport.
  std::unique_ptr<CallerLease> Caller();

  // `bytes` of the session's arena, or RESOURCE_EXHAUSTED if no free range is large enough.
  static absl::StatusOr<std::unique_ptr<SlotLease>> Lease(std::shared_ptr<ShmSession> s,
                                                          uint64_t bytes);

 private:
  ShmTransport(std::string path, uint64_t arena_bytes,
               std::unique_ptr<shm::SideConnection> conn)
      : path_(std::move(path)), arena_bytes_(arena_bytes), conn_(std::move(conn)) {}

  friend class CallerLease;
  void GiveBack(std::unique_ptr<shm::SideCaller> c, uint64_t epoch);

  // Call connections kept for reuse, at most this many (more are closed when given back).
  static constexpr size_t kMaxIdleCallers = 16;

  const std::string path_;
  const uint64_t arena_bytes_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<shm::SideCaller>> idle_callers_ ABSL_GUARDED_BY(mu_);
  bool calls_refused_ ABSL_GUARDED_BY(mu_) = false;  // by the daemon of this epoch
  std::unique_ptr<shm::SideConnection> conn_ ABSL_GUARDED_BY(mu_);
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 1;  // bumped on every reconnection
  std::map<uint64_t, std::shared_ptr<ShmSession>> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace prefixd::client
