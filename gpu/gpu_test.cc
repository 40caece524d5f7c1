#include "gpu/gpu.h"

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shm/arena.h"

namespace prefixd::gpu {
namespace {

TEST(Gpu, DetectionAnswersWithAReason) {
  absl::Status s = Available();
  if (!s.ok()) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_FALSE(s.message().empty());
    // Every GPU call then refuses cleanly instead of crashing.
    int x = 0;
    EXPECT_EQ(PinnedRegion::Pin(&x, sizeof(x)).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(CopyStream::Create().status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(DeviceBuffer::Allocate(4096).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(ExportIpc(&x).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(IpcMapping::Open(std::string(kIpcHandleBytes, 'h')).status().code(),
              absl::StatusCode::kUnavailable);
    EXPECT_EQ(CopyToDevice(&x, &x, sizeof(x)).code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(CopyToHost(&x, &x, sizeof(x)).code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(Available().code(), s.code());  // detected once, the same answer
}

// Device -> pinned shared-memory arena -> device, byte-exact. Needs a GPU.
TEST(Gpu, PinnedArenaRoundTripsThroughTheDevice) {
  if (auto s = Available(); !s.ok()) GTEST_SKIP() << "no GPU here: " << s.message();
  constexpr uint64_t kPage = 1 << 20, kPages = 8;
  auto arena = shm::Arena::Create(2 * kPages * kPage, "gpu-test");
  ASSERT_TRUE(arena.ok());
  auto pin = PinnedRegion::Pin((*arena)->data(), (*arena)->size());
  ASSERT_TRUE(pin.ok()) << pin.status();
  auto dev = DeviceBuffer::Allocate(kPages * kPage);
  ASSERT_TRUE(dev.ok()) << dev.status();
  auto stream = CopyStream::Create();
  ASSERT_TRUE(stream.ok()) << stream.status();
  uint8_t* in = (*arena)->data();
  uint8_t* out = in + kPages * kPage;
  for (uint64_t i = 0; i < kPages * kPage; ++i) in[i] = static_cast<uint8_t>(i * 131 + 7);
  std::vector<Copy> up, down;
  for (uint64_t p = 0; p < kPages; ++p) {
    char* d = static_cast<char*>((*dev)->data()) + p * kPage;
    up.push_back({d, in + p * kPage, kPage});
    down.push_back({out + p * kPage, d, kPage});
  }
  ASSERT_TRUE((*stream)->HostToDevice(up).ok());
  ASSERT_TRUE((*stream)->DeviceToHost(down).ok());
  EXPECT_EQ(std::memcmp(in, out, kPages * kPage), 0);
}

// A stream made for device pages, from a thread that has made no CUDA call; an arena pinned
// again once unpinned (the region gave it back); host memory is no device page.
TEST(Gpu, StreamsFollowThePagesAndPinsAreGivenBack) {
  if (auto s = Available(); !s.ok()) GTEST_SKIP() << "no GPU here: " << s.message();
  constexpr uint64_t kPage = 1 << 20;
  auto arena = shm::Arena::Create(2 * kPage, "gpu-test");
  ASSERT_TRUE(arena.ok());
  auto dev = DeviceBuffer::Allocate(kPage);
  ASSERT_TRUE(dev.ok()) << dev.status();
  {
    auto pin = PinnedRegion::Pin((*arena)->data(), (*arena)->size());
    ASSERT_TRUE(pin.ok()) << pin.status();
  }
  auto pin = PinnedRegion::Pin((*arena)->data(), (*arena)->size());
  ASSERT_TRUE(pin.ok()) << "pinned again after the first region went: " << pin.status();
  uint8_t* in = (*arena)->data();
  uint8_t* out = in + kPage;
  for (uint64_t i = 0; i < kPage; ++i) in[i] = static_cast<uint8_t>(i * 7 + 1);
  absl::Status copied = absl::UnknownError("not run");
  std::thread([&] {
    auto stream = CopyStream::Create((*dev)->data());
    if (!stream.ok()) {
      copied = stream.status();
      return;
    }
    const Copy up{(*dev)->data(), in, kPage}, down{out, (*dev)->data(), kPage};
    copied = (*stream)->HostToDevice({&up, 1});
    if (copied.ok()) copied = (*stream)->DeviceToHost({&down, 1});
  }).join();
  ASSERT_TRUE(copied.ok()) << copied;
  EXPECT_EQ(std::memcmp(in, out, kPage), 0);
  EXPECT_EQ(CopyStream::Create(in).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace prefixd::gpu
