// The prefixd.v1.Prefixd gRPC service: thin handlers that translate and delegate to the store.
// Runs on gRPC's synchronous server: each RPC occupies one server thread, so handlers may block
// on the store. Thread-safe: handlers run concurrently; the store and the budget are shared.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "prefixd/v1/prefixd.grpc.pb.h"
#include "server/admission.h"
#include "server/config.h"
#include "server/stream_watchdog.h"
#include "controller/controller.h"
#include "shm/registry.h"
#include "shm/side_call.h"
#include "storage/store.h"

namespace prefixd::server {

class PrefixdService final : public v1::Prefixd::Service {
 public:
  // `store` must outlive the service, and so must `arenas` (the client arenas registered on
  // the side socket; nullptr when shared memory is off).
  PrefixdService(storage::Store* store, const ServerConfig& config,
                 const shm::ArenaRegistry* arenas = nullptr,
                 const controller::Controller* controller = nullptr);

  grpc::Status OpenNamespace(grpc::ServerContext* ctx, const v1::OpenNamespaceRequest* req,
                             v1::OpenNamespaceResponse* resp) override;
  grpc::Status Exists(grpc::ServerContext* ctx, const v1::ExistsRequest* req,
                      v1::ExistsResponse* resp) override;
  grpc::Status Put(grpc::ServerContext* ctx, grpc::ServerReader<v1::PutRequest>* reader,
                   v1::PutResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                   grpc::ServerWriter<v1::GetResponse>* writer) override;
  grpc::Status Delete(grpc::ServerContext* ctx, const v1::DeleteRequest* req,
                      v1::DeleteResponse* resp) override;
  grpc::Status DeleteNamespace(grpc::ServerContext* ctx, const v1::DeleteNamespaceRequest* req,
                               v1::DeleteNamespaceResponse* resp) override;
  grpc::Status Stats(grpc::ServerContext* ctx, const v1::StatsRequest* req,
                     v1::StatsResponse* resp) override;
  grpc::Status Flush(grpc::ServerContext* ctx, const v1::FlushRequest* req,
                     v1::FlushResponse* resp) override;
  grpc::Status Explain(grpc::ServerContext* ctx, const v1::ExplainRequest* req,
                       v1::ExplainResponse* resp) override;
  // CUDA IPC page transfer (service_device.cc).
  grpc::Status PutDevice(grpc::ServerContext* ctx, const v1::PutDeviceRequest* req,
                         v1::PutResponse* resp) override;
  grpc::Status GetDevice(grpc::ServerContext* ctx, const v1::GetDeviceRequest* req,
                         v1::GetDeviceResponse* resp) override;
  // Shared-memory page transfer (service_shm.cc).
  grpc::Status PutShm(grpc::ServerContext* ctx, const v1::PutShmRequest* req,
                      v1::PutResponse* resp) override;
  grpc::Status GetShm(grpc::ServerContext* ctx, const v1::GetShmRequest* req,
                      grpc::ServerWriter<v1::GetShmResponse>* writer) override;

  // A call that came on the side socket rather than gRPC (shm/side_call.h): kCallGetShm, a
  // GetShm with a progress board. Thread-safe, like the handlers.
  shm::CallReply ServeSideCall(uint32_t kind, std::string_view payload,
                               const std::function<bool()>& peer_gone);

  // Handlers running now. Lets shutdown know when the store is no longer in use.
  int active_calls() const { return active_calls_.load(); }

  // From now on handlers refuse with UNAVAILABLE before touching the store. Returns the
  // handlers still running: when 0, none can reach the store any more.
  int StartDraining() {
    draining_.store(true);
    return active_calls_.load();
  }

 private:
  storage::Store* const store_;
  const ServerConfig config_;
  const shm::ArenaRegistry* const arenas_;
  const controller::Controller* const controller_;
  ByteBudget budget_;
  StreamWatchdog watchdog_;
  // Counts one running handler for its lifetime; admitted() is false once draining. The
  // increment comes before the check and StartDraining sets the flag before reading the count
  // (both sequentially consistent), so no handler is both admitted and missed by the drain.
  class CallGuard {
   public:
    explicit CallGuard(PrefixdService* s) : n_(&s->active_calls_) {
      n_->fetch_add(1);
      admitted_ = !s->draining_.load();
    }
    ~CallGuard() { n_->fetch_sub(1); }
    CallGuard(const CallGuard&) = delete;
    CallGuard& operator=(const CallGuard&) = delete;
    bool admitted() const { return admitted_; }

   private:
    std::atomic<int>* n_;
    bool admitted_ = false;
  };

  // The page keys a request names in its namespace (see ChainKeys); with `need_id`, the
  // request must carry the namespace id (RequireOpened). `info` receives the namespace.
  absl::StatusOr<std::vector<std::string>> RequestKeys(const v1::NamespaceRef& ns,
                                                       const v1::KeySource& chain, bool need_id,
                                                       storage::NamespaceInfo* info = nullptr);

  static grpc::Status ShuttingDown() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "prefixd is shutting down");
  }

  // Writes the pages of a chain named by `keys` in groups of `group` pages, one store Put
  // each, each group continuing from the last page of the one before. `fill(at, writes)`
  // supplies the bytes and CRC32C of the group starting at page `at` (keys are set). Sets
  // `resp` (and its keys, for a token chain).
  using FillGroup = std::function<absl::Status(size_t at, std::span<storage::PageWrite> writes)>;
  grpc::Status PutInGroups(const v1::NamespaceRef& ns, const v1::KeySource& chain,
                           std::vector<std::string> keys, size_t group, const FillGroup& fill,
                           v1::PutResponse* resp);

  // Adds what a client found in the namespace's presence table to the Exists counts (a
  // report that does not add up is dropped, not an error: it must not fail the request).
  void CountPresenceReport(const v1::NamespaceRef& ns, const v1::PresenceReport& report);

  // How a GetShm came and how it answers: `cancelled` is asked about every 4 MiB of pages;
  // `deadline` is the transport's own (the request's deadline_unix_ns applies as well);
  // `write` sends a partial response, for requests without a progress board (false: the
  // client is gone). A transport without it refuses such requests.
  struct GetShmChannel {
    std::function<bool()> cancelled;
    std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();
    std::function<bool(const v1::GetShmResponse&)> write;
  };
  // The work of a GetShm, whichever way it came: on success `out` holds the summary (and the
  // CRC32C of pages not yet sent in a partial response).
  absl::Status ServeGetShm(const v1::GetShmRequest& req, const GetShmChannel& channel,
                           v1::GetShmResponse* out);

  // The arena a shared-memory request names, checked against its namespace.
  absl::StatusOr<std::shared_ptr<const shm::RegisteredArena>> RequestArena(
      const v1::NamespaceRef& ns, const v1::ShmArenaRef& ref) const;

  std::atomic<uint64_t> shm_put_pages_{0}, shm_get_pages_{0}, shm_side_get_calls_{0};
  std::atomic<int> active_calls_{0};
  std::atomic<bool> draining_{false};
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace prefixd::server
