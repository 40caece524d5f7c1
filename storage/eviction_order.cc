#include "storage/eviction_order.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"
#include "util/crc32c.h"

namespace prefixd::storage {
namespace {

constexpr char kMagic[] = "PFXEVO01";
constexpr size_t kMagicBytes = 8;
constexpr size_t kEntryBytes = 4 + sizeof(KeyHash);
constexpr size_t kTrailerBytes = 8 + 8 + 4;

void PutEntries(std::string* out, const std::vector<NamespacedKey>& keys) {
  for (const NamespacedKey& k : keys) {
    PutLittle32(out, k.ns_id);
    out->append(reinterpret_cast<const char*>(k.hash.data()), k.hash.size());
  }
}

void GetEntries(const char* p, uint64_t count, std::vector<NamespacedKey>* out) {
  out->resize(count);
  for (NamespacedKey& k : *out) {
    k.ns_id = GetLittle32(p);
    std::memcpy(k.hash.data(), p + 4, k.hash.size());
    p += kEntryBytes;
  }
}

absl::Status Errno(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::Status WriteEvictionOrder(const std::string& path, const EvictionOrder& order) {
  std::string buf;
  buf.reserve(kMagicBytes + 8 + (order.lru.size() + order.unread.size()) * kEntryBytes +
              kTrailerBytes);
  buf.append(kMagic, kMagicBytes);
  PutLittle64(&buf, order.sequence);
  PutEntries(&buf, order.lru);
  PutEntries(&buf, order.unread);
  PutLittle64(&buf, order.lru.size());
  PutLittle64(&buf, order.unread.size());
  PutLittle32(&buf, util::Crc32c(buf));
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = Errno("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    absl::Status s = Errno("cannot sync", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = Errno("cannot rename to", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<EvictionOrder> ReadEvictionOrder(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no file ", path));
    return Errno("cannot open", path);
  }
  std::string buf;
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  auto loss = [&](const char* why) {
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };
  if (buf.size() < kMagicBytes + 8 + kTrailerBytes) return loss("too short");
  if (std::memcmp(buf.data(), kMagic, kMagicBytes) != 0) return loss("not an eviction order");
  const char* trailer = buf.data() + buf.size() - kTrailerBytes;
  if (GetLittle32(trailer + 16) != util::Crc32c(buf.data(), buf.size() - 4)) {
    return loss("checksum mismatch");
  }
  const uint64_t lru = GetLittle64(trailer), unread = GetLittle64(trailer + 8);
  const uint64_t body = buf.size() - kMagicBytes - 8 - kTrailerBytes;
  if (lru > body / kEntryBytes || unread > body / kEntryBytes ||
      (lru + unread) * kEntryBytes != body) {
    return loss("counts do not match its size");
  }
  EvictionOrder order;
  order.sequence = GetLittle64(buf.data() + kMagicBytes);
  const char* p = buf.data() + kMagicBytes + 8;
  GetEntries(p, lru, &order.lru);
  GetEntries(p + lru * kEntryBytes, unread, &order.unread);
  return order;
}

}  // namespace prefixd::storage
