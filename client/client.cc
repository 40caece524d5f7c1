#include "client/client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

class ClientImpl final : public Client {
 public:
  ClientImpl(const ClientOptions& o, std::shared_ptr<grpc::Channel> ch)
      : options_(o), stub_(v1::Prefixd::NewStub(ch)),
        health_(grpc::health::v1::Health::NewStub(ch)) {}

  absl::StatusOr<Namespace> OpenNamespace(const std::string& name,
                                          const v1::Fingerprint& fp) override {
    v1::OpenNamespaceRequest req;
    req.set_name(name);
    *req.mutable_fingerprint() = fp;
    return Unary<Namespace>(&Stub::OpenNamespace, req, [&](const v1::OpenNamespaceResponse& r) {
      return Namespace{name, r.namespace_id(), r.fingerprint(), r.created()};
    });
  }

  absl::StatusOr<ExistsResult> Exists(const Namespace& ns, const Chain& chain) override {
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
    for (auto p : pages) crcs.push_back(util::Crc32c(p));
    return Retry([&]() -> absl::StatusOr<PutResult> { return PutOnce(ns, chain, pages, crcs); });
  }

  absl::StatusOr<GetResult> Get(const Namespace& ns, const Chain& chain,
                                uint32_t max_pages) override {
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

  absl::StatusOr<v1::StatsResponse> Stats() override {
    return Unary<v1::StatsResponse>(&Stub::Stats, v1::StatsRequest(),
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

 private:
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
      if (StatusOf(r).code() != absl::StatusCode::kUnavailable || i >= options_.max_attempts) {
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
    for (size_t i = 0; i < pages.size() && open; ++i) {
      std::string_view p = pages[i];
      for (size_t off = 0; open && (off == 0 || off < p.size()); off += options_.frame_bytes) {
        auto* f = msg.mutable_frame();
        if (off == 0) {
          f->set_size(p.size());
          f->set_crc32c(crcs[i]);
        }
        f->set_data(p.data() + off, std::min<size_t>(options_.frame_bytes, p.size() - off));
        open = writer->Write(msg);  // false: the server ended the call; Finish says why
        msg.Clear();
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
  std::unique_ptr<v1::Prefixd::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace

absl::Status ClientOptions::Validate() const {
  if (target.empty()) return absl::InvalidArgumentError("no target (HOST:PORT or unix:///path)");
  if (max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be at least 1");
  if (frame_bytes < 4096 || frame_bytes > (uint64_t{8} << 20)) {
    return absl::InvalidArgumentError("frame_bytes must be in [4 KiB, 8 MiB]");
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
  return std::unique_ptr<Client>(new ClientImpl(options, std::move(channel)));
}

}  // namespace prefixd::client
