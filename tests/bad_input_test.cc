// End-to-end: every bad input gets its status code, and nothing wrong is written.
#include <signal.h>

#include <thread>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prefixd/v1/prefixd.grpc.pb.h"
#include "tests/daemon.h"
#include "util/crc32c.h"

namespace prefixd::testing {
namespace {

constexpr uint64_t kPage = 8192;

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("badinput");
    daemon_ = new Daemon(dir_->path() + "/data",
                         {"--max-inflight-bytes", "64KiB", "--batch-bytes", "64KiB", "--frame-bytes", "16KiB",
                          "--admission-wait-ms", "300"});
    daemon_->Start();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(daemon_->Stop(SIGTERM), 0);
    delete daemon_;
    delete dir_;
  }
  void SetUp() override {
    client_ = daemon_->Connect();
    auto ns = client_->OpenNamespace("bad", TestFingerprint(kPage));
    ASSERT_TRUE(ns.ok()) << ns.status();
    ns_ = *ns;
    auto channel = grpc::CreateChannel(daemon_->target(), grpc::InsecureChannelCredentials());
    stub_ = v1::Prefixd::NewStub(channel);
  }
  v1::NamespaceRef Ref() const {
    v1::NamespaceRef r;
    r.set_name(ns_.name);
    r.set_id(ns_.id);
    return r;
  }
  // Sends a raw put: header for `count` pages, then `frames`; returns the final status.
  grpc::Status RawPut(uint32_t count, const std::vector<v1::PageFrame>& frames,
                      bool cancel_at_end = false) {
    grpc::ClientContext ctx;
    v1::PutResponse resp;
    auto w = stub_->Put(&ctx, &resp);
    v1::PutRequest msg;
    *msg.mutable_header()->mutable_ns() = Ref();
    msg.mutable_header()->set_page_count(count);
    w->Write(msg);
    for (const auto& f : frames) {
      msg.Clear();
      *msg.mutable_frame() = f;
      if (!w->Write(msg)) break;
    }
    if (cancel_at_end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ctx.TryCancel();
    } else {
      w->WritesDone();
    }
    return w->Finish();
  }
  static v1::PageFrame First(const std::string& key, const std::string& data, uint64_t size) {
    v1::PageFrame f;
    f.set_key(key);
    f.set_size(size);
    f.set_crc32c(util::Crc32c(data));
    f.set_data(data);
    return f;
  }
  bool Present(const std::string& key) {
    auto e = client_->Exists(ns_, client::Chain::FromKeys({key}));
    return e.ok() && e->present[0];
  }

  static TempDir* dir_;
  static Daemon* daemon_;
  std::unique_ptr<client::Client> client_;
  client::Namespace ns_;
  std::unique_ptr<v1::Prefixd::Stub> stub_;
};

TempDir* BadInput::dir_ = nullptr;
Daemon* BadInput::daemon_ = nullptr;

TEST_F(BadInput, UnknownNamespaceIsNotFound) {
  client::Namespace ghost{"ghost", 1, TestFingerprint(kPage), false};
  auto e = client_->Exists(ghost, client::Chain::FromKeys({"k"}));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  std::string page(kPage, 'x');
  std::vector<std::string_view> v = {page};
  EXPECT_EQ(client_->Put(ghost, client::Chain::FromKeys({"k"}), v).status().code(),
            absl::StatusCode::kNotFound);
  // Without the id OpenNamespace returns, page requests are refused outright.
  client::Namespace unopened = ns_;
  unopened.id = 0;
  auto e0 = client_->Exists(unopened, client::Chain::FromKeys({"k"}));
  EXPECT_EQ(e0.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(e0.status().message().find("OpenNamespace"), absl::string_view::npos);
  EXPECT_EQ(client_->Get(unopened, client::Chain::FromKeys({"k"})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BadInput, FingerprintMismatchIsRefusedNamingTheFields) {
  auto fp = TestFingerprint(kPage);
  fp.set_dtype("fp8_e4m3");
  fp.set_tp_size(2);
  auto r = client_->OpenNamespace("bad", fp);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("dtype"), absl::string_view::npos) << r.status();
  EXPECT_NE(r.status().message().find("tp_size"), absl::string_view::npos) << r.status();
  fp = TestFingerprint(kPage);
  fp.set_page_bytes(0);
  EXPECT_EQ(client_->OpenNamespace("other", fp).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->OpenNamespace("bad name", TestFingerprint(kPage)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BadInput, StaleNamespaceIdIsFailedPrecondition) {
  auto tmp = client_->OpenNamespace("recreated", TestFingerprint(kPage));
  ASSERT_TRUE(tmp.ok());
  ASSERT_TRUE(client_->DeleteNamespace("recreated", tmp->id).ok());
  ASSERT_TRUE(client_->OpenNamespace("recreated", TestFingerprint(kPage)).ok());
  EXPECT_EQ(client_->Exists(*tmp, client::Chain::FromKeys({"k"})).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(BadInput, WrongPageSizeIsInvalidAndNotWritten) {
  std::string small(kPage - 1, 'a');
  EXPECT_EQ(RawPut(1, {First("size-k", small, small.size())}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Declared right, but more data than declared.
  std::string big(kPage + 1, 'a');
  EXPECT_EQ(RawPut(1, {First("size-k", big, kPage)}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(Present("size-k"));
}

TEST_F(BadInput, ChecksumMismatchIsDataLossAndNotWritten) {
  std::string page(kPage, 'c');
  auto f = First("crc-k", page, kPage);
  f.set_crc32c(f.crc32c() ^ 1);
  EXPECT_EQ(RawPut(1, {f}).error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_FALSE(Present("crc-k"));
}

TEST_F(BadInput, EmptyAndOverlongChainsAndBadKeysAreInvalid) {
  auto code = [&](const client::Chain& ch) { return client_->Exists(ns_, ch).status().code(); };
  EXPECT_EQ(code(client::Chain::FromKeys({})), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> many(65537, "k");
  EXPECT_EQ(code(client::Chain::FromKeys(many)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(client::Chain::FromKeys({std::string(65, 'k')})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(client::Chain::FromKeys({""})), absl::StatusCode::kInvalidArgument);
  client::Chain both = client::Chain::FromKeys({"k"});
  both.token_ids = {1, 2, 3};
  EXPECT_EQ(code(both), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(client::Chain::FromTokens({1, 2, 3})), absl::StatusCode::kInvalidArgument)
      << "fewer tokens than one page";
  EXPECT_EQ(RawPut(0, {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::string page(kPage, 'k');
  EXPECT_EQ(RawPut(1, {First(std::string(65, 'k'), page, kPage)}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(RawPut(1, {First("", page, kPage)}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BadInput, StreamCutShortWritesNothingOfThePartialPage) {
  std::string a(kPage, 'a'), b(kPage, 'b');
  v1::PageFrame half = First("cut-1", b, kPage);
  half.set_data(b.substr(0, kPage / 2));
  // Half-closed early: the complete page is kept, the partial one is not written.
  auto s = RawPut(2, {First("cut-0", a, kPage), half});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(Present("cut-0"));
  EXPECT_FALSE(Present("cut-1"));
  // Cancelled mid-page: nothing of the page is written.
  v1::PageFrame half2 = First("cut-2", b, kPage);
  half2.set_data(b.substr(0, kPage / 2));
  EXPECT_EQ(RawPut(1, {half2}, /*cancel_at_end=*/true).error_code(), grpc::StatusCode::CANCELLED);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(Present("cut-2"));
  // Too many frames for the declared count: the batch that holds them is not written.
  EXPECT_EQ(RawPut(1, {First("cut-3", a, kPage), First("cut-4", a, kPage)}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(Present("cut-3"));
  EXPECT_FALSE(Present("cut-4"));
}

TEST_F(BadInput, AdmissionControlRefusesBeyondTheInflightBudget) {
  // The daemon allows 64 KiB in flight and a put of 8 pages holds 64 KiB: a second concurrent
  // put waits 300 ms, then gets RESOURCE_EXHAUSTED. The first still completes.
  grpc::ClientContext hold_ctx;
  v1::PutResponse hold_resp;
  auto hold = stub_->Put(&hold_ctx, &hold_resp);
  v1::PutRequest msg;
  *msg.mutable_header()->mutable_ns() = Ref();
  msg.mutable_header()->set_page_count(8);
  std::string page(kPage, 'h');
  auto first = First("hold-0", page, kPage);
  *msg.mutable_frame() = first;
  ASSERT_TRUE(hold->Write(msg));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the lease is taken

  std::vector<std::string_view> one = {page};
  auto busy = client_->Put(ns_, client::Chain::FromKeys({"busy-0"}), one);
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kResourceExhausted) << busy.status();
  auto stats = client_->Stats();
  EXPECT_GE(stats->rejected_busy(), 1u);
  EXPECT_EQ(stats->inflight_bytes(), 8 * kPage);

  for (int i = 1; i < 8; ++i) {
    msg.Clear();
    *msg.mutable_frame() = First("hold-" + std::to_string(i), page, kPage);
    ASSERT_TRUE(hold->Write(msg));
  }
  hold->WritesDone();
  ASSERT_TRUE(hold->Finish().ok());
  EXPECT_EQ(hold_resp.pages_written(), 8u);
  EXPECT_TRUE(client_->Put(ns_, client::Chain::FromKeys({"busy-0"}), one).ok());
  EXPECT_EQ(client_->Stats()->inflight_bytes(), 0u);
}

}  // namespace
}  // namespace prefixd::testing

namespace prefixd::testing {
namespace {

// A client that opens a put stream and stalls holds a server thread and the in-flight budget:
// the daemon cancels the stream once it has been idle for --stream-idle-timeout-seconds.
TEST(IdleStreams, AreCancelledAndTheirBudgetReturns) {
  TempDir dir("idle");
  Daemon d(dir.path() + "/data",
           {"--max-inflight-bytes", "64KiB", "--batch-bytes", "64KiB", "--frame-bytes", "16KiB",
            "--admission-wait-ms", "300", "--stream-idle-timeout-seconds", "1"});
  d.Start();
  auto c = d.Connect();
  auto ns = c->OpenNamespace("idle", TestFingerprint(kPage));
  ASSERT_TRUE(ns.ok());
  auto stub = v1::Prefixd::NewStub(
      grpc::CreateChannel(d.target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::PutResponse resp;
  auto stalled = stub->Put(&ctx, &resp);
  v1::PutRequest msg;
  msg.mutable_header()->mutable_ns()->set_name("idle");
  msg.mutable_header()->mutable_ns()->set_id(ns->id);
  msg.mutable_header()->set_page_count(8);
  std::string page(kPage, 's');
  msg.mutable_frame()->set_key("s0");
  msg.mutable_frame()->set_size(kPage);
  msg.mutable_frame()->set_crc32c(util::Crc32c(page));
  msg.mutable_frame()->set_data(page);
  ASSERT_TRUE(stalled->Write(msg));  // ... and then nothing more
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::vector<std::string_view> one = {page};
  EXPECT_EQ(c->Put(*ns, client::Chain::FromKeys({"other"}), one).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  auto after = c->Put(*ns, client::Chain::FromKeys({"other"}), one);
  EXPECT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(c->Stats()->inflight_bytes(), 0u);
  EXPECT_FALSE(stalled->Finish().ok());
  EXPECT_EQ(d.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace prefixd::testing
