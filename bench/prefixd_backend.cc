#include "bench/prefixd_backend.h"

#include <array>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "storage/store.h"
#include "util/crc32c.h"

namespace prefixd::bench {
namespace {


class GrpcBackend final : public Backend {
 public:
  GrpcBackend(std::unique_ptr<client::Client> c, client::Namespace ns)
      : client_(std::move(c)), ns_(std::move(ns)) {}

  const std::string& kind() const override { return kind_; }

  absl::StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys) override {
    auto r = client_->Exists(ns_, Chain(keys));
    if (!r.ok()) return r.status();
    return std::move(r->present);
  }

  absl::Status Put(std::span<const std::string> keys, std::span<const std::string_view> pages,
                   std::string_view parent_key) override {
    auto chain = Chain(keys);
    chain.parent_key = std::string(parent_key);
    return client_->Put(ns_, chain, pages).status();
  }

  absl::StatusOr<size_t> Get(std::span<const std::string> keys,
                             std::vector<std::string>* pages) override {
    auto r = client_->Get(ns_, Chain(keys));
    if (!r.ok()) return r.status();
    *pages = std::move(r->pages);
    return pages->size();
  }

  // Through shared memory the pages stay in the arena's slots: views of them, and a guard that
  // gives the slots back.
  absl::StatusOr<PageViews> GetViews(std::span<const std::string> keys) override {
    if (!client_->shared_memory()) return Backend::GetViews(keys);
    const uint64_t page = ns_.fingerprint.page_bytes();
    auto arena = client_->ArenaOf(ns_);
    if (!arena.ok()) return arena.status();
    auto base = client_->AllocateSlots(ns_, keys.size() * page);
    if (!base.ok()) return Backend::GetViews(keys);  // arena busy: the copying path
    struct Slots {
      client::Client* c;
      client::Namespace ns;
      uint64_t base, bytes;
      ~Slots() { c->FreeSlots(ns, base, bytes); }
    };
    // Built in place: a temporary Slots would give the range back as it is destroyed.
    std::shared_ptr<Slots> keep(new Slots{client_.get(), ns_, *base, keys.size() * page});
    std::vector<uint64_t> offsets;
    for (size_t i = 0; i < keys.size(); ++i) offsets.push_back(*base + i * page);
    auto r = client_->GetSlots(ns_, Chain(keys), offsets);
    if (!r.ok()) return r.status();
    PageViews v;
    for (uint32_t i = 0; i < r->pages; ++i) {
      v.pages.emplace_back(reinterpret_cast<const char*>(arena->data() + offsets[i]), page);
    }
    v.keep = std::move(keep);
    return v;
  }

  absl::Status Sync() override { return client_->Flush(); }

  absl::StatusOr<uint64_t> DiskBytes() override {
    auto s = client_->Stats();
    if (!s.ok()) return s.status();
    return s->disk_bytes();
  }

  absl::StatusOr<IoCounters> Io() override {
    auto s = client_->Stats();
    if (!s.ok()) return s.status();
    return IoCounters{s->process_read_bytes(), s->process_write_bytes(), s->peak_rss_bytes(),
                      s->shm_put_pages(),      s->shm_get_pages(),       s->stall_micros()};
  }

 private:
  static client::Chain Chain(std::span<const std::string> keys) {
    return client::Chain::FromKeys(std::vector<std::string>(keys.begin(), keys.end()));
  }

  const std::string kind_ = "grpc";
  std::unique_ptr<client::Client> client_;
  const client::Namespace ns_;
};

class InprocBackend final : public Backend {
 public:
  InprocBackend(std::unique_ptr<storage::Store> store, storage::StoreOptions options,
                std::string ns, storage::Fingerprint fp)
      : store_(std::move(store)), options_(std::move(options)), ns_(std::move(ns)),
        fp_(std::move(fp)) {}

  absl::Status Restart(OrderAtRestart order) override {
    absl::MutexLock l(&mu_);  // calls made meanwhile wait
    store_.reset();           // a clean close
    std::error_code ec;
    if (order != OrderAtRestart::kClosed) {  // the files the close wrote go
      for (const auto& f : OrderFiles()) {
        std::filesystem::remove(f, ec);
        if (ec) return absl::InternalError("cannot remove the eviction order: " + ec.message());
      }
    }
    if (order == OrderAtRestart::kLastSync) {  // and those of the last sync come back
      for (const auto& f : OrderFiles()) {
        if (!std::filesystem::exists(Kept(f))) continue;
        std::filesystem::rename(Kept(f), f, ec);
        if (ec) return absl::InternalError("cannot put back the last sync: " + ec.message());
      }
    }
    auto store = storage::Store::Open(options_);
    if (!store.ok()) return store.status();
    if (auto r = (*store)->OpenNamespace(ns_, fp_); !r.ok()) return r.status();
    store_ = *std::move(store);
    return absl::OkStatus();
  }

  absl::Status SyncEvictionOrder() override {
    absl::MutexLock l(&mu_);
    if (store_ == nullptr) return Closed();
    if (options_.eviction_order_interval == absl::ZeroDuration()) {
      return absl::FailedPreconditionError("the store was opened without the order's journal");
    }
    if (auto s = store_->SyncEvictionOrder(); !s.ok()) return s;
    // Kept aside as they are: the store's close writes over them. The store's own syncs go on
    // meanwhile; a pair copied across one of its saves would not match, so copy again then.
    auto written = [&] {
      std::error_code ec;
      return std::filesystem::last_write_time(OrderFiles()[0], ec);
    };
    for (int attempt = 0; attempt < 5; ++attempt) {
      const auto before = written();
      for (const auto& f : OrderFiles()) {
        std::error_code ec;
        std::filesystem::remove(Kept(f), ec);
        if (!std::filesystem::exists(f)) continue;
        std::filesystem::copy_file(f, Kept(f), ec);
        if (ec) return absl::InternalError("cannot keep the eviction order: " + ec.message());
      }
      if (written() == before) return absl::OkStatus();
    }
    return absl::UnavailableError("the store saved its order during every copy");
  }

  const std::string& kind() const override { return kind_; }

  absl::StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys) override {
    absl::ReaderMutexLock l(&mu_);
    if (store_ == nullptr) return Closed();
    return store_->Exists({ns_}, keys);
  }

  absl::Status Put(std::span<const std::string> keys, std::span<const std::string_view> pages,
                   std::string_view parent_key) override {
    absl::ReaderMutexLock l(&mu_);
    if (store_ == nullptr) return Closed();
    std::vector<storage::PageWrite> w;
    w.reserve(pages.size());
    for (size_t i = 0; i < pages.size(); ++i) {
      w.push_back({keys[i], pages[i], util::Crc32c(pages[i])});
    }
    return store_->Put({ns_}, parent_key, w).status();
  }

  absl::StatusOr<size_t> Get(std::span<const std::string> keys,
                             std::vector<std::string>* pages) override {
    absl::ReaderMutexLock l(&mu_);
    if (store_ == nullptr) return Closed();
    // Into the caller's strings of its last call, as the file tiers read (file_internal::
    // KeepBuffers): a string already of the page's size is overwritten, not reallocated.
    size_t got = 0;
    auto r = store_->Get({ns_}, keys, 0, [&](size_t, std::string_view, std::string_view b,
                                               uint32_t) {
      if (pages->size() <= got) pages->emplace_back();
      (*pages)[got++].assign(b);
      return true;
    });
    if (!r.ok()) {
      pages->clear();
      return r.status();
    }
    pages->resize(got);
    return got;
  }

  absl::Status Sync() override {
    absl::ReaderMutexLock l(&mu_);
    if (store_ == nullptr) return Closed();
    return store_->Flush();
  }

  absl::StatusOr<uint64_t> DiskBytes() override {
    absl::ReaderMutexLock l(&mu_);
    if (store_ == nullptr) return Closed();
    auto s = store_->Stats();
    if (!s.ok()) return s.status();
    return s->disk_bytes;
  }

  absl::StatusOr<IoCounters> Io() override {
    return ProcessIo();
  }

 private:
  static absl::Status Closed() {
    return absl::FailedPreconditionError("the store did not open again after a restart");
  }
  // The eviction order's files in the store's directory: the save, then its journal.
  std::array<std::filesystem::path, 2> OrderFiles() const {
    const std::filesystem::path dir(options_.path);
    return {dir / storage::StoreOptions::kEvictionOrderFile,
            dir / storage::StoreOptions::kEvictionOrderJournal};
  }
  // Where SyncEvictionOrder keeps a file of the order: beside the store's directory, outside
  // its budget.
  std::filesystem::path Kept(const std::filesystem::path& f) const {
    return options_.path + "." + f.filename().string();
  }

  const std::string kind_ = "inproc";
  absl::Mutex mu_;  // held shared by every call, exclusively by Restart
  std::unique_ptr<storage::Store> store_ ABSL_GUARDED_BY(mu_);
  const storage::StoreOptions options_;
  const std::string ns_;
  const storage::Fingerprint fp_;
};

absl::Status CheckCommon(const BackendOptions& o, bool needs_dir) {
  if (o.page_bytes == 0) return absl::InvalidArgumentError("page_bytes must be > 0");
  if (needs_dir && o.dir.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(o.kind, " needs a directory (--dir)"));
  }
  if (!needs_dir && o.target.empty()) {
    return absl::InvalidArgumentError("grpc needs a target (--target)");
  }
  return absl::OkStatus();
}

}  // namespace

v1::Fingerprint BenchFingerprint(uint64_t page_bytes, uint32_t page_tokens) {
  v1::Fingerprint fp;
  fp.set_model("prefixd-bench");
  fp.set_model_revision("1");
  fp.set_dtype("bytes");
  fp.set_kv_layout("opaque");
  fp.set_page_tokens(page_tokens);
  fp.set_page_bytes(page_bytes);
  fp.set_tp_rank(0);
  fp.set_tp_size(1);
  fp.set_key_scheme("bench-v1");
  return fp;
}

absl::StatusOr<std::unique_ptr<Backend>> NewGrpcBackend(const BackendOptions& o) {
  if (auto s = CheckCommon(o, false); !s.ok()) return s;
  client::ClientOptions co;
  co.target = o.target;
  co.rpc_timeout = absl::Seconds(120);
  if (o.transport == "shm") {
    co.shm_socket = o.shm_socket;
    co.shm_arena_bytes = o.shm_arena_bytes;
    co.shm_required = true;
    co.shm_side_calls = o.shm_side_calls;
  }
  auto c = client::Client::Connect(co);
  if (!c.ok()) return c.status();
  auto ns = (*c)->OpenNamespace(o.ns_name, BenchFingerprint(o.page_bytes, o.page_tokens));
  if (!ns.ok()) return ns.status();
  if (o.transport == "shm") {
    // Register the arena now, as an engine does at start-up, not inside a timed phase.
    if (auto a = (*c)->ArenaOf(*ns); !a.ok()) return a.status();
  }
  return std::unique_ptr<Backend>(new GrpcBackend(*std::move(c), *std::move(ns)));
}

absl::StatusOr<std::unique_ptr<Backend>> NewInprocBackend(const BackendOptions& o) {
  if (auto s = CheckCommon(o, true); !s.ok()) return s;
  storage::StoreOptions so;
  so.path = o.dir;
  so.capacity_bytes = o.capacity_bytes;
  so.block_cache_bytes = o.block_cache_bytes;
  so.eviction = o.eviction == "pages" ? storage::StoreOptions::Eviction::kPages
                                      : storage::StoreOptions::Eviction::kGenerations;
  so.adaptive_insertion = o.insertion == "adaptive";
  so.eviction_order_interval = absl::Seconds(o.order_sync_seconds);
  auto store = storage::Store::Open(so);
  if (!store.ok()) return store.status();
  const auto fp = BenchFingerprint(o.page_bytes, o.page_tokens);
  storage::Fingerprint sfp{fp.model(),      fp.model_revision(), fp.dtype(),
                           fp.kv_layout(),  fp.page_tokens(),    fp.page_bytes(),
                           fp.tp_rank(),    fp.tp_size(),        fp.key_scheme()};
  if (auto r = (*store)->OpenNamespace(o.ns_name, sfp); !r.ok()) return r.status();
  return std::unique_ptr<Backend>(new InprocBackend(*std::move(store), so, o.ns_name, sfp));
}

}  // namespace prefixd::bench
