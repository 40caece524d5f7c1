// PrefixdService: PutDevice and GetDevice, pages in a client's GPU memory that the daemon
// reaches through a CUDA IPC handle. The daemon copies device <-> host itself, on the GPU that
// holds the pages, computes each put page's CRC32C from the bytes it copied (the client cannot
// cheaply checksum device memory), and writes gets only after the store verified them. Only
// callers on the daemon's unix socket may: a handle lets the daemon write another process's
// GPU memory, which no caller from another node has reason to ask for.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gpu/gpu.h"
#include "server/cancel_poll.h"
#include "server/convert.h"
#include "server/service.h"
#include "util/crc32c.h"

namespace prefixd::server {
namespace {

// PERMISSION_DENIED unless the call came over a unix socket (gRPC names such peers "unix:",
// or "unix-abstract:" for a socket in the abstract namespace).
absl::Status FromThisNode(const grpc::ServerContext& ctx) {
  const std::string peer = ctx.peer();
  if (absl::StartsWith(peer, "unix:") || absl::StartsWith(peer, "unix-abstract:")) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "device memory is copied only for callers on the daemon's unix socket (--unix); this call "
      "came from ", peer));
}

// The client's allocation, opened on its GPU; FAILED_PRECONDITION when this daemon has no
// usable GPU.
absl::StatusOr<std::unique_ptr<gpu::IpcMapping>> OpenDevice(const std::string& handle,
                                                            const std::string& device_uuid) {
  if (auto s = gpu::Available(); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("this daemon cannot copy device memory: ", s.message()));
  }
  return gpu::IpcMapping::Open(handle, device_uuid);
}

// Every page's range, checked before any copy, so that a request with one bad page copies
// nothing (IpcMapping checks each copy again).
absl::Status InAllocation(const gpu::IpcMapping& m, uint64_t offset, uint64_t bytes, size_t i) {
  auto s = m.CheckRange(offset, bytes);
  if (s.ok()) return s;
  return absl::OutOfRangeError(absl::StrCat("page ", i, ": ", s.message()));
}

}  // namespace

grpc::Status PrefixdService::PutDevice(grpc::ServerContext* ctx, const v1::PutDeviceRequest* req,
                                       v1::PutResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  if (auto s = FromThisNode(*ctx); !s.ok()) return ToGrpc(s);
  storage::NamespaceInfo ns;
  auto keys = RequestKeys(req->ns(), req->chain(), /*need_id=*/true, &ns);
  if (!keys.ok()) return ToGrpc(keys.status());
  if (static_cast<size_t>(req->offsets_size()) != keys->size()) {
    return Invalid(absl::StrCat("the chain names ", keys->size(), " pages but the request carries ",
                                req->offsets_size(), " offsets"));
  }
  auto dev = OpenDevice(req->ipc_handle(), req->device_uuid());
  if (!dev.ok()) return ToGrpc(dev.status());
  const uint64_t page_bytes = ns.fingerprint.page_bytes;
  for (int i = 0; i < req->offsets_size(); ++i) {
    if (auto s = InAllocation(**dev, req->offsets(i), page_bytes, i); !s.ok()) return ToGrpc(s);
  }
  const size_t n = keys->size();
  const uint64_t group = GroupPages(config_.batch_bytes, page_bytes, n);
  auto lease = budget_.Acquire(2 * group * page_bytes,
                               absl::Milliseconds(config_.admission_wait_ms));
  if (!lease.held()) return ToGrpc(budget_.Busy());
  std::vector<std::string> bufs(group, std::string(page_bytes, '\0'));
  auto fill = [&](size_t at, std::span<storage::PageWrite> writes) {
    for (size_t j = 0; j < writes.size(); ++j) {
      if (auto s = (*dev)->CopyOut(req->offsets(static_cast<int>(at + j)), bufs[j].data(),
                                   page_bytes);
          !s.ok()) {
        return s;
      }
      writes[j].data = bufs[j];
      writes[j].crc32c = util::Crc32c(bufs[j]);
    }
    return absl::OkStatus();
  };
  return PutInGroups(req->ns(), req->chain(), *std::move(keys), group, fill, resp);
}

grpc::Status PrefixdService::GetDevice(grpc::ServerContext* ctx, const v1::GetDeviceRequest* req,
                                       v1::GetDeviceResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  if (auto s = FromThisNode(*ctx); !s.ok()) return ToGrpc(s);
  storage::NamespaceInfo ns;
  auto keys = RequestKeys(req->ns(), req->chain(), /*need_id=*/true, &ns);
  if (!keys.ok()) return ToGrpc(keys.status());
  uint64_t wanted = keys->size();
  if (req->max_pages() != 0) wanted = std::min<uint64_t>(wanted, req->max_pages());
  if (static_cast<uint64_t>(req->offsets_size()) < wanted) {
    return Invalid(absl::StrCat("the request wants ", wanted, " pages but names ",
                                req->offsets_size(), " offsets"));
  }
  auto dev = OpenDevice(req->ipc_handle(), req->device_uuid());
  if (!dev.ok()) return ToGrpc(dev.status());
  const uint64_t page_bytes = ns.fingerprint.page_bytes;
  for (uint64_t i = 0; i < wanted; ++i) {
    if (auto s = InAllocation(**dev, req->offsets(i), page_bytes, i); !s.ok()) return ToGrpc(s);
  }
  const uint64_t group = GroupPages(config_.read_group_bytes, page_bytes, wanted);
  auto lease = budget_.Acquire(group * page_bytes, absl::Milliseconds(config_.admission_wait_ms));
  if (!lease.held()) return ToGrpc(budget_.Busy());
  absl::Status copy_error;
  CancelPoll poll([ctx] { return ctx->IsCancelled(); });
  poll.set_deadline(ctx->deadline());
  auto sink = [&](size_t i, std::string_view, std::string_view bytes, uint32_t crc) {
    if (poll.CancelledBefore(bytes.size())) return false;
    if (bytes.size() != page_bytes) {  // the offsets were checked for page_bytes
      copy_error = absl::InternalError(absl::StrCat("page ", i, " is ", bytes.size(),
                                                    " bytes; the namespace's are ", page_bytes));
      return false;
    }
    copy_error = (*dev)->CopyIn(req->offsets(static_cast<int>(i)), bytes.data(), bytes.size());
    if (!copy_error.ok()) return false;
    resp->add_crc32c(crc);
    return true;
  };
  auto r = store_->Get(RefOf(req->ns()), *keys, req->max_pages(), sink);
  if (!r.ok()) return ToGrpc(r.status());
  if (!copy_error.ok()) return ToGrpc(copy_error);
  if (r->stop == storage::GetResult::Stop::kCancelled) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the get");
  }
  SetGetDone(*r, resp->mutable_done());
  if (req->chain().token_ids_size() > 0) {
    for (auto& k : *keys) resp->add_keys(std::move(k));
  }
  return grpc::Status::OK;
}

}  // namespace prefixd::server
