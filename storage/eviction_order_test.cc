#include "storage/eviction_order.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "storage/test_files.h"

namespace prefixd::storage {
namespace {

class EvictionOrderTest : public ::testing::Test {
 protected:

  static EvictionOrder Sample() {
    EvictionOrder o;
    o.db_identity = "a1b2c3d4-0000-4000-8000-123456789abc";  // as RocksDB writes one
    o.nonce = 0xFEDCBA9876543210ull;
    o.sequence = 0x0102030405060708ull;
    for (int i = 0; i < 5; ++i) o.lru.push_back({uint32_t(i % 2 + 1), HashKey("p" + std::to_string(i))});
    o.unread.push_back({2, HashKey("p3")});
    o.lru_generations = {7, 7, 8, 9, 0xFFFFFFFFu};
    o.unread_generations = {9};
    o.duel.lru_score = 12.5;
    o.duel.bimodal_score = 3;
    o.duel.capacity = 25;
    o.duel.bimodal.push_back({1, HashKey("p4")});
    o.probation.target = 517.25;
    o.probation.unread_ghost = {42, 0xFFFFFFFFFFFFFFFFull};
    o.probation.read_ghost = {7};
    return o;
  }

  testing::ScratchFile file_{"eviction_order", "EVICTION-ORDER"};
  const std::string path_ = file_.path();
};

TEST_F(EvictionOrderTest, RoundTripsBothQueuesInOrder) {
  const EvictionOrder o = Sample();
  ASSERT_TRUE(WriteEvictionOrder(path_, o).ok());
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  // magic, identity, nonce, sequence, 2 scores and the target, the shadows' capacity, 4
  // counts, 7 pages, the ghosts' counts and 3 entries, 6 generations, checksum
  EXPECT_EQ(std::filesystem::file_size(path_),
            8 + 4 + 36 + 8 + 8 + 3 * 8 + 8 + 4 * 8 + 7 * 20 + 2 * 8 + 3 * 8 + 6 * 4 + 4u);
  auto r = ReadEvictionOrder(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->db_identity, o.db_identity);
  EXPECT_EQ(r->nonce, o.nonce);
  EXPECT_EQ(r->sequence, o.sequence);
  EXPECT_EQ(r->lru, o.lru);
  EXPECT_EQ(r->unread, o.unread);
  EXPECT_EQ(r->lru_generations, o.lru_generations);
  EXPECT_EQ(r->unread_generations, o.unread_generations);
  EXPECT_EQ(r->duel.lru_score, 12.5);
  EXPECT_EQ(r->duel.bimodal_score, 3);
  EXPECT_EQ(r->duel.capacity, 25u);
  EXPECT_TRUE(r->duel.lru.empty());
  EXPECT_EQ(r->duel.bimodal, o.duel.bimodal);
  EXPECT_EQ(r->probation.target, 517.25);
  EXPECT_EQ(r->probation.unread_ghost, o.probation.unread_ghost);
  EXPECT_EQ(r->probation.read_ghost, o.probation.read_ghost);
}

TEST_F(EvictionOrderTest, EmptyQueuesRoundTrip) {
  EvictionOrder empty;
  empty.sequence = 7;
  ASSERT_TRUE(WriteEvictionOrder(path_, empty).ok());
  auto r = ReadEvictionOrder(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sequence, 7u);
  EXPECT_TRUE(r->db_identity.empty());
  EXPECT_TRUE(r->lru.empty());
  EXPECT_TRUE(r->unread.empty());
}

TEST_F(EvictionOrderTest, AnIdentityOver256BytesOrAPageWithoutGenerationIsRefused) {
  EvictionOrder o;
  o.db_identity = std::string(257, 'x');
  EXPECT_EQ(WriteEvictionOrder(path_, o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path_));
  o = Sample();
  o.lru_generations.pop_back();
  EXPECT_EQ(WriteEvictionOrder(path_, o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(EvictionOrderTest, NoFileIsNotFound) {
  EXPECT_EQ(ReadEvictionOrder(path_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EvictionOrderTest, AnyFlippedByteIsDataLoss) {
  ASSERT_TRUE(WriteEvictionOrder(path_, Sample()).ok());
  const std::string good = file_.Contents();
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    file_.Overwrite(bad);
    EXPECT_EQ(ReadEvictionOrder(path_).status().code(), absl::StatusCode::kDataLoss)
        << "byte " << i;
  }
}

TEST_F(EvictionOrderTest, TruncatedOrExtendedIsDataLoss) {
  ASSERT_TRUE(WriteEvictionOrder(path_, Sample()).ok());
  const std::string good = file_.Contents();
  for (size_t n : {size_t{0}, size_t{7}, size_t{20}, good.size() - 20, good.size() - 1}) {
    file_.Overwrite(good.substr(0, n));
    EXPECT_EQ(ReadEvictionOrder(path_).status().code(), absl::StatusCode::kDataLoss)
        << n << " bytes";
  }
  file_.Overwrite(good + std::string(20, '\0'));
  EXPECT_EQ(ReadEvictionOrder(path_).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace prefixd::storage
