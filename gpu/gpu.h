// prefixd::gpu — the CUDA pieces of the co-located data plane: detecting a usable GPU, pinning
// a shared-memory arena for DMA (cudaHostRegister), and batched copies between device memory
// and the arena on one stream.
//
// Built with CUDA when CMake finds the toolkit (CUDA::cudart only; the driver library is never
// linked, so the binaries start on machines without a driver). Without the toolkit every call
// returns UNAVAILABLE "built without CUDA". With the toolkit but no driver or no device
// (cudaErrorInsufficientDriver, cudaErrorNoDevice, zero devices) Available() says so.
//
// Ordering with the caller's own CUDA work: every call here returns once its copies are done,
// but none waits for work the caller queued on its streams. Before handing device pages to
// prefixd (a put) or device memory to be written (a get), synchronise the stream or event that
// writes or reads them; prefixd copies on streams of its own (or, for CUDA IPC, in the daemon).
//
// Devices: a call on device pages runs on the GPU that holds them and leaves the calling
// thread's current device as it was. Errors: INVALID_ARGUMENT for arguments CUDA refuses (not
// device memory, a bad handle), RESOURCE_EXHAUSTED for memory, UNAVAILABLE for no usable GPU,
// INTERNAL for the rest (e.g. a kernel fault left in the context).
//
// Thread-safety: Available() may be called from any thread (detection runs once). A
// PinnedRegion or CopyStream is used by one thread at a time; an IpcMapping by any number.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace prefixd::gpu {

// OK when a CUDA device can be used; otherwise UNAVAILABLE with the reason.
absl::Status Available();

// Host memory registered with CUDA (page-locked, mapped for DMA) until destroyed.
class PinnedRegion {
 public:
  // Registers [data, data + bytes): an arena's mapping. Slow (it locks every page): do it once
  // per arena, not per request.
  static absl::StatusOr<std::unique_ptr<PinnedRegion>> Pin(void* data, uint64_t bytes);
  ~PinnedRegion();
  PinnedRegion(const PinnedRegion&) = delete;
  PinnedRegion& operator=(const PinnedRegion&) = delete;

 private:
  explicit PinnedRegion(void* data) : data_(data) {}
  void* data_;
};

// One copy of `bytes` from `src` to `dst`.
struct Copy {
  void* dst = nullptr;
  const void* src = nullptr;
  uint64_t bytes = 0;
};

// A CUDA stream on which a request's copies are queued together and waited for once.
class CopyStream {
 public:
  // A stream on the GPU that holds `device_ptr` (null: the calling thread's current device).
  static absl::StatusOr<std::unique_ptr<CopyStream>> Create(const void* device_ptr = nullptr);
  ~CopyStream();
  CopyStream(const CopyStream&) = delete;
  CopyStream& operator=(const CopyStream&) = delete;

  // Queues device -> host (pinned arena) copies, or host -> device copies, then waits for all.
  absl::Status DeviceToHost(std::span<const Copy> copies);
  absl::Status HostToDevice(std::span<const Copy> copies);

 private:
  explicit CopyStream(void* stream) : stream_(stream) {}
  void* stream_;  // cudaStream_t
};

// ---- CUDA IPC: device memory one process shares with another on the same node ----

inline constexpr size_t kIpcHandleBytes = 64;  // sizeof(cudaIpcMemHandle_t)

inline constexpr size_t kDeviceUuidBytes = 16;  // cudaDeviceProp::uuid

// The cudaMalloc allocation that holds `device_ptr`, exported for another process.
struct IpcExport {
  std::string handle;  // kIpcHandleBytes bytes (cudaIpcGetMemHandle of the allocation's base)
  std::string device_uuid;  // kDeviceUuidBytes: the GPU that holds it
  const void* base = nullptr;
  uint64_t size = 0;
};
absl::StatusOr<IpcExport> ExportIpc(const void* device_ptr);

// A peer's allocation opened in this process (cudaIpcOpenMemHandle) on the GPU that holds it;
// closed when destroyed. size() is the allocation's size as the driver reports it
// (cuMemGetAddressRange), so that every access can be checked against it.
class IpcMapping {
 public:
  // `device_uuid` names the GPU (IpcExport::device_uuid); empty: the calling thread's current
  // device (clients before UUIDs were sent). INVALID_ARGUMENT for a handle or UUID of the wrong
  // size, a GPU this process does not see, or a handle that opens nothing.
  static absl::StatusOr<std::unique_ptr<IpcMapping>> Open(std::string_view handle,
                                                          std::string_view device_uuid = {});
  ~IpcMapping();
  IpcMapping(const IpcMapping&) = delete;
  IpcMapping& operator=(const IpcMapping&) = delete;
  uint64_t size() const { return size_; }
  int device() const { return device_; }

  // OUT_OF_RANGE unless [offset, offset + bytes) lies in the allocation.
  absl::Status CheckRange(uint64_t offset, uint64_t bytes) const {
    if (offset <= size_ && bytes <= size_ - offset) return absl::OkStatus();
    return absl::OutOfRangeError(absl::StrCat(bytes, " bytes at offset ", offset,
                                              " lie outside the device allocation of ", size_,
                                              " bytes"));
  }

  // Copies [offset, offset + bytes) of the allocation to or from host memory (pageable is
  // fine) on a stream of this thread's for the mapping's GPU, and waits until the bytes have
  // arrived. CheckRange()'s OUT_OF_RANGE first.
  absl::Status CopyOut(uint64_t offset, void* host_dst, uint64_t bytes) const;
  absl::Status CopyIn(uint64_t offset, const void* host_src, uint64_t bytes) const;

 private:
  IpcMapping(char* base, uint64_t size, int device) : base_(base), size_(size), device_(device) {}
  char* base_;
  uint64_t size_;
  int device_;
};

// Synchronous copies between host and device memory (pageable host memory is fine): each
// returns once the bytes are at their destination.
absl::Status CopyToHost(void* host_dst, const void* device_src, uint64_t bytes);
absl::Status CopyToDevice(void* device_dst, const void* host_src, uint64_t bytes);

// Device memory for tests and benchmarks (cudaMalloc / cudaFree).
class DeviceBuffer {
 public:
  static absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(uint64_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  DeviceBuffer(void* d, uint64_t n) : data_(d), size_(n) {}
  void* data_;
  uint64_t size_;
};

}  // namespace prefixd::gpu
