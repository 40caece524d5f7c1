// End-to-end: the real prefixd binary on a loopback port, driven through the client library.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "tests/daemon.h"

namespace prefixd::testing {
namespace {

TEST(RoundTrip, ThousandPagesOfOneMiBAreByteExact) {
  TempDir dir("roundtrip");
  Daemon d(dir.path() + "/data");
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("llama", TestFingerprint(1 << 20));
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_TRUE(ns->created);
  constexpr int kChains = 50, kPerChain = 20;  // 1,000 pages of 1 MiB
  for (int ch = 0; ch < kChains; ++ch) {
    ASSERT_TRUE(PutTestChain(*c, *ns, 1, ch, kPerChain).ok()) << ch;
  }
  int verified = 0;
  for (int ch = 0; ch < kChains; ++ch) {
    int wrong = -1;
    auto got = GetTestChain(*c, *ns, 1, ch, kPerChain, &wrong);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, kPerChain);
    EXPECT_EQ(wrong, 0);
    verified += *got - wrong;
  }
  EXPECT_EQ(verified, 1000);
  auto stats = c->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pages(), 1000u);
  EXPECT_EQ(stats->bytes(), 1000ull << 20);
  ASSERT_EQ(stats->namespaces_size(), 1);
  EXPECT_EQ(stats->namespaces(0).hits(), 1000u);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(RoundTrip, ExistsAnswersThePresentPrefixAndPutIsIdempotent) {
  TempDir dir("exists");
  Daemon d(dir.path() + "/data");
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("ns", TestFingerprint(4096));
  ASSERT_TRUE(ns.ok());
  auto first = PutTestChain(*c, *ns, 2, 0, 5);
  ASSERT_TRUE(first.ok()) << first.ToString();
  ASSERT_TRUE(PutTestChain(*c, *ns, 2, 0, 5).ok());  // again: idempotent
  auto keys = ChainKeys(2, 0, 8);
  auto e = c->Exists(*ns, client::Chain::FromKeys(keys));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->prefix_pages, 5u);
  EXPECT_EQ(e->present, (std::vector<bool>{1, 1, 1, 1, 1, 0, 0, 0}));
  // A hole in the middle: the prefix stops there; later pages still answer per page.
  auto deleted = c->Delete(*ns, client::Chain::FromKeys({keys[2], keys[7]}));
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1u);  // keys[7] was never written
  e = c->Exists(*ns, client::Chain::FromKeys(keys));
  EXPECT_EQ(e->prefix_pages, 2u);
  EXPECT_TRUE(e->present[3]);
  auto g = c->Get(*ns, client::Chain::FromKeys(keys));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->pages.size(), 2u);
  EXPECT_EQ(g->stop, v1::GetDone::ABSENT);
  auto stats = c->Stats();
  EXPECT_EQ(stats->pages(), 4u);
  EXPECT_EQ(stats->namespaces(0).put_existing(), 5u);
}

TEST(RoundTrip, TokenIdsGiveEveryClientTheSameKeys) {
  TempDir dir("tokens");
  Daemon d(dir.path() + "/data");
  d.Start();
  auto writer = d.Connect();
  auto reader = d.Connect();
  auto ns = writer->OpenNamespace("tok", TestFingerprint(4096, 4));
  auto ns2 = reader->OpenNamespace("tok", TestFingerprint(4096, 4));
  ASSERT_TRUE(ns.ok() && ns2.ok());
  std::vector<uint32_t> tokens;
  for (uint32_t i = 0; i < 14; ++i) tokens.push_back(1000 + i);  // 3 full pages + 2 tokens
  std::vector<std::string> data = {PageContent(3, 0, 4096), PageContent(3, 1, 4096),
                                   PageContent(3, 2, 4096)};
  std::vector<std::string_view> views(data.begin(), data.end());
  auto put = writer->Put(*ns, client::Chain::FromTokens(tokens), views);
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->keys.size(), 3u);
  EXPECT_EQ(put->keys[0].size(), 32u);
  auto e = reader->Exists(*ns2, client::Chain::FromTokens(tokens));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->prefix_pages, 3u);
  EXPECT_EQ(e->keys, put->keys);
  // The same pages by their derived keys, and the tail continued from a parent key.
  auto g = reader->Get(*ns2, client::Chain::FromKeys(put->keys));
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->pages.size(), 3u);
  EXPECT_EQ(g->pages[2], data[2]);
  std::vector<uint32_t> tail(tokens.begin() + 8, tokens.begin() + 12);
  auto t = reader->Get(*ns2, client::Chain::FromTokens(tail, put->keys[1]));
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->pages.size(), 1u);
  EXPECT_EQ(t->pages[0], data[2]);
  // Different tokens earlier in the prompt: a different prefix, so no hit.
  tokens[0] = 7;
  EXPECT_EQ(reader->Exists(*ns2, client::Chain::FromTokens(tokens))->prefix_pages, 0u);
}

TEST(RoundTrip, SixteenConcurrentClientsSeeCorrectData) {
  TempDir dir("concurrent");
  Daemon d(dir.path() + "/data");
  d.Start();
  constexpr int kClients = 16, kRounds = 6, kPerChain = 4;
  constexpr uint64_t kPage = 256 << 10;
  {
    auto c = d.Connect();
    ASSERT_TRUE(c->OpenNamespace("shared", TestFingerprint(kPage)).ok());
  }
  std::atomic<int> failures{0}, wrong_pages{0}, verified{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      auto c = d.Connect();
      auto ns = c->OpenNamespace("shared", TestFingerprint(kPage));
      if (!ns.ok()) {
        ++failures;
        return;
      }
      for (int r = 0; r < kRounds; ++r) {
        int own = t * 100 + r + 1;  // never 0, the shared chain
        // Every client also writes chain 0 (the same bytes): idempotent under races.
        for (int chain : {own, 0}) {
          if (!PutTestChain(*c, *ns, 4, chain, kPerChain).ok()) ++failures;
        }
        for (int chain : {own, 0, (t + 1) % kClients * 100 + 1}) {
          int wrong = 0;
          auto got = GetTestChain(*c, *ns, 4, chain, kPerChain, &wrong);
          if (!got.ok()) {
            ++failures;
            continue;
          }
          wrong_pages += wrong;
          verified += *got - wrong;
          if (chain != (t + 1) % kClients * 100 + 1 && *got != kPerChain) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(wrong_pages.load(), 0);
  EXPECT_GE(verified.load(), kClients * kRounds * 2 * kPerChain);
  auto c = d.Connect();
  auto stats = c->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pages(), uint64_t(kClients * kRounds + 1) * kPerChain);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(RoundTrip, PagesOf64MiBStreamInFrames) {
  TempDir dir("bigpages");
  Daemon d(dir.path() + "/data");
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("big", TestFingerprint(64 << 20));
  ASSERT_TRUE(ns.ok()) << ns.status();
  auto put = PutTestChain(*c, *ns, 6, 0, 2);
  ASSERT_TRUE(put.ok()) << put.ToString();
  int wrong = -1;
  auto got = GetTestChain(*c, *ns, 6, 0, 2, &wrong);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 2);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(RoundTrip, UnixSocketListener) {
  TempDir dir("unix");
  std::string sock = dir.path() + "/prefixd.sock";
  Daemon d(dir.path() + "/data", {"--unix", sock});
  d.Start();
  client::ClientOptions o;
  o.target = "unix://" + sock;
  auto c = client::Client::Connect(o);
  ASSERT_TRUE(c.ok());
  auto ns = (*c)->OpenNamespace("uds", TestFingerprint(65536));
  ASSERT_TRUE(ns.ok()) << ns.status();
  ASSERT_TRUE(PutTestChain(**c, *ns, 5, 0, 3).ok());
  int wrong = -1;
  auto got = GetTestChain(**c, *ns, 5, 0, 3, &wrong);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 3);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
  EXPECT_FALSE(std::filesystem::exists(sock));
}

}  // namespace
}  // namespace prefixd::testing
