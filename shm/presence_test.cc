#include "shm/presence.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>

#include "gtest/gtest.h"

namespace prefixd::shm {
namespace {

constexpr uint64_t kNow = 1'800'000'000;

std::unique_ptr<PresenceTable> NewTable(uint64_t max_slots = kMinPresenceSlots) {
  auto t = PresenceTable::Create(max_slots, "test-presence");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

std::unique_ptr<PresenceView> ViewOf(const PresenceTable& t) {
  auto v = PresenceView::Map(::dup(t.fd()));
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : nullptr;
}

std::vector<bool> Ask(const PresenceView& v, std::vector<uint64_t> tags, uint64_t now = kNow) {
  auto r = v.Lookup(tags, now);
  EXPECT_TRUE(r.has_value());
  return r.value_or(std::vector<bool>());
}

TEST(Presence, TagsAreTheFirstEightBytesOfTheKeysSha256) {
  // SHA-256("abc") = ba7816bf 8f01cfea ...
  EXPECT_EQ(PresenceTagOfKey("abc"), 0xeacf018fbf1678baull);
  const uint8_t zeros[8] = {}, one[8] = {1};
  EXPECT_EQ(PresenceTag(zeros), 2u);  // 0 and 1 mark empty and deleted slots
  EXPECT_EQ(PresenceTag(one), 3u);
}

TEST(Presence, SlotsKeepTheTableAtMostHalfFull) {
  EXPECT_EQ(PresenceSlotsFor(0), kMinPresenceSlots);
  EXPECT_EQ(PresenceSlotsFor(3000), 8192u);
  EXPECT_EQ(PresenceSlotsFor(uint64_t{1} << 40), kMaxPresenceSlots);
}

TEST(Presence, ClientsSeeSetsErasesEvictionsAndTtl) {
  auto t = NewTable();
  auto v = ViewOf(*t);
  ASSERT_TRUE(t && v);
  const uint64_t a = PresenceTagOfKey("a"), b = PresenceTagOfKey("b"), c = PresenceTagOfKey("c");
  EXPECT_EQ(Ask(*v, {a, b, c}), (std::vector<bool>{false, false, false}));
  t->Set(a, /*generation=*/5, kNow - 100);
  t->Set(b, 7, kNow - 10);
  EXPECT_EQ(Ask(*v, {a, b, c}), (std::vector<bool>{true, true, false}));
  t->Erase(b);
  EXPECT_EQ(Ask(*v, {a, b}), (std::vector<bool>{true, false}));
  t->Set(b, 7, kNow - 10);
  t->SetTtl(50);  // a was written 100 s ago
  EXPECT_EQ(Ask(*v, {a, b}), (std::vector<bool>{false, true}));
  uint64_t expired = 9;
  ASSERT_TRUE(v->Lookup(std::vector<uint64_t>{a, b, c}, kNow, &expired).has_value());
  EXPECT_EQ(expired, 1u);  // a; c is not held at all
  EXPECT_EQ(Ask(*v, {a, b}, kNow + 40), (std::vector<bool>{false, false}));
  t->SetTtl(0);
  t->SetOldestLive(6);  // generation 5 is evicted
  EXPECT_EQ(Ask(*v, {a, b}), (std::vector<bool>{false, true}));
  EXPECT_EQ(t->live(), 1u);  // a's slot was freed
  t->Set(a, 5, kNow);  // a page of an evicted generation (the index loaded at start-up)
  EXPECT_EQ(t->live(), 1u);
  t->Set(a, 8, kNow);  // written again (a promotion or a new put)
  EXPECT_EQ(Ask(*v, {a, b}), (std::vector<bool>{true, true}));
  t->MarkGone();
  EXPECT_FALSE(v->Lookup(std::vector<uint64_t>{a}, kNow).has_value());
}

TEST(Presence, AClientCannotWriteOrShrinkTheTable) {
  auto t = NewTable();
  ASSERT_TRUE(t);
  const size_t bytes = kPresenceHeaderBytes + t->slots() * kPresenceSlotBytes;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd(), 0);
  EXPECT_EQ(p, MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  if (p != MAP_FAILED) ::munmap(p, bytes);
  EXPECT_NE(::ftruncate(t->fd(), 0), 0);
  const char junk[8] = {};
  EXPECT_LT(::pwrite(t->fd(), junk, sizeof(junk), 0), 0);
}

TEST(Presence, TheTableGrowsUnderViewsMappedBefore) {
  auto t = NewTable(uint64_t{1} << 16);
  auto v = ViewOf(*t);
  ASSERT_TRUE(t && v);
  EXPECT_EQ(t->slots(), kMinPresenceSlots);
  // A client growing the file (it may: only shrinking is sealed) changes nothing.
  ASSERT_EQ(::ftruncate(t->fd(), 3 * kMinPresenceSlots * kPresenceSlotBytes), 0);
  std::vector<uint64_t> tags;
  for (int i = 0; i < 30000; ++i) {
    tags.push_back(PresenceTagOfKey("grow" + std::to_string(i)));
    t->Set(tags.back(), 1, kNow);
  }
  EXPECT_EQ(t->state(), PresenceState::kUsable);
  EXPECT_EQ(t->slots(), uint64_t{1} << 16);  // 30,000 pages: past three quarters of 2^15
  EXPECT_EQ(t->live(), 30000u);
  auto r = Ask(*v, tags);
  EXPECT_EQ(std::count(r.begin(), r.end(), true), 30000);
  EXPECT_EQ(Ask(*v, {PresenceTagOfKey("absent")}), std::vector<bool>{false});
  auto late = ViewOf(*t);  // a view mapped after the growth sees the same
  ASSERT_TRUE(late);
  EXPECT_EQ(Ask(*late, tags), r);
}

TEST(Presence, AnythingButASealedTableIsRefused) {
  int fd = ::memfd_create("not-a-table", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 1 << 16), 0);
  auto v = PresenceView::Map(fd);  // unsealed
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  fd = ::memfd_create("sealed-junk", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 1 << 16), 0);
  ASSERT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE), 0);
  v = PresenceView::Map(fd);  // sealed, but no header
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Presence, AFullTableStopsAnsweringAndChurnIsRebuiltAway) {
  auto t = NewTable();
  auto v = ViewOf(*t);
  ASSERT_TRUE(t && v);
  // Many more sets and erases than slots: tombstones are rebuilt away, answers stay right.
  std::vector<uint64_t> tags;
  for (uint64_t i = 0; i < 20 * kMinPresenceSlots; ++i) {
    const uint64_t tag = PresenceTagOfKey("churn" + std::to_string(i));
    t->Set(tag, 1, kNow);
    if (i % 1000 == 7) {
      tags.push_back(tag);  // kept
    } else {
      t->Erase(tag);
    }
  }
  EXPECT_EQ(t->state(), PresenceState::kUsable);
  EXPECT_EQ(t->live(), tags.size());
  auto r = Ask(*v, tags);
  EXPECT_EQ(std::count(r.begin(), r.end(), true), static_cast<long>(tags.size()));
  // Past three quarters of the slots in pages the table gives up answering.
  for (uint64_t i = 0; t->state() == PresenceState::kUsable && i < kMinPresenceSlots; ++i) {
    t->Set(PresenceTagOfKey("fill" + std::to_string(i)), 1, kNow);
  }
  EXPECT_EQ(t->state(), PresenceState::kFull);
  EXPECT_LE(t->live() * 4, kMinPresenceSlots * 3);
  EXPECT_FALSE(v->Lookup(tags, kNow).has_value());
}

TEST(Presence, ReadersNeverSeeAHalfMadeChange) {
  auto t = NewTable(uint64_t{1} << 18);
  auto v = ViewOf(*t);
  ASSERT_TRUE(t && v);
  // `kept` pages are always present and `never` pages never; a writer churns others (with
  // rebuilds), grows the table (to ~90,000 pages) and moves the eviction horizon under the
  // reader.
  std::vector<uint64_t> kept, never;
  for (int i = 0; i < 64; ++i) {
    kept.push_back(PresenceTagOfKey("kept" + std::to_string(i)));
    never.push_back(PresenceTagOfKey("never" + std::to_string(i)));
    t->Set(kept.back(), 1'000'000, kNow);
  }
  // The writer makes 300,000 changes while the reader asks.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (uint64_t i = 0; i < 300'000; ++i) {
      const uint64_t tag = PresenceTagOfKey("w" + std::to_string(i));
      t->Set(tag, static_cast<uint32_t>(i / 100 + 1), kNow);
      if (i % 3 != 0) t->Erase(tag);
      if (i % 5000 == 0) t->SetOldestLive(i / 1000);
    }
    done = true;
  });
  std::vector<uint64_t> asked = kept;
  asked.insert(asked.end(), never.begin(), never.end());
  int answered = 0, wrong = 0;
  while (!done.load()) {
    auto r = v->Lookup(asked, kNow);
    if (!r) continue;
    ++answered;
    for (size_t i = 0; i < asked.size(); ++i) wrong += (*r)[i] != (i < kept.size());
  }
  writer.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(answered, 0);
  EXPECT_EQ(t->slots(), uint64_t{1} << 18);
  EXPECT_EQ(t->state(), PresenceState::kUsable);
}

}  // namespace
}  // namespace prefixd::shm
