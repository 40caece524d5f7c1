// End-to-end: restarts of the real daemon after SIGTERM and SIGKILL, and on-disk corruption.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <filesystem>
#include <fstream>
#include <thread>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prefixd/v1/prefixd.grpc.pb.h"
#include "tests/daemon.h"
#include "util/crc32c.h"

namespace prefixd::testing {
namespace {

constexpr uint64_t kPage = 64 << 10;

TEST(Restart, SigtermLosesNothingAcknowledged) {
  TempDir dir("sigterm");
  Daemon d(dir.path() + "/data");
  d.Start();
  {
    auto c = d.Connect();
    auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
    ASSERT_TRUE(ns.ok());
    for (int ch = 0; ch < 25; ++ch) ASSERT_TRUE(PutTestChain(*c, *ns, 7, ch, 8).ok());
  }
  EXPECT_EQ(d.Stop(SIGTERM), 0);
  const std::string order = dir.path() + "/data/EVICTION-ORDER";
  EXPECT_TRUE(std::filesystem::exists(order)) << "a clean stop saves the eviction order";
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  EXPECT_FALSE(ns->created);
  EXPECT_TRUE(std::filesystem::exists(order)) << "read at start, and kept until the next save";
  for (int ch = 0; ch < 25; ++ch) {
    int wrong = -1;
    auto got = GetTestChain(*c, *ns, 7, ch, 8, &wrong);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, 8) << "chain " << ch;
    EXPECT_EQ(wrong, 0);
  }
  EXPECT_EQ(c->Stats()->pages(), 200u);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

TEST(Restart, SigtermFinishesTheRequestInFlight) {
  TempDir dir("drain");
  Daemon d(dir.path() + "/data");
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  // A put of 2 pages, half sent when SIGTERM arrives, completed during the grace period.
  auto channel = grpc::CreateChannel(d.target(), grpc::InsecureChannelCredentials());
  auto stub = v1::Prefixd::NewStub(channel);
  grpc::ClientContext ctx;
  v1::PutResponse resp;
  auto w = stub->Put(&ctx, &resp);
  std::vector<std::string> pages = {PageContent(11, 0, kPage), PageContent(11, 1, kPage)};
  auto keys = ChainKeys(11, 0, 2);
  v1::PutRequest msg;
  msg.mutable_header()->mutable_ns()->set_name("ns");
  msg.mutable_header()->mutable_ns()->set_id(ns->id);
  msg.mutable_header()->set_page_count(2);
  for (const auto& k : keys) msg.mutable_header()->mutable_chain()->add_keys(k);
  ASSERT_TRUE(w->Write(msg));
  auto frame = [&](int i) {
    v1::PutRequest m;
    m.mutable_frame()->set_size(kPage);
    m.mutable_frame()->set_crc32c(util::Crc32c(pages[i]));
    m.mutable_frame()->set_data(pages[i]);
    return m;
  };
  ASSERT_TRUE(w->Write(frame(0)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  d.Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(w->Write(frame(1)));
  w->WritesDone();
  auto s = w->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.pages_written(), 2u);
  EXPECT_EQ(d.Wait(), 0);
  d.Start();
  auto c2 = d.Connect();
  auto ns2 = c2->OpenNamespace("ns", TestFingerprint(kPage));
  int wrong = -1;
  auto got = GetTestChain(*c2, *ns2, 11, 0, 2, &wrong);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 2);
  EXPECT_EQ(wrong, 0);
}

// With --eviction-order-sync-seconds the order is saved at the first sync (no journal yet) and
// later uses go to its journal; a start after SIGKILL restores the save and replays the journal.
TEST(Restart, SigkillKeepsTheOrderAsOfTheLastSync) {
  TempDir dir("sigkill_order");
  const std::string data = dir.path() + "/data";
  Daemon d(data, {"--write-buffer-size", "1MiB", "--eviction-order-sync-seconds", "1"});
  d.Start();
  const std::string order = data + "/EVICTION-ORDER";
  {
    auto c = d.Connect();
    auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
    ASSERT_TRUE(ns.ok());
    for (int ch = 0; ch < 10; ++ch) ASSERT_TRUE(PutTestChain(*c, *ns, 9, ch, 4).ok());
    ASSERT_TRUE(c->Flush().ok());  // the kill below must not take these pages
    const auto flushed = std::filesystem::file_time_type::clock::now();
    auto saved_since = [&] {
      std::error_code ec;
      const auto t = std::filesystem::last_write_time(order, ec);
      return !ec && t > flushed;
    };
    // The save is renamed into place first, its journal created just after.
    const std::string journal = order + ".journal";
    for (int i = 0; i < 200 && !(saved_since() && std::filesystem::exists(journal)); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(saved_since()) << "no periodic save in 10 s";
    ASSERT_TRUE(std::filesystem::exists(journal));
    const auto empty = std::filesystem::file_size(journal);
    int wrong = -1;
    ASSERT_EQ(*GetTestChain(*c, *ns, 9, 3, 4, &wrong), 4);  // a use, for the journal
    for (int i = 0; i < 200 && std::filesystem::file_size(journal) == empty; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_GT(std::filesystem::file_size(journal), empty) << "no journal sync in 10 s";
    for (int ch = 10; ch < 12; ++ch) ASSERT_TRUE(PutTestChain(*c, *ns, 9, ch, 4).ok());
  }
  EXPECT_EQ(d.Stop(SIGKILL), 128 + SIGKILL);
  const auto log_before = std::filesystem::file_size(d.log_path());
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  std::ifstream in(d.log_path());
  in.seekg(std::streamoff(log_before));
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("eviction order restored: 40 pages as saved"), std::string::npos) << log;
  EXPECT_EQ(log.find("; 0 uses replayed from its journal"), std::string::npos) << log;
  EXPECT_NE(log.find("uses replayed from its journal"), std::string::npos) << log;
  // Every page that survived the kill (the chains saved, at least) is served byte-exact.
  for (int ch = 0; ch < 12; ++ch) {
    int wrong = -1;
    auto got = GetTestChain(*c, *ns, 9, ch, 4, &wrong);
    ASSERT_TRUE(got.ok()) << got.status();
    if (ch < 10) EXPECT_EQ(*got, 4) << "chain " << ch;
    EXPECT_EQ(wrong, 0);
  }
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

// Crash torture: a writer keeps putting chains while the daemon is SIGKILLed at a random
// moment, restarted and checked, for PREFIXD_TORTURE_CYCLES cycles (default 20; more in a long
// run). The budget is small, so generations are evicted as it goes. After every restart: every
// page served is byte-exact, the index agrees with the pages (Exists' prefix equals what Get
// returns, and the page count equals what can be read), the disk is within the budget, some
// pages of the cycle survived, and the daemon came back within seconds.
TEST(Restart, SigkillServesNothingWrong) {
  const char* env = std::getenv("PREFIXD_TORTURE_CYCLES");
  const int cycles = env ? std::atoi(env) : 20;
  constexpr uint64_t kCapacity = 24 << 20;
  TempDir dir("sigkill");
  // Small memtables: flushes happen during each cycle, so some of its pages must survive.
  Daemon d(dir.path() + "/data", {"--write-buffer-size", "1MiB", "--capacity", "24MiB"});
  std::mt19937 rng(20261128);
  int next_chain = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    auto t0 = std::chrono::steady_clock::now();
    d.Start();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10)) << cycle;
    auto c = d.Connect();
    auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
    ASSERT_TRUE(ns.ok()) << ns.status();
    const int first_chain = next_chain;
    std::atomic<bool> stop{false};
    std::atomic<int> written{next_chain};
    std::thread writer([&] {
      auto wc = d.Connect();
      for (int ch = first_chain; !stop; ++ch) {
        if (!PutTestChain(*wc, *ns, 8, ch, 6).ok()) break;
        written = ch + 1;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 400));
    EXPECT_EQ(d.Stop(SIGKILL), 128 + SIGKILL);
    stop = true;
    writer.join();
    next_chain = written + 1;

    d.Start();
    auto rc = d.Connect();
    auto rns = rc->OpenNamespace("ns", TestFingerprint(kPage));
    ASSERT_TRUE(rns.ok());
    // First the index's view (Exists never moves pages), compared with the counts; then every
    // page served, byte for byte (reads may promote pages and so evict others).
    uint64_t readable = 0, readable_this_cycle = 0;
    std::vector<uint32_t> prefix(next_chain);
    for (int ch = 0; ch < next_chain; ++ch) {
      auto e = rc->Exists(*rns, client::Chain::FromKeys(ChainKeys(8, ch, 6)));
      ASSERT_TRUE(e.ok());
      prefix[ch] = e->prefix_pages;
      for (bool p : e->present) {
        readable += p;
        if (ch >= first_chain) readable_this_cycle += p;
      }
    }
    auto stats = rc->Stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->pages(), readable) << "cycle " << cycle;
    for (int ch = 0; ch < next_chain; ++ch) {
      int wrong = -1;
      auto got = GetTestChain(*rc, *rns, 8, ch, 6, &wrong);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(wrong, 0) << "chain " << ch << " served wrong bytes";
      EXPECT_LE(uint32_t(*got), prefix[ch]) << "Get returned more than Exists promised, chain " << ch;
      // Asked back to back, the index and the pages agree exactly.
      auto e = rc->Exists(*rns, client::Chain::FromKeys(ChainKeys(8, ch, 6)));
      ASSERT_TRUE(e.ok());
      got = GetTestChain(*rc, *rns, 8, ch, 6, &wrong);
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(e->prefix_pages, uint32_t(*got)) << "index and pages disagree, chain " << ch;
    }
    EXPECT_LE(stats->disk_bytes(), kCapacity + kCapacity / 10) << "cycle " << cycle;
    EXPECT_GT(readable_this_cycle, 0u) << "nothing written in cycle " << cycle << " survived";
    EXPECT_EQ(d.Stop(SIGTERM), 0);
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(Restart, CorruptBlobBytesAreNeverServed) {
  TempDir dir("corrupt");
  Daemon d(dir.path() + "/data");
  d.Start();
  {
    auto c = d.Connect();
    auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
    for (int ch = 0; ch < 10; ++ch) ASSERT_TRUE(PutTestChain(*c, *ns, 9, ch, 4).ok());
  }
  ASSERT_EQ(d.Stop(SIGTERM), 0);
  // Flip bytes in the middle of every blob file (page payloads live there).
  int flipped = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path() + "/data")) {
    if (f.path().extension() != ".blob") continue;
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    auto size = std::filesystem::file_size(f.path());
    for (uint64_t off = size / 3; off < size; off += size / 5) {
      io.seekg(off);
      char b = 0;
      io.read(&b, 1);
      io.seekp(off);
      b = static_cast<char>(b ^ 0x5a);
      io.write(&b, 1);
      ++flipped;
    }
  }
  ASSERT_GT(flipped, 0) << "no blob files found";
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("ns", TestFingerprint(kPage));
  int served = 0;
  std::vector<int> served_of(10);
  for (int ch = 0; ch < 10; ++ch) {
    int wrong = -1;
    auto got = GetTestChain(*c, *ns, 9, ch, 4, &wrong);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(wrong, 0) << "chain " << ch;
    served += *got;
    served_of[ch] = *got;
  }
  EXPECT_LT(served, 40);
  auto stats = c->Stats();
  EXPECT_GT(stats->namespaces(0).corrupt_dropped(), 0u);
  EXPECT_EQ(stats->pages(), 40u - stats->namespaces(0).corrupt_dropped());
  // Each page not served has its cause: a corrupt page ends its chain's get, the pages
  // behind it are stranded.
  const auto& n = stats->namespaces(0);
  EXPECT_EQ(n.miss_corrupt(), n.corrupt_dropped());
  EXPECT_EQ(n.misses(), n.miss_corrupt() + n.miss_stranded() + n.miss_not_stored() +
                            n.miss_evicted());
  EXPECT_EQ(n.misses(), 40u - served);

  // The pages dropped are remembered: a later miss on one is "corrupt", not "never written",
  // and Explain names it.
  int chains_cut = 0;
  for (int ch = 0; ch < 10; ++ch) {
    if (served_of[ch] == 4) continue;
    ++chains_cut;
    auto e = c->Explain(*ns, client::Chain::FromKeys(ChainKeys(9, ch, 4)));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->prefix_pages(), static_cast<uint32_t>(served_of[ch])) << "chain " << ch;
    EXPECT_EQ(e->pages(served_of[ch]).state(), v1::PageState::CORRUPT) << "chain " << ch;
    int wrong = -1;
    auto again = GetTestChain(*c, *ns, 9, ch, 4, &wrong);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, served_of[ch]) << "chain " << ch;
  }
  ASSERT_GT(chains_cut, 0);
  auto after = c->Stats();
  const auto& m = after->namespaces(0);
  EXPECT_EQ(m.corrupt_dropped(), n.corrupt_dropped());  // nothing new dropped
  EXPECT_EQ(m.miss_corrupt(), n.miss_corrupt() + chains_cut);
  EXPECT_EQ(m.miss_not_stored(), n.miss_not_stored());

  // A restart remembers them too (markers in the meta family).
  auto restart = [&] {
    c.reset();
    ASSERT_EQ(d.Stop(SIGTERM), 0);
    d.Start();
    c = d.Connect();
    ns = c->OpenNamespace("ns", TestFingerprint(kPage));
    ASSERT_TRUE(ns.ok());
  };
  restart();
  int cut_chain = -1;
  for (int ch = 0; ch < 10; ++ch) {
    if (served_of[ch] == 4) continue;
    if (cut_chain < 0) cut_chain = ch;
    auto e = c->Explain(*ns, client::Chain::FromKeys(ChainKeys(9, ch, 4)));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->pages(served_of[ch]).state(), v1::PageState::CORRUPT)
        << "chain " << ch << " after a restart";
    int wrong = -1;
    auto again = GetTestChain(*c, *ns, 9, ch, 4, &wrong);
    ASSERT_TRUE(again.ok()) << again.status();
  }
  auto restarted = c->Stats();
  EXPECT_EQ(restarted->namespaces(0).miss_corrupt(), uint64_t(chains_cut));
  EXPECT_EQ(restarted->namespaces(0).miss_not_stored(), 0u);

  // Written again, a key is forgotten as corrupt, and stays forgotten across a restart: once
  // deleted, it is "never written", not "corrupt".
  ASSERT_TRUE(PutTestChain(*c, *ns, 9, cut_chain, 4).ok());
  ASSERT_TRUE(c->Delete(*ns, client::Chain::FromKeys(ChainKeys(9, cut_chain, 4))).ok());
  restart();
  auto e = c->Explain(*ns, client::Chain::FromKeys(ChainKeys(9, cut_chain, 4)));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->prefix_pages(), 0u);
  EXPECT_EQ(e->pages(0).state(), v1::PageState::NOT_STORED);
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace prefixd::testing
