// The `rocksdb-inline` tier: RocksDB 7.8 with default options, values stored in the LSM tree.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "bench/prefixd_backend.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace prefixd::bench {
namespace {

absl::Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(s.ToString());
  return absl::UnavailableError(s.ToString());
}

class RocksdbInlineBackend final : public Backend {
 public:
  RocksdbInlineBackend(std::unique_ptr<rocksdb::DB> db, std::string dir, uint64_t page_bytes)
      : db_(std::move(db)), dir_(std::move(dir)), page_bytes_(page_bytes) {}
  ~RocksdbInlineBackend() override {
    rocksdb::FlushOptions fo;
    db_->Flush(fo).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }

  const std::string& kind() const override { return kind_; }

  absl::StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys) override {
    std::vector<std::string> values;
    auto st = MultiGet(keys, &values);
    if (!st.ok()) return st.status();
    return std::move(*st);
  }

  absl::Status Put(std::span<const std::string> keys, std::span<const std::string_view> pages,
                   std::string_view /*parent_key*/) override {
    rocksdb::WriteBatch batch;
    for (size_t i = 0; i < pages.size(); ++i) {
      batch.Put(keys[i], rocksdb::Slice(pages[i].data(), pages[i].size()));
    }
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    return FromRocks(db_->Write(wo, &batch));
  }

  absl::StatusOr<size_t> Get(std::span<const std::string> keys,
                             std::vector<std::string>* pages) override {
    auto present = MultiGet(keys, pages);
    if (!present.ok()) return present.status();
    size_t n = 0;
    while (n < present->size() && (*present)[n] && (*pages)[n].size() == page_bytes_) ++n;
    pages->resize(n);
    return n;
  }

  absl::Status Sync() override {
    rocksdb::FlushOptions fo;
    return FromRocks(db_->Flush(fo));
  }

  absl::StatusOr<uint64_t> DiskBytes() override {
    uint64_t total = 0;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code fec;
      if (!it->is_regular_file(fec)) continue;
      const uint64_t size = it->file_size(fec);  // a file deleted meanwhile: an error, not -1
      if (!fec) total += size;
    }
    return total;
  }

  absl::StatusOr<IoCounters> Io() override {
    return ProcessIo();
  }

 private:
  absl::StatusOr<std::vector<bool>> MultiGet(std::span<const std::string> keys,
                                             std::vector<std::string>* values) {
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> pinned(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), keys.size(), slices.data(),
                  pinned.data(), statuses.data());
    std::vector<bool> present(keys.size());
    values->assign(keys.size(), std::string());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) return FromRocks(statuses[i]);
      present[i] = true;
      (*values)[i].assign(pinned[i].data(), pinned[i].size());
    }
    return present;
  }

  const std::string kind_ = "rocksdb-inline";
  std::unique_ptr<rocksdb::DB> db_;
  const std::string dir_;
  const uint64_t page_bytes_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewRocksdbInlineBackend(const BackendOptions& o) {
  if (o.dir.empty()) return absl::InvalidArgumentError("rocksdb-inline needs a directory");
  if (o.page_bytes == 0) return absl::InvalidArgumentError("page_bytes must be > 0");
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  rocksdb::Options options;  // the defaults, as a user who just opens RocksDB gets them
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, o.dir, &raw);
  if (!s.ok()) return FromRocks(s);
  return std::unique_ptr<Backend>(
      new RocksdbInlineBackend(std::unique_ptr<rocksdb::DB>(raw), o.dir, o.page_bytes));
}

}  // namespace prefixd::bench
