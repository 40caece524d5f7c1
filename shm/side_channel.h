// The side socket over which a client hands an arena's memfd to the daemon (gRPC cannot carry
// file descriptors), and whose closing releases it.
//
// Wire format, frozen (version 1): AF_UNIX SOCK_SEQPACKET, host byte order (both ends are on one
// node). The client sends RegisterRequestWire with exactly one descriptor (SCM_RIGHTS); the
// daemon answers RegisterReplyWire. A connection may register any number of arenas; when it
// closes (the client exits, crashes, or closes it) the daemon releases every arena it
// registered. The daemon reads the peer's credentials with SO_PEERCRED. A reply with
// kReplyHasPresence in `flags` carries one descriptor (SCM_RIGHTS): the namespace's presence
// table (shm/presence.h), sealed, for the client to map read-only; a client that reads replies
// without ancillary data (recv) never sees it, and the kernel closes it. A connection that opens
// with a call hello instead carries requests that skip gRPC (shm/side_call.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "shm/registry.h"
#include "shm/side_call.h"

namespace prefixd::shm {

inline constexpr char kWireMagic[8] = {'P', 'F', 'X', 'S', 'H', 'M', '0', '1'};

struct RegisterRequestWire {
  char magic[8];
  uint64_t namespace_id;     // as OpenNamespace returned it
  char namespace_name[136];  // NUL-terminated, at most 128 bytes
};

struct RegisterReplyWire {
  char magic[8];
  int32_t code;  // absl::StatusCode (= gRPC's); 0 OK
  uint32_t flags;  // kReply* bits (was reserved, zero)
  uint64_t arena_id;
  uint64_t arena_bytes;
  uint8_t token[kTokenBytes];
  char message[256];  // NUL-terminated error text when code != 0
};

inline constexpr uint32_t kReplyHasPresence = 1;

// What the daemon granted for one arena.
struct Registration {
  uint64_t arena_id = 0;
  uint64_t arena_bytes = 0;
  Token token{};
  // The namespace's presence table, mapped read-only; null when the daemon sent none or it
  // could not be mapped (then Exists asks the daemon).
  std::shared_ptr<const PresenceView> presence;
};

// The client's end. Thread-safe: Register calls are serialised. Closing (the destructor)
// releases, in the daemon, every arena registered through this connection.
class SideConnection {
 public:
  // Connects to the daemon's side socket at `path`. UNAVAILABLE if nothing listens there.
  static absl::StatusOr<std::unique_ptr<SideConnection>> Connect(const std::string& path);
  ~SideConnection();

  // Sends `memfd` (not closed; the daemon receives its own copy) for the namespace
  // `namespace_name` with id `namespace_id`. The daemon's refusal comes back with its status
  // code and message; its presence table, if it sent one, comes back mapped.
  absl::StatusOr<Registration> Register(int memfd, const std::string& namespace_name,
                                        uint64_t namespace_id);

  // True once the daemon closed its end (it exited or restarted): every arena registered
  // through this connection is gone, and a new connection must register them again.
  bool closed() const;

 private:
  explicit SideConnection(int fd) : fd_(fd) {}
  absl::Mutex mu_;
  const int fd_;
};

// The daemon's end: a thread that accepts side connections, registers the arenas they send
// and releases them when the connection closes; the register and release callbacks run on it,
// one at a time. Each call connection (shm/side_call.h) is served on a thread of its own, so
// `on_call` may run on several threads at once.
class SideListener {
 public:
  // Maps and records an arena; takes ownership of `fd`. Its status goes back to the client.
  using RegisterFn = std::function<absl::StatusOr<std::shared_ptr<const RegisteredArena>>(
      int fd, const Peer& peer, const std::string& namespace_name, uint64_t namespace_id)>;
  using ReleaseFn = std::function<void(uint64_t arena_id)>;

  // Listens on `path` (a stale socket there is replaced; anything else is refused), mode 0660.
  // Without `on_call`, call hellos are refused (UNIMPLEMENTED). `max_connections` counts both
  // kinds of connection.
  static absl::StatusOr<std::unique_ptr<SideListener>> Start(const std::string& path,
                                                             RegisterFn on_register,
                                                             ReleaseFn on_release,
                                                             CallFn on_call = nullptr,
                                                             int max_connections = 1024);

  // Stops the threads, closes every connection (releasing its arenas) and removes the socket.
  // Waits for calls being served to finish.
  ~SideListener();

  // Connections open now, of both kinds.
  int connections() const;

  class Impl;

 private:
  explicit SideListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace prefixd::shm
