// PrefixdService: the unary handlers. The streaming ones are in service_stream.cc.
#include "server/service.h"

#include "absl/container/flat_hash_map.h"
#include "server/convert.h"
#include "server/write_amplification.h"
#include "spdlog/spdlog.h"
#include "util/process_stats.h"

namespace prefixd::server {

PrefixdService::PrefixdService(storage::Store* store, const ServerConfig& config,
                               const shm::ArenaRegistry* arenas,
                               const controller::Controller* controller)
    : store_(store),
      config_(config),
      arenas_(arenas),
      controller_(controller),
      budget_(config.max_inflight_bytes),
      watchdog_(std::chrono::seconds(config.stream_idle_timeout_seconds)) {}

absl::StatusOr<std::vector<std::string>> PrefixdService::RequestKeys(
    const v1::NamespaceRef& ref, const v1::KeySource& chain, bool need_id,
    storage::NamespaceInfo* info) {
  if (need_id) {
    if (auto s = RequireOpened(ref); !s.ok()) return s;
  }
  auto ns = store_->LookupNamespace(RefOf(ref));
  if (!ns.ok()) return ns.status();
  if (info != nullptr) *info = *ns;
  return ChainKeys(chain, *ns);
}

grpc::Status PrefixdService::PutInGroups(const v1::NamespaceRef& ns, const v1::KeySource& chain,
                                         std::vector<std::string> keys, size_t group,
                                         const FillGroup& fill, v1::PutResponse* resp) {
  std::string parent = chain.parent_key();
  uint32_t written = 0, existing = 0;
  std::vector<storage::PageWrite> writes;
  for (size_t at = 0; at < keys.size(); at += group) {
    const size_t len = std::min(group, keys.size() - at);
    writes.assign(len, {});
    for (size_t j = 0; j < len; ++j) writes[j].key = keys[at + j];
    if (auto s = fill(at, writes); !s.ok()) return ToGrpc(s);
    auto r = store_->Put(RefOf(ns), parent, writes);
    if (!r.ok()) return ToGrpc(r.status());
    written += r->written;
    existing += r->existing;
    parent = keys[at + len - 1];
  }
  resp->set_pages_written(written);
  resp->set_pages_existing(existing);
  if (chain.token_ids_size() > 0) {
    for (auto& k : keys) resp->add_keys(std::move(k));
  }
  return grpc::Status::OK;
}

grpc::Status PrefixdService::OpenNamespace(grpc::ServerContext*,
                                           const v1::OpenNamespaceRequest* req,
                                           v1::OpenNamespaceResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  storage::NamespaceOptions options;
  if (req->has_ttl_seconds()) options.ttl_seconds = req->ttl_seconds();
  if (req->has_quota_bytes()) options.quota_bytes = req->quota_bytes();
  auto r = store_->OpenNamespace(req->name(), FromProto(req->fingerprint()), options);
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
      spdlog::warn("refused to open namespace: {}", r.status().ToString());
    }
    return ToGrpc(r.status());
  }
  resp->set_created(r->created);
  resp->set_namespace_id(r->info.id);
  resp->set_ttl_seconds(r->info.ttl_seconds);
  resp->set_quota_bytes(r->info.quota_bytes);
  *resp->mutable_fingerprint() = ToProto(r->info.fingerprint);
  return grpc::Status::OK;
}

grpc::Status PrefixdService::Exists(grpc::ServerContext*, const v1::ExistsRequest* req,
                                    v1::ExistsResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  auto keys = RequestKeys(req->ns(), req->chain(), /*need_id=*/true);
  if (!keys.ok()) return ToGrpc(keys.status());
  auto present = store_->Exists(RefOf(req->ns()), *keys);
  if (!present.ok()) return ToGrpc(present.status());
  uint32_t prefix = 0;
  while (prefix < present->size() && (*present)[prefix]) ++prefix;
  resp->set_prefix_pages(prefix);
  for (bool p : *present) resp->add_present(p);
  if (req->chain().token_ids_size() > 0) {
    for (auto& k : *keys) resp->add_keys(std::move(k));
  }
  return grpc::Status::OK;
}

grpc::Status PrefixdService::Delete(grpc::ServerContext*, const v1::DeleteRequest* req,
                                    v1::DeleteResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  auto keys = RequestKeys(req->ns(), req->chain(), /*need_id=*/true);
  if (!keys.ok()) return ToGrpc(keys.status());
  auto n = store_->Delete(RefOf(req->ns()), *keys);
  if (!n.ok()) return ToGrpc(n.status());
  resp->set_pages_deleted(*n);
  return grpc::Status::OK;
}

grpc::Status PrefixdService::DeleteNamespace(grpc::ServerContext*,
                                             const v1::DeleteNamespaceRequest* req,
                                             v1::DeleteNamespaceResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  auto n = store_->DeleteNamespace(RefOf(req->ns()));
  if (!n.ok()) return ToGrpc(n.status());
  resp->set_pages_deleted(*n);
  return grpc::Status::OK;
}

grpc::Status PrefixdService::Explain(grpc::ServerContext*, const v1::ExplainRequest* req,
                                     v1::ExplainResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  auto keys = RequestKeys(req->ns(), req->chain(), /*need_id=*/false);  // diagnostic only
  if (!keys.ok()) return ToGrpc(keys.status());
  auto states = store_->Explain(RefOf(req->ns()), *keys);
  if (!states.ok()) return ToGrpc(states.status());
  uint32_t prefix = 0;
  for (const auto& p : *states) {
    auto* out = resp->add_pages();
    using S = storage::PageState::State;
    switch (p.state) {
      case S::kPresent: out->set_state(v1::PageState::PRESENT); break;
      case S::kStranded: out->set_state(v1::PageState::STRANDED); break;
      case S::kEvicted: out->set_state(v1::PageState::EVICTED); break;
      case S::kNotStored: out->set_state(v1::PageState::NOT_STORED); break;
      case S::kExpired: out->set_state(v1::PageState::EXPIRED); break;
      case S::kCorrupt: out->set_state(v1::PageState::CORRUPT); break;
    }
    using E = storage::PageState::Eviction;
    switch (p.evicted_by) {
      case E::kNone: break;
      case E::kGeneration: out->set_evicted_by(v1::PageState::GENERATION); break;
      case E::kUnread: out->set_evicted_by(v1::PageState::UNREAD); break;
      case E::kRead: out->set_evicted_by(v1::PageState::READ); break;
      case E::kAlone: out->set_evicted_by(v1::PageState::ALONE); break;
    }
    out->set_generation(p.generation);
    out->set_depth(p.depth);
    out->set_created_unix(p.created_unix);
  }
  while (prefix < states->size() && (*states)[prefix].state == storage::PageState::State::kPresent) {
    ++prefix;
  }
  resp->set_prefix_pages(prefix);
  if (req->chain().token_ids_size() > 0) {
    for (auto& k : *keys) resp->add_keys(std::move(k));
  }
  return grpc::Status::OK;
}

grpc::Status PrefixdService::Flush(grpc::ServerContext*, const v1::FlushRequest*,
                                   v1::FlushResponse*) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  return ToGrpc(store_->Flush());
}

grpc::Status PrefixdService::Stats(grpc::ServerContext*, const v1::StatsRequest* req,
                                   v1::StatsResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  auto s = store_->Stats();
  if (!s.ok()) return ToGrpc(s.status());
  absl::flat_hash_map<std::string, storage::StrandedCount> stranded;
  if (req->count_stranded()) {
    auto counts = store_->CountStranded();
    if (!counts.ok()) return ToGrpc(counts.status());
    resp->set_stranded_counted(true);
    for (auto& c : *counts) {
      resp->set_stranded_pages(resp->stranded_pages() + c.stranded_pages);
      resp->set_stranded_bytes(resp->stranded_bytes() + c.stranded_bytes);
      stranded[c.ns_name] = std::move(c);
    }
  }
  resp->set_version(PREFIXD_VERSION);
  resp->set_capacity_bytes(s->capacity_bytes);
  resp->set_pages(s->pages);
  resp->set_bytes(s->bytes);
  resp->set_disk_bytes(s->disk_bytes);
  resp->set_uptime_seconds(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now() - started_)
                               .count());
  resp->set_inflight_bytes(budget_.in_flight());
  resp->set_rejected_busy(budget_.rejected());
  resp->set_generations(s->generations);
  resp->set_generation_bytes(s->generation_bytes);
  resp->set_evicted_generations(s->evicted_generations);
  resp->set_key_index_entries(s->key_index_entries);
  resp->set_key_index_bytes(s->key_index_bytes);
  resp->set_lru_entries(s->lru_entries);
  resp->set_bimodal_insertion(s->bimodal_insertion);
  resp->set_bimodal_puts(s->bimodal_puts);
  resp->set_probation_insertion(s->probation_insertion);
  resp->set_probation_puts(s->probation_puts);
  resp->set_unread_pages(s->unread_pages);
  resp->set_probation_target_pages(s->probation_target_pages);
  resp->set_ghost_unread_pages(s->ghost_unread_pages);
  resp->set_ghost_read_pages(s->ghost_read_pages);
  resp->set_promoted_bytes(s->promoted_bytes);
  resp->set_promotions_declined(s->promotions_declined);
  resp->set_reclaimed_records(s->reclaimed_records);
  resp->set_reclaimed_bytes(s->reclaimed_bytes);
  resp->set_dead_records_dropped(s->dead_records_dropped);
  resp->set_record_compactions(s->record_compactions);
  resp->set_promote_budget(s->promote_budget);
  if (arenas_ != nullptr) {
    resp->set_shm_arenas(arenas_->arenas());
    resp->set_shm_mapped_bytes(arenas_->mapped_bytes());
  }
  if (controller_ != nullptr) ToProto(controller_->Status(), resp->mutable_controller());
  const storage::StoreSignals sig = store_->Signals();
  resp->set_stall_micros(sig.stall_micros);
  resp->set_flush_write_bytes(sig.flush_write_bytes);
  resp->set_compaction_write_bytes(sig.compaction_write_bytes);
  resp->set_memory_cache_capacity(s->memory_cache_capacity);
  resp->set_memory_cache_bytes(s->memory_cache_bytes);
  resp->set_memory_cache_hits(s->memory_cache_hits);
  resp->set_memory_cache_misses(s->memory_cache_misses);
  resp->set_shm_put_pages(shm_put_pages_.load());
  resp->set_shm_get_pages(shm_get_pages_.load());
  resp->set_shm_side_get_calls(shm_side_get_calls_.load());
  if (auto proc = util::ReadProcessStats(); proc.ok()) {
    resp->set_process_read_bytes(proc->read_bytes);
    resp->set_process_write_bytes(proc->write_bytes - proc->cancelled_write_bytes);
    resp->set_peak_rss_bytes(proc->peak_rss_bytes);
  }
  std::vector<NamespaceWrites> writes;
  writes.reserve(s->namespaces.size());
  for (const auto& n : s->namespaces) {
    writes.push_back({.put_bytes = n.counters.put_bytes,
                      .copied_bytes = n.counters.promoted_pages * n.info.fingerprint.page_bytes});
  }
  const WriteAmplification wa = ShareDeviceWrites(resp->process_write_bytes(), writes);
  resp->set_put_bytes(wa.put_bytes);
  resp->set_write_amplification(wa.overall);
  for (size_t i = 0; i < s->namespaces.size(); ++i) {
    const auto& n = s->namespaces[i];
    auto* out = resp->add_namespaces();
    out->set_name(n.info.name);
    out->set_id(n.info.id);
    *out->mutable_fingerprint() = ToProto(n.info.fingerprint);
    const auto& c = n.counters;
    out->set_pages(c.pages);
    out->set_bytes(c.bytes);
    out->set_puts(c.puts);
    out->set_put_existing(c.put_existing);
    out->set_hits(c.hits);
    out->set_misses(c.misses);
    out->set_exists_queries(c.exists_queries);
    out->set_exists_hits(c.exists_hits);
    out->set_corrupt_dropped(c.corrupt_dropped);
    out->set_deleted(c.deleted);
    out->set_evicted_pages(c.evicted_pages);
    out->set_evicted_bytes(c.evicted_bytes);
    out->set_promoted_pages(c.promoted_pages);
    out->set_miss_evicted(c.miss_evicted);
    out->set_miss_not_stored(c.miss_not_stored);
    out->set_miss_stranded(c.miss_stranded);
    out->set_miss_corrupt(c.miss_corrupt);
    out->set_refused_opens(c.refused_opens);
    out->set_miss_expired(c.miss_expired);
    out->set_expired_pages(c.expired_pages);
    out->set_expired_bytes(c.expired_bytes);
    out->set_miss_evicted_unread(c.miss_evicted_unread);
    out->set_put_bytes(c.put_bytes);
    out->set_write_amplification(wa.namespaces[i]);
    out->set_ttl_seconds(n.info.ttl_seconds);
    out->set_quota_bytes(n.info.quota_bytes);
    if (auto it = stranded.find(n.info.name); it != stranded.end()) {
      out->set_stranded_pages(it->second.stranded_pages);
      out->set_stranded_bytes(it->second.stranded_bytes);
      out->set_parent_unknown_pages(it->second.parent_unknown);
    }
  }
  return grpc::Status::OK;
}

}  // namespace prefixd::server
