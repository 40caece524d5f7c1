// Cancels streaming RPCs that sit idle: a client that opens a put or get stream and then
// stalls would otherwise hold a server thread and its share of the in-flight budget until its
// own deadline, which may be never. Thread-safe: every method may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/server_context.h"

namespace prefixd::server {

class StreamWatchdog {
 public:
  // Streams idle for longer than `timeout` are cancelled; zero disables the watchdog.
  explicit StreamWatchdog(std::chrono::milliseconds timeout);
  ~StreamWatchdog();  // stops the watchdog thread
  StreamWatchdog(const StreamWatchdog&) = delete;
  StreamWatchdog& operator=(const StreamWatchdog&) = delete;

  // Watches `ctx` for the lifetime of the Watch; Touch() on every message moved.
  class Watch {
   public:
    Watch(StreamWatchdog* w, grpc::ServerContext* ctx);
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    void Touch();

   private:
    StreamWatchdog* const w_;
    const uint64_t id_;
  };

  uint64_t cancelled() const;

 private:
  struct Entry {
    grpc::ServerContext* ctx;
    std::chrono::steady_clock::time_point last;
  };
  void Loop();

  const std::chrono::milliseconds timeout_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Entry> streams_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace prefixd::server
