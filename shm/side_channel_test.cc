#include "shm/side_channel.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "util/unix_socket.h"

namespace prefixd::shm {
namespace {

class SideChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("prefixd-side-" + std::to_string(::getpid()) + ".sock")).string();
    auto l = SideListener::Start(
        path_,
        [this](int fd, const Peer& peer, const std::string& name, uint64_t ns) {
          last_name_ = name;
          last_peer_ = peer;
          if (ns == 0) {
            ::close(fd);
            return absl::StatusOr<std::shared_ptr<const RegisteredArena>>(
                absl::NotFoundError("no namespace 0"));
          }
          auto a = Arena::Adopt(fd, 1 << 30);
          if (!a.ok()) return absl::StatusOr<std::shared_ptr<const RegisteredArena>>(a.status());
          return registry_.Add(*std::move(a), ns, peer);
        },
        [this](uint64_t id) { registry_.Remove(id); });
    ASSERT_TRUE(l.ok()) << l.status();
    listener_ = *std::move(l);
  }

  // Waits until the registry holds `n` arenas (the listener runs on its own thread).
  bool WaitForArenas(uint64_t n) {
    for (int i = 0; i < 500; ++i) {
      if (registry_.arenas() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string path_;
  ArenaRegistry registry_{RegistryLimits{}};
  Peer last_peer_;
  std::string last_name_;
  std::unique_ptr<SideListener> listener_;
};

TEST_F(SideChannelTest, RegistersAndReleasesOnClose) {
  auto arena = Arena::Create(1 << 20, "client");
  ASSERT_TRUE(arena.ok());
  auto conn = SideConnection::Connect(path_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto r = (*conn)->Register((*arena)->fd(), "llama", 42);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(last_name_, "llama");
  EXPECT_EQ(r->arena_bytes, (*arena)->size());
  EXPECT_EQ(last_peer_.pid, ::getpid());
  EXPECT_EQ(last_peer_.uid, ::getuid());
  std::string token(r->token.begin(), r->token.end());
  auto found = registry_.Find(r->arena_id, token, 42);
  ASSERT_TRUE(found.ok()) << found.status();
  // Both sides see the same bytes.
  std::memcpy((*arena)->data() + 100, "kv", 2);
  EXPECT_EQ(std::memcmp((*found)->arena->data() + 100, "kv", 2), 0);
  // A second arena on the same connection.
  auto arena2 = Arena::Create(4096, "client2");
  ASSERT_TRUE(arena2.ok());
  ASSERT_TRUE((*conn)->Register((*arena2)->fd(), "ns", 42).ok());
  EXPECT_EQ(registry_.arenas(), 2u);
  conn->reset();  // closing the side socket releases both
  EXPECT_TRUE(WaitForArenas(0));
}

TEST_F(SideChannelTest, RefusalsComeBackWithTheirCode) {
  auto conn = SideConnection::Connect(path_);
  ASSERT_TRUE(conn.ok());
  auto arena = Arena::Create(4096, "client");
  ASSERT_TRUE(arena.ok());
  auto r = (*conn)->Register((*arena)->fd(), "ns", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "no namespace 0");
  // An unsealed memfd is refused by Adopt, and the connection stays usable.
  int raw = ::memfd_create("raw", MFD_CLOEXEC);
  ASSERT_EQ(::ftruncate(raw, 4096), 0);
  EXPECT_EQ((*conn)->Register(raw, "ns", 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*conn)->Register(raw, std::string(200, 'n'), 5).status().code(),
            absl::StatusCode::kInvalidArgument);
  ::close(raw);
  EXPECT_TRUE((*conn)->Register((*arena)->fd(), "ns", 5).ok());
}

TEST_F(SideChannelTest, GarbageAndMissingDescriptorsAreRefused) {
  sockaddr_un addr;
  ASSERT_TRUE(util::UnixAddress(path_, &addr).ok());
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  RegisterReplyWire reply{};
  ASSERT_EQ(::send(fd, "hello", 5, 0), 5);
  ASSERT_EQ(::recv(fd, &reply, sizeof(reply), 0), static_cast<ssize_t>(sizeof(reply)));
  EXPECT_EQ(reply.code, static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  RegisterRequestWire req{};
  std::memcpy(req.magic, kWireMagic, 8);
  req.namespace_id = 1;
  ASSERT_EQ(::send(fd, &req, sizeof(req), 0), static_cast<ssize_t>(sizeof(req)));
  ASSERT_EQ(::recv(fd, &reply, sizeof(reply), 0), static_cast<ssize_t>(sizeof(reply)));
  EXPECT_EQ(reply.code, static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(reply.message).find("no file descriptor"), std::string::npos);
  ::close(fd);
  EXPECT_EQ(registry_.arenas(), 0u);
}

TEST_F(SideChannelTest, SecondListenerOnALiveSocketIsRefused) {
  auto again = SideListener::Start(path_, nullptr, nullptr);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
}

TEST(SideChannel, ConnectToNothingIsUnavailable) {
  auto c = SideConnection::Connect("/tmp/prefixd-no-such-socket");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace prefixd::shm
