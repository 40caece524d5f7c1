#include "client/shm_get.h"

namespace prefixd::client {

void DetachedCalls::Add(ShmGetCall* c) {
  absl::MutexLock l(&mu_);
  calls_.insert(c);
}

void DetachedCalls::Remove(ShmGetCall* c) {
  absl::MutexLock l(&mu_);
  calls_.erase(c);
}

void DetachedCalls::Wait(absl::Duration limit) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(
      absl::Condition(+[](absl::flat_hash_set<ShmGetCall*>* s) { return s->empty(); }, &calls_),
      limit);
}

ShmGetCall::ShmGetCall(std::unique_ptr<grpc::ClientContext> ctx, const v1::GetShmRequest& req,
                       shm::ProgressReader* board)
    : ctx_(std::move(ctx)), req_(req), board_(board) {}

ShmGetCall* ShmGetCall::Start(v1::Prefixd::Stub* stub, std::unique_ptr<grpc::ClientContext> ctx,
                              const v1::GetShmRequest& req, shm::ProgressReader* board) {
  grpc::ClientContext* context = ctx.get();
  auto* c = new ShmGetCall(std::move(ctx), req, board);
  stub->async()->GetShm(context, &c->req_, c);
  c->StartRead(&c->message_);
  c->StartCall();
  return c;
}

ShmGetCall::~ShmGetCall() {
  ctx_.reset();  // gives the call back to gRPC before the client may go
  if (detached_ != nullptr) detached_->Remove(this);
}

grpc::Status ShmGetCall::Await() {
  done_.WaitForNotification();
  return status_;
}

void ShmGetCall::Release(const std::shared_ptr<DetachedCalls>& detached) {
  bool detach;
  {
    absl::MutexLock l(&mu_);
    board_ = nullptr;
    detach = !ended();
  }
  // Listed before the starter's reference goes, so before the destructor can run (it takes the
  // call off the list).
  if (detach) {
    detached_ = detached;
    detached->Add(this);
  }
  Unref();
}

void ShmGetCall::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended: OnDone follows
  crcs_.insert(crcs_.end(), message_.crc32c().begin(), message_.crc32c().end());
  if (message_.has_done()) {
    has_summary_ = true;
    summary_ = std::move(message_);
  }
  message_.Clear();
  StartRead(&message_);
}

void ShmGetCall::OnDone(const grpc::Status& s) {
  status_ = s;
  {
    absl::MutexLock l(&mu_);
    ended_.store(true, std::memory_order_release);
    if (board_ != nullptr) board_->Nudge();
  }
  done_.Notify();
  Unref();
}

void ShmGetCall::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace prefixd::client
