#include "bench/backend.h"

#include "absl/strings/str_cat.h"
#include "bench/file_backend.h"
#include "bench/prefixd_backend.h"
#include "util/process_stats.h"

namespace prefixd::bench {

absl::StatusOr<IoCounters> ProcessIo(int pid) {
  auto p = util::ReadProcessStats(pid);
  if (!p.ok()) return p.status();
  return IoCounters{p->read_bytes, p->write_bytes - p->cancelled_write_bytes, p->peak_rss_bytes};
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const BackendOptions& options) {
  const std::string& k = options.kind;
  if (k == "grpc") return NewGrpcBackend(options);
  if (k == "inproc") return NewInprocBackend(options);
  if (k == "file") return NewFileBackend(options);
  if (k == "file-sharded") return NewShardedFileBackend(options);
  if (k == "rocksdb-inline") return NewRocksdbInlineBackend(options);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown backend '", k, "' (grpc, inproc, file, file-sharded, rocksdb-inline)"));
}

namespace {
// The strings GetViews reads into, reused per thread, as callers of Get reuse their vector: no
// fresh allocation per call.
thread_local std::vector<std::string> t_pages;
}  // namespace

void Backend::PrepareGets(size_t pages, uint64_t page_bytes) {
  if (t_pages.size() < pages) t_pages.resize(pages);
  for (std::string& p : t_pages) {
    if (p.size() < page_bytes) p.resize(page_bytes);  // zero-filled: every page touched
  }
}

absl::StatusOr<PageViews> Backend::GetViews(std::span<const std::string> keys) {
  std::vector<std::string>& pages = t_pages;
  auto n = Get(keys, &pages);
  if (!n.ok()) return n.status();
  PageViews v;
  v.pages.assign(pages.begin(), pages.end());
  return v;
}

absl::Status Backend::Restart(OrderAtRestart) {
  return absl::UnimplementedError(
      absl::StrCat("the ", kind(), " tier cannot be restarted by the benchmark (inproc can)"));
}

absl::Status Backend::SyncEvictionOrder() {
  return absl::UnimplementedError(absl::StrCat(
      "the ", kind(), " tier cannot sync its eviction order for the benchmark (inproc can)"));
}

}  // namespace prefixd::bench
