// The two file-per-page baseline tiers of bench/backend.h, and the /proc reader that every
// backend's Io() uses.
//
// On-disk layout (both tiers; a benchmark format, not a prefixd format):
//   <dir>/<ns_name>/<name>               file          (one flat directory)
//   <dir>/<ns_name>/<xx>/<name>          file-sharded  (256 subdirectories 00..ff)
// where <name> = PageFileName(key): the key itself when every byte is in [A-Za-z0-9._-]
// (SGLang's hex SHA-256 keys, the bench's "s1-c0-p0"), else "=" and the key's lowercase hex;
// then ".bin". The two forms cannot collide ('=' is not in the kept set). <xx> is ShardOf(key)
// as two lowercase hex digits. A file holds exactly the page's bytes, nothing else; one whose
// size is not page_bytes counts as absent. Writers write "~<name>.<pid>.<n>" in the same
// directory, then rename() it over <name>, so a reader sees a whole page or none; there is no
// fsync (as in SGLang's HiCacheFile), so a crash may lose or zero recent pages.
//
// `file` mirrors HiCacheFile: every call works serially in the calling thread; Exists is one
// stat() of the full path per key; Put stat()s each page and writes the absent ones (an
// existing page is not rewritten, even with other bytes); Get opens and reads the pages in
// order and stops at the first absent one.
// `file-sharded` is the strongest file tier we could write: dirfds of the 256 subdirectories
// are opened once and every operation is *at()-relative to them; a pool of io_threads threads
// does all the I/O, each call's pages spread over the whole pool (Exists and Put of every key,
// Get of every page of the chain at once, discarding what follows the first absent page and
// skipping reads not yet started past it). The calling thread only waits, so io_threads bounds
// the tier's I/O parallelism per backend. It holds 257 directory descriptors open.
//
// LRU cap (capacity_bytes > 0): an in-memory index (file → size) ordered by recency, refreshed
// by every Put of a page (written or already there) and every page Get returns, not by Exists.
// After each Put, least recently used files are unlinked until the index holds at most
// capacity_bytes. At construction the directory is listed (readdir, then stat of each page
// file), the index rebuilt in mtime order (oldest = least recent), and the cap enforced. Races
// between concurrent Puts of a page and its eviction can leave an index entry whose file is
// gone; the index then over-counts, so the directory stays within the cap, and the entry ages
// out. With capacity_bytes == 0 there is no index and nothing is ever deleted.
//
// DiskBytes() sums st_size of every regular file under <dir> (all namespaces, temporaries in
// flight included; directory blocks and block rounding not counted).
//
// Thread-safety: every method of the returned backends may be called from any number of threads
// at once; several backends (or processes) may share a directory, but each one's LRU cap sees
// only its own puts and what it listed at construction.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bench/backend.h"

namespace prefixd::bench {

// The `file` tier. INVALID_ARGUMENT unless dir is non-empty, page_bytes > 0, io_threads is in
// [1, 256] (the flat tier does not use io_threads but checks it all the same) and ns_name is a
// single path component. Creates <dir>/<ns_name>/ if missing (and, when capped, lists it).
// Errors, from the factory and the methods: INVALID_ARGUMENT for an empty key or one over 64
// bytes, keys/pages of unequal length, or a page that is not page_bytes; for a failed system
// call, with its path and errno text: RESOURCE_EXHAUSTED for ENOSPC/EDQUOT/EMFILE/ENFILE,
// UNAVAILABLE for EIO/EAGAIN/EBUSY, PERMISSION_DENIED for EACCES/EPERM, NOT_FOUND for ENOENT
// (a directory removed under the backend), INTERNAL otherwise. A failed Put keeps the pages it
// wrote before the failure.
absl::StatusOr<std::unique_ptr<Backend>> NewFileBackend(const BackendOptions& options);

// The `file-sharded` tier: the same options, contracts and errors; starts io_threads threads,
// joined when the backend is destroyed (after every call on it has returned).
absl::StatusOr<std::unique_ptr<Backend>> NewShardedFileBackend(const BackendOptions& options);

// The file name of a page (see the layout above).
std::string PageFileName(std::string_view key);

// The file-sharded subdirectory of a key, in [0, 255]: the top byte of a 64-bit FNV-1a hash of
// the key passed through a splitmix64 finaliser. Stable across runs and machines.
int ShardOf(std::string_view key);

namespace file_internal {
// Shared by file_backend.cc and file_sharded_backend.cc; not for other callers. All functions
// are thread-safe; LruIndex is internally synchronised.

absl::Status ValidateOptions(const BackendOptions& options);
// INVALID_ARGUMENT unless every key is 1-64 bytes (and, when pages is non-null, pages has as
// many entries as keys, each of page_bytes).
absl::Status CheckChain(std::span<const std::string> keys,
                        const std::span<const std::string_view>* pages, uint64_t page_bytes);
// Maps an errno of `op` on `path` to a status (see NewFileBackend for the codes).
absl::Status ErrnoStatus(int err, std::string_view op, std::string_view path);
absl::Status CreateDirs(const std::string& dir);

// `path` is relative to `dirfd` (or absolute, or relative to the cwd with AT_FDCWD).
// True when `path` is a regular file of exactly page_bytes; false when absent or another size.
absl::StatusOr<bool> PagePresent(int dirfd, const std::string& path, uint64_t page_bytes);
// Grows *pages to at least `n` strings, keeping those it holds: a Get reads pages into the
// caller's strings of its last call, as an engine reads into buffers it keeps (SGLang's
// HiCacheFile reads into its host memory pool), not into a string allocated and zeroed per page
// (which cost 8 MiB pages a page fault every 4 KiB here).
void KeepBuffers(size_t n, std::vector<std::string>* pages);
// Reads `path` into *out (resized to page_bytes; a string of that size already is only
// overwritten). False, *out unspecified, when the file is
// absent or not exactly page_bytes long.
absl::StatusOr<bool> ReadPage(int dirfd, const std::string& path, uint64_t page_bytes,
                              std::string* out);
// Writes `page` to `prefix` + "~" + `name` + ".<pid>.<n>", then renames it to prefix + name,
// both relative to dirfd. `prefix` is empty or ends in '/'. Removes the temporary on failure.
absl::Status WritePage(int dirfd, const std::string& prefix, const std::string& name,
                       std::string_view page);
// Sum of st_size of the regular files under `dir`, recursively; entries that vanish while it
// walks are skipped. NOT_FOUND if `dir` does not exist.
absl::StatusOr<uint64_t> TreeBytes(const std::string& dir);

// A page file found in a listing: its path relative to the listed directory.
struct ListedPage {
  std::string rel_path;
  uint64_t bytes = 0;
  int64_t mtime_ns = 0;
};
// The page files (PageFileName form; temporaries skipped) directly in `dir` + "/" + each of
// `subdirs` ("" = `dir` itself). Subdirectories that do not exist are skipped.
absl::StatusOr<std::vector<ListedPage>> ListPages(const std::string& dir,
                                                  std::span<const std::string> subdirs);

// Recency index of page files for the LRU cap, keyed by path relative to the namespace
// directory. Thread-safe.
class LruIndex {
 public:
  explicit LruIndex(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}
  LruIndex(const LruIndex&) = delete;
  LruIndex& operator=(const LruIndex&) = delete;

  // Inserts `rel_path` as the most recently used, or moves it there (updating its size).
  void Touch(const std::string& rel_path, uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the least recently used entries until the total is at most the capacity and
  // returns their paths, least recent first: the caller unlinks them.
  std::vector<std::string> TakeOverflow() ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t total_bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    uint64_t bytes;
    std::list<std::string>::iterator pos;
  };
  const uint64_t capacity_bytes_;
  mutable absl::Mutex mu_;
  std::list<std::string> order_ ABSL_GUARDED_BY(mu_);  // front = most recently used
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// Lists `ns_dir` (per ListPages with `subdirs`), loads the pages into `lru` in mtime order
// (ties by path), then unlinks what exceeds its capacity.
absl::Status RebuildLru(const std::string& ns_dir, std::span<const std::string> subdirs,
                        LruIndex* lru);
// Unlinks `path` relative to dirfd; a file already gone is not an error.
absl::Status UnlinkPage(int dirfd, const std::string& path);

// What the two file tiers share beyond their layout: disk use, process counters, sync.
class FileTierBase : public Backend {
 public:
  explicit FileTierBase(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<uint64_t> DiskBytes() override { return TreeBytes(dir_); }
  absl::StatusOr<IoCounters> Io() override { return ProcessIo(); }
  // The files are written without fsync (as HiCacheFile does): sync(2) pushes them to the
  // device so that Io() counts their cost.
  absl::Status Sync() override;

 private:
  const std::string dir_;
};

}  // namespace file_internal
}  // namespace prefixd::bench
