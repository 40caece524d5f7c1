// Helpers for unix-domain socket paths. Thread-compatible (no shared state).
#pragma once

#include <sys/un.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prefixd::util {

// Fills `addr` for `path`. INVALID_ARGUMENT if the path is empty or too long.
absl::Status UnixAddress(const std::string& path, sockaddr_un* addr);

// A socket of `type` (SOCK_STREAM, SOCK_SEQPACKET; close-on-exec) connected to `path`; the
// caller owns it. UNAVAILABLE, naming `what` and the path, if nothing listens there.
absl::StatusOr<int> ConnectUnix(const std::string& path, int type, const std::string& what);

// Removes `path` if it is a socket nobody listens on (left by a crash). `type` is the socket
// type served there (SOCK_STREAM, SOCK_SEQPACKET). FAILED_PRECONDITION if it is something
// else, or another process serves it.
absl::Status RemoveStaleSocket(const std::string& path, int type);

}  // namespace prefixd::util
