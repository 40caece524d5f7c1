#include "server/config.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace prefixd::server {
namespace {

absl::Status Parse(ServerConfig& c, std::vector<std::string> args) {
  std::vector<char*> argv = {const_cast<char*>("prefixd")};
  for (auto& a : args) argv.push_back(a.data());
  auto r = c.ParseArgs(static_cast<int>(argv.size()), argv.data());
  return r.status();
}

TEST(ServerConfig, DefaultsAreValid) {
  ServerConfig c;
  EXPECT_TRUE(c.Validate().ok());
  EXPECT_EQ(c.listen, "127.0.0.1:50051");
  EXPECT_EQ(c.data_dir, "./var/prefixd");
}

TEST(ServerConfig, FlagsInBothForms) {
  ServerConfig c;
  ASSERT_TRUE(Parse(c, {"--listen", "0.0.0.0:1", "--capacity=10GiB", "--unix", "/tmp/p.sock"}).ok());
  EXPECT_EQ(c.listen, "0.0.0.0:1");
  EXPECT_EQ(c.capacity_bytes, 10ull << 30);
  EXPECT_EQ(c.unix_path, "/tmp/p.sock");
}

TEST(ServerConfig, BadFlagsAreRefusedWithTheirName) {
  ServerConfig c;
  auto s = Parse(c, {"--capacity", "lots"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("capacity"), absl::string_view::npos);
  EXPECT_FALSE(Parse(c, {"--no-such-flag", "1"}).ok());
  EXPECT_FALSE(Parse(c, {"--listen"}).ok());
  ServerConfig bad;
  bad.listen = "nocolon";
  EXPECT_FALSE(bad.Validate().ok());
  bad = ServerConfig();
  bad.log_level = "chatty";
  EXPECT_FALSE(bad.Validate().ok());
}

TEST(ServerConfig, FileThenFlagsWin) {
  auto path = std::filesystem::path(::testing::TempDir()) / "prefixd_config_test.conf";
  {
    std::ofstream f(path);
    f << "# a comment\nlisten = 127.0.0.1:6000\ncapacity = 512MiB  # trailing comment\n\n"
         "data-dir = /srv/prefixd\n";
  }
  ServerConfig c;
  ASSERT_TRUE(Parse(c, {"--listen", "127.0.0.1:7000", "--config", path.string()}).ok());
  EXPECT_EQ(c.listen, "127.0.0.1:7000");
  EXPECT_EQ(c.capacity_bytes, 512ull << 20);
  EXPECT_EQ(c.data_dir, "/srv/prefixd");
  {
    std::ofstream f(path);
    f << "listen 127.0.0.1:1\n";
  }
  ServerConfig d;
  auto s = Parse(d, {"--config", path.string()});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(":1:"), absl::string_view::npos) << s;
  EXPECT_EQ(Parse(d, {"--config", "/no/such/file"}).code(), absl::StatusCode::kNotFound);
  std::filesystem::remove(path);
}

TEST(ServerConfig, DescribeRoundTripsThroughAFile) {
  ServerConfig c;
  c.capacity_bytes = 123456;
  c.unix_path = "/run/x.sock";
  auto path = std::filesystem::path(::testing::TempDir()) / "prefixd_describe_test.conf";
  {
    std::ofstream f(path);
    f << c.Describe();
  }
  ServerConfig d;
  ASSERT_TRUE(d.LoadFile(path.string()).ok());
  EXPECT_EQ(d.Describe(), c.Describe());
  std::filesystem::remove(path);
}

TEST(ServerConfig, ControllerHysteresisIsBounded) {
  ServerConfig c;
  ASSERT_TRUE(Parse(c, {"--controller-threshold", "50", "--controller-patience=4"}).ok());
  EXPECT_EQ(c.controller_threshold_percent, 50u);
  EXPECT_EQ(c.controller_patience, 4u);
  ServerConfig bad;
  bad.controller_patience = 0;
  EXPECT_NE(bad.Validate().message().find("controller-patience"), absl::string_view::npos);
  bad = ServerConfig();
  bad.controller_threshold_percent = 100;
  EXPECT_NE(bad.Validate().message().find("controller-threshold"), absl::string_view::npos);
  EXPECT_FALSE(Parse(c, {"--controller-threshold", "-5"}).ok());
}

TEST(ServerConfig, PromoteFractionIsAFraction) {
  ServerConfig c;
  ASSERT_TRUE(Parse(c, {"--promote-fraction", "0.25"}).ok());
  EXPECT_DOUBLE_EQ(c.promote_fraction, 0.25);
  ASSERT_TRUE(Parse(c, {"--promote-fraction=0"}).ok());
  EXPECT_DOUBLE_EQ(c.promote_fraction, 0);
  for (const char* bad : {"1.5", "-0.1", "lots", "nan"}) {
    auto s = Parse(c, {"--promote-fraction", bad});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("promote-fraction"), absl::string_view::npos) << s;
  }
}

TEST(ServerConfig, PromoteBudgetIsAFraction) {
  ServerConfig c;
  EXPECT_DOUBLE_EQ(c.promote_budget, 0.1);
  ASSERT_TRUE(Parse(c, {"--promote-budget", "0.05"}).ok());
  EXPECT_DOUBLE_EQ(c.promote_budget, 0.05);
  for (const char* bad : {"1.5", "-0.1", "some"}) {
    auto s = Parse(c, {"--promote-budget", bad});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("promote-budget"), absl::string_view::npos) << s;
  }
}

TEST(ServerConfig, TheShippedExampleLoads) {
  ServerConfig c;
  auto s = c.LoadFile(PREFIXD_EXAMPLE_CONFIG);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(c.Validate().ok());
  EXPECT_EQ(c.controller_patience, 2u);
}

}  // namespace
}  // namespace prefixd::server
