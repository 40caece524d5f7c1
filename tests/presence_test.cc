// End-to-end: Exists answered from the namespace's presence table (shm/presence.h). The real
// daemon with --shm-socket; a shared-memory client, whose Exists of a chain of keys reads the
// table its arena's registration brought, and a byte client, whose Exists asks the daemon:
// the two must agree through puts, deletes, eviction, TTL, a namespace deleted and a restart,
// and the daemon must not hear the shared-memory client's questions.
#include <signal.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/daemon.h"

namespace prefixd::testing {
namespace {

constexpr uint64_t kPage = 64 << 10;
constexpr int kChain = 8;

class PresenceTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = std::make_unique<TempDir>("presence"); }

  void StartDaemon(std::vector<std::string> extra = {}) {
    socket_ = dir_->path() + "/shm.sock";
    extra.insert(extra.begin(), {"--shm-socket", socket_});
    daemon_ = std::make_unique<Daemon>(dir_->path() + "/data", extra);
    daemon_->Start();
    auto o = daemon_->Options();
    o.shm_socket = socket_;
    o.shm_arena_bytes = 16 << 20;
    o.shm_required = true;
    auto c = client::Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status();
    shm_ = *std::move(c);
    bytes_ = daemon_->Connect();
  }

  // Exists of chain `chain` from both clients; they must agree. Returns the pages present.
  int Agree(const client::Namespace& ns, int chain, const std::string& when) {
    auto keys = ChainKeys(1, chain, kChain);
    auto a = shm_->Exists(ns, client::Chain::FromKeys(keys));
    auto b = bytes_->Exists(ns, client::Chain::FromKeys(keys));
    EXPECT_TRUE(a.ok() && b.ok()) << a.status() << " " << b.status() << " " << when;
    if (!a.ok() || !b.ok()) return -1;
    EXPECT_EQ(a->present, b->present) << "chain " << chain << " " << when;
    EXPECT_EQ(a->prefix_pages, b->prefix_pages) << "chain " << chain << " " << when;
    return static_cast<int>(std::count(a->present.begin(), a->present.end(), true));
  }

  // The daemon's Exists counts, pages asked and present, all namespaces together.
  std::pair<uint64_t, uint64_t> ExistsCounted() {
    auto s = bytes_->Stats();
    EXPECT_TRUE(s.ok()) << s.status();
    std::pair<uint64_t, uint64_t> n{0, 0};
    if (s.ok()) {
      for (const auto& ns : s->namespaces()) {
        n.first += ns.exists_queries();
        n.second += ns.exists_hits();
      }
    }
    return n;
  }

  std::unique_ptr<TempDir> dir_;
  std::string socket_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<client::Client> shm_, bytes_;
};

TEST_F(PresenceTest, TheTableAgreesWithTheDaemonAndSparesItTheQuestions) {
  StartDaemon();
  auto ns = shm_->OpenNamespace("p", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok()) << ns.status();
  for (int ch = 0; ch < 6; ++ch) ASSERT_TRUE(PutTestChain(*shm_, *ns, 1, ch, kChain).ok());
  auto keys = ChainKeys(1, 2, kChain);
  ASSERT_TRUE(shm_->Delete(*ns, client::Chain::FromKeys({keys.begin() + 3, keys.end()})).ok());
  const auto before = ExistsCounted();
  for (int ch = 0; ch < 10; ++ch) {
    auto e = shm_->Exists(*ns, client::Chain::FromKeys(ChainKeys(1, ch, kChain)));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->prefix_pages, ch == 2 ? 3u : ch < 6 ? uint32_t{kChain} : 0u) << ch;
  }
  EXPECT_EQ(ExistsCounted(), before) << "the shared-memory client asked the daemon";
  // Its next get reports what it found, for the daemon's counts.
  int wrong = 0;
  ASSERT_TRUE(GetTestChain(*shm_, *ns, 1, 0, kChain, &wrong).ok());
  const auto after = ExistsCounted();
  EXPECT_EQ(after.first - before.first, 10u * kChain);
  EXPECT_EQ(after.second - before.second, 5u * kChain + 3);
  for (int ch = 0; ch < 10; ++ch) Agree(*ns, ch, "after puts and a delete");
  // A restart: the client registers its arena again and gets the new daemon's table.
  EXPECT_EQ(daemon_->Stop(SIGTERM), 0);
  daemon_->Start();
  ASSERT_TRUE(PutTestChain(*shm_, *ns, 1, 7, kChain).ok());
  int present = 0;
  for (int ch = 0; ch < 10; ++ch) present += Agree(*ns, ch, "after a restart");
  EXPECT_EQ(present, 7 * kChain - 5);
  // The namespace deleted: the table stops answering, and the daemon's refusal comes back.
  ASSERT_TRUE(bytes_->DeleteNamespace("p", ns->id).ok());
  auto gone = shm_->Exists(*ns, client::Chain::FromKeys(ChainKeys(1, 0, kChain)));
  EXPECT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(),
            bytes_->Exists(*ns, client::Chain::FromKeys(ChainKeys(1, 0, kChain))).status().code());
}

TEST_F(PresenceTest, EvictionAndTtlReachTheTable) {
  StartDaemon({"--capacity", "32MiB"});
  auto ns = shm_->OpenNamespace("evict", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok()) << ns.status();
  constexpr int kChains = 120;  // 60 MiB through a 32 MiB budget
  for (int ch = 0; ch < kChains; ++ch) ASSERT_TRUE(PutTestChain(*shm_, *ns, 1, ch, kChain).ok());
  int present = 0, first_present = -1;
  for (int ch = 0; ch < kChains; ++ch) {
    const int n = Agree(*ns, ch, "after eviction");
    if (n > 0 && first_present < 0) first_present = ch;
    present += n;
  }
  EXPECT_GT(first_present, 0) << "nothing was evicted";
  EXPECT_GT(present, 0);
  // A TTL set now covers every page after a second or two.
  ASSERT_TRUE(shm_->OpenNamespace("evict", TestFingerprint(kPage), {.ttl_seconds = 1}).ok());
  absl::SleepFor(absl::Milliseconds(2100));
  present = 0;
  for (int ch = 0; ch < kChains; ++ch) present += Agree(*ns, ch, "past the TTL");
  EXPECT_EQ(present, 0);
}

}  // namespace
}  // namespace prefixd::testing
