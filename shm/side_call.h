// Calls over the side socket: requests from a co-located client that skip gRPC.
//
// A gRPC call costs this VM's daemon and client 130-200 µs and several thread hand-offs; a
// request and reply over a unix socket between two processes takes about 25 µs. For the
// shared-memory get, whose pages never travel in the messages, that difference is most of a
// chain of small pages (docs/transport.md). A connection to the side socket that opens with a
// CallHelloWire instead of a registration is a *call connection*: the daemon serves it on a
// thread of its own, one request at a time, in order.
//
// Wire format, frozen (version 1): AF_UNIX SOCK_SEQPACKET, host byte order, one datagram a
// message, none longer than kMaxCallBytes.
//   hello    CallHelloWire. The daemon answers with a RegisterReplyWire (side_channel.h) whose
//            code is 0; a daemon that serves no calls answers UNIMPLEMENTED, and one older than
//            calls INVALID_ARGUMENT (it takes the hello for a malformed registration).
//   request  CallRequestWire, then `payload_bytes` of payload.
//   reply    CallReplyWire, then `message_bytes` of error text (code != 0), then
//            `payload_bytes` of payload (code == 0).
// Kinds: kCallGetShm, payload a serialized prefixd.v1.GetShmRequest, which must name a
// progress board; the reply's payload is a serialized prefixd.v1.GetShmResponse with every
// page's CRC32C and the summary. The checks, limits and errors are those of the GetShm RPC.
// An unknown kind is answered UNIMPLEMENTED; a malformed message INVALID_ARGUMENT, after which
// the daemon closes the connection. Authorisation is the arena token inside the request, as on
// gRPC; the socket's mode (0660) limits who may connect.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace prefixd::shm {

inline constexpr char kCallHelloMagic[8] = {'P', 'F', 'X', 'C', 'A', 'L', '0', '1'};
inline constexpr char kCallRequestMagic[8] = {'P', 'F', 'X', 'R', 'E', 'Q', '0', '1'};
inline constexpr char kCallReplyMagic[8] = {'P', 'F', 'X', 'R', 'E', 'P', '0', '1'};

// The longest message either way, header included: the default socket buffers hold it.
inline constexpr size_t kMaxCallBytes = 64 * 1024;

inline constexpr uint32_t kCallGetShm = 1;

struct CallHelloWire {
  char magic[8];
};

struct CallRequestWire {
  char magic[8];
  uint32_t kind;
  uint32_t payload_bytes;
};

struct CallReplyWire {
  char magic[8];
  int32_t code;  // absl::StatusCode (= gRPC's); 0 OK
  uint32_t message_bytes;
  uint32_t payload_bytes;
  uint32_t reserved;  // zero
};

// The daemon's answer to one request: a status, and on success the payload to send back.
struct CallReply {
  absl::Status status;
  std::string payload;
};

// Serves one request. `peer_gone()` turns true once the client closed its end (it may ask it
// while it works, to stop early).
using CallFn = std::function<CallReply(uint32_t kind, std::string_view payload,
                                       const std::function<bool()>& peer_gone)>;

// The daemon's loop for one call connection, whose hello was answered: reads requests, serves
// them with `serve` and sends the replies, until the client closes the connection, a message
// is malformed, or shutdown(fd) ends it. Does not close `fd`.
void ServeCalls(int fd, const CallFn& serve);

// The client's end of one call connection. Not thread-safe: one call at a time (a client
// keeps a pool of them, one per concurrent request).
class SideCaller {
 public:
  // Connects to the side socket at `path` and opens a call connection. UNIMPLEMENTED when the
  // daemon serves no calls (or is older than them): use gRPC; UNAVAILABLE if nothing listens.
  static absl::StatusOr<std::unique_ptr<SideCaller>> Connect(const std::string& path);
  ~SideCaller();
  SideCaller(const SideCaller&) = delete;
  SideCaller& operator=(const SideCaller&) = delete;

  // Sends a request; INVALID_ARGUMENT (and nothing sent) if it is longer than kMaxCallBytes.
  // A reply left unread (Leave) is read and dropped first.
  absl::Status Send(uint32_t kind, std::string_view payload);

  // Leaves the reply to the request sent unread, for a caller that learned the outcome
  // another way (a progress board): the next Send reads it first, after it has long arrived.
  void Leave() { unread_ = true; }

  // True when a reply, or the connection's end, is waiting: Receive would not block.
  bool ReplyReady() const;

  // The reply to the request sent: its payload, or the daemon's error status. Waits at most
  // `timeout` (absl::InfiniteDuration() for no limit): DEADLINE_EXCEEDED then. UNAVAILABLE if
  // the connection ended.
  absl::StatusOr<std::string> Receive(absl::Duration timeout);

  // True once the connection cannot carry another call: it ended, or a reply was given up on
  // (a late one would be taken for the next call's).
  bool broken() const { return broken_; }

 private:
  explicit SideCaller(int fd) : fd_(fd) {}
  const int fd_;
  bool broken_ = false;
  bool unread_ = false;  // a reply is due that nobody will look at
};

}  // namespace prefixd::shm
