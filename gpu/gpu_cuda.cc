// prefixd::gpu with the CUDA runtime (CUDA::cudart; never the driver library).
#include <cuda_runtime_api.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gpu/gpu.h"

namespace prefixd::gpu {

static_assert(sizeof(cudaIpcMemHandle_t) == kIpcHandleBytes);
static_assert(sizeof(cudaUUID_t) == kDeviceUuidBytes);

namespace {

absl::StatusCode CodeOf(cudaError_t e) {
  switch (e) {
    case cudaErrorInvalidValue:
    case cudaErrorInvalidDevicePointer:
    case cudaErrorInvalidDevice:
    case cudaErrorInvalidResourceHandle:
    case cudaErrorMapBufferObjectFailed:
    case cudaErrorHostMemoryAlreadyRegistered:
      return absl::StatusCode::kInvalidArgument;
    case cudaErrorMemoryAllocation:
      return absl::StatusCode::kResourceExhausted;
    case cudaErrorInsufficientDriver:
    case cudaErrorNoDevice:
    case cudaErrorDevicesUnavailable:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status FromCuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();  // clears an error that is not sticky, so the next call does not see it
  return absl::Status(CodeOf(e), absl::StrCat(what, ": ", cudaGetErrorName(e), " (",
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

// Makes `device` current for the calling thread (and its primary context, which driver calls
// need: a thread that made no runtime call has none) until destroyed, then makes the thread's
// device before current again.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) {
      cudaGetLastError();
      previous_ = -1;
    }
    status_ = FromCuda(cudaSetDevice(device), "cudaSetDevice");
    restore_ = status_.ok() && previous_ >= 0 && previous_ != device;
  }
  ~DeviceGuard() {
    if (restore_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  const absl::Status& status() const { return status_; }

 private:
  int previous_ = -1;
  bool restore_ = false;
  absl::Status status_;
};

// The GPU whose memory `ptr` points into: device memory, or managed memory with `managed_ok`.
absl::StatusOr<int> DeviceOf(const void* ptr, bool managed_ok) {
  cudaPointerAttributes a{};
  if (auto s = FromCuda(cudaPointerGetAttributes(&a, ptr), "cudaPointerGetAttributes");
      !s.ok()) {
    return s;
  }
  if (a.type == cudaMemoryTypeDevice || (managed_ok && a.type == cudaMemoryTypeManaged)) {
    return a.device;
  }
  return absl::InvalidArgumentError(
      managed_ok ? "not device memory" : "not device memory of a cudaMalloc allocation");
}

// Every visible GPU's UUID, by ordinal (read once: devices do not come and go in a process).
const std::vector<std::string>& Uuids() {
  static const std::vector<std::string>* kUuids = [] {
    auto* v = new std::vector<std::string>();
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return v;
    }
    for (int d = 0; d < n; ++d) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
        cudaGetLastError();
        v->emplace_back();  // never matches a UUID of kDeviceUuidBytes
        continue;
      }
      v->emplace_back(prop.uuid.bytes, kDeviceUuidBytes);
    }
    return v;
  }();
  return *kUuids;
}

// This thread's non-blocking stream on `device`, created (with `device` current) on first use
// and destroyed when the thread exits. The daemon's serving threads copy on their own streams,
// not on the legacy default stream, which would order every thread's copies one after another.
absl::StatusOr<cudaStream_t> ThreadStream(int device) {
  struct Streams {
    std::vector<cudaStream_t> by_device;
    ~Streams() {
      for (cudaStream_t s : by_device) {
        if (s != nullptr) cudaStreamDestroy(s);
      }
    }
  };
  thread_local Streams streams;
  if (device < 0) return absl::InvalidArgumentError("no such device");
  if (streams.by_device.size() <= static_cast<size_t>(device)) {
    streams.by_device.resize(static_cast<size_t>(device) + 1, nullptr);
  }
  cudaStream_t& s = streams.by_device[static_cast<size_t>(device)];
  if (s == nullptr) {
    if (auto st = FromCuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking),
                           "cudaStreamCreate");
        !st.ok()) {
      s = nullptr;
      return st;
    }
  }
  return s;
}

// One copy on this thread's stream for `device`, waited for: with pageable host memory a
// cudaMemcpy from host to device may return before the DMA to its destination is done.
absl::Status CopyAndWait(int device, void* dst, const void* src, uint64_t bytes,
                         cudaMemcpyKind kind) {
  DeviceGuard guard(device);
  if (!guard.status().ok()) return guard.status();
  auto st = ThreadStream(device);
  if (!st.ok()) return st.status();
  if (auto s = FromCuda(cudaMemcpyAsync(dst, src, bytes, kind, *st), "cudaMemcpyAsync");
      !s.ok()) {
    cudaStreamSynchronize(*st);
    return s;
  }
  return FromCuda(cudaStreamSynchronize(*st), "cudaStreamSynchronize");
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

absl::StatusOr<std::unique_ptr<CopyStream>> CopyStream::Create(const void* device_ptr) {
  if (auto s = Available(); !s.ok()) return s;
  int device = 0;
  if (device_ptr != nullptr) {
    auto d = DeviceOf(device_ptr, /*managed_ok=*/true);
    if (!d.ok()) return d.status();
    device = *d;
  } else if (auto s = FromCuda(cudaGetDevice(&device), "cudaGetDevice"); !s.ok()) {
    return s;
  }
  DeviceGuard guard(device);  // a stream belongs to the device current when it is created
  if (!guard.status().ok()) return guard.status();
  cudaStream_t st = nullptr;
  if (auto s = FromCuda(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<CopyStream>(new CopyStream(st));
}

CopyStream::~CopyStream() { cudaStreamDestroy(static_cast<cudaStream_t>(stream_)); }

namespace {

// Copies may be queued on a stream of another device than the current one (memory copies,
// unlike kernel launches, are allowed to).
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

// cuMemGetAddressRange through the runtime's entry point (never by linking libcuda). A driver
// call: the calling thread needs a current context (DeviceGuard).
using GetAddressRangeFn = int (*)(unsigned long long* base, size_t* size, unsigned long long ptr);

absl::StatusOr<std::pair<char*, uint64_t>> AddressRange(const void* ptr) {
  static GetAddressRangeFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &f, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
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
  auto device = DeviceOf(device_ptr, /*managed_ok=*/false);
  if (!device.ok()) return device.status();
  DeviceGuard guard(*device);
  if (!guard.status().ok()) return guard.status();
  auto range = AddressRange(device_ptr);
  if (!range.ok()) return range.status();
  cudaIpcMemHandle_t h;
  if (auto s = FromCuda(cudaIpcGetMemHandle(&h, range->first), "cudaIpcGetMemHandle");
      !s.ok()) {
    return s;
  }
  const auto& uuids = Uuids();
  if (static_cast<size_t>(*device) >= uuids.size() ||
      uuids[static_cast<size_t>(*device)].size() != kDeviceUuidBytes) {
    return absl::InternalError(absl::StrCat("no UUID for GPU ", *device));
  }
  IpcExport e;
  e.handle.assign(reinterpret_cast<const char*>(&h), sizeof(h));
  e.device_uuid = uuids[static_cast<size_t>(*device)];
  e.base = range->first;
  e.size = range->second;
  return e;
}

absl::StatusOr<std::unique_ptr<IpcMapping>> IpcMapping::Open(std::string_view handle,
                                                             std::string_view device_uuid) {
  if (auto s = Available(); !s.ok()) return s;
  if (handle.size() != sizeof(cudaIpcMemHandle_t)) {
    return absl::InvalidArgumentError(absl::StrCat("a CUDA IPC handle is ",
                                                   sizeof(cudaIpcMemHandle_t), " bytes, got ",
                                                   handle.size()));
  }
  int device = -1;
  if (device_uuid.empty()) {
    if (auto s = FromCuda(cudaGetDevice(&device), "cudaGetDevice"); !s.ok()) return s;
  } else {
    if (device_uuid.size() != kDeviceUuidBytes) {
      return absl::InvalidArgumentError(absl::StrCat("a GPU's UUID is ", kDeviceUuidBytes,
                                                     " bytes, got ", device_uuid.size()));
    }
    const auto& uuids = Uuids();
    for (size_t d = 0; d < uuids.size(); ++d) {
      if (uuids[d] == device_uuid) device = static_cast<int>(d);
    }
    if (device < 0) {
      return absl::InvalidArgumentError(
          "the pages' GPU is not one this daemon sees (check CUDA_VISIBLE_DEVICES)");
    }
  }
  DeviceGuard guard(device);
  if (!guard.status().ok()) return guard.status();
  cudaIpcMemHandle_t h;
  std::memcpy(&h, handle.data(), sizeof(h));
  void* p = nullptr;
  if (auto s = FromCuda(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess),
                        "cudaIpcOpenMemHandle");
      !s.ok()) {
    return absl::InvalidArgumentError(s.message());
  }
  auto range = AddressRange(p);
  if (!range.ok() || range->first != p) {
    cudaIpcCloseMemHandle(p);
    return range.ok() ? absl::InternalError("the opened allocation does not start at its handle's "
                                            "address")
                      : range.status();
  }
  return std::unique_ptr<IpcMapping>(new IpcMapping(static_cast<char*>(p), range->second, device));
}

IpcMapping::~IpcMapping() {
  DeviceGuard guard(device_);
  cudaIpcCloseMemHandle(base_);
}

absl::Status IpcMapping::CopyOut(uint64_t offset, void* host_dst, uint64_t bytes) const {
  if (auto s = CheckRange(offset, bytes); !s.ok()) return s;
  return CopyAndWait(device_, host_dst, base_ + offset, bytes, cudaMemcpyDeviceToHost);
}

absl::Status IpcMapping::CopyIn(uint64_t offset, const void* host_src, uint64_t bytes) const {
  if (auto s = CheckRange(offset, bytes); !s.ok()) return s;
  return CopyAndWait(device_, base_ + offset, host_src, bytes, cudaMemcpyHostToDevice);
}

absl::Status CopyToHost(void* host_dst, const void* device_src, uint64_t bytes) {
  auto device = DeviceOf(device_src, /*managed_ok=*/true);
  if (!device.ok()) return device.status();
  return CopyAndWait(*device, host_dst, device_src, bytes, cudaMemcpyDeviceToHost);
}

absl::Status CopyToDevice(void* device_dst, const void* host_src, uint64_t bytes) {
  auto device = DeviceOf(device_dst, /*managed_ok=*/true);
  if (!device.ok()) return device.status();
  return CopyAndWait(*device, device_dst, host_src, bytes, cudaMemcpyHostToDevice);
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> DeviceBuffer::Allocate(uint64_t bytes) {
  if (auto s = Available(); !s.ok()) return s;
  void* p = nullptr;
  if (auto s = FromCuda(cudaMalloc(&p, bytes), "cudaMalloc"); !s.ok()) return s;
  return std::unique_ptr<DeviceBuffer>(new DeviceBuffer(p, bytes));
}

DeviceBuffer::~DeviceBuffer() { cudaFree(data_); }

}  // namespace prefixd::gpu
