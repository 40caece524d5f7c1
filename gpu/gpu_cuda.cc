// prefixd::gpu with the CUDA runtime (CUDA::cudart; never the driver library).
#include <cuda_runtime_api.h>

#include <cstring>

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

namespace {

// cuMemGetAddressRange through the runtime's entry point (never by linking libcuda).
using GetAddressRangeFn = int (*)(unsigned long long* base, size_t* size, unsigned long long ptr);

absl::StatusOr<std::pair<char*, uint64_t>> AddressRange(const void* ptr) {
  static GetAddressRangeFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &f, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      f = nullptr;
    }
    return reinterpret_cast<GetAddressRangeFn>(f);
  }();
  if (fn == nullptr) return absl::UnavailableError("cuMemGetAddressRange is not available");
  unsigned long long base = 0;
  size_t size = 0;
  if (int r = fn(&base, &size, reinterpret_cast<unsigned long long>(ptr)); r != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("not device memory of a cudaMalloc allocation (CUresult ", r, ")"));
  }
  return std::make_pair(reinterpret_cast<char*>(base), static_cast<uint64_t>(size));
}

}  // namespace

absl::StatusOr<IpcExport> ExportIpc(const void* device_ptr) {
  if (auto s = Available(); !s.ok()) return s;
  auto range = AddressRange(device_ptr);
  if (!range.ok()) return range.status();
  cudaIpcMemHandle_t h;
  if (auto s = FromCuda(cudaIpcGetMemHandle(&h, range->first), "cudaIpcGetMemHandle");
      !s.ok()) {
    return s;
  }
  IpcExport e;
  e.handle.assign(reinterpret_cast<const char*>(&h), sizeof(h));
  e.base = range->first;
  e.size = range->second;
  return e;
}

absl::StatusOr<std::unique_ptr<IpcMapping>> IpcMapping::Open(std::string_view handle) {
  if (auto s = Available(); !s.ok()) return s;
  if (handle.size() != sizeof(cudaIpcMemHandle_t)) {
    return absl::InvalidArgumentError(absl::StrCat("a CUDA IPC handle is ",
                                                   sizeof(cudaIpcMemHandle_t), " bytes, got ",
                                                   handle.size()));
  }
  cudaIpcMemHandle_t h;
  std::memcpy(&h, handle.data(), sizeof(h));
  void* p = nullptr;
  if (auto s = FromCuda(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess),
                        "cudaIpcOpenMemHandle");
      !s.ok()) {
    return absl::InvalidArgumentError(s.message());
  }
  auto range = AddressRange(p);
  if (!range.ok()) {
    cudaIpcCloseMemHandle(p);
    return range.status();
  }
  return std::unique_ptr<IpcMapping>(new IpcMapping(static_cast<char*>(p), range->second));
}

IpcMapping::~IpcMapping() { cudaIpcCloseMemHandle(base_); }

absl::Status CopyToHost(void* host_dst, const void* device_src, uint64_t bytes) {
  return FromCuda(cudaMemcpy(host_dst, device_src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

absl::Status CopyToDevice(void* device_dst, const void* host_src, uint64_t bytes) {
  return FromCuda(cudaMemcpy(device_dst, host_src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> DeviceBuffer::Allocate(uint64_t bytes) {
  if (auto s = Available(); !s.ok()) return s;
  void* p = nullptr;
  if (auto s = FromCuda(cudaMalloc(&p, bytes), "cudaMalloc"); !s.ok()) return s;
  return std::unique_ptr<DeviceBuffer>(new DeviceBuffer(p, bytes));
}

DeviceBuffer::~DeviceBuffer() { cudaFree(data_); }

}  // namespace prefixd::gpu
