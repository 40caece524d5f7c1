#include "server/stream_watchdog.h"

#include "spdlog/spdlog.h"

namespace prefixd::server {

StreamWatchdog::StreamWatchdog(std::chrono::milliseconds timeout) : timeout_(timeout) {
  if (timeout_.count() > 0) thread_ = std::thread([this] { Loop(); });
}

StreamWatchdog::~StreamWatchdog() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

StreamWatchdog::Watch::Watch(StreamWatchdog* w, grpc::ServerContext* ctx)
    : w_(w), id_([&] {
        absl::MutexLock l(&w->mu_);
        uint64_t id = w->next_id_++;
        w->streams_[id] = Entry{ctx, std::chrono::steady_clock::now()};
        return id;
      }()) {}

StreamWatchdog::Watch::~Watch() {
  absl::MutexLock l(&w_->mu_);
  w_->streams_.erase(id_);
}

void StreamWatchdog::Watch::Touch() {
  absl::MutexLock l(&w_->mu_);
  auto it = w_->streams_.find(id_);
  if (it != w_->streams_.end()) it->second.last = std::chrono::steady_clock::now();
}

uint64_t StreamWatchdog::cancelled() const {
  absl::MutexLock l(&mu_);
  return cancelled_;
}

void StreamWatchdog::Loop() {
  const auto tick = std::min<std::chrono::milliseconds>(timeout_ / 4, std::chrono::seconds(1));
  while (!stop_.WaitForNotificationWithTimeout(absl::FromChrono(tick))) {
    auto now = std::chrono::steady_clock::now();
    absl::MutexLock l(&mu_);
    for (auto& [id, e] : streams_) {
      if (now - e.last <= timeout_) continue;
      // The handler still owns the context (its Watch is alive while we hold mu_).
      e.ctx->TryCancel();
      e.last = now;  // once per timeout, not on every tick
      ++cancelled_;
      spdlog::warn("cancelled a stream idle for more than {} ms (peer {})", timeout_.count(),
                   e.ctx->peer());
    }
  }
}

}  // namespace prefixd::server
