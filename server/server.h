// The prefixd server: opens the store, serves prefixd.v1 plus gRPC health and reflection on
// the configured listeners, and shuts down cleanly. Not thread-safe: one owner (main()) calls
// Start, then Shutdown once, from one thread; the RPCs it serves run on gRPC's threads.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/config.h"

namespace prefixd::server {

class Server {
 public:
  // Opens the store and starts serving. UNAVAILABLE if a listener cannot bind.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config);

  virtual ~Server() = default;

  // Marks health NOT_SERVING, stops accepting, lets in-flight RPCs run for up to the grace
  // period (then cancels them), flushes and closes the store.
  virtual absl::Status Shutdown() = 0;

  // True if Shutdown had to leave gRPC still closing connections: the store is flushed, and
  // the process should exit without running destructors (std::_Exit).
  virtual bool abandoned() const = 0;

  // The bound TCP port (useful with --listen HOST:0), or 0 without a TCP listener.
  virtual int port() const = 0;
};

}  // namespace prefixd::server
