#include "client/client.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <optional>

#include "absl/base/call_once.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/shm_get.h"
#include "client/shm_transport.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "prefixd/v1/prefixd.grpc.pb.h"
#include "util/crc32c.h"

namespace prefixd::client {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

void SetChain(const Chain& c, v1::KeySource* out) {
  for (const auto& k : c.keys) out->add_keys(k);
  out->mutable_token_ids()->Add(c.token_ids.begin(), c.token_ids.end());
  out->set_parent_key(c.parent_key);
}

void SetRef(const Namespace& ns, v1::NamespaceRef* out) {
  out->set_name(ns.name);
  out->set_id(ns.id);
}

// gRPC 1.51 runs callback calls on a completion queue shared by the process, shut down when
// the last channel that used it goes; a callback still returning on the queue's thread then
// trips an assertion (`grpc_cq_internal_unref`, `ref_counted.h:183 prior > 0`; seen in the
// shared-memory end-to-end tests under load, where each test's client and channel go right
// after its last get). Holding the first channel that used it for the life of the process keeps
// the queue up.
void KeepCallbackQueue(const std::shared_ptr<grpc::Channel>& used) {
  static absl::once_flag once;
  absl::call_once(once, [&] { new std::shared_ptr<grpc::Channel>(used); });  // never freed
}

class ClientImpl final : public Client {
 public:
  ClientImpl(const ClientOptions& o, std::shared_ptr<grpc::Channel> ch,
             std::unique_ptr<ShmTransport> shm)
      : options_(o), channel_(ch), stub_(v1::Prefixd::NewStub(ch)),
        health_(grpc::health::v1::Health::NewStub(ch)), shm_(std::move(shm)) {}

  // Shared-memory gets that returned before gRPC ended them end when their summaries arrive;
  // waits for them, a bounded time (a stopped daemon would hold them).
  ~ClientImpl() override { detached_->Wait(absl::Seconds(5)); }

  absl::StatusOr<Namespace> OpenNamespace(const std::string& name, const v1::Fingerprint& fp,
                                          const NamespaceOptions& options) override {
    v1::OpenNamespaceRequest req;
    req.set_name(name);
    *req.mutable_fingerprint() = fp;
    if (options.ttl_seconds) req.set_ttl_seconds(*options.ttl_seconds);
    if (options.quota_bytes) req.set_quota_bytes(*options.quota_bytes);
    return Unary<Namespace>(&Stub::OpenNamespace, req, [&](const v1::OpenNamespaceResponse& r) {
      return Namespace{name,         r.namespace_id(), r.fingerprint(),
                       r.created(),  r.ttl_seconds(),  r.quota_bytes()};
    });
  }

  absl::StatusOr<ExistsResult> Exists(const Namespace& ns, const Chain& chain) override {
    if (auto r = ExistsFromPresence(ns, chain)) return *std::move(r);
    v1::ExistsRequest req;
    SetRef(ns, req.mutable_ns());
    SetChain(chain, req.mutable_chain());
    return Unary<ExistsResult>(&Stub::Exists, req, [](const v1::ExistsResponse& resp) {
      ExistsResult r;
      r.prefix_pages = resp.prefix_pages();
      r.present.assign(resp.present().begin(), resp.present().end());
      r.keys.assign(resp.keys().begin(), resp.keys().end());
      return r;
    });
  }

  absl::StatusOr<PutResult> Put(const Namespace& ns, const Chain& chain,
                                std::span<const std::string_view> pages) override {
    if (pages.empty()) return absl::InvalidArgumentError("no pages to put");
    if (!chain.keys.empty() && chain.keys.size() != pages.size()) {
      return absl::InvalidArgumentError(absl::StrCat("the chain has ", chain.keys.size(),
                                                     " keys for ", pages.size(), " pages"));
    }
    std::vector<uint32_t> crcs;
    crcs.reserve(pages.size());
    uint64_t total = 0;
    bool uniform = true;  // otherwise the byte path carries them, and the daemon's verdict
    for (auto p : pages) {
      crcs.push_back(util::Crc32c(p));
      total += p.size();
      uniform = uniform && p.size() == ns.fingerprint.page_bytes();
    }
    if (auto lease = uniform ? LeaseForCopy(ns, total) : nullptr) {
      std::vector<uint64_t> offsets;
      uint64_t at = 0;
      for (auto p : pages) {
        std::memcpy(lease->data() + at, p.data(), p.size());
        offsets.push_back(lease->offset() + at);
        at += p.size();
      }
      return PutShmCall(ns, chain, offsets, ns.fingerprint.page_bytes(), crcs);
    }
    return Retry([&]() -> absl::StatusOr<PutResult> { return PutOnce(ns, chain, pages, crcs); });
  }

  absl::StatusOr<GetResult> Get(const Namespace& ns, const Chain& chain,
                                uint32_t max_pages) override {
    const uint64_t page_bytes = ns.fingerprint.page_bytes();
    uint64_t wanted = ChainPages(ns, chain);
    if (max_pages != 0) wanted = std::min<uint64_t>(wanted, max_pages);
    if (auto lease = LeaseForCopy(ns, wanted * page_bytes)) {
      std::vector<uint64_t> offsets;
      for (uint64_t i = 0; i < wanted; ++i) offsets.push_back(lease->offset() + i * page_bytes);
      GetResult out;
      auto r = GetShmCall(ns, chain, offsets, max_pages, [&](uint32_t i, std::string p) {
        if (i == 0) out.pages.clear();  // a retry starts over
        out.pages.push_back(std::move(p));
      });
      if (!r.ok()) return r.status();
      out.pages.resize(r->pages);  // a retry that found fewer pages leaves none behind
      out.stop = r->stop;
      return out;
    }
    v1::GetRequest req;
    SetRef(ns, req.mutable_ns());
    SetChain(chain, req.mutable_chain());
    req.set_max_pages(max_pages);
    return Retry([&]() -> absl::StatusOr<GetResult> { return GetOnce(req); });
  }

  absl::StatusOr<uint32_t> Delete(const Namespace& ns, const Chain& chain) override {
    v1::DeleteRequest req;
    SetRef(ns, req.mutable_ns());
    SetChain(chain, req.mutable_chain());
    return Unary<uint32_t>(&Stub::Delete, req,
                           [](const v1::DeleteResponse& r) { return r.pages_deleted(); });
  }

  absl::StatusOr<uint64_t> DeleteNamespace(const std::string& name, uint64_t id) override {
    v1::DeleteNamespaceRequest req;
    req.mutable_ns()->set_name(name);
    req.mutable_ns()->set_id(id);
    return Unary<uint64_t>(&Stub::DeleteNamespace, req,
                           [](const v1::DeleteNamespaceResponse& r) { return r.pages_deleted(); });
  }

  absl::StatusOr<v1::StatsResponse> Stats(bool count_stranded) override {
    v1::StatsRequest req;
    req.set_count_stranded(count_stranded);
    return Unary<v1::StatsResponse>(&Stub::Stats, req,
                                     [](const v1::StatsResponse& r) { return r; });
  }

  absl::StatusOr<v1::ExplainResponse> Explain(const Namespace& ns, const Chain& chain) override {
    v1::ExplainRequest req;
    SetRef(ns, req.mutable_ns());
    SetChain(chain, req.mutable_chain());
    return Unary<v1::ExplainResponse>(&Stub::Explain, req,
                                      [](const v1::ExplainResponse& r) { return r; });
  }

  absl::Status Flush() override {
    return Unary<bool>(&Stub::Flush, v1::FlushRequest(),
                       [](const v1::FlushResponse&) { return true; })
        .status();
  }

  absl::Status Health() override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    auto s = health_->Check(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s);
    if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::UnavailableError(absl::StrCat(
          "not serving (", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()),
          ")"));
    }
    return absl::OkStatus();
  }

  bool shared_memory() const override { return shm_ != nullptr; }

  absl::StatusOr<std::span<uint8_t>> ArenaOf(const Namespace& ns) override {
    auto s = SessionOf(ns);
    if (!s.ok()) return s.status();
    return std::span<uint8_t>((*s)->arena->data(), (*s)->arena->size());
  }

  absl::StatusOr<uint64_t> AllocateSlots(const Namespace& ns, uint64_t bytes) override {
    auto s = SessionOf(ns);
    if (!s.ok()) return s.status();
    auto off = (*s)->slots->Allocate(bytes);
    if (!off) {
      return absl::ResourceExhaustedError(absl::StrCat("no ", bytes, " free bytes in the arena"));
    }
    return *off;
  }

  // Gives the range back to the arena it came from, without reaching the daemon (which may be
  // down: the slots must come back regardless).
  void FreeSlots(const Namespace& ns, uint64_t offset, uint64_t bytes) override {
    if (shm_ == nullptr) return;
    if (auto s = shm_->Existing(ns.id)) s->slots->Free(offset, bytes);
  }

  absl::StatusOr<PutResult> PutSlots(const Namespace& ns, const Chain& chain,
                                     std::span<const uint64_t> offsets) override {
    auto s = SessionOf(ns);
    if (!s.ok()) return s.status();
    const uint64_t page_bytes = ns.fingerprint.page_bytes();
    if (auto st = CheckSlots(**s, offsets, page_bytes); !st.ok()) return st;
    std::vector<uint32_t> crcs;
    for (uint64_t off : offsets) {
      crcs.push_back(util::Crc32c(std::string_view(
          reinterpret_cast<const char*>((*s)->arena->data() + off), page_bytes)));
    }
    return PutShmCall(ns, chain, offsets, page_bytes, crcs);
  }

  absl::StatusOr<SlotGetResult> GetSlots(const Namespace& ns, const Chain& chain,
                                         std::span<const uint64_t> offsets,
                                         uint32_t max_pages) override {
    auto s = SessionOf(ns);
    if (!s.ok()) return s.status();
    const uint64_t page_bytes = ns.fingerprint.page_bytes();
    if (auto st = CheckSlots(**s, offsets, page_bytes); !st.ok()) return st;
    // Each page is checked once it is in its slot; a later page written over it would go
    // unseen.
    std::vector<uint64_t> sorted(offsets.begin(), offsets.end());
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i) {
      if (sorted[i] - sorted[i - 1] < page_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the slots at ", sorted[i - 1], " and ", sorted[i], " overlap (pages are ",
            page_bytes, " bytes)"));
      }
    }
    return GetShmCall(ns, chain, offsets, max_pages);
  }

  absl::StatusOr<PutResult> PutFromDeviceIpc(const Namespace& ns, const Chain& chain,
                                             std::span<const void* const> device_pages) override {
    auto ex = ExportPages(ns, device_pages);
    if (!ex.ok()) return ex.status();
    v1::PutDeviceRequest req;
    SetRef(ns, req.mutable_ns());
    SetChain(chain, req.mutable_chain());
    req.set_ipc_handle(ex->first.handle);
    req.set_device_uuid(ex->first.device_uuid);
    for (uint64_t off : ex->second) req.add_offsets(off);
    return Unary<PutResult>(&Stub::PutDevice, req, [](const v1::PutResponse& resp) {
      PutResult r;
      r.written = resp.pages_written();
      r.existing = resp.pages_existing();
      r.keys.assign(resp.keys().begin(), resp.keys().end());
      return r;
    });
  }

  absl::StatusOr<SlotGetResult> GetToDeviceIpc(const Namespace& ns, const Chain& chain,
                                                std::span<void* const> device_pages,
                                                uint32_t max_pages) override {
    std::vector<const void*> pages(device_pages.begin(), device_pages.end());
    auto ex = ExportPages(ns, pages);
    if (!ex.ok()) return ex.status();
    v1::GetDeviceRequest req;
    SetRef(ns, req.mutable_ns());
    SetChain(chain, req.mutable_chain());
    req.set_max_pages(max_pages);
    req.set_ipc_handle(ex->first.handle);
    req.set_device_uuid(ex->first.device_uuid);
    for (uint64_t off : ex->second) req.add_offsets(off);
    return Unary<SlotGetResult>(&Stub::GetDevice, req, [](const v1::GetDeviceResponse& resp) {
      SlotGetResult r;
      r.pages = resp.done().pages_returned();
      r.stop = resp.done().stop();
      r.keys.assign(resp.keys().begin(), resp.keys().end());
      return r;
    });
  }

  absl::StatusOr<PutResult> PutFromDevice(const Namespace& ns, const Chain& chain,
                                          std::span<const void* const> device_pages) override {
    const uint64_t page_bytes = ns.fingerprint.page_bytes();
    auto dev = DeviceLease(ns, device_pages.size() * page_bytes,
                           device_pages.empty() ? nullptr : device_pages[0]);
    if (!dev.ok()) return dev.status();
    auto& [lease, stream] = *dev;
    std::vector<gpu::Copy> copies;
    std::vector<uint64_t> offsets;
    for (size_t i = 0; i < device_pages.size(); ++i) {
      copies.push_back({lease->data() + i * page_bytes, device_pages[i], page_bytes});
      offsets.push_back(lease->offset() + i * page_bytes);
    }
    if (auto s = stream->DeviceToHost(copies); !s.ok()) return s;
    std::vector<uint32_t> crcs;
    for (size_t i = 0; i < device_pages.size(); ++i) {
      crcs.push_back(util::Crc32c(std::string_view(
          reinterpret_cast<const char*>(lease->data() + i * page_bytes), page_bytes)));
    }
    return PutShmCall(ns, chain, offsets, page_bytes, crcs);
  }

  absl::StatusOr<SlotGetResult> GetToDevice(const Namespace& ns, const Chain& chain,
                                            std::span<void* const> device_pages,
                                            uint32_t max_pages) override {
    const uint64_t page_bytes = ns.fingerprint.page_bytes();
    auto dev = DeviceLease(ns, device_pages.size() * page_bytes,
                           device_pages.empty() ? nullptr : device_pages[0]);
    if (!dev.ok()) return dev.status();
    auto& [lease, stream] = *dev;
    std::vector<uint64_t> offsets;
    for (size_t i = 0; i < device_pages.size(); ++i) {
      offsets.push_back(lease->offset() + i * page_bytes);
    }
    auto r = GetShmCall(ns, chain, offsets, max_pages);
    if (!r.ok()) return r.status();
    std::vector<gpu::Copy> copies;
    for (uint32_t i = 0; i < r->pages; ++i) {
      copies.push_back({device_pages[i], lease->data() + i * page_bytes, page_bytes});
    }
    if (auto s = stream->HostToDevice(copies); !s.ok()) return s;
    return r;
  }

 private:
  // The allocation holding every page, exported, and each page's offset in it.
  static absl::StatusOr<std::pair<gpu::IpcExport, std::vector<uint64_t>>> ExportPages(
      const Namespace& ns, std::span<const void* const> pages) {
    if (pages.empty()) return absl::InvalidArgumentError("no device pages");
    auto ex = gpu::ExportIpc(pages[0]);
    if (!ex.ok()) return ex.status();
    const auto* base = static_cast<const char*>(ex->base);
    const uint64_t page_bytes = ns.fingerprint.page_bytes();
    std::vector<uint64_t> offsets;
    for (const void* p : pages) {
      const auto* c = static_cast<const char*>(p);
      if (c < base || static_cast<uint64_t>(c - base) + page_bytes > ex->size) {
        return absl::InvalidArgumentError(
            "every device page must lie in the same cudaMalloc allocation");
      }
      offsets.push_back(static_cast<uint64_t>(c - base));
    }
    return std::make_pair(*std::move(ex), std::move(offsets));
  }

  // Slots of `bytes` in the namespace's pinned arena, and a stream on the GPU that holds
  // `device_page` for a device request.
  absl::StatusOr<std::pair<std::unique_ptr<SlotLease>, std::unique_ptr<gpu::CopyStream>>>
  DeviceLease(const Namespace& ns, uint64_t bytes, const void* device_page) {
    if (bytes == 0) return absl::InvalidArgumentError("no device pages");
    auto s = SessionOf(ns);
    if (!s.ok()) return s.status();
    if (auto st = gpu::Available(); !st.ok()) return st;
    if (auto st = (*s)->EnsurePinned(); !st.ok()) return st;
    auto lease = ShmTransport::Lease(*s, bytes);
    if (!lease.ok()) return lease.status();
    auto stream = gpu::CopyStream::Create(device_page);
    if (!stream.ok()) return stream.status();
    return std::make_pair(*std::move(lease), *std::move(stream));
  }

  // Pages the chain names (token chains: full pages only).
  static uint64_t ChainPages(const Namespace& ns, const Chain& c) {
    if (!c.keys.empty()) return c.keys.size();
    const uint32_t t = ns.fingerprint.page_tokens();
    return t == 0 ? 0 : c.token_ids.size() / t;
  }

  absl::StatusOr<std::shared_ptr<ShmSession>> SessionOf(const Namespace& ns) {
    if (shm_ == nullptr) {
      return absl::FailedPreconditionError(
          "shared memory is not in use (set ClientOptions::shm_socket to the daemon's "
          "--shm-socket)");
    }
    return shm_->Session(ns.name, ns.id);
  }

  // A chain of keys asked through shared memory is answered from the namespace's presence
  // table (shm/presence.h), with no call, when the daemon sent one and it can answer now;
  // nullopt sends the question to the daemon (token chains, whose keys the daemon derives;
  // keys the daemon would refuse, so that it says why).
  std::optional<ExistsResult> ExistsFromPresence(const Namespace& ns, const Chain& chain) {
    // The limits of KeySource (prefixd.proto): beyond them the daemon's refusal says why.
    constexpr size_t kMaxKeyBytes = 64, kMaxChainPages = 65536;
    if (shm_ == nullptr || chain.keys.empty() || !chain.token_ids.empty() ||
        chain.keys.size() > kMaxChainPages) {
      return std::nullopt;
    }
    auto s = SessionOf(ns);  // registers the arena (and gets the table) on first use
    if (!s.ok()) return std::nullopt;
    std::shared_ptr<const shm::PresenceView> view;
    {
      absl::MutexLock l(&(*s)->mu);
      view = (*s)->registration.presence;
    }
    if (view == nullptr) return std::nullopt;
    std::vector<uint64_t> tags;
    tags.reserve(chain.keys.size());
    for (const auto& k : chain.keys) {
      if (k.empty() || k.size() > kMaxKeyBytes) return std::nullopt;
      tags.push_back(shm::PresenceTagOfKey(k));
    }
    uint64_t expired = 0;
    auto present =
        view->Lookup(tags, static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())), &expired);
    if (!present) return std::nullopt;
    ExistsResult r;
    r.present = *std::move(present);
    while (r.prefix_pages < r.present.size() && r.present[r.prefix_pages]) ++r.prefix_pages;
    (*s)->CountPresence(tags.size(), std::count(r.present.begin(), r.present.end(), true),
                        expired);
    return r;
  }

  // A range of the arena for a Put or Get that copies, or null when the byte path should
  // serve it: no shared memory, a call larger than half the arena, or the arena busy.
  std::unique_ptr<SlotLease> LeaseForCopy(const Namespace& ns, uint64_t bytes) {
    if (shm_ == nullptr || bytes == 0 || bytes > options_.shm_arena_bytes / 2) return nullptr;
    auto s = SessionOf(ns);
    if (!s.ok()) return nullptr;
    auto lease = ShmTransport::Lease(*std::move(s), bytes);
    return lease.ok() ? *std::move(lease) : nullptr;
  }

  static absl::Status CheckSlots(const ShmSession& s, std::span<const uint64_t> offsets,
                                 uint64_t page_bytes) {
    for (uint64_t off : offsets) {
      if (auto r = s.arena->Slice(off, page_bytes); !r.ok()) return r.status();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<PutResult> PutShmCall(const Namespace& ns, const Chain& chain,
                                       std::span<const uint64_t> offsets, uint64_t page_bytes,
                                       const std::vector<uint32_t>& crcs) {
    return Retry([&]() -> absl::StatusOr<PutResult> {
      auto s = SessionOf(ns);  // registers the arena again if the daemon restarted
      if (!s.ok()) return s.status();
      v1::PutShmRequest req;
      SetRef(ns, req.mutable_ns());
      SetChain(chain, req.mutable_chain());
      (*s)->SetRef(req.mutable_arena());
      (*s)->TakePresenceReport(req.mutable_presence_report());
      for (size_t i = 0; i < offsets.size(); ++i) {
        auto* slice = req.add_pages();
        slice->set_offset(offsets[i]);
        slice->set_length(page_bytes);
        req.add_crc32c(crcs[i]);
      }
      grpc::ClientContext ctx;
      Prepare(&ctx);
      v1::PutResponse resp;
      if (auto st = stub_->PutShm(&ctx, req, &resp); !st.ok()) return ShmStatus(st);
      PutResult r;
      r.written = resp.pages_written();
      r.existing = resp.pages_existing();
      r.keys.assign(resp.keys().begin(), resp.keys().end());
      return r;
    });
  }

  // `on_page(i, bytes)` (optional) takes a copy of page i as soon as the daemon reports it,
  // verified: the copy is what is checked, so nothing written into the arena later (by the
  // caller, or by a daemon still serving an earlier call that timed out on these slots) can
  // change bytes that passed. Without it pages are checked where they lie in the arena. A
  // retried attempt starts over, calling it again from page 0.
  absl::StatusOr<SlotGetResult> GetShmCall(
      const Namespace& ns, const Chain& chain, std::span<const uint64_t> offsets,
      uint32_t max_pages,
      const std::function<void(uint32_t, std::string)>& on_page = nullptr) {
    const uint64_t page_bytes = ns.fingerprint.page_bytes();
    return Retry([&]() -> absl::StatusOr<SlotGetResult> {
      auto s = SessionOf(ns);
      if (!s.ok()) return s.status();
      v1::GetShmRequest req;
      SetRef(ns, req.mutable_ns());
      SetChain(chain, req.mutable_chain());
      req.set_max_pages(max_pages);
      (*s)->SetRef(req.mutable_arena());
      (*s)->TakePresenceReport(req.mutable_presence_report());
      for (uint64_t off : offsets) {
        auto* slot = req.add_slots();
        slot->set_offset(off);
        slot->set_length(page_bytes);
      }
      // The daemon publishes each filled slot on a board in the arena (shm/progress.h); with
      // no room for one, pages are checked once the call has ended.
      std::unique_ptr<SlotLease> board_lease;
      std::optional<shm::ProgressReader> board;
      if (auto l = ShmTransport::Lease(*s, shm::BoardBytes(offsets.size())); l.ok()) {
        board_lease = *std::move(l);
        const uint32_t nonce = next_nonce_.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B1u;
        board.emplace(board_lease->data(), nonce);
        req.mutable_progress()->set_offset(board_lease->offset());
        req.mutable_progress()->set_length(shm::BoardBytes(offsets.size()));
        req.set_progress_nonce(nonce);
      }
      std::vector<uint32_t> checked;  // the CRC32C each checked page passed
      auto check = [&](uint32_t crc) -> absl::Status {
        const uint32_t i = static_cast<uint32_t>(checked.size());
        if (i >= offsets.size()) {
          return absl::DataLossError("the daemon reported more pages than slots");
        }
        std::string_view page(
            reinterpret_cast<const char*>((*s)->arena->data() + offsets[i]), page_bytes);
        std::string copy;
        if (on_page) {
          copy.assign(page);
          page = copy;
        }
        if (util::Crc32c(page) != crc) {
          return absl::DataLossError(absl::StrCat("page ", i, " failed its checksum in the arena"));
        }
        if (on_page) on_page(i, std::move(copy));
        checked.push_back(crc);
        return absl::OkStatus();
      };
      auto ctx = std::make_unique<grpc::ClientContext>();
      Prepare(ctx.get());
      absl::Time deadline = absl::InfiniteFuture();  // a side call's; gRPC keeps its own
      if (options_.rpc_timeout > absl::ZeroDuration()) {
        deadline = absl::FromChrono(ctx->deadline());
        req.set_deadline_unix_ns(static_cast<uint64_t>(absl::ToUnixNanos(deadline)));
      }
      // A chain of keys with a board goes as a call on the side socket where the daemon serves
      // them (its reply is small: the CRC32C of each page and the summary); the rest on gRPC.
      std::unique_ptr<CallerLease> caller;
      if (board && options_.shm_side_calls && chain.token_ids.empty() &&
          offsets.size() <= kMaxSideCallPages) {
        caller = shm_->Caller();
      }
      std::string payload;
      if (caller) {
        payload = req.SerializeAsString();
        if (sizeof(shm::CallRequestWire) + payload.size() > shm::kMaxCallBytes) caller.reset();
      }
      ShmGetCall* call = nullptr;
      if (caller) {
        if (auto st = (*caller)->Send(shm::kCallGetShm, payload); !st.ok()) {
          return absl::UnavailableError(st.message());  // Retry registers again if need be
        }
      } else {
        call = ShmGetCall::Start(stub_.get(), std::move(ctx), req, board ? &*board : nullptr);
        KeepCallbackQueue(channel_);
      }
      // Released on every path out: deleted, or left to end on its own (detached_).
      auto release = absl::MakeCleanup([&] {
        if (call != nullptr) call->Release(detached_);
      });
      absl::Status bad;
      uint32_t seen = 0;
      if (board) {
        // Until the daemon finishes the board, or the call ends without it (an error before the
        // daemon looked at the board; the timeout covers a nudge lost to the daemon's stores).
        // A side call's end is not signalled on the board: until the daemon has taken the
        // request up (kStarted) the socket is looked at whenever a millisecond passes with no
        // news; after it, the daemon finishes the board on every path.
        bool quiet = false;  // the last wait timed out
        while (bad.ok()) {
          const uint32_t filled = std::min<uint64_t>(seen & shm::kCountMask, offsets.size());
          while (bad.ok() && checked.size() < filled) {
            bad = check(board->Crc(static_cast<uint32_t>(checked.size())));
          }
          if ((seen & shm::kFinished) != 0) break;
          if (call != nullptr ? call->ended()
                              : (quiet && (*caller)->ReplyReady()) || absl::Now() >= deadline) {
            break;
          }
          absl::Duration wait = call == nullptr && (seen & shm::kStarted) == 0
                                    ? absl::Milliseconds(1)
                                    : absl::Milliseconds(50);
          if (call == nullptr) wait = std::min(wait, deadline - absl::Now());
          const uint32_t before = seen;
          seen = board->Wait(seen, wait);
          quiet = seen == before;
        }
        // The board has all the result when the daemon wrote its outcome for this call's nonce
        // and no keys are to come (a chain of keys): the call's summary is not waited for.
        // The daemon writes no slot after finishing the board.
        const uint8_t outcome = (seen & shm::kFinished) != 0 ? board->Outcome() : 0;
        if (bad.ok() && outcome != 0 && chain.token_ids.empty() &&
            checked.size() == (seen & shm::kCountMask)) {
          if (caller) (*caller)->Leave();  // read before the connection's next call
          SlotGetResult r;
          r.pages = static_cast<uint32_t>(checked.size());
          r.stop = static_cast<v1::GetDone::Stop>(outcome);
          return r;
        }
      }
      // A failed check still waits for the call to end, rather than cancel it: the stream ends
      // when the daemon's handler returns, so when this returns nothing writes the slots any
      // more (a cancelled daemon would go on copying until it noticed, into slots the caller
      // may reuse). A call that ended on this side (its deadline) may end before the handler
      // does: the board then says when the daemon is done.
      absl::Status st;
      std::vector<uint32_t> crcs;
      v1::GetShmResponse summary;
      if (call != nullptr) {
        st = ShmStatus(call->Await());
        if (st.ok() && !call->has_summary()) {
          st = absl::UnavailableError("the get stream ended without its summary");
        }
        crcs = call->crcs();
        summary = call->summary();
      } else {
        // The reply follows the board's finish; it is read even after a failed check, so the
        // connection can carry the next call (one left unread is read by the next Send).
        const absl::Duration left = deadline == absl::InfiniteFuture()
                                        ? absl::InfiniteDuration()
                                        : std::max(deadline - absl::Now(), absl::ZeroDuration());
        auto reply = (*caller)->Receive(left);
        if (!reply.ok()) {
          st = ShmStatus(reply.status());
        } else if (!summary.ParseFromString(*reply) || !summary.has_done()) {
          st = absl::DataLossError("the daemon's reply to a get call does not parse");
        } else {
          crcs.assign(summary.crc32c().begin(), summary.crc32c().end());
        }
      }
      if (!st.ok() && board) AwaitLateWriter(*board, seen);
      if (!bad.ok()) return bad;
      if (!st.ok()) return st;
      const auto& done = summary.done();
      if (crcs.size() != done.pages_returned() || checked.size() > crcs.size()) {
        return absl::DataLossError("the daemon's get summary does not match the pages it reported");
      }
      for (size_t i = 0; i < checked.size(); ++i) {
        if (checked[i] != crcs[i]) {
          return absl::DataLossError(absl::StrCat(
              "page ", i, ": the progress board's checksum differs from the daemon's summary"));
        }
      }
      for (size_t i = checked.size(); i < crcs.size(); ++i) {
        if (auto c = check(crcs[i]); !c.ok()) return c;
      }
      SlotGetResult r;
      r.pages = done.pages_returned();
      r.stop = done.stop();
      r.keys.assign(summary.keys().begin(), summary.keys().end());
      return r;
    });
  }

  // After a get failed on the client's side (a deadline) while the daemon had taken it up and
  // not finished, waits until the daemon finishes the board: it writes no slot after that, and
  // none after the deadline but the page in hand (it reads the clock before each page, and set
  // kStarted before its first look). Gives up after kLateWriterWait, or when the side socket
  // closes (the daemon exited).
  static constexpr absl::Duration kLateWriterWait = absl::Seconds(1);
  // Pages of the longest get sent as a side call: its reply (a CRC32C a page) stays far below
  // shm::kMaxCallBytes.
  static constexpr size_t kMaxSideCallPages = 1024;
  void AwaitLateWriter(shm::ProgressReader& board, uint32_t seen) {
    seen = board.Wait(seen, absl::ZeroDuration());
    if ((seen & shm::kStarted) == 0) return;
    const absl::Time give_up = absl::Now() + kLateWriterWait;
    while ((seen & shm::kFinished) == 0 && absl::Now() < give_up && !shm_->SideClosed()) {
      seen = board.Wait(seen, absl::Milliseconds(10));
    }
  }

  // A shared-memory call's failure. NOT_FOUND with the side socket closed is a race with a
  // daemon restart: the request carried the arena's old registration to a daemon that never
  // saw it. It becomes UNAVAILABLE, so that Retry's next attempt registers the arena again.
  absl::Status ShmStatus(const grpc::Status& st) { return ShmStatus(FromGrpc(st)); }
  absl::Status ShmStatus(absl::Status s) {
    if (s.code() == absl::StatusCode::kNotFound && shm_ != nullptr && shm_->SideClosed()) {
      return absl::UnavailableError(
          absl::StrCat("the daemon restarted during the call (", s.message(), ")"));
    }
    return s;
  }

  void Prepare(grpc::ClientContext* ctx) const {
    if (options_.rpc_timeout > absl::ZeroDuration()) {
      ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
    }
  }

  using Stub = v1::Prefixd::Stub;

  // One unary RPC with retries; `convert` turns the response into the result.
  template <typename Out, typename Req, typename Resp, typename Convert>
  absl::StatusOr<Out> Unary(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                            const Req& req, Convert convert) {
    return Retry([&]() -> absl::StatusOr<Out> {
      grpc::ClientContext ctx;
      Prepare(&ctx);
      Resp resp;
      auto s = (stub_.get()->*method)(&ctx, req, &resp);
      if (!s.ok()) return FromGrpc(s);
      return convert(resp);
    });
  }

  template <typename F>
  auto Retry(F&& attempt) -> decltype(attempt()) {
    absl::Duration backoff = options_.initial_backoff;
    for (int i = 1;; ++i) {
      auto r = attempt();
      // The client never cancels a call and then returns CANCELLED: that code comes from the
      // daemon (a shutdown cancels the calls it has not started), so it is retried like
      // UNAVAILABLE.
      const auto code = StatusOf(r).code();
      if ((code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kCancelled) ||
          i >= options_.max_attempts) {
        return r;
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  absl::StatusOr<PutResult> PutOnce(const Namespace& ns, const Chain& chain,
                                    std::span<const std::string_view> pages,
                                    const std::vector<uint32_t>& crcs) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::PutResponse resp;
    auto writer = stub_->Put(&ctx, &resp);
    v1::PutRequest msg;
    auto* h = msg.mutable_header();
    SetRef(ns, h->mutable_ns());
    SetChain(chain, h->mutable_chain());
    h->set_page_count(static_cast<uint32_t>(pages.size()));
    bool open = true;
    // One frame message for the whole call, its data buffer reused: Clear() would free it and
    // the next frame allocate a page-sized buffer again (with glibc's default thresholds a
    // fresh mmap, faulted in page by page).
    auto* f = msg.mutable_frame();
    for (size_t i = 0; i < pages.size() && open; ++i) {
      std::string_view p = pages[i];
      for (size_t off = 0; open && (off == 0 || off < p.size()); off += options_.frame_bytes) {
        if (off == 0) {
          f->set_size(p.size());
          f->set_crc32c(crcs[i]);
        } else {
          f->clear_size();
          f->clear_crc32c();
        }
        f->mutable_data()->assign(p.data() + off,
                                  std::min<size_t>(options_.frame_bytes, p.size() - off));
        open = writer->Write(msg);  // false: the server ended the call; Finish says why
        msg.clear_header();
      }
    }
    if (open) writer->WritesDone();
    auto s = writer->Finish();
    if (!s.ok()) return FromGrpc(s);
    PutResult r;
    r.written = resp.pages_written();
    r.existing = resp.pages_existing();
    r.keys.assign(resp.keys().begin(), resp.keys().end());
    return r;
  }

  absl::StatusOr<GetResult> GetOnce(const v1::GetRequest& req) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    auto reader = stub_->Get(&ctx, req);
    GetResult r;
    v1::GetResponse m;
    uint64_t want = 0;
    uint32_t crc = 0;
    bool done = false;
    absl::Status bad;
    while (bad.ok() && reader->Read(&m)) {
      if (m.has_done()) {
        done = true;
        r.stop = m.done().stop();
        if (m.done().pages_returned() != r.pages.size()) {
          bad = absl::DataLossError("server counted a different number of pages than it sent");
        }
        continue;
      }
      auto* f = m.mutable_frame();
      if (f->size() != 0) {  // the first frame of a page
        if (!r.pages.empty() && r.pages.back().size() != want) {
          bad = absl::DataLossError("a page ended early in the stream");
          break;
        }
        want = f->size();
        crc = f->crc32c();
        r.pages.emplace_back();
        if (f->data().size() == want) {
          r.pages.back().swap(*f->mutable_data());
        } else {
          r.pages.back().reserve(want);
          r.pages.back().append(f->data());
        }
      } else if (!r.pages.empty() && r.pages.back().size() < want) {
        r.pages.back().append(f->data());
      } else {
        bad = absl::DataLossError("a frame arrived with no page open");
        break;
      }
      if (!r.pages.empty() && r.pages.back().size() == want &&
          util::Crc32c(r.pages.back()) != crc) {
        bad = absl::DataLossError("a page failed its checksum in transit");
      }
    }
    if (!bad.ok()) {
      ctx.TryCancel();
      reader->Finish();
      return bad;
    }
    auto s = reader->Finish();
    if (!s.ok()) return FromGrpc(s);
    if (!done) return absl::UnavailableError("the get stream ended without its summary");
    if (!r.pages.empty() && r.pages.back().size() != want) {
      return absl::DataLossError("the last page ended early in the stream");
    }
    return r;
  }

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Prefixd::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  std::unique_ptr<ShmTransport> shm_;  // null: bytes over gRPC only
  std::atomic<uint32_t> next_nonce_{1};  // of shared-memory gets' progress boards
  // Shared-memory gets returned before gRPC ended them.
  std::shared_ptr<DetachedCalls> detached_ = std::make_shared<DetachedCalls>();
};

}  // namespace

absl::Status ClientOptions::Validate() const {
  if (target.empty()) return absl::InvalidArgumentError("no target (HOST:PORT or unix:///path)");
  if (max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be at least 1");
  if (frame_bytes < 4096 || frame_bytes > (uint64_t{8} << 20)) {
    return absl::InvalidArgumentError("frame_bytes must be in [4 KiB, 8 MiB]");
  }
  if (!shm_socket.empty() && shm_arena_bytes < 4096) {
    return absl::InvalidArgumentError("shm_arena_bytes must be at least 4 KiB");
  }
  return absl::OkStatus();
}

Chain Chain::FromKeys(std::vector<std::string> keys, std::string parent_key) {
  Chain c;
  c.keys = std::move(keys);
  c.parent_key = std::move(parent_key);
  return c;
}

Chain Chain::FromTokens(std::vector<uint32_t> token_ids, std::string parent_key) {
  Chain c;
  c.token_ids = std::move(token_ids);
  c.parent_key = std::move(parent_key);
  return c;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  if (auto s = options.Validate(); !s.ok()) return s;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  auto channel =
      grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  if (!channel) return absl::InvalidArgumentError("cannot create a channel to " + options.target);
  std::unique_ptr<ShmTransport> shm;
  if (!options.shm_socket.empty()) {
    auto t = ShmTransport::Connect(options.shm_socket, options.shm_arena_bytes);
    if (t.ok()) {
      shm = *std::move(t);
    } else if (options.shm_required) {
      return t.status();
    }
  }
  return std::unique_ptr<Client>(new ClientImpl(options, std::move(channel), std::move(shm)));
}

}  // namespace prefixd::client
