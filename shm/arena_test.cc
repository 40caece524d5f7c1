#include "shm/arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "gtest/gtest.h"
#include "shm/registry.h"

namespace prefixd::shm {
namespace {

TEST(Arena, CreateAndAdoptShareTheBytes) {
  auto a = Arena::Create(100000, "test");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->size() % 4096, 0u);
  EXPECT_GE((*a)->size(), 100000u);
  auto b = Arena::Adopt(::dup((*a)->fd()), uint64_t{1} << 30);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->fd(), -1);
  std::memcpy((*a)->data() + 5000, "prefix", 6);
  EXPECT_EQ(std::memcmp((*b)->data() + 5000, "prefix", 6), 0);
}

TEST(Arena, SliceRejectsEverythingOutside) {
  auto a = Arena::Create(8192, "test");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE((*a)->Slice(0, 8192).ok());
  EXPECT_TRUE((*a)->Slice(8191, 1).ok());
  EXPECT_EQ((*a)->Slice(8192, 1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*a)->Slice(1, 8192).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*a)->Slice(~uint64_t{0}, 2).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*a)->Slice(4096, ~uint64_t{0} - 100).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*a)->Slice(0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Arena, AdoptRefusesUnsealedMemfd) {
  int fd = ::memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  auto r = Arena::Adopt(fd, 1 << 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("resizing"), std::string::npos) << r.status();
}

TEST(Arena, AdoptRefusesMemfdThatCannotBeSealed) {
  int fd = ::memfd_create("no-sealing", MFD_CLOEXEC);  // carries F_SEAL_SEAL only
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  EXPECT_EQ(Arena::Adopt(fd, 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Arena, AdoptRefusesRegularFilesAndPipes) {
  char path[] = "/tmp/prefixd-arena-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  auto r = Arena::Adopt(fd, 1 << 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a memfd"), std::string::npos) << r.status();
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  EXPECT_EQ(Arena::Adopt(p[0], 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  ::close(p[1]);
}

TEST(Arena, AdoptRefusesOversizedAndWriteSealed) {
  auto a = Arena::Create(1 << 20, "big");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Arena::Adopt(::dup((*a)->fd()), 4096).status().code(),
            absl::StatusCode::kInvalidArgument);
  int fd = ::memfd_create("ro", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  ASSERT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
  EXPECT_EQ(Arena::Adopt(fd, 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Arena, CreateRejectsZeroBytes) {
  EXPECT_EQ(Arena::Create(0, "zero").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Registry, TokenAndNamespaceAreChecked) {
  ArenaRegistry reg({.max_arenas = 2, .max_bytes = 1 << 20});
  auto a = Arena::Create(4096, "a");
  ASSERT_TRUE(a.ok());
  auto e = reg.Add(*std::move(a), 7, Peer{1, 2, 3});
  ASSERT_TRUE(e.ok()) << e.status();
  std::string token((*e)->token.begin(), (*e)->token.end());
  EXPECT_TRUE(reg.Find((*e)->id, token, 7).ok());
  std::string wrong = token;
  wrong[15] ^= 1;
  EXPECT_EQ(reg.Find((*e)->id, wrong, 7).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reg.Find((*e)->id, token.substr(0, 8), 7).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reg.Find((*e)->id, token, 8).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reg.Find((*e)->id + 1, token, 7).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg.arenas(), 1u);
  EXPECT_EQ(reg.mapped_bytes(), 4096u);

  // A request that found the arena keeps it mapped after it is released.
  auto held = reg.Find((*e)->id, token, 7);
  reg.Remove((*e)->id);
  EXPECT_EQ(reg.Find((*e)->id, token, 7).status().code(), absl::StatusCode::kNotFound);
  (*held)->arena->data()[0] = 1;  // still mapped
  EXPECT_EQ(reg.arenas(), 0u);
  EXPECT_EQ(reg.mapped_bytes(), 0u);
}

TEST(Registry, LimitsAreEnforced) {
  ArenaRegistry reg({.max_arenas = 2, .max_bytes = 3 * 4096});
  auto add = [&](uint64_t bytes) {
    auto a = Arena::Create(bytes, "x");
    EXPECT_TRUE(a.ok());
    return reg.Add(*std::move(a), 1, Peer{});
  };
  ASSERT_TRUE(add(4096).ok());
  EXPECT_EQ(add(3 * 4096).status().code(), absl::StatusCode::kResourceExhausted);
  auto second = add(2 * 4096);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(add(4096).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE((*second)->id, 1u);
}

}  // namespace
}  // namespace prefixd::shm
