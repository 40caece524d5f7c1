// prefixd::gpu without the CUDA toolkit: nothing is available.
#include "gpu/gpu.h"

namespace prefixd::gpu {
namespace {

absl::Status NoCuda() {
  return absl::UnavailableError("prefixd was built without CUDA (no toolkit found by CMake)");
}

}  // namespace

absl::Status Available() { return NoCuda(); }

absl::StatusOr<std::unique_ptr<PinnedRegion>> PinnedRegion::Pin(void*, uint64_t) {
  return NoCuda();
}
PinnedRegion::~PinnedRegion() = default;

absl::StatusOr<std::unique_ptr<CopyStream>> CopyStream::Create(const void*) { return NoCuda(); }
CopyStream::~CopyStream() = default;
absl::Status CopyStream::DeviceToHost(std::span<const Copy>) { return NoCuda(); }
absl::Status CopyStream::HostToDevice(std::span<const Copy>) { return NoCuda(); }

absl::StatusOr<IpcExport> ExportIpc(const void*) { return NoCuda(); }
absl::StatusOr<std::unique_ptr<IpcMapping>> IpcMapping::Open(std::string_view, std::string_view) {
  return NoCuda();
}
IpcMapping::~IpcMapping() = default;
absl::Status IpcMapping::CopyOut(uint64_t, void*, uint64_t) const { return NoCuda(); }
absl::Status IpcMapping::CopyIn(uint64_t, const void*, uint64_t) const { return NoCuda(); }
absl::Status CopyToHost(void*, const void*, uint64_t) { return NoCuda(); }
absl::Status CopyToDevice(void*, const void*, uint64_t) { return NoCuda(); }

absl::StatusOr<std::unique_ptr<DeviceBuffer>> DeviceBuffer::Allocate(uint64_t) {
  return NoCuda();
}
DeviceBuffer::~DeviceBuffer() = default;

}  // namespace prefixd::gpu
