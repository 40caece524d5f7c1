#include "shm/side_call.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "shm/side_channel.h"
#include "util/unix_socket.h"

namespace prefixd::shm {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Receives one datagram into `buf` (resized to what came). 0 at end of stream, -1 on error;
// a datagram longer than kMaxCallBytes is an error with errno EMSGSIZE.
ssize_t RecvMessage(int fd, std::vector<char>& buf) {
  buf.resize(kMaxCallBytes);
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  do {
    n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  if ((msg.msg_flags & MSG_TRUNC) != 0) {
    errno = EMSGSIZE;
    return -1;
  }
  buf.resize(static_cast<size_t>(n));
  return n;
}

// Sends `parts` (at most 4) as one datagram; false if it did not all go.
bool SendParts(int fd, std::initializer_list<std::string_view> parts) {
  iovec iov[4];
  if (parts.size() > 4) return false;
  size_t count = 0, total = 0;
  for (std::string_view p : parts) {
    iov[count++] = iovec{const_cast<char*>(p.data()), p.size()};
    total += p.size();
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(total);
}

bool SendReply(int fd, const absl::Status& status, std::string_view payload) {
  std::string message(status.message());
  if (!status.ok()) payload = {};
  CallReplyWire w{};
  message.resize(std::min(message.size(), kMaxCallBytes - sizeof(w)));
  if (sizeof(w) + message.size() + payload.size() > kMaxCallBytes) {
    return SendReply(fd,
                     absl::InternalError(absl::StrCat("the reply (", payload.size(),
                                                      " bytes) does not fit a call message")),
                     {});
  }
  std::memcpy(w.magic, kCallReplyMagic, sizeof(w.magic));
  w.code = static_cast<int32_t>(status.code());
  w.message_bytes = static_cast<uint32_t>(message.size());
  w.payload_bytes = static_cast<uint32_t>(payload.size());
  return SendParts(fd, {std::string_view(reinterpret_cast<const char*>(&w), sizeof(w)), message,
                        payload});
}

}  // namespace

void ServeCalls(int fd, const CallFn& serve) {
  const std::function<bool()> peer_gone = [fd] {
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  };
  std::vector<char> buf;
  for (;;) {
    const ssize_t n = RecvMessage(fd, buf);
    if (n <= 0) {
      if (n < 0 && errno == EMSGSIZE) {
        SendReply(fd, absl::InvalidArgumentError(absl::StrCat(
                          "a call message is at most ", kMaxCallBytes, " bytes")), {});
      }
      return;  // end of stream, an error, or shutdown: the connection is done
    }
    CallRequestWire req;
    if (buf.size() < sizeof(req)) {
      SendReply(fd, absl::InvalidArgumentError("not a prefixd call (too short)"), {});
      return;
    }
    std::memcpy(&req, buf.data(), sizeof(req));
    if (std::memcmp(req.magic, kCallRequestMagic, sizeof(req.magic)) != 0 ||
        req.payload_bytes != buf.size() - sizeof(req)) {
      SendReply(fd, absl::InvalidArgumentError(
                        "not a prefixd call (wrong magic, or a payload of the wrong length)"),
                {});
      return;
    }
    const std::string_view payload(buf.data() + sizeof(req), req.payload_bytes);
    CallReply r = serve(req.kind, payload, peer_gone);
    if (!SendReply(fd, r.status, r.payload)) return;
  }
}

absl::StatusOr<std::unique_ptr<SideCaller>> SideCaller::Connect(const std::string& path) {
  auto connected = util::ConnectUnix(path, SOCK_SEQPACKET, "shared-memory socket");
  if (!connected.ok()) return connected.status();
  const int fd = *connected;
  std::unique_ptr<SideCaller> c(new SideCaller(fd));
  CallHelloWire hello;
  std::memcpy(hello.magic, kCallHelloMagic, sizeof(hello.magic));
  if (::send(fd, &hello, sizeof(hello), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(hello))) {
    return Errno("sending the call hello");
  }
  RegisterReplyWire w{};
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10'000) <= 0) {  // as for a registration: a silent daemon is gone
    return absl::UnavailableError("the daemon did not answer the call hello");
  }
  const ssize_t n = ::recv(fd, &w, sizeof(w), 0);
  if (n != static_cast<ssize_t>(sizeof(w)) || std::memcmp(w.magic, kWireMagic, 8) != 0) {
    return absl::UnavailableError("the daemon did not answer the call hello");
  }
  if (w.code != 0) {
    w.message[sizeof(w.message) - 1] = '\0';
    return absl::UnimplementedError(
        absl::StrCat("the daemon serves no calls on its side socket: ", w.message));
  }
  return c;
}

SideCaller::~SideCaller() { ::close(fd_); }

absl::Status SideCaller::Send(uint32_t kind, std::string_view payload) {
  if (unread_) {
    unread_ = false;
    // Its outcome is known; only the connection's state matters. A daemon gone quiet breaks it.
    if (auto r = Receive(absl::Seconds(10)); !r.ok() && broken_) return r.status();
  }
  CallRequestWire w{};
  if (sizeof(w) + payload.size() > kMaxCallBytes) {
    return absl::InvalidArgumentError(absl::StrCat("a call of ", payload.size(),
                                                   " bytes is longer than a call message"));
  }
  std::memcpy(w.magic, kCallRequestMagic, sizeof(w.magic));
  w.kind = kind;
  w.payload_bytes = static_cast<uint32_t>(payload.size());
  if (!SendParts(fd_, {std::string_view(reinterpret_cast<const char*>(&w), sizeof(w)), payload})) {
    broken_ = true;
    return Errno("sending a call to the daemon");
  }
  return absl::OkStatus();
}

bool SideCaller::ReplyReady() const {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0;
}

absl::StatusOr<std::string> SideCaller::Receive(absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  for (;;) {
    int ms = -1;
    if (timeout != absl::InfiniteDuration()) {
      ms = static_cast<int>(
          std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Ceil(give_up - absl::Now(),
                                                                   absl::Milliseconds(1)))));
    }
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    const int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      broken_ = true;
      return Errno("waiting for the daemon's reply");
    }
    if (r == 0) {
      broken_ = true;
      return absl::DeadlineExceededError("the daemon's reply did not come in time");
    }
    break;
  }
  std::vector<char> buf;
  const ssize_t n = RecvMessage(fd_, buf);
  CallReplyWire w;
  if (n <= 0 || buf.size() < sizeof(w)) {
    broken_ = true;
    return absl::UnavailableError("the daemon closed the call connection");
  }
  std::memcpy(&w, buf.data(), sizeof(w));
  if (std::memcmp(w.magic, kCallReplyMagic, sizeof(w.magic)) != 0 ||
      uint64_t{w.message_bytes} + w.payload_bytes != buf.size() - sizeof(w)) {
    broken_ = true;
    return absl::UnavailableError("the daemon's reply is malformed");
  }
  const char* at = buf.data() + sizeof(w);
  if (w.code != 0) {
    return absl::Status(static_cast<absl::StatusCode>(w.code),
                        absl::string_view(at, w.message_bytes));
  }
  return std::string(at + w.message_bytes, w.payload_bytes);
}

}  // namespace prefixd::shm
