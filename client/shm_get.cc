#include "client/shm_get.h"

namespace prefixd::client {

ShmGetCall::ShmGetCall(v1::Prefixd::Stub* stub, grpc::ClientContext* ctx,
                       const v1::GetShmRequest* req, shm::ProgressReader* board)
    : board_(board) {
  stub->async()->GetShm(ctx, req, this);
  StartRead(&message_);
  StartCall();
}

grpc::Status ShmGetCall::Await() {
  done_.WaitForNotification();
  return status_;
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
  ended_.store(true, std::memory_order_release);
  if (board_ != nullptr) board_->Nudge();
  done_.Notify();  // last: the caller may destroy this call (and the board) once it returns
}

}  // namespace prefixd::client
