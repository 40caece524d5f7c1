// prefixd::client::ShmGetCall — one GetShm call on gRPC's callback API, so that the calling
// thread is free to check slots as the daemon's progress board (shm/progress.h) reports them
// while gRPC receives the call's summary, and may return before that summary arrives once the
// board has said everything the caller needs. Internal to prefixd::client.
//
// Lifetime: a call is shared by the thread that started it and by gRPC, and deleted when both
// are done with it: the starter by Release(), gRPC when the call ends. A call released before
// it ended is listed in a DetachedCalls until its destructor has given its context back to
// gRPC, so that the client can wait for it when it is destroyed.
//
// Thread-safety: Start(), ended(), Await() and Release() are for the thread that started the
// call; the accessors after Await(). The reactor methods run on gRPC's threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "prefixd/v1/prefixd.grpc.pb.h"
#include "shm/progress.h"

namespace prefixd::client {

class ShmGetCall;

// Calls released before they ended. Shared by the client and each such call.
class DetachedCalls {
 public:
  // Waits until every call listed is deleted (it has given its context back to gRPC), or
  // `limit` passed. Calls are not cancelled: a released call has its result already (the daemon
  // finished its board) and ends when the daemon's summary arrives; and TryCancel on a
  // callback call that gRPC has just completed is not safe in gRPC 1.51 (a test saw
  // `ref_counted.h:183 assertion failed: prior > 0` while a version of this cancelled them).
  void Wait(absl::Duration limit);

 private:
  friend class ShmGetCall;
  void Add(ShmGetCall* c);
  void Remove(ShmGetCall* c);

  absl::Mutex mu_;
  absl::flat_hash_set<ShmGetCall*> calls_ ABSL_GUARDED_BY(mu_);
};

class ShmGetCall final : public grpc::ClientReadReactor<v1::GetShmResponse> {
 public:
  // Starts a call of `req` with `ctx` (deadline set). `board` (null when the request has none)
  // is nudged when the call ends, so that a thread waiting on it wakes even if the daemon never
  // wrote it, until Release().
  static ShmGetCall* Start(v1::Prefixd::Stub* stub, std::unique_ptr<grpc::ClientContext> ctx,
                           const v1::GetShmRequest& req, shm::ProgressReader* board);

  // True once gRPC has ended the call (the daemon's handler returned, or the call failed).
  bool ended() const { return ended_.load(std::memory_order_acquire); }

  // Waits for the call to end, and returns its status.
  grpc::Status Await();

  // The starter is done with the call (and with the board: it is not touched any more). Deletes
  // the call if it has ended; otherwise lists it in `detached` until it does.
  void Release(const std::shared_ptr<DetachedCalls>& detached);

  // After Await(): every CRC32C the messages carried, in order, and whether one carried `done`
  // (then summary() is that message).
  const std::vector<uint32_t>& crcs() const { return crcs_; }
  bool has_summary() const { return has_summary_; }
  const v1::GetShmResponse& summary() const { return summary_; }

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

 private:
  friend class DetachedCalls;
  ShmGetCall(std::unique_ptr<grpc::ClientContext> ctx, const v1::GetShmRequest& req,
             shm::ProgressReader* board);
  ~ShmGetCall() override;
  void Unref();

  std::unique_ptr<grpc::ClientContext> ctx_;
  const v1::GetShmRequest req_;
  std::atomic<int> refs_{2};  // the starter's and gRPC's
  absl::Mutex mu_;
  shm::ProgressReader* board_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<DetachedCalls> detached_;  // set by Release before its Unref
  v1::GetShmResponse message_;
  std::vector<uint32_t> crcs_;
  bool has_summary_ = false;
  v1::GetShmResponse summary_;
  grpc::Status status_;
  std::atomic<bool> ended_{false};
  absl::Notification done_;
};

}  // namespace prefixd::client
