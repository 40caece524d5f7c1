// End-to-end: pages in GPU memory through CUDA IPC (PutDevice / GetDevice) against the real
// daemon. Callers over TCP are refused; without a GPU the daemon refuses callers on its unix
// socket with the reason and writes nothing; with one (see tests/gpu/check.sh) pages
// round-trip byte-exact and offsets outside the allocation are refused.
#include <signal.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gpu/gpu.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prefixd/v1/prefixd.grpc.pb.h"
#include "tests/daemon.h"

namespace prefixd::testing {
namespace {

constexpr uint64_t kPage = 1 << 20;

// A daemon that also listens on a unix socket under `dir`.
std::vector<std::string> UnixArgs(const TempDir& dir) { return {"--unix", dir.path() + "/p.sock"}; }
std::string UnixTarget(const TempDir& dir) { return "unix://" + dir.path() + "/p.sock"; }

// A PutDeviceRequest or GetDeviceRequest of one page, key "d0", at `offset` of `handle`.
template <typename Request>
Request DeviceRequest(const client::Namespace& ns, const std::string& handle, uint64_t offset,
                      const std::string& device_uuid) {
  Request req;
  req.mutable_ns()->set_name(ns.name);
  req.mutable_ns()->set_id(ns.id);
  req.mutable_chain()->add_keys("d0");
  req.set_ipc_handle(handle);
  req.set_device_uuid(device_uuid);
  req.add_offsets(offset);
  return req;
}

std::unique_ptr<v1::Prefixd::Stub> StubFor(const std::string& target) {
  return v1::Prefixd::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

grpc::Status RawPut(const std::string& target, const client::Namespace& ns,
                    const std::string& handle, uint64_t offset,
                    const std::string& device_uuid = "") {
  grpc::ClientContext ctx;
  v1::PutResponse resp;
  return StubFor(target)->PutDevice(
      &ctx, DeviceRequest<v1::PutDeviceRequest>(ns, handle, offset, device_uuid), &resp);
}

grpc::Status RawGet(const std::string& target, const client::Namespace& ns,
                    const std::string& handle, uint64_t offset) {
  grpc::ClientContext ctx;
  v1::GetDeviceResponse resp;
  return StubFor(target)->GetDevice(
      &ctx, DeviceRequest<v1::GetDeviceRequest>(ns, handle, offset, ""), &resp);
}

// A put and a get of one page through `target` both fail with `code`, saying `why`.
void ExpectBothRefused(const std::string& target, const client::Namespace& ns,
                       grpc::StatusCode code, const std::string& why) {
  const std::string handle(gpu::kIpcHandleBytes, 'h');
  for (const auto& s : {RawPut(target, ns, handle, 0), RawGet(target, ns, handle, 0)}) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_NE(s.error_message().find(why), std::string::npos) << s.error_message();
  }
}

// A handle lets the daemon read and write another process's GPU memory: only callers on its
// unix socket (this node) may use one, whether or not the daemon has a GPU.
TEST(DeviceIpc, CallersOverTcpAreRefused) {
  TempDir dir("device-tcp");
  Daemon d(dir.path() + "/data", UnixArgs(dir));
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("dev", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  ExpectBothRefused(d.target(), *ns, grpc::StatusCode::PERMISSION_DENIED, "unix socket");
  EXPECT_EQ(c->Stats()->pages(), 0u);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(DeviceIpc, WithoutAGpuTheDaemonRefusesWithTheReason) {
  if (gpu::Available().ok()) GTEST_SKIP() << "a GPU is here: the round-trip test covers it";
  TempDir dir("device-off");
  Daemon d(dir.path() + "/data", UnixArgs(dir));
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("dev", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  ExpectBothRefused(UnixTarget(dir), *ns, grpc::StatusCode::FAILED_PRECONDITION,
                    "cannot copy device memory");
  const void* none[1] = {nullptr};
  auto r = c->PutFromDeviceIpc(*ns, client::Chain::FromKeys({"d0"}), none);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(c->Stats()->pages(), 0u);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(DeviceIpc, PagesRoundTripAndOffsetsAreBounded) {
  if (auto s = gpu::Available(); !s.ok()) GTEST_SKIP() << "no GPU here: " << s.message();
  TempDir dir("device-on");
  Daemon d(dir.path() + "/data", UnixArgs(dir));
  d.Start();
  client::ClientOptions o = d.Options();
  o.target = UnixTarget(dir);  // the IPC calls are served to callers on the unix socket only
  auto c = client::Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto ns = (*c)->OpenNamespace("dev", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  constexpr int kPages = 8;
  auto src = gpu::DeviceBuffer::Allocate(kPages * kPage);
  auto dst = gpu::DeviceBuffer::Allocate(kPages * kPage);
  ASSERT_TRUE(src.ok() && dst.ok());
  std::string host;
  for (int i = 0; i < kPages; ++i) host += PageContent(8, i, kPage);
  ASSERT_TRUE(gpu::CopyToDevice((*src)->data(), host.data(), host.size()).ok());
  std::vector<const void*> in;
  std::vector<void*> out;
  for (int i = 0; i < kPages; ++i) {
    in.push_back(static_cast<char*>((*src)->data()) + i * kPage);
    out.push_back(static_cast<char*>((*dst)->data()) + i * kPage);
  }
  auto chain = client::Chain::FromKeys(ChainKeys(8, 0, kPages));
  auto put = (*c)->PutFromDeviceIpc(*ns, chain, in);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->written, static_cast<uint32_t>(kPages));
  auto got = (*c)->GetToDeviceIpc(*ns, chain, out);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->pages, static_cast<uint32_t>(kPages));
  std::string back(host.size(), '\0');
  ASSERT_TRUE(gpu::CopyToHost(back.data(), (*dst)->data(), back.size()).ok());
  EXPECT_TRUE(back == host);
  // The byte path reads what the daemon copied from the device.
  int wrong = -1;
  auto bytes = GetTestChain(**c, *ns, 8, 0, kPages, &wrong);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, kPages);
  EXPECT_EQ(wrong, 0);
  // Offsets past the allocation and handles that open nothing are refused.
  auto ex = gpu::ExportIpc((*src)->data());
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(RawPut(UnixTarget(dir), *ns, ex->handle, ex->size - kPage + 1).error_code(),
            grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(RawPut(UnixTarget(dir), *ns, ex->handle, ~uint64_t{0} - 10).error_code(),
            grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(RawPut(UnixTarget(dir), *ns, std::string(gpu::kIpcHandleBytes, 'x'), 0).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(RawPut(UnixTarget(dir), *ns, "short", 0).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A GPU the daemon does not see.
  EXPECT_EQ(RawPut(UnixTarget(dir), *ns, ex->handle, 0, std::string(gpu::kDeviceUuidBytes, 'u'))
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Exported from a thread that has made no CUDA call (no current context), the same
  // allocation and GPU.
  absl::StatusOr<gpu::IpcExport> fresh = absl::UnknownError("not run");
  std::thread([&] { fresh = gpu::ExportIpc(in[3]); }).join();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->base, ex->base);
  EXPECT_EQ(fresh->size, ex->size);
  EXPECT_EQ(fresh->device_uuid, ex->device_uuid);
  // Host memory is no device page.
  EXPECT_EQ(gpu::ExportIpc(host.data()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace prefixd::testing
