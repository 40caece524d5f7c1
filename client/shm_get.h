// prefixd::client::ShmGetCall — one GetShm call on gRPC's callback API, so that the calling
// thread is free to check slots as the daemon's progress board (shm/progress.h) reports them
// while gRPC receives the call's summary. Internal to prefixd::client.
//
// Thread-safety: the reactor methods run on gRPC's threads; ended(), Await() and, after Await(),
// the accessors are for the thread that started the call. The call must not be destroyed
// before Await() returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/synchronization/notification.h"
#include "grpcpp/grpcpp.h"
#include "prefixd/v1/prefixd.grpc.pb.h"
#include "shm/progress.h"

namespace prefixd::client {

class ShmGetCall final : public grpc::ClientReadReactor<v1::GetShmResponse> {
 public:
  // Starts the call. `board` (null when the request has none) is nudged when the call ends, so
  // that a thread waiting on it wakes even if the daemon never wrote it.
  ShmGetCall(v1::Prefixd::Stub* stub, grpc::ClientContext* ctx, const v1::GetShmRequest* req,
             shm::ProgressReader* board);

  // True once gRPC has finished the call (the daemon's handler returned, or the call failed).
  bool ended() const { return ended_.load(std::memory_order_acquire); }

  // Waits for the call to end, and returns its status.
  grpc::Status Await();

  // After Await(): every CRC32C the messages carried, in order, and whether one carried `done`
  // (then summary() is that message).
  const std::vector<uint32_t>& crcs() const { return crcs_; }
  bool has_summary() const { return has_summary_; }
  const v1::GetShmResponse& summary() const { return summary_; }

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

 private:
  shm::ProgressReader* const board_;
  v1::GetShmResponse message_;
  std::vector<uint32_t> crcs_;
  bool has_summary_ = false;
  v1::GetShmResponse summary_;
  grpc::Status status_;
  std::atomic<bool> ended_{false};
  absl::Notification done_;
};

}  // namespace prefixd::client
