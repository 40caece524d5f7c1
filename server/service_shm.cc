// PrefixdService: PutShm and GetShm, the page transfers through a client's shared-memory arena.
//
// The arena is shared with the client, which may change its bytes at any moment. A put hands
// the arena bytes to the store, which checks them against the client's CRC32C and copies them
// into its write batch; bytes changed between that check and that copy are stored with a
// checksum they fail, so they are dropped as corrupt when read, never served. A get copies
// verified bytes into the client's slots and returns their CRC32C for the client to check. The
// copy streams around the daemon's caches (util::StreamCopy): the client reads the slots next,
// from another core, and with memcpy the two cores fought over the lines (1 MiB gets ran at
// half the speed; docs/transport.md). A get comes over gRPC or as a call on the side socket
// (shm/side_call.h); both are served by ServeGetShm.
#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "server/cancel_poll.h"
#include "server/convert.h"
#include "server/service.h"
#include "shm/progress.h"
#include "spdlog/spdlog.h"
#include "util/stream_copy.h"

namespace prefixd::server {
namespace {

// A deadline on the clock the client shares with the daemon; 0 is none.
std::chrono::system_clock::time_point FromUnixNanos(uint64_t ns) {
  using Clock = std::chrono::system_clock;
  if (ns == 0) return Clock::time_point::max();
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(static_cast<int64_t>(ns))));
}

// Where the board of a get lies in the daemon's mapping of `arena`, once it is checked: inside
// the arena, aligned, long enough for `wanted` pages, and clear of every slot.
absl::StatusOr<uint8_t*> BoardOf(
    const shm::RegisteredArena& arena, const v1::ShmSlice& board,
    const google::protobuf::RepeatedPtrField<v1::ShmSlice>& slots, uint64_t wanted,
    uint64_t page_bytes) {
  const uint64_t need = shm::BoardBytes(wanted);
  if (board.length() < need || board.offset() % shm::kBoardAlign != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the progress board must be ", shm::kBoardAlign, "-byte aligned and at least ", need,
        " bytes for ", wanted, " pages; it is ", board.length(), " bytes at ", board.offset()));
  }
  auto bytes = arena.arena->Slice(board.offset(), need);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("progress board: ", bytes.status().message()));
  }
  for (uint64_t i = 0; i < wanted; ++i) {
    const uint64_t at = slots[static_cast<int>(i)].offset();  // in the arena: checked before
    if (at < board.offset() + need && board.offset() < at + page_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("the progress board overlaps slot ", i));
    }
  }
  return bytes->data();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const shm::RegisteredArena>> PrefixdService::RequestArena(
    const v1::NamespaceRef& ns, const v1::ShmArenaRef& ref) const {
  if (arenas_ == nullptr) {
    return absl::FailedPreconditionError(
        "shared memory is off in this daemon (start it with --shm-socket PATH)");
  }
  return arenas_->Find(ref.arena_id(), ref.token(), ns.id());
}

void PrefixdService::CountPresenceReport(const v1::NamespaceRef& ns,
                                         const v1::PresenceReport& r) {
  if (r.pages_asked() == 0) return;
  auto s = store_->CountOutsideExists(RefOf(ns), r.pages_asked(), r.pages_present(),
                                      r.pages_expired());
  if (!s.ok()) spdlog::debug("shm: presence report dropped: {}", s.ToString());
}

grpc::Status PrefixdService::PutShm(grpc::ServerContext*, const v1::PutShmRequest* req,
                                    v1::PutResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  storage::NamespaceInfo ns;
  auto keys = RequestKeys(req->ns(), req->chain(), /*need_id=*/true, &ns);
  if (!keys.ok()) return ToGrpc(keys.status());
  auto arena = RequestArena(req->ns(), req->arena());
  if (!arena.ok()) return ToGrpc(arena.status());
  CountPresenceReport(req->ns(), req->presence_report());
  const size_t n = keys->size();
  if (static_cast<size_t>(req->pages_size()) != n || static_cast<size_t>(req->crc32c_size()) != n) {
    return Invalid(absl::StrCat("the chain names ", n, " pages but the request carries ",
                                req->pages_size(), " slices and ", req->crc32c_size(),
                                " checksums"));
  }
  const uint64_t page_bytes = ns.fingerprint.page_bytes;
  // Check every descriptor before anything is written.
  std::vector<std::string_view> pages(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& slice = req->pages(static_cast<int>(i));
    if (slice.length() != page_bytes) {
      return Invalid(absl::StrCat("page ", i, " is ", slice.length(), " bytes; the namespace has "
                                  "pages of ", page_bytes, " bytes"));
    }
    auto bytes = (*arena)->arena->Slice(slice.offset(), slice.length());
    if (!bytes.ok()) return ToGrpc(absl::Status(bytes.status().code(),
                                                absl::StrCat("page ", i, ": ", bytes.status().message())));
    pages[i] = std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }
  const uint64_t group = GroupPages(config_.batch_bytes, page_bytes, n);
  // The store copies a batch into its write batch: that copy is what this request holds.
  auto lease = budget_.Acquire(group * page_bytes, absl::Milliseconds(config_.admission_wait_ms));
  if (!lease.held()) return ToGrpc(budget_.Busy());
  auto fill = [&](size_t at, std::span<storage::PageWrite> writes) {
    for (size_t j = 0; j < writes.size(); ++j) {
      writes[j].data = pages[at + j];
      writes[j].crc32c = req->crc32c(static_cast<int>(at + j));
    }
    return absl::OkStatus();
  };
  auto s = PutInGroups(req->ns(), req->chain(), *std::move(keys), group, fill, resp);
  if (s.ok()) shm_put_pages_.fetch_add(n);
  return s;
}

grpc::Status PrefixdService::GetShm(grpc::ServerContext* ctx, const v1::GetShmRequest* req,
                                    grpc::ServerWriter<v1::GetShmResponse>* writer) {
  GetShmChannel channel;
  channel.cancelled = [ctx] { return ctx->IsCancelled(); };
  channel.deadline = ctx->deadline();
  channel.write = [writer](const v1::GetShmResponse& m) { return writer->Write(m); };
  v1::GetShmResponse out;
  if (auto s = ServeGetShm(*req, channel, &out); !s.ok()) return ToGrpc(s);
  writer->Write(out);
  return grpc::Status::OK;
}

shm::CallReply PrefixdService::ServeSideCall(uint32_t kind, std::string_view payload,
                                             const std::function<bool()>& peer_gone) {
  if (kind != shm::kCallGetShm) {
    return {absl::UnimplementedError(absl::StrCat("no call of kind ", kind)), {}};
  }
  v1::GetShmRequest req;
  if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return {absl::InvalidArgumentError("the call's GetShmRequest does not parse"), {}};
  }
  if (!req.has_progress()) {
    return {absl::InvalidArgumentError("a get over the side socket needs a progress board"), {}};
  }
  GetShmChannel channel;
  channel.cancelled = peer_gone;
  v1::GetShmResponse out;
  if (auto s = ServeGetShm(req, channel, &out); !s.ok()) return {s, {}};
  shm_side_get_calls_.fetch_add(1);
  return {absl::OkStatus(), out.SerializeAsString()};
}

absl::Status PrefixdService::ServeGetShm(const v1::GetShmRequest& req,
                                         const GetShmChannel& channel, v1::GetShmResponse* out) {
  CallGuard guard(this);
  if (!guard.admitted()) return absl::UnavailableError("prefixd is shutting down");
  storage::NamespaceInfo ns;
  auto keys = RequestKeys(req.ns(), req.chain(), /*need_id=*/true, &ns);
  if (!keys.ok()) return keys.status();
  auto arena = RequestArena(req.ns(), req.arena());
  if (!arena.ok()) return arena.status();
  CountPresenceReport(req.ns(), req.presence_report());
  const uint64_t page_bytes = ns.fingerprint.page_bytes;
  uint64_t wanted = keys->size();
  if (req.max_pages() != 0) wanted = std::min<uint64_t>(wanted, req.max_pages());
  if (static_cast<uint64_t>(req.slots_size()) < wanted) {
    return absl::InvalidArgumentError(absl::StrCat("the request wants ", wanted,
                                                   " pages but names ", req.slots_size(),
                                                   " slots"));
  }
  std::vector<uint8_t*> slots(wanted);
  for (uint64_t i = 0; i < wanted; ++i) {
    const auto& slot = req.slots(static_cast<int>(i));
    if (slot.length() < page_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("slot ", i, " is ", slot.length(),
                                                     " bytes; pages are ", page_bytes, " bytes"));
    }
    auto bytes = (*arena)->arena->Slice(slot.offset(), page_bytes);
    if (!bytes.ok()) {
      return absl::Status(bytes.status().code(),
                          absl::StrCat("slot ", i, ": ", bytes.status().message()));
    }
    slots[i] = bytes->data();
  }
  // With a board the client learns of each filled slot from it; the daemon's board is finished
  // (no slot written after) when `board` is destroyed, on every path out of this call.
  std::optional<shm::ProgressWriter> board;
  if (req.has_progress()) {
    auto b = BoardOf(**arena, req.progress(), req.slots(), wanted, page_bytes);
    if (!b.ok()) return b.status();
    board.emplace(*b, static_cast<uint32_t>(wanted), req.progress_nonce());
  } else if (!channel.write) {
    return absl::InvalidArgumentError("this get needs a progress board");
  }
  const uint64_t group = GroupPages(config_.read_group_bytes, page_bytes, wanted);
  auto lease = budget_.Acquire(group * page_bytes, absl::Milliseconds(config_.admission_wait_ms));
  if (!lease.held()) return budget_.Busy();
  // Without a board, report filled slots about every MiB, so the client checks them while
  // later ones fill (each report's Write took about 60 µs of the daemon's time: the board is
  // the faster path). A cancelled call fails its next report's Write, or is seen by the poll
  // (CancelPoll: asking before every page cost more than copying 64 KiB pages).
  uint64_t unreported = 0;
  CancelPoll poll(channel.cancelled);
  const auto deadline = std::min(channel.deadline, FromUnixNanos(req.deadline_unix_ns()));
  poll.set_deadline(deadline);
  auto sink = [&](size_t i, std::string_view, std::string_view bytes, uint32_t crc) {
    if (poll.CancelledBefore(bytes.size())) return false;
    util::StreamCopy(slots[i], bytes.data(), bytes.size());
    out->add_crc32c(crc);
    if (board) {
      board->Publish(static_cast<uint32_t>(i), crc);
      return true;
    }
    unreported += bytes.size();
    if (unreported >= (uint64_t{1} << 20) && i + 1 < wanted) {  // the last goes with the summary
      if (!channel.write(*out)) return false;
      out->Clear();
      unreported = 0;
    }
    return true;
  };
  auto r = store_->Get(RefOf(req.ns()), *keys, req.max_pages(), sink);
  if (!r.ok()) return r.status();
  if (r->stop == storage::GetResult::Stop::kCancelled) {
    if (std::chrono::system_clock::now() >= deadline) {
      return absl::DeadlineExceededError("the get's deadline passed");
    }
    return absl::CancelledError("the client cancelled the get");
  }
  shm_get_pages_.fetch_add(r->returned);
  SetGetDone(*r, out->mutable_done());
  if (req.chain().token_ids_size() > 0) {
    for (auto& k : *keys) out->add_keys(std::move(k));
  }
  if (board) board->Finish(static_cast<uint8_t>(out->done().stop()));
  return absl::OkStatus();
}

}  // namespace prefixd::server
