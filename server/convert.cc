#include "server/convert.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "storage/page_key.h"

namespace prefixd::server {

storage::Fingerprint FromProto(const v1::Fingerprint& p) {
  return storage::Fingerprint{p.model(),       p.model_revision(), p.dtype(),
                              p.kv_layout(),   p.page_tokens(),    p.page_bytes(),
                              p.tp_rank(),     p.tp_size(),        p.key_scheme()};
}

v1::Fingerprint ToProto(const storage::Fingerprint& f) {
  v1::Fingerprint p;
  p.set_model(f.model);
  p.set_model_revision(f.model_revision);
  p.set_dtype(f.dtype);
  p.set_kv_layout(f.kv_layout);
  p.set_page_tokens(f.page_tokens);
  p.set_page_bytes(f.page_bytes);
  p.set_tp_rank(f.tp_rank);
  p.set_tp_size(f.tp_size);
  p.set_key_scheme(f.key_scheme);
  return p;
}

absl::Status RequireOpened(const v1::NamespaceRef& ns) {
  if (ns.id() != 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "namespace '", ns.name(), "' without its id: call OpenNamespace (which checks the "
      "fingerprint) and pass the id it returns"));
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::StatusOr<std::vector<std::string>> ChainKeys(const v1::KeySource& chain,
                                                   const storage::NamespaceInfo& ns) {
  bool has_keys = chain.keys_size() > 0, has_tokens = chain.token_ids_size() > 0;
  if (has_keys && has_tokens) {
    return absl::InvalidArgumentError("a chain gives either keys or token_ids, not both");
  }
  if (!has_keys && !has_tokens) return absl::InvalidArgumentError("the chain is empty");
  if (has_keys) return std::vector<std::string>(chain.keys().begin(), chain.keys().end());
  uint32_t pt = ns.fingerprint.page_tokens;
  if (static_cast<uint64_t>(chain.token_ids_size()) / pt > storage::kMaxChainPages) {
    return absl::InvalidArgumentError(
        absl::StrCat("the chain has more than ", storage::kMaxChainPages, " pages"));
  }
  auto keys = storage::DeriveKeys(ns.name, chain.parent_key(),
                                  std::span(chain.token_ids().data(), chain.token_ids_size()), pt);
  if (keys.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the chain has ", chain.token_ids_size(),
                                                   " tokens: fewer than one page of ", pt));
  }
  return keys;
}

uint64_t GroupPages(uint64_t batch_bytes, uint64_t page_bytes, uint64_t pages) {
  return std::clamp<uint64_t>(batch_bytes / page_bytes, 1, std::max<uint64_t>(pages, 1));
}

void SetGetDone(const storage::GetResult& r, v1::GetDone* done) {
  done->set_pages_returned(r.returned);
  using Stop = storage::GetResult::Stop;
  switch (r.stop) {
    case Stop::kComplete: done->set_stop(v1::GetDone::COMPLETE); break;
    case Stop::kAbsent: done->set_stop(v1::GetDone::ABSENT); break;
    case Stop::kCorrupt: done->set_stop(v1::GetDone::CORRUPT); break;
    case Stop::kLimit: done->set_stop(v1::GetDone::LIMIT); break;
    case Stop::kCancelled: break;
  }
}

void ToProto(const controller::ControllerStatus& s, v1::ControllerStats* out) {
  out->set_mode(s.mode);
  out->set_profile(std::string(controller::ProfileName(s.profile)));
  out->set_write_buffer_bytes(s.tuning.write_buffer_bytes);
  out->set_l0_slowdown_trigger(s.tuning.l0_slowdown_trigger);
  out->set_l0_stop_trigger(s.tuning.l0_stop_trigger);
  out->set_max_background_jobs(s.tuning.max_background_jobs);
  out->set_background_rate_bytes(s.tuning.background_rate_bytes);
  out->set_promote_fraction(s.tuning.promote_fraction);
  out->set_epochs(s.epochs);
  out->set_cpu_seconds(s.cpu_seconds);
  out->set_device_bandwidth(s.device_bandwidth);
  out->set_write_amplification(s.write_amplification);
  out->set_last_epoch(controller::DescribeRates(s.last));
  for (const auto& d : s.decisions) {
    auto* o = out->add_decisions();
    o->set_epoch(d.epoch);
    o->set_from(std::string(controller::ProfileName(d.from)));
    o->set_to(std::string(controller::ProfileName(d.to)));
    o->set_predicted_gain(d.predicted_gain);
    o->set_cost_from(d.cost_from.ToString());
    o->set_cost_to(d.cost_to.ToString());
    o->set_signals(d.signals);
  }
}

}  // namespace prefixd::server
