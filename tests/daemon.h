// Test harness: runs the real `prefixd` binary as a child process on a free loopback port with
// its own data directory, and stops it with real signals. Not thread-safe: one test thread
// owns a Daemon.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "client/client.h"

namespace prefixd::testing {

// A fresh, empty directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Daemon {
 public:
  // `extra_args` are appended to --listen/--data-dir. The daemon's output goes to `log_path`
  // (default: the data directory's path + ".log").
  Daemon(std::string data_dir, std::vector<std::string> extra_args = {}, std::string log_path = "");
  ~Daemon();  // SIGKILLs a daemon still running

  // Starts the daemon and waits (up to 30 s) until it reports SERVING. Keeps the port across
  // restarts. The daemon is SIGKILLed when the thread that started it exits (PR_SET_PDEATHSIG),
  // so that a test that aborts leaves no daemon behind: call it from the test's thread.
  void Start();
  // Sends `signal` and waits for exit; returns the exit code (or 128 + signal if killed).
  int Stop(int signal);
  // Sends `signal` without waiting; Wait() then reaps the daemon like Stop.
  void Signal(int signal);
  int Wait();
  bool running() const { return pid_ > 0; }

  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  // Client options with this daemon's target and fast retries, for tests.
  client::ClientOptions Options() const;
  // A client with Options().
  std::unique_ptr<client::Client> Connect() const;
  const std::string& log_path() const { return log_path_; }

 private:
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The path of a binary built by this project (prefixd, prefixctl, prefixd-bench).
std::string BinaryPath(const std::string& name);

// A port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Deterministic page contents for (seed, index).
std::string PageContent(uint64_t seed, uint64_t index, size_t bytes);

// A fingerprint for tests with pages of `page_bytes`.
v1::Fingerprint TestFingerprint(uint64_t page_bytes, uint32_t page_tokens = 16);

}  // namespace prefixd::testing

namespace prefixd::testing {

// Keys "t<seed>-c<chain>-p<i>" for i in [0, n).
std::vector<std::string> ChainKeys(uint64_t seed, int chain, int n);

// Puts chain `chain` of `n` pages (contents PageContent(seed, chain * 100000 + i)).
absl::Status PutTestChain(client::Client& c, const client::Namespace& ns, uint64_t seed,
                          int chain, int n);

// Gets chain `chain` and checks every returned page against PageContent. Returns the number
// of leading pages returned; sets *wrong to the number of returned pages that differ.
absl::StatusOr<int> GetTestChain(client::Client& c, const client::Namespace& ns, uint64_t seed,
                                 int chain, int n, int* wrong);

}  // namespace prefixd::testing
