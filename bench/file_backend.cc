#include "bench/file_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/process_stats.h"

namespace prefixd::bench {
namespace file_internal {
namespace {

constexpr char kSuffix[] = ".bin";
constexpr size_t kMaxKeyBytes = 64;

bool KeptByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsPageFileName(std::string_view name) {
  return name.size() > sizeof(kSuffix) - 1 && name[0] != '~' &&
         name.substr(name.size() - (sizeof(kSuffix) - 1)) == kSuffix;
}

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::Status ValidateOptions(const BackendOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("file backend: dir is required");
  if (options.page_bytes == 0) return absl::InvalidArgumentError("file backend: page_bytes is 0");
  if (options.io_threads < 1 || options.io_threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("file backend: io_threads ", options.io_threads, " not in [1, 256]"));
  }
  if (options.ns_name.empty() || options.ns_name.find('/') != std::string::npos ||
      options.ns_name == "." || options.ns_name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("file backend: bad ns_name \"", options.ns_name, "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckChain(std::span<const std::string> keys,
                        const std::span<const std::string_view>* pages, uint64_t page_bytes) {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].empty() || keys[i].size() > kMaxKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("key ", i, " is ", keys[i].size(), " bytes, not 1-", kMaxKeyBytes));
    }
  }
  if (pages == nullptr) return absl::OkStatus();
  if (pages->size() != keys.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(keys.size(), " keys but ", pages->size(), " pages"));
  }
  for (size_t i = 0; i < pages->size(); ++i) {
    if ((*pages)[i].size() != page_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("page ", i, " is ", (*pages)[i].size(),
                                                     " bytes, not page_bytes ", page_bytes));
    }
  }
  return absl::OkStatus();
}

absl::Status ErrnoStatus(int err, std::string_view op, std::string_view path) {
  std::string msg = absl::StrCat(std::string(op), " ", std::string(path), ": ", strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return absl::ResourceExhaustedError(msg);
    case EIO:
    case EAGAIN:
    case EBUSY:
      return absl::UnavailableError(msg);
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status CreateDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), "mkdir -p", dir);
  return absl::OkStatus();
}

absl::StatusOr<bool> PagePresent(int dirfd, const std::string& path, uint64_t page_bytes) {
  struct stat st;
  if (fstatat(dirfd, path.c_str(), &st, 0) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoStatus(errno, "stat", path);
  }
  return S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == page_bytes;
}

void KeepBuffers(size_t n, std::vector<std::string>* pages) {
  if (pages->size() < n) pages->resize(n);
}

absl::StatusOr<bool> ReadPage(int dirfd, const std::string& path, uint64_t page_bytes,
                              std::string* out) {
  Fd fd(openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoStatus(errno, "open", path);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "fstat", path);
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != page_bytes) return false;
  out->resize(page_bytes);
  size_t done = 0;
  while (done < page_bytes) {
    ssize_t n = read(fd.get(), out->data() + done, page_bytes - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", path);
    }
    if (n == 0) return false;  // shrank since fstat: not a whole page
    done += static_cast<size_t>(n);
  }
  return true;
}

absl::Status WritePage(int dirfd, const std::string& prefix, const std::string& name,
                       std::string_view page) {
  static std::atomic<uint64_t> next_tmp{0};
  const std::string tmp =
      absl::StrCat(prefix, "~", name, ".", getpid(), ".", next_tmp.fetch_add(1));
  const std::string final_path = prefix + name;
  int raw = openat(dirfd, tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (raw < 0) return ErrnoStatus(errno, "create", tmp);
  absl::Status status;
  {
    Fd fd(raw);
    size_t done = 0;
    while (done < page.size()) {
      ssize_t n = write(fd.get(), page.data() + done, page.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        status = ErrnoStatus(errno, "write", tmp);
        break;
      }
      done += static_cast<size_t>(n);
    }
  }
  if (status.ok() && renameat(dirfd, tmp.c_str(), dirfd, final_path.c_str()) != 0) {
    status = ErrnoStatus(errno, "rename", tmp);
  }
  if (!status.ok()) unlinkat(dirfd, tmp.c_str(), 0);  // best effort; the error is what matters
  return status;
}

absl::StatusOr<uint64_t> TreeBytes(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "opendir", dir);
  uint64_t total = 0;
  absl::Status status;
  while (true) {
    errno = 0;
    struct dirent* e = readdir(d);
    if (e == nullptr) {
      if (errno != 0) status = ErrnoStatus(errno, "readdir", dir);
      break;
    }
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // renamed or evicted meanwhile
      status = ErrnoStatus(errno, "stat", absl::StrCat(dir, "/", std::string(name)));
      break;
    }
    if (S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
      absl::StatusOr<uint64_t> sub = TreeBytes(absl::StrCat(dir, "/", std::string(name)));
      if (sub.ok()) {
        total += *sub;
      } else if (!absl::IsNotFound(sub.status())) {
        status = sub.status();
        break;
      }
    }
  }
  closedir(d);
  if (!status.ok()) return status;
  return total;
}

absl::StatusOr<std::vector<ListedPage>> ListPages(const std::string& dir,
                                                  std::span<const std::string> subdirs) {
  std::vector<ListedPage> pages;
  for (const std::string& sub : subdirs) {
    const std::string path = sub.empty() ? dir : absl::StrCat(dir, "/", sub);
    const std::string rel_prefix = sub.empty() ? "" : absl::StrCat(sub, "/");
    DIR* d = opendir(path.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) continue;
      return ErrnoStatus(errno, "opendir", path);
    }
    absl::Status status;
    while (true) {
      errno = 0;
      struct dirent* e = readdir(d);
      if (e == nullptr) {
        if (errno != 0) status = ErrnoStatus(errno, "readdir", path);
        break;
      }
      if (!IsPageFileName(e->d_name)) continue;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        status = ErrnoStatus(errno, "stat", absl::StrCat(path, "/", e->d_name));
        break;
      }
      if (!S_ISREG(st.st_mode)) continue;
      pages.push_back(
          {.rel_path = absl::StrCat(rel_prefix, e->d_name),
           .bytes = static_cast<uint64_t>(st.st_size),
           .mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec});
    }
    closedir(d);
    if (!status.ok()) return status;
  }
  return pages;
}

void LruIndex::Touch(const std::string& rel_path, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(rel_path);
  if (it != entries_.end()) {
    order_.splice(order_.begin(), order_, it->second.pos);
    total_bytes_ = total_bytes_ - it->second.bytes + bytes;
    it->second.bytes = bytes;
    return;
  }
  order_.push_front(rel_path);
  entries_.emplace(rel_path, Entry{.bytes = bytes, .pos = order_.begin()});
  total_bytes_ += bytes;
}

std::vector<std::string> LruIndex::TakeOverflow() {
  std::vector<std::string> out;
  absl::MutexLock lock(&mu_);
  while (total_bytes_ > capacity_bytes_ && !order_.empty()) {
    auto it = entries_.find(order_.back());
    total_bytes_ -= it->second.bytes;
    entries_.erase(it);
    out.push_back(std::move(order_.back()));
    order_.pop_back();
  }
  return out;
}

uint64_t LruIndex::total_bytes() const {
  absl::MutexLock lock(&mu_);
  return total_bytes_;
}

size_t LruIndex::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::Status RebuildLru(const std::string& ns_dir, std::span<const std::string> subdirs,
                        LruIndex* lru) {
  absl::StatusOr<std::vector<ListedPage>> pages = ListPages(ns_dir, subdirs);
  if (!pages.ok()) return pages.status();
  std::sort(pages->begin(), pages->end(), [](const ListedPage& a, const ListedPage& b) {
    return std::tie(a.mtime_ns, a.rel_path) < std::tie(b.mtime_ns, b.rel_path);
  });
  for (const ListedPage& p : *pages) lru->Touch(p.rel_path, p.bytes);
  for (const std::string& rel : lru->TakeOverflow()) {
    absl::Status s = UnlinkPage(AT_FDCWD, absl::StrCat(ns_dir, "/", rel));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status UnlinkPage(int dirfd, const std::string& path) {
  if (unlinkat(dirfd, path.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", path);
  }
  return absl::OkStatus();
}

}  // namespace file_internal

std::string PageFileName(std::string_view key) {
  const bool kept = std::all_of(key.begin(), key.end(), [](char c) {
    return file_internal::KeptByte(static_cast<unsigned char>(c));
  });
  if (kept) return absl::StrCat(std::string(key), file_internal::kSuffix);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "=";
  name.reserve(1 + 2 * key.size() + sizeof(file_internal::kSuffix));
  for (unsigned char c : key) {
    name.push_back(kHex[c >> 4]);
    name.push_back(kHex[c & 0xf]);
  }
  name += file_internal::kSuffix;
  return name;
}

int ShardOf(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;  // splitmix64 finaliser: FNV's top byte alone mixes poorly
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<int>(h >> 56);
}


absl::Status file_internal::FileTierBase::Sync() {
  ::sync();
  return absl::OkStatus();
}

namespace {

// See file_backend.h: the HiCacheFile-like tier, serial in the calling thread, path-based.
class FileBackend final : public file_internal::FileTierBase {
 public:
  FileBackend(const BackendOptions& options, std::string ns_dir,
              std::unique_ptr<file_internal::LruIndex> lru)
      : FileTierBase(options.dir),
        options_(options),
        ns_dir_(std::move(ns_dir)),
        lru_(std::move(lru)) {}

  const std::string& kind() const override { return kind_; }

  absl::StatusOr<std::vector<bool>> Exists(std::span<const std::string> keys) override {
    absl::Status status = file_internal::CheckChain(keys, nullptr, options_.page_bytes);
    if (!status.ok()) return status;
    std::vector<bool> present(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      absl::StatusOr<bool> p =
          file_internal::PagePresent(AT_FDCWD, PathOf(keys[i]), options_.page_bytes);
      if (!p.ok()) return p.status();
      present[i] = *p;
    }
    return present;
  }

  absl::Status Put(std::span<const std::string> keys, std::span<const std::string_view> pages,
                   std::string_view /*parent_key*/) override {
    absl::Status status = file_internal::CheckChain(keys, &pages, options_.page_bytes);
    if (!status.ok()) return status;
    const std::string prefix = ns_dir_ + "/";
    for (size_t i = 0; i < keys.size() && status.ok(); ++i) {
      const std::string name = PageFileName(keys[i]);
      absl::StatusOr<bool> present =
          file_internal::PagePresent(AT_FDCWD, prefix + name, options_.page_bytes);
      if (!present.ok()) {
        status = present.status();
      } else if (!*present) {
        status = file_internal::WritePage(AT_FDCWD, prefix, name, pages[i]);
      }
      if (status.ok() && lru_ != nullptr) lru_->Touch(name, options_.page_bytes);
    }
    if (lru_ != nullptr) {
      for (const std::string& rel : lru_->TakeOverflow()) {
        absl::Status s = file_internal::UnlinkPage(AT_FDCWD, prefix + rel);
        if (status.ok()) status = s;
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
    file_internal::KeepBuffers(keys.size(), pages);
    size_t got = 0;
    for (const std::string& key : keys) {
      const std::string name = PageFileName(key);
      absl::StatusOr<bool> found = file_internal::ReadPage(AT_FDCWD, ns_dir_ + "/" + name,
                                                           options_.page_bytes, &(*pages)[got]);
      if (!found.ok()) {
        pages->clear();
        return found.status();
      }
      if (!*found) break;
      if (lru_ != nullptr) lru_->Touch(name, options_.page_bytes);
      ++got;
    }
    pages->resize(got);
    return got;
  }

 private:
  std::string PathOf(const std::string& key) const {
    return absl::StrCat(ns_dir_, "/", PageFileName(key));
  }

  const std::string kind_ = "file";
  const BackendOptions options_;
  const std::string ns_dir_;                            // <dir>/<ns_name>
  const std::unique_ptr<file_internal::LruIndex> lru_;  // null without a cap
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewFileBackend(const BackendOptions& options) {
  absl::Status status = file_internal::ValidateOptions(options);
  if (!status.ok()) return status;
  std::string ns_dir = absl::StrCat(options.dir, "/", options.ns_name);
  status = file_internal::CreateDirs(ns_dir);
  if (!status.ok()) return status;
  std::unique_ptr<file_internal::LruIndex> lru;
  if (options.capacity_bytes > 0) {
    lru = std::make_unique<file_internal::LruIndex>(options.capacity_bytes);
    const std::string flat[] = {""};
    status = file_internal::RebuildLru(ns_dir, flat, lru.get());
    if (!status.ok()) return status;
  }
  return std::make_unique<FileBackend>(options, std::move(ns_dir), std::move(lru));
}

}  // namespace prefixd::bench
