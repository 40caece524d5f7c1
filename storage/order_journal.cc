#include "storage/order_journal.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"
#include "storage/order_files.h"
#include "util/crc32c.h"

namespace prefixd::storage {
namespace {

constexpr char kMagic[] = "PFXEVJ01";
constexpr size_t kHeaderBytes = 8 + 8 + 4;
constexpr size_t kBlockHeaderBytes = 4 + 4;
constexpr size_t kPageBytes = sizeof(KeyHash) + 4;

std::string Header(uint64_t nonce) {
  std::string h(kMagic, 8);
  PutLittle64(&h, nonce);
  PutLittle32(&h, util::Crc32c(h));
  return h;
}

enum Kind : uint8_t {
  kRead = 0,
  kWritten = 1,
  kDuelRead = 2,
  kDuelWrote = 3,
  kGhost = 4,
  kDuelCapacity = 5,
  kGhostRead = 6
};

// Calls `h` for each record in `payload`; false (having called none) if the payload does not
// parse.
bool ParseRecords(std::string_view payload, const JournalHandlers& h) {
  std::vector<std::pair<KeyHash, uint32_t>> pages;
  std::vector<KeyHash> keys;
  std::vector<uint64_t> fingerprints;
  for (int pass = 0; pass < 2; ++pass) {  // check the whole block, then apply it
    std::string_view in = payload;
    while (!in.empty()) {
      if (in.size() < 5) return false;
      const uint8_t kind = static_cast<uint8_t>(in[0]);
      const uint32_t ns_id = GetLittle32(in.data() + 1);
      in.remove_prefix(5);
      if (kind == kRead || kind == kWritten) {
        if (in.size() < 5) return false;
        const uint8_t how = static_cast<uint8_t>(in[0]);
        const uint32_t count = GetLittle32(in.data() + 1);
        in.remove_prefix(5);
        if (how > uint8_t(InsertionDuel::Insertion::kProbation)) return false;
        if (count > in.size() / kPageBytes) return false;
        if (pass == 1) {
          pages.resize(count);
          for (uint32_t i = 0; i < count; ++i) {
            const char* p = in.data() + size_t(i) * kPageBytes;
            std::memcpy(pages[i].first.data(), p, sizeof(KeyHash));
            pages[i].second = GetLittle32(p + sizeof(KeyHash));
          }
          h.use({ns_id, kind == kWritten, static_cast<InsertionDuel::Insertion>(how), pages});
        }
        in.remove_prefix(size_t(count) * kPageBytes);
      } else if (kind == kDuelRead || kind == kDuelWrote) {
        if (in.size() < 4) return false;
        const uint32_t count = GetLittle32(in.data());
        in.remove_prefix(4);
        if (count > in.size() / sizeof(KeyHash)) return false;
        if (pass == 1) {
          keys.resize(count);
          for (uint32_t i = 0; i < count; ++i) {
            std::memcpy(keys[i].data(), in.data() + size_t(i) * sizeof(KeyHash), sizeof(KeyHash));
          }
          using D = JournalDuelInput::Kind;
          h.duel({kind == kDuelWrote ? D::kWrote : D::kRead, ns_id, keys, 0});
        }
        in.remove_prefix(size_t(count) * sizeof(KeyHash));
      } else if (kind == kGhost || kind == kGhostRead) {
        if (in.size() < 4) return false;
        const uint32_t count = GetLittle32(in.data());
        in.remove_prefix(4);
        if (count > in.size() / 8) return false;
        if (pass == 1) {
          fingerprints.resize(count);
          for (uint32_t i = 0; i < count; ++i) fingerprints[i] = GetLittle64(in.data() + 8 * i);
          h.ghost(fingerprints, /*unread=*/kind == kGhost);
        }
        in.remove_prefix(size_t(count) * 8);
      } else if (kind == kDuelCapacity) {
        if (in.size() < 8) return false;
        if (pass == 1) {
          h.duel({JournalDuelInput::Kind::kCapacity, ns_id, {}, GetLittle64(in.data())});
        }
        in.remove_prefix(8);
      } else {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

void AppendUse(std::string* buf, uint32_t ns_id, bool written, InsertionDuel::Insertion how,
               std::span<const std::pair<KeyHash, uint32_t>> pages) {
  buf->push_back(char(written ? kWritten : kRead));
  PutLittle32(buf, ns_id);
  buf->push_back(char(static_cast<uint8_t>(how)));
  PutLittle32(buf, static_cast<uint32_t>(pages.size()));
  for (const auto& [hash, generation] : pages) {
    buf->append(reinterpret_cast<const char*>(hash.data()), hash.size());
    PutLittle32(buf, generation);
  }
}

void AppendDuelInput(std::string* buf, bool wrote, std::span<const NamespacedKey> keys) {
  if (keys.empty()) return;
  buf->push_back(char(wrote ? kDuelWrote : kDuelRead));
  PutLittle32(buf, keys.front().ns_id);
  PutLittle32(buf, static_cast<uint32_t>(keys.size()));
  for (const NamespacedKey& k : keys) {
    buf->append(reinterpret_cast<const char*>(k.hash.data()), k.hash.size());
  }
}

void AppendDuelCapacity(std::string* buf, uint64_t pages) {
  buf->push_back(char(kDuelCapacity));
  PutLittle32(buf, 0);
  PutLittle64(buf, pages);
}

void AppendGhost(std::string* buf, std::span<const uint64_t> fingerprints, bool unread) {
  if (fingerprints.empty()) return;
  buf->push_back(char(unread ? kGhost : kGhostRead));
  PutLittle32(buf, 0);
  PutLittle32(buf, static_cast<uint32_t>(fingerprints.size()));
  for (uint64_t f : fingerprints) PutLittle64(buf, f);
}

absl::StatusOr<OrderJournal> OrderJournal::Create(const std::string& path, uint64_t nonce) {
  auto fd = ReplaceFile(path, Header(nonce));
  if (!fd.ok()) return fd.status();
  return OrderJournal(*fd, kHeaderBytes);
}

absl::StatusOr<OrderJournal> OrderJournal::Replay(const std::string& path, uint64_t nonce,
                                                  const JournalHandlers& handlers) {
  std::string buf;
  auto fd = OpenAndRead(path, &buf);
  if (!fd.ok()) return fd.status();
  OrderJournal j(*fd, 0);  // closes it on every return below
  if (buf.size() < kHeaderBytes || buf.compare(0, kHeaderBytes, Header(nonce)) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": not the journal of the eviction order saved"));
  }
  size_t at = kHeaderBytes;
  while (buf.size() - at >= kBlockHeaderBytes) {
    const uint32_t length = GetLittle32(buf.data() + at);
    const uint32_t crc = GetLittle32(buf.data() + at + 4);
    if (length > buf.size() - at - kBlockHeaderBytes) break;  // cut short
    const std::string_view payload(buf.data() + at + kBlockHeaderBytes, length);
    if (util::Crc32c(payload) != crc || !ParseRecords(payload, handlers)) break;
    at += kBlockHeaderBytes + length;
  }
  if (at != buf.size() && ::ftruncate(*fd, static_cast<off_t>(at)) != 0) {
    return ErrnoError("cannot cut the unfinished end of", path);
  }
  j.bytes_ = at;
  return j;
}

OrderJournal::OrderJournal(OrderJournal&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), bytes_(other.bytes_) {}

OrderJournal& OrderJournal::operator=(OrderJournal&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    bytes_ = other.bytes_;
  }
  return *this;
}

OrderJournal::~OrderJournal() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status OrderJournal::Append(std::string_view payload) {
  if (fd_ < 0) return absl::FailedPreconditionError("the journal is not open");
  std::string block;
  block.reserve(kBlockHeaderBytes + payload.size());
  PutLittle32(&block, static_cast<uint32_t>(payload.size()));
  PutLittle32(&block, util::Crc32c(payload));
  block.append(payload);
  if (!WriteAllAt(fd_, block, bytes_)) {
    return absl::InternalError(
        absl::StrCat("cannot append to the eviction order's journal: ", std::strerror(errno)));
  }
  if (::fdatasync(fd_) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot sync the eviction order's journal: ", std::strerror(errno)));
  }
  bytes_ += block.size();
  return absl::OkStatus();
}

}  // namespace prefixd::storage
