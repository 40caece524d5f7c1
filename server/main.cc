// prefixd: the KV-cache page server daemon. See README.md and `prefixd --help`.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "server/config.h"
#include "server/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "util/malloc_tuning.h"

int main(int argc, char** argv) {
  const std::string malloc_note = prefixd::util::TuneMallocForPageBuffers(/*single_arena=*/true);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(prefixd::server::ConfigUsage().c_str(), stdout);
      return 0;
    }
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("prefixd %s\n", PREFIXD_VERSION);
      return 0;
    }
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("prefixd"));
  prefixd::server::ServerConfig config;
  auto args = config.ParseArgs(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "prefixd: %s\n(see prefixd --help)\n",
                 std::string(args.status().message()).c_str());
    return 2;
  }
  if (!args->empty()) {
    std::fprintf(stderr, "prefixd: unexpected argument '%s'\n", (*args)[0].c_str());
    return 2;
  }
  if (auto s = config.Validate(); !s.ok()) {
    std::fprintf(stderr, "prefixd: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::info("{}", malloc_note);

  // Signals are taken synchronously by this thread; every thread started later inherits the
  // mask, so SIGTERM/SIGINT never interrupt a worker.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = prefixd::server::Server::Start(config);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", server.status().ToString());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("{}: shutting down (grace {} s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               config.shutdown_grace_seconds);
  auto s = (*server)->Shutdown();
  if (!s.ok()) {
    spdlog::error("shutdown: {}", s.ToString());
    return 1;
  }
  spdlog::info("stopped cleanly");
  if ((*server)->abandoned()) {
    spdlog::default_logger()->flush();
    std::_Exit(0);  // gRPC is still closing connections: skip destructors that would wait
  }
  return 0;
}
