#include "shm/side_call.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "shm/side_channel.h"
#include "util/unix_socket.h"

namespace prefixd::shm {
namespace {

class SideCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("prefixd-call-" + std::to_string(::getpid()) + ".sock")).string();
  }

  // Starts the listener with `serve` as its call handler (none: calls refused).
  void Listen(CallFn serve) {
    auto l = SideListener::Start(
        path_,
        [](int fd, const Peer&, const std::string&, uint64_t) {
          ::close(fd);
          return absl::StatusOr<std::shared_ptr<const RegisteredArena>>(
              absl::UnimplementedError("no arenas here"));
        },
        [](uint64_t) {}, std::move(serve));
    ASSERT_TRUE(l.ok()) << l.status();
    listener_ = *std::move(l);
  }

  std::unique_ptr<SideCaller> Caller() {
    auto c = SideCaller::Connect(path_);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // A raw connection that said hello: for messages the client library would never send.
  int RawCallConnection() {
    sockaddr_un addr;
    EXPECT_TRUE(util::UnixAddress(path_, &addr).ok());
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};  // a daemon that never answers fails the test rather than hangs it
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    CallHelloWire hello;
    std::memcpy(hello.magic, kCallHelloMagic, 8);
    EXPECT_EQ(::send(fd, &hello, sizeof(hello), 0), static_cast<ssize_t>(sizeof(hello)));
    RegisterReplyWire w{};
    EXPECT_EQ(::recv(fd, &w, sizeof(w), 0), static_cast<ssize_t>(sizeof(w)));
    EXPECT_EQ(w.code, 0);
    return fd;
  }

  // The code of the reply waiting on raw connection `fd`, then whether the daemon closed it.
  static int32_t ReplyCode(int fd, bool* closed) {
    char buf[kMaxCallBytes];
    CallReplyWire w{};
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < static_cast<ssize_t>(sizeof(w))) return -1;
    std::memcpy(&w, buf, sizeof(w));
    char more;
    *closed = ::recv(fd, &more, 1, 0) == 0;
    return w.code;
  }

  std::string path_;
  std::unique_ptr<SideListener> listener_;
};

TEST_F(SideCallTest, RequestsAndRepliesRoundTripInOrder) {
  Listen([](uint32_t kind, std::string_view payload, const std::function<bool()>&) {
    return CallReply{absl::OkStatus(),
                     std::to_string(kind) + ":" + std::string(payload.rbegin(), payload.rend())};
  });
  auto c = Caller();
  ASSERT_NE(c, nullptr);
  for (size_t size : {size_t{0}, size_t{1}, size_t{1000}, kMaxCallBytes - 64}) {
    std::string payload(size, 'a');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    ASSERT_TRUE(c->Send(7, payload).ok());
    auto r = c->Receive(absl::Seconds(10));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, "7:" + std::string(payload.rbegin(), payload.rend())) << size;
  }
  EXPECT_FALSE(c->broken());
  EXPECT_EQ(listener_->connections(), 1);
}

// A reply left unread is read by the next Send: the next Receive gets its own call's reply.
TEST_F(SideCallTest, AReplyLeftUnreadIsNotTakenForTheNextCalls) {
  Listen([](uint32_t kind, std::string_view payload, const std::function<bool()>&) {
    return CallReply{absl::OkStatus(), std::to_string(kind) + std::string(payload)};
  });
  auto c = Caller();
  ASSERT_NE(c, nullptr);
  for (uint32_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(c->Send(i, "a").ok());
    if (i % 2 == 0) {
      c->Leave();
      continue;
    }
    auto r = c->Receive(absl::Seconds(10));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, std::to_string(i) + "a");
  }
  EXPECT_FALSE(c->broken());
}

TEST_F(SideCallTest, ErrorsComeBackWithTheirCodeAndTheConnectionGoesOn) {
  Listen([](uint32_t kind, std::string_view, const std::function<bool()>&) {
    if (kind == 1) return CallReply{absl::NotFoundError("no such page"), "ignored"};
    return CallReply{absl::OkStatus(), "fine"};
  });
  auto c = Caller();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Send(1, "x").ok());
  auto r = c->Receive(absl::Seconds(10));
  EXPECT_EQ(r.status(), absl::NotFoundError("no such page"));
  ASSERT_TRUE(c->Send(2, "x").ok());
  r = c->Receive(absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "fine");
  // Too long to send: refused here, nothing sent, the connection still good.
  EXPECT_EQ(c->Send(2, std::string(kMaxCallBytes, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(c->broken());
}

TEST_F(SideCallTest, AListenerWithoutCallsRefusesTheHello) {
  Listen(nullptr);
  auto c = SideCaller::Connect(path_);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented) << c.status();
}

// A daemon older than calls takes the hello for a malformed registration and answers
// INVALID_ARGUMENT: the client hears "no calls" (UNIMPLEMENTED) and uses gRPC.
TEST_F(SideCallTest, AnOlderDaemonsRefusalMeansNoCalls) {
  sockaddr_un addr;
  ASSERT_TRUE(util::UnixAddress(path_, &addr).ok());
  ::unlink(path_.c_str());
  int listener = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  std::thread old_daemon([listener] {  // what a daemon before calls answered: the reply only
    int fd = ::accept(listener, nullptr, nullptr);
    char buf[256];
    if (::recv(fd, buf, sizeof(buf), 0) > 0) {
      RegisterReplyWire w{};
      std::memcpy(w.magic, kWireMagic, 8);
      w.code = static_cast<int32_t>(absl::StatusCode::kInvalidArgument);
      std::strcpy(w.message, "not a prefixd shared-memory registration (wrong size or magic)");
      ::send(fd, &w, sizeof(w), 0);
    }
    ::close(fd);
  });
  auto c = SideCaller::Connect(path_);
  old_daemon.join();
  ::close(listener);
  ::unlink(path_.c_str());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented) << c.status();
}

TEST_F(SideCallTest, MalformedRequestsAreRefusedAndTheConnectionClosed) {
  std::atomic<int> served{0};
  Listen([&](uint32_t, std::string_view, const std::function<bool()>&) {
    ++served;
    return CallReply{absl::OkStatus(), ""};
  });
  bool closed = false;
  {  // wrong magic
    int fd = RawCallConnection();
    CallRequestWire w{};
    std::memcpy(w.magic, "PFXNOPE!", 8);
    ASSERT_EQ(::send(fd, &w, sizeof(w), 0), static_cast<ssize_t>(sizeof(w)));
    EXPECT_EQ(ReplyCode(fd, &closed), static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
    EXPECT_TRUE(closed);
    ::close(fd);
  }
  {  // a payload length that is not what came
    int fd = RawCallConnection();
    char buf[sizeof(CallRequestWire) + 10] = {};
    CallRequestWire w{};
    std::memcpy(w.magic, kCallRequestMagic, 8);
    w.payload_bytes = 11;
    std::memcpy(buf, &w, sizeof(w));
    ASSERT_EQ(::send(fd, buf, sizeof(buf), 0), static_cast<ssize_t>(sizeof(buf)));
    EXPECT_EQ(ReplyCode(fd, &closed), static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
    EXPECT_TRUE(closed);
    ::close(fd);
  }
  {  // too short for a header
    int fd = RawCallConnection();
    ASSERT_EQ(::send(fd, "PFX", 3, 0), 3);
    EXPECT_EQ(ReplyCode(fd, &closed), static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
    EXPECT_TRUE(closed);
    ::close(fd);
  }
  {  // longer than a call message
    int fd = RawCallConnection();
    int bytes = 4 * kMaxCallBytes;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
    std::string big(kMaxCallBytes + 1, '\0');
    CallRequestWire w{};
    std::memcpy(w.magic, kCallRequestMagic, 8);
    w.payload_bytes = static_cast<uint32_t>(big.size() - sizeof(w));
    std::memcpy(big.data(), &w, sizeof(w));
    ASSERT_EQ(::send(fd, big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
    EXPECT_EQ(ReplyCode(fd, &closed), static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
    EXPECT_TRUE(closed);
    ::close(fd);
  }
  EXPECT_EQ(served.load(), 0);
}

TEST_F(SideCallTest, CallsOfDifferentConnectionsRunAtOnce) {
  absl::Mutex mu;
  int inside = 0;
  Listen([&](uint32_t, std::string_view, const std::function<bool()>&) {
    absl::MutexLock l(&mu);
    ++inside;
    // Each call waits for the other to come in: served one at a time, both would time out.
    const bool both = mu.AwaitWithTimeout(
        absl::Condition(+[](int* n) { return *n >= 2; }, &inside), absl::Seconds(10));
    return CallReply{absl::OkStatus(), both ? "both" : "alone"};
  });
  auto a = Caller();
  auto b = Caller();
  ASSERT_TRUE(a != nullptr && b != nullptr);
  ASSERT_TRUE(a->Send(1, "").ok());
  ASSERT_TRUE(b->Send(1, "").ok());
  auto ra = a->Receive(absl::Seconds(20));
  auto rb = b->Receive(absl::Seconds(20));
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(*ra, "both");
  EXPECT_EQ(*rb, "both");
}

TEST_F(SideCallTest, TheHandlerSeesItsClientGo) {
  std::atomic<bool> started{false}, saw_gone{false};
  Listen([&](uint32_t, std::string_view, const std::function<bool()>& peer_gone) {
    started = true;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!peer_gone() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    saw_gone = peer_gone();
    return CallReply{absl::OkStatus(), ""};
  });
  auto c = Caller();
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->ReplyReady());
  ASSERT_TRUE(c->Send(1, "").ok());
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  c.reset();  // the client goes mid-call
  for (int i = 0; i < 1000 && !saw_gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(saw_gone);
}

TEST_F(SideCallTest, AReplyGivenUpOnBreaksTheConnection) {
  Listen([](uint32_t, std::string_view, const std::function<bool()>&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return CallReply{absl::OkStatus(), "late"};
  });
  auto c = Caller();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Send(1, "").ok());
  EXPECT_EQ(c->Receive(absl::Milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(c->broken());  // the late reply would be taken for the next call's
}

TEST_F(SideCallTest, StoppingTheListenerWaitsForTheCallBeingServed) {
  std::atomic<bool> started{false}, finished{false};
  Listen([&](uint32_t, std::string_view, const std::function<bool()>&) {
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    finished = true;
    return CallReply{absl::OkStatus(), ""};
  });
  auto c = Caller();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Send(1, "").ok());
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  listener_.reset();
  EXPECT_TRUE(finished) << "the listener stopped while a call it serves ran";
  // The reply was sent before the connection was closed, or the connection just ended.
  auto r = c->Receive(absl::Seconds(5));
  EXPECT_TRUE(r.ok() || r.status().code() == absl::StatusCode::kUnavailable) << r.status();
}

}  // namespace
}  // namespace prefixd::shm
