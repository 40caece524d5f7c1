// PrefixdService: the streaming handlers, Put (client stream) and Get (server stream).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/convert.h"
#include "server/service.h"
#include "spdlog/spdlog.h"

namespace prefixd::server {
namespace {

// Receives the pages of one put stream and writes them in batches.
class PutReceiver {
 public:
  PutReceiver(storage::Store* store, const v1::NamespaceRef& ns, std::string parent,
              uint64_t page_bytes, size_t group_pages)
      : store_(store), ns_(ns), parent_(std::move(parent)), page_bytes_(page_bytes),
        bufs_(group_pages), keys_(group_pages), crcs_(group_pages) {}

  // Consumes one frame of page `page`; `header_key` is its key from the header, if any.
  // Writes a batch when one is full, except the last one: WriteGroup() writes it once the
  // stream has ended cleanly.
  grpc::Status Frame(v1::PageFrame* f, uint32_t page, const std::string* header_key,
                     bool last_page) {
    std::string& buf = bufs_[in_group_];
    if (!page_open_) {
      if (f->size() != page_bytes_) {
        return Invalid(absl::StrCat("page ", page, " is ", f->size(), " bytes; the namespace "
                                    "has pages of ", page_bytes_, " bytes"));
      }
      if (header_key != nullptr) {
        if (!f->key().empty() && f->key() != *header_key) {
          return Invalid(absl::StrCat("page ", page, ": frame key differs from the header's"));
        }
        keys_[in_group_] = *header_key;
      } else {
        if (f->key().empty()) return Invalid(absl::StrCat("page ", page, " has no key"));
        keys_[in_group_] = std::move(*f->mutable_key());
      }
      crcs_[in_group_] = f->crc32c();
      buf.clear();
      buf.reserve(page_bytes_);
      page_open_ = true;
    } else if (!f->key().empty() || f->size() != 0) {
      return Invalid(absl::StrCat("page ", page, ": key and size belong on its first frame"));
    }
    if (buf.size() + f->data().size() > page_bytes_) {
      return Invalid(absl::StrCat("page ", page, ": more than ", page_bytes_, " bytes of data"));
    }
    if (buf.empty() && f->data().size() == page_bytes_) {
      buf.swap(*f->mutable_data());  // a page in one frame: no copy
    } else {
      buf.append(f->data());
    }
    if (buf.size() < page_bytes_) return grpc::Status::OK;
    page_open_ = false;
    ++in_group_;
    if (in_group_ == bufs_.size() && !last_page) return ToGrpc(WriteGroup());
    return grpc::Status::OK;
  }

  // Writes the complete pages received so far (the partial page, if any, is dropped).
  absl::Status WriteGroup() {
    if (in_group_ == 0) return absl::OkStatus();
    std::vector<storage::PageWrite> w;
    w.reserve(in_group_);
    for (size_t j = 0; j < in_group_; ++j) w.push_back({keys_[j], bufs_[j], crcs_[j]});
    auto r = store_->Put(RefOf(ns_), parent_, w);
    if (!r.ok()) return r.status();
    written_ += r->written;
    existing_ += r->existing;
    parent_ = keys_[in_group_ - 1];
    in_group_ = 0;
    return absl::OkStatus();
  }

  bool page_open() const { return page_open_; }
  uint32_t written() const { return written_; }
  uint32_t existing() const { return existing_; }

 private:
  storage::Store* const store_;
  const v1::NamespaceRef ns_;
  std::string parent_;
  const uint64_t page_bytes_;
  std::vector<std::string> bufs_, keys_;
  std::vector<uint32_t> crcs_;
  size_t in_group_ = 0;
  bool page_open_ = false;
  uint32_t written_ = 0, existing_ = 0;
};

}  // namespace

grpc::Status PrefixdService::Put(grpc::ServerContext* ctx, grpc::ServerReader<v1::PutRequest>* reader,
                                 v1::PutResponse* resp) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  StreamWatchdog::Watch watch(&watchdog_, ctx);
  v1::PutRequest msg;
  if (!reader->Read(&msg)) return Invalid("the put stream is empty");
  if (!msg.has_header()) return Invalid("the first message of a put must carry the header");
  const v1::PutHeader header = msg.header();
  if (auto s = RequireOpened(header.ns()); !s.ok()) return ToGrpc(s);
  auto ns = store_->LookupNamespace(RefOf(header.ns()));
  if (!ns.ok()) return ToGrpc(ns.status());
  const uint32_t count = header.page_count();
  if (count == 0) return Invalid("page_count is 0: the chain is empty");
  if (count > storage::kMaxChainPages) {
    return Invalid(absl::StrCat("page_count ", count, " is over ", storage::kMaxChainPages));
  }
  std::vector<std::string> keys;
  const bool keys_in_header = header.chain().keys_size() > 0 || header.chain().token_ids_size() > 0;
  if (keys_in_header) {
    auto k = ChainKeys(header.chain(), *ns);
    if (!k.ok()) return ToGrpc(k.status());
    keys = *std::move(k);
    if (keys.size() != count) {
      return Invalid(absl::StrCat("the header names ", keys.size(), " pages but page_count is ",
                                  count));
    }
  }
  const uint64_t page_bytes = ns->fingerprint.page_bytes;
  const uint64_t group = GroupPages(config_.batch_bytes, page_bytes, count);
  // A batch is held twice while it is written: received, and copied into the WriteBatch.
  auto lease =
      budget_.Acquire(2 * group * page_bytes, absl::Milliseconds(config_.admission_wait_ms));
  if (!lease.held()) return ToGrpc(budget_.Busy());

  PutReceiver rx(store_, header.ns(), header.chain().parent_key(), page_bytes, group);
  uint32_t page = 0;
  bool pending = msg.has_frame();  // the header message may carry the first frame
  while (page < count) {
    if (!pending) {
      if (!reader->Read(&msg)) break;
      watch.Touch();
      if (msg.has_header()) return Invalid("the header was sent twice");
    }
    pending = false;
    bool last = page + 1 == count;
    if (auto s = rx.Frame(msg.mutable_frame(), page, keys_in_header ? &keys[page] : nullptr,
                          last);
        !s.ok()) {
      return s;
    }
    if (!rx.page_open()) ++page;  // this frame completed the page
  }
  if (page < count) {
    // Cut short (the client half-closed or went away): keep the complete pages, never the
    // partial one.
    if (auto s = rx.WriteGroup(); !s.ok()) return ToGrpc(s);
    return Invalid(absl::StrCat("the put stream ended after ", page, " of ", count,
                                " pages; the partial page was not written"));
  }
  if (reader->Read(&msg)) {
    return Invalid(absl::StrCat("more frames than page_count (", count,
                                "); the last batch was not written"));
  }
  if (auto s = rx.WriteGroup(); !s.ok()) return ToGrpc(s);
  resp->set_pages_written(rx.written());
  resp->set_pages_existing(rx.existing());
  if (header.chain().token_ids_size() > 0) {
    for (auto& k : keys) resp->add_keys(std::move(k));
  }
  return grpc::Status::OK;
}

grpc::Status PrefixdService::Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                                 grpc::ServerWriter<v1::GetResponse>* writer) {
  CallGuard guard(this);
  if (!guard.admitted()) return ShuttingDown();
  storage::NamespaceInfo ns;
  auto keys = RequestKeys(req->ns(), req->chain(), /*need_id=*/true, &ns);
  if (!keys.ok()) return ToGrpc(keys.status());
  const uint64_t page_bytes = ns.fingerprint.page_bytes;
  uint64_t wanted = keys->size();
  if (req->max_pages() != 0) wanted = std::min<uint64_t>(wanted, req->max_pages());
  const uint64_t group = GroupPages(config_.read_group_bytes, page_bytes, wanted);
  auto lease = budget_.Acquire(group * page_bytes, absl::Milliseconds(config_.admission_wait_ms));
  if (!lease.held()) return ToGrpc(budget_.Busy());

  StreamWatchdog::Watch watch(&watchdog_, ctx);
  const uint64_t frame_bytes = config_.frame_bytes;
  v1::GetResponse out;
  auto sink = [&](size_t, std::string_view key, std::string_view bytes, uint32_t crc) {
    for (size_t off = 0; off == 0 || off < bytes.size(); off += frame_bytes) {
      out.Clear();
      auto* f = out.mutable_frame();
      if (off == 0) {
        f->set_key(key.data(), key.size());
        f->set_size(bytes.size());
        f->set_crc32c(crc);
      }
      size_t n = std::min<size_t>(frame_bytes, bytes.size() - off);
      f->set_data(bytes.data() + off, n);
      if (!writer->Write(out)) return false;  // the client went away
      watch.Touch();
    }
    return true;
  };
  auto r = store_->Get(RefOf(req->ns()), *keys, req->max_pages(), sink);
  if (!r.ok()) return ToGrpc(r.status());
  if (r->stop == storage::GetResult::Stop::kCancelled) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading");
  }
  out.Clear();
  SetGetDone(*r, out.mutable_done());
  writer->Write(out);
  return grpc::Status::OK;
}

}  // namespace prefixd::server
