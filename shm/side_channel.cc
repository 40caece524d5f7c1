#include "shm/side_channel.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "util/unix_socket.h"

namespace prefixd::shm {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Receives one datagram and at most one descriptor (extra descriptors are closed). Returns
// the bytes received (0 at end of stream, -1 on error); `*fd` is -1 when none came.
ssize_t RecvWithFd(int sock, void* buf, size_t len, int* fd) {
  *fd = -1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  iovec iov{buf, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int f;
      std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (*fd < 0) {
        *fd = f;
      } else {
        ::close(f);
      }
    }
  }
  if ((msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

// Sends one datagram with descriptor `fd` (none if negative). Returns what sendmsg returns.
ssize_t SendWithFd(int sock, const void* buf, size_t len, int fd, int flags) {
  iovec iov{const_cast<void*>(buf), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return ::sendmsg(sock, &msg, flags);
}

void SendReply(int sock, const absl::StatusOr<std::shared_ptr<const RegisteredArena>>& r) {
  RegisterReplyWire w{};
  std::memcpy(w.magic, kWireMagic, sizeof(w.magic));
  w.code = static_cast<int32_t>(r.status().code());
  if (r.ok() && *r != nullptr) {  // null: a call hello's answer, a bare OK
    w.arena_id = (*r)->id;
    w.arena_bytes = (*r)->arena->size();
    std::memcpy(w.token, (*r)->token.data(), kTokenBytes);
  } else {
    std::string m(r.status().message());
    m.resize(std::min(m.size(), sizeof(w.message) - 1));
    std::memcpy(w.message, m.data(), m.size());
  }
  // The registration holds the table, so its descriptor stays open until sendmsg copies it.
  int presence_fd = -1;
  if (r.ok() && *r != nullptr && (*r)->presence != nullptr) {
    w.flags |= kReplyHasPresence;
    presence_fd = (*r)->presence->fd();
  }
  // A peer that went away just loses its reply; its arena is released when we see the close.
  SendWithFd(sock, &w, sizeof(w), presence_fd, MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

// ---- client end ----

absl::StatusOr<std::unique_ptr<SideConnection>> SideConnection::Connect(const std::string& path) {
  auto fd = util::ConnectUnix(path, SOCK_SEQPACKET, "shared-memory socket");
  if (!fd.ok()) return fd.status();
  timeval tv{10, 0};  // a daemon that never answers a registration is treated as gone
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return std::unique_ptr<SideConnection>(new SideConnection(*fd));
}

SideConnection::~SideConnection() { ::close(fd_); }

bool SideConnection::closed() const {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) != 0;  // the daemon never sends unasked: anything here is a close
}

absl::StatusOr<Registration> SideConnection::Register(int memfd,
                                                      const std::string& namespace_name,
                                                      uint64_t namespace_id) {
  RegisterRequestWire req{};
  if (namespace_name.empty() || namespace_name.size() >= sizeof(req.namespace_name) - 7) {
    return absl::InvalidArgumentError("namespace name must be 1..128 bytes");
  }
  std::memcpy(req.magic, kWireMagic, sizeof(req.magic));
  req.namespace_id = namespace_id;
  std::memcpy(req.namespace_name, namespace_name.data(), namespace_name.size());
  absl::MutexLock lock(&mu_);
  if (SendWithFd(fd_, &req, sizeof(req), memfd, MSG_NOSIGNAL) !=
      static_cast<ssize_t>(sizeof(req))) {
    return Errno("sending the arena to the daemon");
  }
  RegisterReplyWire w{};
  int presence_fd = -1;
  const ssize_t n = RecvWithFd(fd_, &w, sizeof(w), &presence_fd);
  if (n != static_cast<ssize_t>(sizeof(w)) || std::memcmp(w.magic, kWireMagic, 8) != 0) {
    if (presence_fd >= 0) ::close(presence_fd);
    return absl::UnavailableError("the daemon did not answer the arena registration");
  }
  // Only a table the daemon says it sent; one that does not map is done without.
  if (presence_fd >= 0 && (w.flags & kReplyHasPresence) == 0) {
    ::close(presence_fd);
    presence_fd = -1;
  }
  std::shared_ptr<const PresenceView> presence;
  if (presence_fd >= 0) {
    if (auto v = PresenceView::Map(presence_fd); v.ok()) presence = *std::move(v);
  }
  if (w.code != 0) {
    w.message[sizeof(w.message) - 1] = '\0';
    return absl::Status(static_cast<absl::StatusCode>(w.code), w.message);
  }
  Registration r;
  r.arena_id = w.arena_id;
  r.arena_bytes = w.arena_bytes;
  std::memcpy(r.token.data(), w.token, kTokenBytes);
  r.presence = std::move(presence);
  return r;
}

// ---- daemon end ----

class SideListener::Impl {
 public:
  Impl(std::string path, int listen_fd, int wake_fd, RegisterFn reg, ReleaseFn rel, CallFn call,
       int max_conn)
      : path_(std::move(path)), listen_fd_(listen_fd), wake_fd_(wake_fd),
        register_(std::move(reg)), release_(std::move(rel)), call_(std::move(call)),
        max_connections_(max_conn) {
    thread_ = std::thread([this] { Loop(); });
  }

  ~Impl() {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
    thread_.join();
    while (!conns_.empty()) Close(conns_.begin()->first);
    // A call connection's thread ends when its socket is shut down, after the call it serves.
    for (auto& c : calls_) ::shutdown(c->fd, SHUT_RDWR);
    for (auto& c : calls_) {
      c->thread.join();
      ::close(c->fd);
    }
    ::close(listen_fd_);
    ::close(wake_fd_);
    ::unlink(path_.c_str());
  }

  int connections() const { return connection_count_.load(); }

 private:
  void Loop() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      fds.push_back({listen_fd_, POLLIN, 0});
      for (auto& [fd, ids] : conns_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents != 0) return;
      if (fds[1].revents & POLLIN) Accept();
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents != 0) Serve(fds[i].fd);
      }
    }
  }

  void Accept() {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    ReapCalls();
    if (static_cast<int>(conns_.size() + calls_.size()) >= max_connections_) {
      ::close(fd);
      return;
    }
    conns_[fd];
    Count();
  }

  // One registration from `fd`, a call hello, or its close.
  void Serve(int fd) {
    RegisterRequestWire req{};
    int passed = -1;
    ssize_t n = RecvWithFd(fd, &req, sizeof(req), &passed);
    if (n <= 0) {
      if (n < 0 && errno == EMSGSIZE) {
        SendReply(fd, absl::InvalidArgumentError("malformed registration (truncated)"));
        return;
      }
      Close(fd);  // end of stream or error: the client is gone
      return;
    }
    if (n == static_cast<ssize_t>(sizeof(CallHelloWire)) &&
        std::memcmp(req.magic, kCallHelloMagic, sizeof(kCallHelloMagic)) == 0) {
      if (passed >= 0) ::close(passed);
      StartCalls(fd);
      return;
    }
    if (n != static_cast<ssize_t>(sizeof(req)) || std::memcmp(req.magic, kWireMagic, 8) != 0) {
      if (passed >= 0) ::close(passed);
      SendReply(fd, absl::InvalidArgumentError(
                        "not a prefixd shared-memory registration (wrong size or magic)"));
      return;
    }
    if (passed < 0) {
      SendReply(fd, absl::InvalidArgumentError("the registration carried no file descriptor"));
      return;
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      ::close(passed);
      SendReply(fd, absl::InternalError("cannot read the peer's credentials"));
      return;
    }
    req.namespace_name[sizeof(req.namespace_name) - 1] = '\0';
    auto r = register_(passed, Peer{cred.pid, cred.uid, cred.gid},
                       std::string(req.namespace_name), req.namespace_id);
    if (r.ok()) conns_[fd].push_back((*r)->id);
    SendReply(fd, r);
  }

  // Hands call connection `fd` (it just sent its hello) to a thread of its own.
  void StartCalls(int fd) {
    if (!call_) {
      SendReply(fd, absl::UnimplementedError("this daemon serves no calls on its side socket"));
      return;
    }
    if (!conns_[fd].empty()) {
      SendReply(fd, absl::InvalidArgumentError(
                        "a connection that registered arenas cannot carry calls; open another"));
      return;
    }
    ReapCalls();
    conns_.erase(fd);
    SendReply(fd, absl::StatusOr<std::shared_ptr<const RegisteredArena>>(nullptr));
    auto c = std::make_unique<CallConnection>();
    c->fd = fd;
    CallConnection* raw = c.get();
    c->thread = std::thread([this, raw] {
      ServeCalls(raw->fd, call_);
      ::shutdown(raw->fd, SHUT_RDWR);  // the client sees the end now; the reaper closes it
      raw->done.store(true);
    });
    calls_.push_back(std::move(c));
    Count();
  }

  // Joins the threads of call connections that ended and closes their sockets, so that they
  // do not pile up (run on each new connection).
  void ReapCalls() {
    for (auto it = calls_.begin(); it != calls_.end();) {
      if ((*it)->done.load()) {
        (*it)->thread.join();
        ::close((*it)->fd);
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
    Count();
  }

  void Count() {
    connection_count_.store(static_cast<int>(conns_.size() + calls_.size()));
  }

  void Close(int fd) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    for (uint64_t id : it->second) release_(id);
    ::close(fd);
    conns_.erase(it);
    Count();
  }

  const std::string path_;
  const int listen_fd_, wake_fd_;
  const RegisterFn register_;
  const ReleaseFn release_;
  const CallFn call_;
  const int max_connections_;
  std::map<int, std::vector<uint64_t>> conns_;  // owned by the loop thread (and ~Impl after it)
  struct CallConnection {
    int fd = -1;  // closed by whoever joins the thread
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::list<std::unique_ptr<CallConnection>> calls_;  // as conns_
  std::atomic<int> connection_count_{0};
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<SideListener>> SideListener::Start(const std::string& path,
                                                                  RegisterFn on_register,
                                                                  ReleaseFn on_release,
                                                                  CallFn on_call,
                                                                  int max_connections) {
  sockaddr_un addr;
  if (auto s = util::UnixAddress(path, &addr); !s.ok()) return s;
  if (auto s = util::RemoveStaleSocket(path, SOCK_SEQPACKET); !s.ok()) return s;
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::chmod(path.c_str(), 0660) != 0 || ::listen(fd, 64) != 0) {
    auto s = Errno(absl::StrCat("cannot listen on the shared-memory socket ", path));
    ::close(fd);
    return s;
  }
  int wake = ::eventfd(0, EFD_CLOEXEC);
  if (wake < 0) {
    ::close(fd);
    return Errno("eventfd");
  }
  auto impl = std::make_unique<Impl>(path, fd, wake, std::move(on_register),
                                     std::move(on_release), std::move(on_call), max_connections);
  return std::unique_ptr<SideListener>(new SideListener(std::move(impl)));
}

SideListener::SideListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SideListener::~SideListener() = default;
int SideListener::connections() const { return impl_->connections(); }

}  // namespace prefixd::shm
