#include "tests/daemon.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "gtest/gtest.h"

namespace prefixd::testing {

TempDir::TempDir(const std::string& tag) {
  static int counter = 0;
  path_ = (std::filesystem::path(::testing::TempDir()) /
           ("prefixd_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
              .string();
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// The build's bin/ folder, or $PREFIXD_BIN_DIR where the binaries were moved (tests/gpu/pack.sh
// carries a build to a machine with a GPU, where the build folder's path does not exist).
std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("PREFIXD_BIN_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : PREFIXD_BIN_DIR) + "/" + name;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool PortOpen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

std::string PageContent(uint64_t seed, uint64_t index, size_t bytes) {
  std::mt19937_64 rng(seed * 1000003u + index);
  std::string s(bytes, '\0');
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  for (; i < bytes; ++i) s[i] = static_cast<char>(rng());
  return s;
}

v1::Fingerprint TestFingerprint(uint64_t page_bytes, uint32_t page_tokens) {
  v1::Fingerprint fp;
  fp.set_model("test-model");
  fp.set_model_revision("r1");
  fp.set_dtype("bfloat16");
  fp.set_kv_layout("layer_first");
  fp.set_page_tokens(page_tokens);
  fp.set_page_bytes(page_bytes);
  fp.set_tp_rank(0);
  fp.set_tp_size(1);
  fp.set_key_scheme("test");
  return fp;
}

Daemon::Daemon(std::string data_dir, std::vector<std::string> extra_args, std::string log_path)
    : data_dir_(std::move(data_dir)),
      extra_args_(std::move(extra_args)),
      log_path_(log_path.empty() ? data_dir_ + ".log" : std::move(log_path)),
      port_(FreePort()) {}

Daemon::~Daemon() {
  if (running()) Stop(SIGKILL);
}

void Daemon::Start() {
  ASSERT_FALSE(running());
  std::vector<std::string> args = {BinaryPath("prefixd"), "--listen", target(), "--data-dir",
                                   data_dir_};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  ASSERT_GE(pid_, 0);
  if (pid_ == 0) {
    // The daemon dies with the test: a test process that aborts (a failed CHECK, a gdb session
    // ended) would otherwise leave it running, holding its port and data directory. The signal
    // follows the death of the thread that forked, so start daemons from the test's own thread.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the test died before prctl took hold
    int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  client::ClientOptions o;
  o.target = target();
  o.max_attempts = 1;
  auto c = client::Client::Connect(o);
  ASSERT_TRUE(c.ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    // Poll the port with plain connects first: a gRPC channel that fails to connect backs off
    // for a second or more before it tries again.
    if (PortOpen(port_) && (*c)->Health().ok()) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << "prefixd exited during start-up; see " << log_path_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "prefixd did not become healthy in 30 s; see " << log_path_;
}

int Daemon::Stop(int signal) {
  if (!running()) return -1;
  Signal(signal);
  return Wait();
}

void Daemon::Signal(int signal) {
  if (running()) ::kill(pid_, signal);
}

int Daemon::Wait() {
  if (!running()) return -1;
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

client::ClientOptions Daemon::Options() const {
  client::ClientOptions o;
  o.target = target();
  o.initial_backoff = absl::Milliseconds(20);
  return o;
}

std::unique_ptr<client::Client> Daemon::Connect() const {
  auto c = client::Client::Connect(Options());
  return c.ok() ? *std::move(c) : nullptr;
}

}  // namespace prefixd::testing

namespace prefixd::testing {

std::vector<std::string> ChainKeys(uint64_t seed, int chain, int n) {
  std::vector<std::string> k;
  for (int i = 0; i < n; ++i) {
    k.push_back("t" + std::to_string(seed) + "-c" + std::to_string(chain) + "-p" +
                std::to_string(i));
  }
  return k;
}

absl::Status PutTestChain(client::Client& c, const client::Namespace& ns, uint64_t seed,
                          int chain, int n) {
  std::vector<std::string> data;
  for (int i = 0; i < n; ++i) {
    data.push_back(PageContent(seed, uint64_t(chain) * 100000 + i, ns.fingerprint.page_bytes()));
  }
  std::vector<std::string_view> views(data.begin(), data.end());
  auto r = c.Put(ns, client::Chain::FromKeys(ChainKeys(seed, chain, n)), views);
  return r.status();
}

absl::StatusOr<int> GetTestChain(client::Client& c, const client::Namespace& ns, uint64_t seed,
                                 int chain, int n, int* wrong) {
  auto r = c.Get(ns, client::Chain::FromKeys(ChainKeys(seed, chain, n)));
  if (!r.ok()) return r.status();
  *wrong = 0;
  for (size_t i = 0; i < r->pages.size(); ++i) {
    if (r->pages[i] !=
        PageContent(seed, uint64_t(chain) * 100000 + i, ns.fingerprint.page_bytes())) {
      ++*wrong;
    }
  }
  return static_cast<int>(r->pages.size());
}

}  // namespace prefixd::testing
