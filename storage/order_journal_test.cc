#include "storage/order_journal.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/test_files.h"

namespace prefixd::storage {
namespace {

using Pages = std::vector<std::pair<KeyHash, uint32_t>>;

struct Seen {
  uint32_t ns_id;
  bool written;
  InsertionDuel::Insertion how;
  Pages pages;
  bool duel = false;  // a feed of the shadows: `keys`, `written` for Wrote, or `capacity`
  std::vector<KeyHash> keys;
  uint64_t capacity = 0;
  std::vector<uint64_t> ghost;  // pages evicted (nothing else set but `unread`)
  bool unread = false;          // the ghost's pages were evicted unread
};

class OrderJournalTest : public ::testing::Test {
 protected:

  static Pages Chain(const std::string& name, int n, uint32_t generation) {
    Pages p;
    for (int i = 0; i < n; ++i) p.push_back({HashKey(name + std::to_string(i)), generation + i});
    return p;
  }
  absl::StatusOr<OrderJournal> Replay(uint64_t nonce, std::vector<Seen>* seen) {
    JournalHandlers h;
    h.use = [&](const JournalUse& u) {
      seen->push_back({u.ns_id, u.written, u.how, Pages(u.pages.begin(), u.pages.end())});
    };
    h.duel = [&](const JournalDuelInput& d) {
      seen->push_back({d.ns_id, d.kind == JournalDuelInput::Kind::kWrote,
                       InsertionDuel::Insertion::kLru, {}, true,
                       std::vector<KeyHash>(d.keys.begin(), d.keys.end()), d.capacity_pages});
    };
    h.ghost = [&](std::span<const uint64_t> g, bool unread) {
      seen->push_back({0, false, InsertionDuel::Insertion::kLru, {}, false, {}, 0,
                       std::vector<uint64_t>(g.begin(), g.end()), unread});
    };
    return OrderJournal::Replay(path_, nonce, h);
  }
  testing::ScratchFile file_{"order_journal", "EVICTION-ORDER.journal"};
  const std::string path_ = file_.path();
};

TEST_F(OrderJournalTest, ReplaysEveryUseInOrderAndAppendsAfterThem) {
  const Pages a = Chain("a", 3, 7), b = Chain("b", 1, 9), c = Chain("c", 2, 1);
  {
    auto j = OrderJournal::Create(path_, 42);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_EQ(j->bytes(), 20u);
    std::string block;
    AppendUse(&block, 1, /*written=*/true, InsertionDuel::Insertion::kFront, a);
    AppendUse(&block, 2, /*written=*/false, InsertionDuel::Insertion::kProbation, b);
    const std::vector<NamespacedKey> fed = {{5, HashKey("s0")}, {5, HashKey("s1")}};
    AppendDuelInput(&block, /*wrote=*/true, fed);
    AppendDuelInput(&block, /*wrote=*/false, std::span(fed).first(1));
    AppendDuelCapacity(&block, 4096);
    const std::vector<uint64_t> evicted = {1, 0xFFFFFFFFFFFFFFFFull};
    AppendGhost(&block, evicted, /*unread=*/true);
    AppendGhost(&block, std::vector<uint64_t>{7}, /*unread=*/false);
    AppendGhost(&block, {}, /*unread=*/false);  // nothing to say: no record
    ASSERT_TRUE(j->Append(block).ok());
    EXPECT_EQ(j->bytes(), std::filesystem::file_size(path_));
  }
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  std::vector<Seen> seen;
  auto j = Replay(42, &seen);
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_EQ(seen.size(), 7u);
  EXPECT_EQ(seen[0].ns_id, 1u);
  EXPECT_TRUE(seen[0].written);
  EXPECT_EQ(seen[0].how, InsertionDuel::Insertion::kFront);
  EXPECT_EQ(seen[0].pages, a);
  EXPECT_FALSE(seen[0].duel);
  EXPECT_EQ(seen[1].ns_id, 2u);
  EXPECT_FALSE(seen[1].written);
  EXPECT_EQ(seen[1].how, InsertionDuel::Insertion::kProbation);
  EXPECT_EQ(seen[1].pages, b);
  EXPECT_TRUE(seen[2].duel);
  EXPECT_EQ(seen[2].ns_id, 5u);
  EXPECT_TRUE(seen[2].written);
  EXPECT_EQ(seen[2].keys, (std::vector<KeyHash>{HashKey("s0"), HashKey("s1")}));
  EXPECT_TRUE(seen[3].duel);
  EXPECT_FALSE(seen[3].written);
  EXPECT_EQ(seen[3].keys, std::vector<KeyHash>{HashKey("s0")});
  EXPECT_TRUE(seen[4].duel);
  EXPECT_TRUE(seen[4].keys.empty());
  EXPECT_EQ(seen[4].capacity, 4096u);
  EXPECT_FALSE(seen[5].duel);
  EXPECT_EQ(seen[5].ghost, (std::vector<uint64_t>{1, 0xFFFFFFFFFFFFFFFFull}));
  EXPECT_TRUE(seen[5].unread);
  EXPECT_EQ(seen[6].ghost, std::vector<uint64_t>{7});
  EXPECT_FALSE(seen[6].unread);
  // The journal goes on where it ended.
  std::string block;
  AppendUse(&block, 3, false, InsertionDuel::Insertion::kLru, c);
  ASSERT_TRUE(j->Append(block).ok());
  seen.clear();
  ASSERT_TRUE(Replay(42, &seen).ok());
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(seen[7].pages, c);
}

TEST_F(OrderJournalTest, AnotherSavesJournalOrNoneIsNotReplayed) {
  std::vector<Seen> seen;
  EXPECT_EQ(Replay(42, &seen).status().code(), absl::StatusCode::kNotFound);
  {
    auto j = OrderJournal::Create(path_, 41);
    ASSERT_TRUE(j.ok());
    std::string block;
    AppendUse(&block, 1, false, InsertionDuel::Insertion::kLru, Chain("a", 2, 1));
    ASSERT_TRUE(j->Append(block).ok());
  }
  EXPECT_EQ(Replay(42, &seen).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(seen.empty());
}

// A crash mid-append leaves a block cut short or wrong: the blocks before it are replayed, it
// and what follows are not, and the next append goes where it began.
TEST_F(OrderJournalTest, ABlockCutShortOrCorruptEndsTheJournalThere) {
  std::string first, second;
  AppendUse(&first, 1, true, InsertionDuel::Insertion::kLru, Chain("a", 2, 1));
  AppendUse(&second, 1, false, InsertionDuel::Insertion::kLru, Chain("b", 2, 1));
  uint64_t after_first;
  {
    auto j = OrderJournal::Create(path_, 7);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j->Append(first).ok());
    after_first = j->bytes();
    ASSERT_TRUE(j->Append(second).ok());
  }
  const std::string whole = file_.Contents();
  for (size_t cut = after_first; cut < whole.size(); ++cut) {
    file_.Overwrite(whole.substr(0, cut));
    std::vector<Seen> seen;
    auto j = Replay(7, &seen);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_EQ(seen.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(j->bytes(), after_first);
    EXPECT_EQ(std::filesystem::file_size(path_), after_first) << "the cut block stays";
  }
  for (size_t i = after_first; i < whole.size(); ++i) {
    std::string bad = whole;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    file_.Overwrite(bad);
    std::vector<Seen> seen;
    ASSERT_TRUE(Replay(7, &seen).ok());
    EXPECT_EQ(seen.size(), 1u) << "byte " << i;
  }
  // A damaged header is another journal.
  std::string bad = whole;
  bad[3] ^= 1;
  file_.Overwrite(bad);
  std::vector<Seen> seen;
  EXPECT_EQ(Replay(7, &seen).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace prefixd::storage
