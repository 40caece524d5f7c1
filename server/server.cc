#include "server/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/presence_tables.h"
#include "server/service.h"
#include "shm/side_channel.h"
#include "controller/controller.h"
#include "gpu/gpu.h"
#include "spdlog/spdlog.h"
#include "storage/store.h"
#include "util/byte_size.h"
#include "util/unix_socket.h"

namespace prefixd::server {
namespace {

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(const ServerConfig& config) : config_(config) {}

  absl::Status Init() {
    storage::StoreOptions so;
    so.path = config_.data_dir;
    so.capacity_bytes = config_.capacity_bytes;
    so.max_background_jobs = config_.background_jobs;
    so.write_buffer_size = config_.write_buffer_bytes;
    so.read_group_bytes = config_.read_group_bytes;
    so.memory_cache_bytes = config_.memory_cache_bytes;
    so.block_cache_bytes = config_.block_cache_bytes;
    so.generation_bytes = config_.generation_bytes;
    so.promote_fraction = config_.promote_fraction;
    so.eviction = config_.evict_pages ? storage::StoreOptions::Eviction::kPages
                                      : storage::StoreOptions::Eviction::kGenerations;
    so.adaptive_insertion = config_.adaptive_insertion;
    so.eviction_order_interval = absl::Seconds(config_.eviction_order_sync_seconds);
    so.promote_budget = config_.promote_budget;
    if (!config_.shm_socket.empty()) {
      // Co-located clients answer Exists from these: they follow the index from its load on.
      presence_ = std::make_unique<PresenceTables>(config_.capacity_bytes);
      so.index_observer = presence_.get();
    }
    auto store = storage::Store::Open(so);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    if (!config_.shm_socket.empty()) {
      arenas_ = std::make_unique<shm::ArenaRegistry>(
          shm::RegistryLimits{config_.shm_max_arenas, config_.shm_max_bytes});
    }
    auto co = controller::ControllerOptions::Parse(config_.controller);
    if (!co.ok()) return co.status();
    if (!absl::ParseDuration(config_.controller_epoch, &co->epoch)) {
      return absl::InvalidArgumentError("bad --controller-epoch");
    }
    co->decider.threshold = config_.controller_threshold_percent / 100.0;
    co->decider.patience = static_cast<int>(config_.controller_patience);
    auto ctl = controller::Controller::Start(store_.get(), *co);
    if (!ctl.ok()) return ctl.status();
    controller_ = *std::move(ctl);
    service_ = std::make_unique<PrefixdService>(store_.get(), config_, arenas_.get(),
                                                controller_.get());
    if (!config_.shm_socket.empty()) {
      if (auto s = StartSharedMemory(); !s.ok()) return s;
    }

    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    if (!config_.listen.empty()) {
      builder.AddListeningPort(config_.listen, grpc::InsecureServerCredentials(), &port_);
    }
    if (!config_.unix_path.empty()) {
      if (auto s = util::RemoveStaleSocket(config_.unix_path, SOCK_STREAM); !s.ok()) {
        return absl::FailedPreconditionError(absl::StrCat("--unix: ", s.message()));
      }
      builder.AddListeningPort("unix://" + config_.unix_path, grpc::InsecureServerCredentials());
    }
    // Frames are 1-4 MiB; leave room for the envelope and for clients that send 8 MiB.
    // gRPC enables SO_REUSEPORT by default: a second daemon on the same port would then share
    // connections with this one. Refuse to bind instead.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(16 << 20);
    builder.SetMaxSendMessageSize(16 << 20);
    grpc::ResourceQuota quota("prefixd");
    quota.SetMaxThreads(config_.max_threads);
    builder.SetResourceQuota(quota);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    if (!server_ || (!config_.listen.empty() && port_ == 0)) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", config_.listen.empty() ? config_.unix_path : config_.listen,
          " (address in use, or not permitted)"));
    }
    server_->GetHealthCheckService()->SetServingStatus(true);
    if (auto g = gpu::Available(); g.ok()) {
      spdlog::info("GPU path on: PutDevice/GetDevice copy through CUDA IPC handles");
    } else {
      spdlog::info("GPU path off: {}", std::string(g.message()));
    }
    spdlog::info("prefixd {} serving on {}{}{} (data {}, capacity {})", PREFIXD_VERSION,
                 config_.listen.empty() ? "" : config_.listen,
                 config_.listen.empty() || config_.unix_path.empty() ? "" : " and ",
                 config_.unix_path.empty() ? "" : "unix://" + config_.unix_path,
                 config_.data_dir,
                 config_.capacity_bytes == 0 ? std::string("unlimited")
                                             : util::FormatByteSize(config_.capacity_bytes));
    return absl::OkStatus();
  }

  absl::Status Shutdown() override {
    server_->GetHealthCheckService()->SetServingStatus(false);
    auto grace = std::chrono::seconds(config_.shutdown_grace_seconds);
    auto deadline = std::chrono::system_clock::now() + grace;
    // gRPC's Shutdown also waits for open connections to close, which an idle client, or one
    // that never completes its handshake, can delay for minutes. Once no handler runs (or the
    // grace period and 5 s more are over), the store is flushed whether or not gRPC is done.
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread stopper([server = server_.get(), deadline, done] {
      server->Shutdown(deadline);
      server->Wait();
      *done = true;
    });
    auto settle = std::chrono::system_clock::now() + std::chrono::milliseconds(200);
    auto hard_limit = deadline + std::chrono::seconds(5);
    while (!*done) {
      auto now = std::chrono::system_clock::now();
      if (now > hard_limit) break;
      if (now > settle && service_->active_calls() == 0 && service_->StartDraining() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (*done) {
      stopper.join();
      spdlog::info("requests drained; flushing the store");
    } else {
      // The server and service stay allocated: the stopper thread still uses them.
      stopper.detach();
      abandoned_ = true;
      spdlog::warn("gRPC is still closing client connections ({} handlers running); "
                   "flushing the store anyway", service_->active_calls());
    }
    auto s = store_->Flush();
    if (!abandoned_) {
      server_.reset();
      side_.reset();  // before the service: its call threads use it
      service_.reset();
      arenas_.reset();
      controller_.reset();
      store_.reset();
    }
    if (!config_.unix_path.empty()) {
      std::error_code ec;
      std::filesystem::remove(config_.unix_path, ec);
    }
    return s;
  }

  bool abandoned() const override { return abandoned_; }

  // Listens on --shm-socket for client arenas: each is mapped once its namespace checks out,
  // and released when the client's side socket closes; and for calls (gets that skip gRPC),
  // served by the service. After the registry, the store and the service are made.
  absl::Status StartSharedMemory() {
    auto on_register = [this](int fd, const shm::Peer& peer, const std::string& name,
                              uint64_t ns_id)
        -> absl::StatusOr<std::shared_ptr<const shm::RegisteredArena>> {
      auto ns = store_->LookupNamespace(storage::NamespaceRef{name, ns_id});
      if (ns.ok() && ns_id == 0) {
        ns = absl::InvalidArgumentError("register an arena with the namespace id OpenNamespace returned");
      }
      if (!ns.ok()) {
        ::close(fd);
        return ns.status();
      }
      auto arena = shm::Arena::Adopt(fd, config_.shm_max_bytes);
      if (!arena.ok()) return arena.status();
      auto r = arenas_->Add(*std::move(arena), ns_id, peer,
                            presence_->For(static_cast<uint32_t>(ns_id), ns->fingerprint.page_bytes));
      if (r.ok()) {
        spdlog::info("shm: arena {} ({}) registered by pid {} uid {} for namespace {}", (*r)->id,
                     util::FormatByteSize((*r)->arena->size()), peer.pid, peer.uid, name);
      } else {
        spdlog::warn("shm: refused an arena from pid {} uid {}: {}", peer.pid, peer.uid,
                     r.status().ToString());
      }
      return r;
    };
    auto on_release = [this](uint64_t id) {
      arenas_->Remove(id);
      spdlog::info("shm: arena {} released (its client closed the side socket)", id);
    };
    shm::CallFn on_call;  // none: hellos refused, clients use gRPC
    if (config_.shm_calls) {
      on_call = [this](uint32_t kind, std::string_view payload,
                       const std::function<bool()>& peer_gone) {
        return service_->ServeSideCall(kind, payload, peer_gone);
      };
    }
    auto side = shm::SideListener::Start(config_.shm_socket, on_register, on_release, on_call);
    if (!side.ok()) {
      return absl::Status(side.status().code(),
                          absl::StrCat("--shm-socket: ", side.status().message()));
    }
    side_ = *std::move(side);
    spdlog::info("shared-memory arenas accepted on {}", config_.shm_socket);
    return absl::OkStatus();
  }

  int port() const override { return port_; }

 private:
  const ServerConfig config_;
  std::unique_ptr<PresenceTables> presence_;  // shared memory; outlives the store it observes
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<shm::ArenaRegistry> arenas_;  // shared memory; null when off
  std::unique_ptr<shm::SideListener> side_;
  std::unique_ptr<controller::Controller> controller_;
  std::unique_ptr<PrefixdService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool abandoned_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  if (auto s = config.Validate(); !s.ok()) return s;
  auto server = std::make_unique<ServerImpl>(config);
  if (auto s = server->Init(); !s.ok()) return s;
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace prefixd::server
