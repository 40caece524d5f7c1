// prefixd::gpu with the CUDA runtime (CUDA::cudart; never the driver library).
#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "gpu/gpu.h"

namespace prefixd::gpu {
namespace {

absl::Status FromCuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", cudaGetErrorName(e), " (",
                                             cudaGetErrorString(e), ")"));
}

absl::Status Detect() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice) {
    cudaGetLastError();  // clear the sticky error
    return absl::UnavailableError(absl::StrCat(
        "no usable GPU: ", cudaGetErrorName(e),
        e == cudaErrorInsufficientDriver ? " (no NVIDIA driver, or one too old for this toolkit)"
                                         : " (no CUDA device)",
        "; the GPU path is off, host paths work"));
  }
  if (e != cudaSuccess) return FromCuda(e, "cudaGetDeviceCount");
  if (n == 0) return absl::UnavailableError("no CUDA device; the GPU path is off");
  return absl::OkStatus();
}

}  // namespace

absl::Status Available() {
  static const absl::Status* kStatus = new absl::Status(Detect());
  return *kStatus;
}

absl::StatusOr<std::unique_ptr<PinnedRegion>> PinnedRegion::Pin(void* data, uint64_t bytes) {
  if (auto s = Available(); !s.ok()) return s;
  if (auto s = FromCuda(cudaHostRegister(data, bytes, cudaHostRegisterDefault),
                        "cudaHostRegister of the arena");
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<PinnedRegion>(new PinnedRegion(data));
}

PinnedRegion::~PinnedRegion() { cudaHostUnregister(data_); }

absl::StatusOr<std::unique_ptr<CopyStream>> CopyStream::Create() {
  if (auto s = Available(); !s.ok()) return s;
  cudaStream_t st = nullptr;
  if (auto s = FromCuda(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<CopyStream>(new CopyStream(st));
}

CopyStream::~CopyStream() { cudaStreamDestroy(static_cast<cudaStream_t>(stream_)); }

namespace {

absl::Status CopyAll(cudaStream_t st, std::span<const Copy> copies, cudaMemcpyKind kind) {
  for (const Copy& c : copies) {
    if (auto s = FromCuda(cudaMemcpyAsync(c.dst, c.src, c.bytes, kind, st), "cudaMemcpyAsync");
        !s.ok()) {
      cudaStreamSynchronize(st);
      return s;
    }
  }
  return FromCuda(cudaStreamSynchronize(st), "cudaStreamSynchronize");
}

}  // namespace

absl::Status CopyStream::DeviceToHost(std::span<const Copy> copies) {
  return CopyAll(static_cast<cudaStream_t>(stream_), copies, cudaMemcpyDeviceToHost);
}

absl::Status CopyStream::HostToDevice(std::span<const Copy> copies) {
  return CopyAll(static_cast<cudaStream_t>(stream_), copies, cudaMemcpyHostToDevice);
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> DeviceBuffer::Allocate(uint64_t bytes) {
  if (auto s = Available(); !s.ok()) return s;
  void* p = nullptr;
  if (auto s = FromCuda(cudaMalloc(&p, bytes), "cudaMalloc"); !s.ok()) return s;
  return std::unique_ptr<DeviceBuffer>(new DeviceBuffer(p, bytes));
}

DeviceBuffer::~DeviceBuffer() { cudaFree(data_); }

}  // namespace prefixd::gpu
