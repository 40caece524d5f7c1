#include "shm/presence.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace prefixd::shm {
namespace {

constexpr char kMagic[8] = {'P', 'F', 'X', 'P', 'R', 'S', '0', '1'};
constexpr uint64_t kEmpty = 0, kDeleted = 1;
constexpr int kReadTries = 64;

// Header fields, at their offsets.
constexpr uint64_t kSlotsAt = 8, kSeqAt = 16, kStateAt = 20, kOldestAt = 24, kTtlAt = 32,
                   kLiveAt = 40, kTombstonesAt = 48, kMaxSlotsAt = 56;

bool ValidSlots(uint64_t slots, uint64_t max_slots) {
  return slots >= kMinPresenceSlots && slots <= max_slots && (slots & (slots - 1)) == 0;
}

// Every shared word is read and written as an atomic: the other side may change it at any time.
template <typename T>
std::atomic_ref<T> At(const uint8_t* base, uint64_t offset) {
  return std::atomic_ref<T>(*reinterpret_cast<T*>(const_cast<uint8_t*>(base) + offset));
}

uint64_t SlotAt(uint64_t i) { return kPresenceHeaderBytes + i * kPresenceSlotBytes; }

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

uint64_t PresenceTag(const uint8_t* digest_prefix) {
  uint64_t t = 0;
  for (int i = 7; i >= 0; --i) t = t << 8 | digest_prefix[i];
  return t <= kDeleted ? t + 2 : t;
}

uint64_t PresenceTagOfKey(std::string_view key) {
  uint8_t d[SHA256_DIGEST_LENGTH];
  ::SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d);
  return PresenceTag(d);
}

uint64_t PresenceSlotsFor(uint64_t pages) {
  uint64_t slots = kMinPresenceSlots;
  while (slots < 2 * pages && slots < kMaxPresenceSlots) slots <<= 1;
  return slots;
}

// ---- the daemon's side ----

absl::StatusOr<std::unique_ptr<PresenceTable>> PresenceTable::Create(uint64_t max_slots,
                                                                     const std::string& name) {
  if (!ValidSlots(max_slots, kMaxPresenceSlots)) {
    return absl::InvalidArgumentError(absl::StrCat("a presence table of ", max_slots, " slots"));
  }
  int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Errno("memfd_create of a presence table");
  if (::ftruncate(fd, static_cast<off_t>(SlotAt(kMinPresenceSlots))) != 0) {
    auto s = Errno("sizing a presence table");
    ::close(fd);
    return s;
  }
  // Mapped at its largest: the file grows under the mapping (ftruncate), never shrinks.
  void* p = ::mmap(nullptr, SlotAt(max_slots), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    auto s = Errno("mmap of a presence table");
    ::close(fd);
    return s;
  }
  // The daemon's mapping stays writable; nobody can make another, nor shrink the file.
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) {
    auto s = Errno("sealing a presence table");
    ::munmap(p, SlotAt(max_slots));
    ::close(fd);
    return s;
  }
  auto* base = static_cast<uint8_t*>(p);
  std::memcpy(base, kMagic, sizeof(kMagic));
  const uint64_t slots = kMinPresenceSlots;
  std::memcpy(base + kSlotsAt, &slots, sizeof(slots));
  std::memcpy(base + kMaxSlotsAt, &max_slots, sizeof(max_slots));
  return std::unique_ptr<PresenceTable>(new PresenceTable(fd, base, max_slots));
}

PresenceTable::PresenceTable(int fd, uint8_t* base, uint64_t max_slots)
    : fd_(fd), base_(base), max_slots_(max_slots) {}

PresenceTable::~PresenceTable() {
  ::munmap(base_, SlotAt(max_slots_));
  ::close(fd_);
}

void PresenceTable::BeginWrite() {
  At<uint32_t>(base_, kSeqAt).store(++seq_, std::memory_order_relaxed);  // odd
  std::atomic_thread_fence(std::memory_order_release);
}

void PresenceTable::EndWrite() {
  At<uint64_t>(base_, kLiveAt).store(live_, std::memory_order_relaxed);
  At<uint64_t>(base_, kTombstonesAt).store(tombstones_, std::memory_order_relaxed);
  At<uint32_t>(base_, kSeqAt).store(++seq_, std::memory_order_release);  // even
}

void PresenceTable::Set(uint64_t tag, uint32_t generation, uint32_t created_unix) {
  absl::MutexLock l(&mu_);
  if (generation < oldest_live_) {  // evicted already (the index loaded at start-up)
    EraseLocked(tag);
    return;
  }
  if (state() != PresenceState::kUsable) return;
  BeginWrite();
  const uint64_t mask = slots_ - 1;
  uint64_t i = tag & mask, free = slots_;
  bool found = false;
  for (uint64_t n = 0; n < slots_; ++n, i = (i + 1) & mask) {
    const uint64_t t = At<uint64_t>(base_, SlotAt(i)).load(std::memory_order_relaxed);
    if (t == tag) {
      found = true;
      break;
    }
    if (t == kDeleted && free == slots_) free = i;
    if (t == kEmpty) {
      if (free == slots_) free = i;
      break;
    }
  }
  if (found) {
    free = i;
  } else if ((live_ + tombstones_ + 1) * 4 > slots_ * 3) {
    // Three quarters of the slots used: twice the slots when the pages alone fill half of
    // them, else the same number without the tombstones. At the most slots, past three
    // quarters in pages, the table stops answering (it would miss pages).
    uint64_t slots = (live_ + 1) * 2 > slots_ ? slots_ * 2 : slots_;
    if (slots > max_slots_) slots = slots_;
    if ((live_ + 1) * 4 > slots * 3 || (slots > slots_ && !GrowFile(SlotAt(slots)))) {
      At<uint32_t>(base_, kStateAt).store(static_cast<uint32_t>(PresenceState::kFull),
                                          std::memory_order_relaxed);
      EndWrite();
      return;
    }
    Rebuild(slots);  // leaves a quarter of the slots empty, at least
    const uint64_t mask2 = slots_ - 1;
    for (free = tag & mask2;; free = (free + 1) & mask2) {
      if (At<uint64_t>(base_, SlotAt(free)).load(std::memory_order_relaxed) == kEmpty) break;
    }
  }
  if (!found) {
    if (At<uint64_t>(base_, SlotAt(free)).load(std::memory_order_relaxed) == kDeleted) --tombstones_;
    ++live_;
  }
  const uint64_t at = SlotAt(free);
  At<uint32_t>(base_, at + 8).store(generation, std::memory_order_relaxed);
  At<uint32_t>(base_, at + 12).store(created_unix, std::memory_order_relaxed);
  At<uint64_t>(base_, at).store(tag, std::memory_order_relaxed);
  EndWrite();
}

void PresenceTable::Erase(uint64_t tag) {
  absl::MutexLock l(&mu_);
  EraseLocked(tag);
}

void PresenceTable::EraseLocked(uint64_t tag) {
  const uint64_t mask = slots_ - 1;
  uint64_t i = tag & mask;
  for (uint64_t n = 0; n < slots_; ++n, i = (i + 1) & mask) {
    const uint64_t t = At<uint64_t>(base_, SlotAt(i)).load(std::memory_order_relaxed);
    if (t == kEmpty) return;
    if (t == tag) {
      BeginWrite();
      At<uint64_t>(base_, SlotAt(i)).store(kDeleted, std::memory_order_relaxed);
      --live_;
      ++tombstones_;
      if (tombstones_ * 4 > slots_) Rebuild(slots_);
      EndWrite();
      return;
    }
  }
}

bool PresenceTable::GrowFile(uint64_t bytes) {
  // A client may have grown the file already (it cannot shrink it): never truncate it.
  struct stat st;
  if (::fstat(fd_, &st) != 0) return false;
  return static_cast<uint64_t>(st.st_size) >= bytes ||
         ::ftruncate(fd_, static_cast<off_t>(bytes)) == 0;
}

void PresenceTable::Rebuild(uint64_t slots) {
  struct Kept {
    uint64_t tag;
    uint32_t generation, created;
  };
  std::vector<Kept> kept;
  kept.reserve(live_);
  for (uint64_t i = 0; i < slots_; ++i) {
    const uint64_t at = SlotAt(i);
    const uint64_t t = At<uint64_t>(base_, at).load(std::memory_order_relaxed);
    if (t > kDeleted) {
      kept.push_back({t, At<uint32_t>(base_, at + 8).load(std::memory_order_relaxed),
                      At<uint32_t>(base_, at + 12).load(std::memory_order_relaxed)});
    }
    At<uint64_t>(base_, at).store(kEmpty, std::memory_order_relaxed);
  }
  // Slots past the old count were never written: the file grew with zeros there.
  slots_ = slots;
  At<uint64_t>(base_, kSlotsAt).store(slots_, std::memory_order_relaxed);
  const uint64_t mask = slots_ - 1;
  for (const Kept& k : kept) {
    uint64_t i = k.tag & mask;
    while (At<uint64_t>(base_, SlotAt(i)).load(std::memory_order_relaxed) != kEmpty) {
      i = (i + 1) & mask;
    }
    At<uint32_t>(base_, SlotAt(i) + 8).store(k.generation, std::memory_order_relaxed);
    At<uint32_t>(base_, SlotAt(i) + 12).store(k.created, std::memory_order_relaxed);
    At<uint64_t>(base_, SlotAt(i)).store(k.tag, std::memory_order_relaxed);
  }
  live_ = kept.size();
  tombstones_ = 0;
}

void PresenceTable::SetOldestLive(uint64_t generation) {
  absl::MutexLock l(&mu_);
  if (generation <= oldest_live_) return;
  BeginWrite();
  oldest_live_ = generation;
  At<uint64_t>(base_, kOldestAt).store(generation, std::memory_order_relaxed);
  uint64_t freed = 0;
  for (uint64_t i = 0; i < slots_; ++i) {
    const uint64_t at = SlotAt(i);
    if (At<uint64_t>(base_, at).load(std::memory_order_relaxed) > kDeleted &&
        At<uint32_t>(base_, at + 8).load(std::memory_order_relaxed) < generation) {
      At<uint64_t>(base_, at).store(kDeleted, std::memory_order_relaxed);
      ++freed;
    }
  }
  live_ -= freed;
  tombstones_ += freed;
  if (tombstones_ * 4 > slots_) Rebuild(slots_);
  EndWrite();
}

void PresenceTable::SetTtl(uint64_t ttl_seconds) {
  absl::MutexLock l(&mu_);
  BeginWrite();
  At<uint64_t>(base_, kTtlAt).store(ttl_seconds, std::memory_order_relaxed);
  EndWrite();
}

void PresenceTable::MarkGone() {
  absl::MutexLock l(&mu_);
  BeginWrite();
  At<uint32_t>(base_, kStateAt).store(static_cast<uint32_t>(PresenceState::kGone),
                                      std::memory_order_relaxed);
  EndWrite();
}

PresenceState PresenceTable::state() const {
  return static_cast<PresenceState>(At<uint32_t>(base_, kStateAt).load(std::memory_order_relaxed));
}

uint64_t PresenceTable::slots() const {
  absl::MutexLock l(&mu_);
  return slots_;
}

uint64_t PresenceTable::live() const {
  absl::MutexLock l(&mu_);
  return live_;
}

// ---- a client's view ----

absl::StatusOr<std::unique_ptr<PresenceView>> PresenceView::Map(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    auto s = Errno("fstat of a presence table");
    ::close(fd);
    return s;
  }
  const uint64_t bytes = static_cast<uint64_t>(st.st_size);
  const int seals = ::fcntl(fd, F_GET_SEALS);
  const int required = F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE;
  uint8_t header[kPresenceHeaderBytes];
  if (bytes < kPresenceHeaderBytes || seals < 0 || (seals & required) != required ||
      ::pread(fd, header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header))) {
    ::close(fd);
    return absl::InvalidArgumentError("not a sealed presence table");
  }
  uint64_t slots, max_slots;
  std::memcpy(&slots, header + kSlotsAt, sizeof(slots));
  std::memcpy(&max_slots, header + kMaxSlotsAt, sizeof(max_slots));
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0 ||
      !ValidSlots(max_slots, kMaxPresenceSlots) || !ValidSlots(slots, max_slots) ||
      SlotAt(slots) > bytes) {
    ::close(fd);
    return absl::InvalidArgumentError("not a presence table (bad header)");
  }
  // At its largest, as the daemon maps it; only the slots the header names are read, and the
  // file (which cannot shrink) holds them before the header names them.
  void* p = ::mmap(nullptr, SlotAt(max_slots), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return Errno("mmap of a presence table");
  return std::unique_ptr<PresenceView>(new PresenceView(static_cast<const uint8_t*>(p), max_slots));
}

PresenceView::~PresenceView() { ::munmap(const_cast<uint8_t*>(base_), SlotAt(max_slots_)); }

std::optional<std::vector<bool>> PresenceView::Lookup(std::span<const uint64_t> tags,
                                                      uint64_t now_unix,
                                                      uint64_t* expired) const {
  std::vector<bool> out(tags.size());
  for (int attempt = 0; attempt < kReadTries; ++attempt) {
    const uint32_t before = At<uint32_t>(base_, kSeqAt).load(std::memory_order_acquire);
    if ((before & 1) != 0) {
      sched_yield();
      continue;
    }
    const uint64_t slots = At<uint64_t>(base_, kSlotsAt).load(std::memory_order_relaxed);
    if (!ValidSlots(slots, max_slots_)) return std::nullopt;  // not what the daemon writes
    const uint64_t mask = slots - 1;
    const uint32_t state = At<uint32_t>(base_, kStateAt).load(std::memory_order_relaxed);
    const uint64_t oldest = At<uint64_t>(base_, kOldestAt).load(std::memory_order_relaxed);
    const uint64_t ttl = At<uint64_t>(base_, kTtlAt).load(std::memory_order_relaxed);
    uint64_t stale = 0;
    for (size_t k = 0; k < tags.size(); ++k) {
      bool present = false;
      uint64_t i = tags[k] & mask;
      for (uint64_t n = 0; n < slots; ++n, i = (i + 1) & mask) {
        const uint64_t at = SlotAt(i);
        const uint64_t t = At<uint64_t>(base_, at).load(std::memory_order_relaxed);
        if (t == kEmpty) break;
        if (t != tags[k]) continue;
        const uint64_t gen = At<uint32_t>(base_, at + 8).load(std::memory_order_relaxed);
        const uint64_t created = At<uint32_t>(base_, at + 12).load(std::memory_order_relaxed);
        const bool live = gen >= oldest;
        present = live && (ttl == 0 || created + ttl > now_unix);
        stale += live && !present;
        break;
      }
      out[k] = present;
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (At<uint32_t>(base_, kSeqAt).load(std::memory_order_relaxed) != before) continue;
    if (state != static_cast<uint32_t>(PresenceState::kUsable)) return std::nullopt;
    if (expired != nullptr) *expired = stale;
    return out;
  }
  return std::nullopt;
}

}  // namespace prefixd::shm
