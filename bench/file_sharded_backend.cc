// The file-sharded tier (see file_backend.h): 256 hashed subdirectories held open as dirfds and
// a pool of I/O threads that takes every page of a call at once.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <functional>
#include <thread>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "bench/file_backend.h"

namespace prefixd::bench {
namespace {

constexpr int kShards = 256;

std::string ShardDir(int shard) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string{kHex[shard >> 4], kHex[shard & 0xf]};
}

// A fixed set of threads that run ParallelFor loops. Thread-safe; the destructor joins the
// threads and must not run while a ParallelFor is in progress.
class IoPool {
 public:
  explicit IoPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }
  ~IoPool() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Runs fn(i) for every i in [0, n) on the pool, indices claimed in increasing order by up to
  // one task per thread; returns when all have run. fn must be safe to call concurrently.
  void ParallelFor(size_t n, absl::FunctionRef<void(size_t)> fn) ABSL_LOCKS_EXCLUDED(mu_) {
    if (n == 0) return;
    const size_t tasks = std::min(n, threads_.size());
    std::atomic<size_t> next{0};
    absl::BlockingCounter done(static_cast<int>(tasks));
    {
      absl::MutexLock lock(&mu_);
      for (size_t t = 0; t < tasks; ++t) {
        queue_.push_back([&next, &done, n, fn] {
          for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
          done.DecrementCount();
        });
      }
    }
    done.Wait();
  }

 private:
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); }

  void Work() ABSL_LOCKS_EXCLUDED(mu_) {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &IoPool::Ready));
        if (queue_.empty()) return;  // stopping, and nothing left
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// The namespace directory's and the shards' descriptors, closed on destruction.
struct DirFds {
  int ns = -1;
  std::vector<int> shards;
  ~DirFds() {
    for (int fd : shards) close(fd);
    if (ns >= 0) close(ns);
  }
};

class ShardedFileBackend final : public file_internal::FileTierBase {
 public:
  ShardedFileBackend(const BackendOptions& options, std::unique_ptr<DirFds> fds,
                     std::unique_ptr<file_internal::LruIndex> lru)
      : FileTierBase(options.dir),
        options_(options),
        fds_(std::move(fds)),
        lru_(std::move(lru)),
        pool_(options.io_threads) {}

  const std::string& kind() const override { return kind_; }

  absl::StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys) override {
    absl::Status status = file_internal::CheckChain(keys, nullptr, options_.page_bytes);
    if (!status.ok()) return status;
    std::vector<uint8_t> present(keys.size(), 0);
    std::vector<absl::Status> errors(keys.size());
    pool_.ParallelFor(keys.size(), [&](size_t i) {
      absl::StatusOr<bool> p = file_internal::PagePresent(
          fds_->shards[ShardOf(keys[i])], PageFileName(keys[i]), options_.page_bytes);
      if (p.ok()) {
        present[i] = *p;
      } else {
        errors[i] = p.status();
      }
    });
    for (const absl::Status& e : errors) {
      if (!e.ok()) return e;
    }
    return std::vector<bool>(present.begin(), present.end());
  }

  absl::Status Put(std::span<const std::string> keys, std::span<const std::string_view> pages,
                   std::string_view /*parent_key*/) override {
    absl::Status status = file_internal::CheckChain(keys, &pages, options_.page_bytes);
    if (!status.ok()) return status;
    std::vector<absl::Status> errors(keys.size());
    pool_.ParallelFor(keys.size(), [&](size_t i) {
      const int dirfd = fds_->shards[ShardOf(keys[i])];
      const std::string name = PageFileName(keys[i]);
      absl::StatusOr<bool> present = file_internal::PagePresent(dirfd, name, options_.page_bytes);
      if (!present.ok()) {
        errors[i] = present.status();
      } else if (!*present) {
        errors[i] = file_internal::WritePage(dirfd, "", name, pages[i]);
      }
    });
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!errors[i].ok()) {
        if (status.ok()) status = errors[i];
      } else if (lru_ != nullptr) {
        lru_->Touch(RelPath(keys[i]), options_.page_bytes);
      }
    }
    if (lru_ != nullptr) {
      const std::vector<std::string> victims = lru_->TakeOverflow();
      std::vector<absl::Status> unlink_errors(victims.size());
      pool_.ParallelFor(victims.size(), [&](size_t i) {
        unlink_errors[i] = file_internal::UnlinkPage(fds_->ns, victims[i]);
      });
      for (const absl::Status& e : unlink_errors) {
        if (status.ok()) status = e;
      }
    }
    return status;
  }

  absl::StatusOr<size_t> Get(std::span<const std::string> keys,
                             std::vector<std::string>* pages) override {
    absl::Status status = file_internal::CheckChain(keys, nullptr, options_.page_bytes);
    if (!status.ok()) {
      pages->clear();
      return status;
    }
    const size_t n = keys.size();
    file_internal::KeepBuffers(n, pages);
    std::vector<std::string>& bufs = *pages;
    std::vector<uint8_t> found(n, 0);
    std::vector<absl::Status> errors(n);
    // Indices are claimed in increasing order, so once page i is known absent no page after it
    // is worth reading.
    std::atomic<size_t> first_absent{n};
    pool_.ParallelFor(n, [&](size_t i) {
      if (i > first_absent.load(std::memory_order_relaxed)) return;
      absl::StatusOr<bool> f = file_internal::ReadPage(
          fds_->shards[ShardOf(keys[i])], PageFileName(keys[i]), options_.page_bytes, &bufs[i]);
      if (!f.ok()) {
        errors[i] = f.status();
      } else if (*f) {
        found[i] = 1;
      } else {
        size_t seen = first_absent.load(std::memory_order_relaxed);
        while (i < seen && !first_absent.compare_exchange_weak(seen, i)) {
        }
      }
    });
    size_t got = 0;
    for (; got < n; ++got) {
      if (!errors[got].ok()) {
        pages->clear();
        return errors[got];
      }
      if (!found[got]) break;
      if (lru_ != nullptr) lru_->Touch(RelPath(keys[got]), options_.page_bytes);
    }
    pages->resize(got);
    return got;
  }

 private:
  static std::string RelPath(const std::string& key) {
    return absl::StrCat(ShardDir(ShardOf(key)), "/", PageFileName(key));
  }

  const std::string kind_ = "file-sharded";
  const BackendOptions options_;
  const std::unique_ptr<DirFds> fds_;
  const std::unique_ptr<file_internal::LruIndex> lru_;  // null without a cap
  IoPool pool_;  // last: its threads stop before the members they use go
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewShardedFileBackend(const BackendOptions& options) {
  absl::Status status = file_internal::ValidateOptions(options);
  if (!status.ok()) return status;
  const std::string ns_dir = absl::StrCat(options.dir, "/", options.ns_name);
  status = file_internal::CreateDirs(ns_dir);
  if (!status.ok()) return status;
  auto fds = std::make_unique<DirFds>();
  fds->ns = open(ns_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fds->ns < 0) return file_internal::ErrnoStatus(errno, "open", ns_dir);
  std::vector<std::string> subdirs;
  for (int shard = 0; shard < kShards; ++shard) {
    subdirs.push_back(ShardDir(shard));
    const std::string& sub = subdirs.back();
    if (mkdirat(fds->ns, sub.c_str(), 0755) != 0 && errno != EEXIST) {
      return file_internal::ErrnoStatus(errno, "mkdir", absl::StrCat(ns_dir, "/", sub));
    }
    int fd = openat(fds->ns, sub.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return file_internal::ErrnoStatus(errno, "open", absl::StrCat(ns_dir, "/", sub));
    fds->shards.push_back(fd);
  }
  std::unique_ptr<file_internal::LruIndex> lru;
  if (options.capacity_bytes > 0) {
    lru = std::make_unique<file_internal::LruIndex>(options.capacity_bytes);
    status = file_internal::RebuildLru(ns_dir, subdirs, lru.get());
    if (!status.ok()) return status;
  }
  return std::make_unique<ShardedFileBackend>(options, std::move(fds), std::move(lru));
}

}  // namespace prefixd::bench
