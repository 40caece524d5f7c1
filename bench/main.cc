// prefixd-bench: drives a storage tier (prefixd over gRPC or in-process, or a baseline) with
// one of four workloads and verifies every byte it serves. `prefixd-bench --help` for usage.
// Exit status: 0 when nothing failed (no errors, no corrupt page; for micro reads, no missing
// page); 1 otherwise; 2 for bad flags.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/backend.h"
#include "bench/cold.h"
#include "bench/flags.h"
#include "bench/micro.h"
#include "bench/micro_report.h"
#include "bench/phases.h"
#include "bench/policy_sim.h"
#include "bench/replay.h"
#include "bench/scale.h"
#include "bench/trace.h"
#include "util/malloc_tuning.h"

namespace prefixd::bench {
namespace {

constexpr char kUsage[] =
    "usage: prefixd-bench --workload micro|scale|trace|multiturn|phases [tier] [workload flags]\n"
    "tier:\n"
    "  --backend KIND        grpc (default; prefixd at --target HOST:PORT or unix:///PATH),\n"
    "                        inproc (prefixd's storage in this process), file, file-sharded,\n"
    "                        rocksdb-inline (all at --dir DIR)\n"
    "  --transport T         grpc (default), uds (--target unix:///PATH), or shm: pages move\n"
    "                        through a shared-memory arena registered on --shm-socket PATH\n"
    "                        (the daemon's); --shm-arena-bytes SIZE (default 1GiB);\n"
    "                        --no-shm-side-calls: gets on gRPC, not as side-socket calls\n"
    "  --namespace NAME      default bench\n"
    "  --capacity SIZE       the tier's budget: LRU cap of the file tiers, inproc's capacity\n"
    "  --io-threads N        file-sharded's I/O threads; default 4\n"
    "  --block-cache SIZE    inproc's RocksDB block cache (prefixd's --block-cache); 64MiB\n"
    "  --eviction pages|generations  inproc's eviction (prefixd's --eviction); pages\n"
    "  --insertion adaptive|lru  inproc's insertion (prefixd's --insertion); adaptive\n"
    "  --order-sync-seconds S  inproc's eviction order journal syncs (prefixd's\n"
    "                        --eviction-order-sync-seconds); 1, 0 = saved at close only\n"
    "common: --concurrency K (workers, default 1), --seed S, --json FILE, --[no-]progress\n"
    "        --cold: drop the page cache before read phases (root only; says so if it could\n"
    "        not); micro before get/exists, trace and multiturn before the replay\n"
    "micro:     --pages N --page-bytes SIZE [--chain-pages 16] [--phase put|get|all|exists]\n"
    "           [--exists-rounds 1] (exists: probe the chains written, no reads)\n"
    "scale:     [--checkpoints 10k,100k,1M] [--page-bytes 4KiB] [--chain-pages 16]\n"
    "           [--window-chains 500]\n"
    "trace:     --trace FILE (Mooncake JSONL) [--limit N] [--bytes-per-token 256]\n"
    "           [--capacity-fraction F] [--speed S (0: as fast as possible)]\n"
    "multiturn: [--shape sglang|lmcache|fill] [--clients 256 --rounds 5 --request-tokens 512\n"
    "           --output-tokens 64] | [--users 10 --rounds 5 --system-tokens 1000\n"
    "           --user-context-tokens 2000 --answer-tokens 100] | [--chains 512 --chain-pages 8\n"
    "           --page-tokens 256 --read-fraction 0.5 --reread-distance 100] [--bytes-per-token 256]\n"
    "           [--capacity-fraction F] [--speed S]\n"
    "phases:    [--phases population,serving,mixed,population] [--phase-seconds 20]\n"
    "           [--phase-bytes SIZE: a phase ends after SIZE of puts and gets, --phase-seconds\n"
    "           its limit] [--page-bytes 256KiB] [--chain-pages 16]\n"
    "--csv FILE (trace, multiturn) writes one line per request. --print-capacity prints the\n"
    "budget a --capacity-fraction means and exits (for a daemon's --capacity);\n"
    "--dump-requests FILE (trace, multiturn) writes the request sequence as JSON lines and exits;\n"
    "--daemon-capacity-set says the grpc daemon was started with it.\n"
    "--restart-at F (trace, multiturn; inproc, concurrency 1) restarts the tier before that\n"
    "fraction of the requests and reports the hit rate from there on; --restart clean (default),\n"
    "forget-order (the saved eviction order removed, as after a crash with no save), crash (the\n"
    "order's journal synced every --order-sync-every F of the requests, default 0.01, and the\n"
    "files of the last sync put back, as after a crash) or none (no restart).\n"
    "Environment: PREFIXD_BENCH_DEFAULT_MALLOC=1 leaves glibc's malloc thresholds as they are\n"
    "(the bench otherwise raises them as the daemon does), to measure what a client\n"
    "application that does not tune them gets.\n";

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "prefixd-bench: %s\n", std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

#define ASSIGN_OR_FAIL(lhs, expr) \
  auto lhs##_or = (expr);         \
  if (!lhs##_or.ok()) return Fail(lhs##_or.status()); \
  auto lhs = *std::move(lhs##_or)

absl::Status WriteFile(const std::string& path, const std::string& text) {
  if (path.empty()) return absl::OkStatus();
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  std::printf("wrote %s\n", path.c_str());
  return absl::OkStatus();
}

struct Common {
  BackendOptions backend;
  int concurrency = 1;
  uint64_t seed = 1;
  bool progress = false;
  bool cold = false;  // --cold: drop the page cache before read phases (micro, trace, multiturn)
  std::string json;
};

// scale and phases read while they write: there is no read phase to make cold.
absl::Status NoCold(const char* workload) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--cold applies to micro, trace and multiturn; ", workload, " reads while it writes"));
}

absl::StatusOr<Common> ParseCommon(FlagSet& f) {
  Common c;
  c.backend.kind = f.Str("backend", "grpc");
  c.backend.target = f.Str("target");
  c.backend.transport = f.Str("transport", "grpc");
  c.backend.shm_socket = f.Str("shm-socket");
  auto arena = f.Bytes("shm-arena-bytes", uint64_t{1} << 30);
  if (!arena.ok()) return arena.status();
  c.backend.shm_arena_bytes = *arena;
  c.backend.shm_side_calls = f.Switch("shm-side-calls", true);
  c.backend.dir = f.Str("dir");
  c.backend.ns_name = f.Str("namespace", "bench");
  auto cap = f.Bytes("capacity", 0);
  auto block_cache = f.Bytes("block-cache", uint64_t{64} << 20);
  if (!block_cache.ok()) return block_cache.status();
  c.backend.block_cache_bytes = *block_cache;
  c.backend.eviction = f.Str("eviction", "pages");
  if (c.backend.eviction != "generations" && c.backend.eviction != "pages") {
    return absl::InvalidArgumentError("--eviction is generations or pages");
  }
  c.backend.insertion = f.Str("insertion", "adaptive");
  if (c.backend.insertion != "adaptive" && c.backend.insertion != "lru") {
    return absl::InvalidArgumentError("--insertion is adaptive or lru");
  }
  auto sync = f.Double("order-sync-seconds", 1);
  if (!sync.ok()) return sync.status();
  if (!(*sync >= 0 && *sync <= 86400)) {
    return absl::InvalidArgumentError("--order-sync-seconds is in [0, 86400]");
  }
  c.backend.order_sync_seconds = *sync;
  auto io = f.Uint("io-threads", 4);
  auto conc = f.Uint("concurrency", 1);
  auto seed = f.Uint("seed", 1);
  for (const absl::Status& s : {cap.status(), io.status(), conc.status(), seed.status()}) {
    if (!s.ok()) return s;
  }
  c.backend.capacity_bytes = *cap;
  c.backend.io_threads = static_cast<int>(std::min<uint64_t>(*io, 1024));
  c.concurrency = static_cast<int>(std::min<uint64_t>(*conc, 1 << 20));
  c.seed = *seed;
  c.progress = f.Switch("progress", isatty(STDERR_FILENO));
  c.json = f.Str("json");
  c.cold = f.Switch("cold", false);
  if (c.backend.kind == "grpc" && c.backend.target.empty()) {
    return absl::InvalidArgumentError("--target is required with --backend grpc");
  }
  const std::string& t = c.backend.transport;
  if (t != "grpc" && t != "uds" && t != "shm") {
    return absl::InvalidArgumentError("--transport wants grpc, uds or shm");
  }
  if (t != "grpc" && c.backend.kind != "grpc") {
    return absl::InvalidArgumentError("--transport uds|shm needs --backend grpc");
  }
  if (t == "uds" && c.backend.target.rfind("unix:", 0) != 0) {
    return absl::InvalidArgumentError("--transport uds wants --target unix:///PATH");
  }
  if (t == "shm" && c.backend.shm_socket.empty()) {
    return absl::InvalidArgumentError(
        "--transport shm wants --shm-socket PATH (the daemon's --shm-socket)");
  }
  if (c.backend.kind != "grpc" && c.backend.dir.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--dir is required with --backend ",
                                                   c.backend.kind));
  }
  return c;
}

int RunMicroWorkload(FlagSet& f, Common c) {
  MicroOptions m;
  ASSIGN_OR_FAIL(pages, f.Uint("pages", 0));
  ASSIGN_OR_FAIL(page_bytes, f.Bytes("page-bytes", 0));
  ASSIGN_OR_FAIL(chain_pages, f.Uint("chain-pages", 16));
  std::string phase = f.Str("phase", "all");
  ASSIGN_OR_FAIL(exists_rounds, f.Uint("exists-rounds", 1));
  if (auto s = f.CheckAllUsed(); !s.ok()) return Fail(s);
  if (phase != "put" && phase != "get" && phase != "all" && phase != "exists") {
    return Fail(absl::InvalidArgumentError("--phase wants put, get, all or exists"));
  }
  m.pages = pages;
  m.page_bytes = page_bytes;
  m.chain_pages = static_cast<uint32_t>(std::min<uint64_t>(chain_pages, 1 << 20));
  m.phase = phase == "put"    ? Phase::kPut
            : phase == "get"    ? Phase::kGet
            : phase == "exists" ? Phase::kExists
                                : Phase::kAll;
  m.exists_rounds = static_cast<uint32_t>(std::min<uint64_t>(exists_rounds, 1 << 20));
  m.cold = c.cold;
  m.concurrency = c.concurrency;
  m.seed = c.seed;
  m.progress = c.progress;
  if (auto s = m.Validate(); !s.ok()) return Fail(s);
  c.backend.page_bytes = m.page_bytes;
  ASSIGN_OR_FAIL(backend, MakeBackend(c.backend));
  IoCounters before = backend->Io().value_or(IoCounters{});
  ASSIGN_OR_FAIL(report, RunMicro(m, backend.get()));
  Footprint fp = MeasureFootprint(before, *backend);
  if (c.backend.transport == "shm") {
    auto after = backend->Io().value_or(IoCounters{});
    report.shm_put_pages = after.shm_put_pages - before.shm_put_pages;
    report.shm_get_pages = after.shm_get_pages - before.shm_get_pages;
    report.memcpy_ceiling_mbps =
        MemcpyCeilingMBps(m.page_bytes, m.pages * m.page_bytes, m.page_bytes);
    report.memcpy_working_set_mbps =
        MemcpyCeilingMBps(m.page_bytes, m.pages * m.page_bytes, m.pages * m.page_bytes);
  }
  PrintMicroSummary(c.backend, m, report);
  if (auto s = WriteFile(c.json, MicroToJson(c.backend, m, report, fp)); !s.ok()) return Fail(s);
  // An exists phase counts absent pages as missing (and verifies no bytes).
  bool ok = report.errors == 0 && report.corrupt_pages == 0 && !report.aborted &&
            (m.phase == Phase::kPut || (report.missing_pages == 0 && report.unverified_pages == 0));
  return ok ? 0 : 1;
}

int RunPhasesWorkload(FlagSet& f, Common c) {
  if (c.cold) return Fail(NoCold("phases"));
  PhasesOptions o;
  ASSIGN_OR_FAIL(page_bytes, f.Bytes("page-bytes", 256 << 10));
  ASSIGN_OR_FAIL(chain_pages, f.Uint("chain-pages", 16));
  ASSIGN_OR_FAIL(seconds, f.Uint("phase-seconds", 20));
  ASSIGN_OR_FAIL(phase_bytes, f.Bytes("phase-bytes", 0));
  std::string phases = f.Str("phases", "population,serving,mixed,population");
  if (auto s = f.CheckAllUsed(); !s.ok()) return Fail(s);
  o.phases = absl::StrSplit(phases, ',', absl::SkipEmpty());
  o.page_bytes = page_bytes;
  o.chain_pages = static_cast<uint32_t>(std::min<uint64_t>(chain_pages, 1 << 20));
  o.phase_seconds = static_cast<double>(seconds);
  o.phase_bytes = phase_bytes;
  o.concurrency = c.concurrency;
  o.seed = c.seed;
  o.progress = c.progress;
  if (auto s = o.Validate(); !s.ok()) return Fail(s);
  c.backend.page_bytes = o.page_bytes;
  ASSIGN_OR_FAIL(backend, MakeBackend(c.backend));
  ASSIGN_OR_FAIL(results, RunPhases(o, backend.get()));
  uint64_t wrong = 0, errors = 0;
  for (auto& r : results) {
    std::printf("%-10s %6.1f s  put %7.1f MB/s (p99 %8.0f us)  get %7.1f MB/s (p50 %7.0f, p99 "
                "%8.0f us)  exists p99 %6.0f us  hit %.3f  stall %.2f s  device writes %.0f MB\n",
                r.name.c_str(), r.seconds, r.put_bytes / 1e6 / r.seconds,
                r.put_us.Percentile(0.99).value_or(0), r.get_bytes / 1e6 / r.seconds,
                r.get_us.Percentile(0.5).value_or(0), r.get_us.Percentile(0.99).value_or(0),
                r.exists_us.Percentile(0.99).value_or(0),
                r.pages_asked ? double(r.pages_returned) / r.pages_asked : 0.0,
                r.stall_micros / 1e6, r.device_write_bytes / 1e6);
    if (!r.completed) {
      std::printf("%-10s cut by --phase-seconds before --phase-bytes were moved\n",
                  r.name.c_str());
    }
    wrong += r.wrong_pages;
    errors += r.errors;
  }
  if (auto s = WriteFile(c.json, PhasesToJson(c.backend, o, results)); !s.ok()) return Fail(s);
  return wrong == 0 && errors == 0 ? 0 : 1;
}

int RunScaleWorkload(FlagSet& f, Common c) {
  if (c.cold) return Fail(NoCold("scale"));
  ScaleOptions o;
  ASSIGN_OR_FAIL(checkpoints, f.UintList("checkpoints", {10000, 100000, 1000000}));
  ASSIGN_OR_FAIL(page_bytes, f.Bytes("page-bytes", 4096));
  ASSIGN_OR_FAIL(chain_pages, f.Uint("chain-pages", 16));
  ASSIGN_OR_FAIL(window, f.Uint("window-chains", 500));
  if (auto s = f.CheckAllUsed(); !s.ok()) return Fail(s);
  o.checkpoints = checkpoints;
  o.page_bytes = page_bytes;
  o.chain_pages = static_cast<uint32_t>(std::min<uint64_t>(chain_pages, 1 << 20));
  o.window_chains = window;
  o.concurrency = c.concurrency;
  o.seed = c.seed;
  o.progress = c.progress;
  if (auto s = o.Validate(); !s.ok()) return Fail(s);
  c.backend.page_bytes = o.page_bytes;
  ASSIGN_OR_FAIL(backend, MakeBackend(c.backend));
  IoCounters before = backend->Io().value_or(IoCounters{});
  ASSIGN_OR_FAIL(points, RunScale(o, backend.get()));
  Footprint fp = MeasureFootprint(before, *backend);
  uint64_t errors = 0, corrupt = 0, missing = 0;
  for (auto& p : points) {
    std::printf("%s scale %9llu pages: put %9.0f pages/s (p99 %7.0f us), exists %9.0f keys/s "
                "(p99 %7.0f us), get %9.0f pages/s (p99 %7.0f us)\n",
                c.backend.kind.c_str(), static_cast<unsigned long long>(p.pages),
                p.put_pages_per_s, p.put_us.Percentile(0.99).value_or(0), p.exists_keys_per_s,
                p.exists_us.Percentile(0.99).value_or(0), p.get_pages_per_s,
                p.get_us.Percentile(0.99).value_or(0));
    errors += p.errors;
    corrupt += p.corrupt;
    missing += p.missing;
  }
  JsonObject head;
  head.Str("workload", "scale");
  head.Str("backend", c.backend.kind);
  head.Int("page_bytes", o.page_bytes);
  head.Int("chain_pages", o.chain_pages);
  head.Int("concurrency", o.concurrency);
  head.Int("device_read_bytes", fp.device_read_bytes);
  head.Int("device_write_bytes", fp.device_write_bytes);
  head.Int("peak_rss_bytes", fp.peak_rss_bytes);
  head.Int("disk_bytes", fp.disk_bytes);
  std::string json = head.Render();
  json.erase(json.rfind('}'));
  json += ",\"points\": " + ScaleToJson(points) + "}\n";
  if (auto s = WriteFile(c.json, json); !s.ok()) return Fail(s);
  return errors == 0 && corrupt == 0 && missing == 0 ? 0 : 1;
}

// trace and multiturn: a request list replayed against the tier.
int RunReplayWorkload(FlagSet& f, Common c, const std::string& workload) {
  std::vector<Request> trace;
  std::string source;
  if (workload == "trace") {
    std::string path = f.Str("trace");
    ASSIGN_OR_FAIL(limit, f.Uint("limit", 0));
    if (path.empty()) return Fail(absl::InvalidArgumentError("--trace FILE is required"));
    ASSIGN_OR_FAIL(loaded, LoadMooncakeTrace(path, limit));
    trace = std::move(loaded);
    source = path;
  } else {
    std::string shape = f.Str("shape", "sglang");
    if (shape == "sglang") {
      SglangMultiturnOptions o;
      ASSIGN_OR_FAIL(clients, f.Uint("clients", o.clients));
      ASSIGN_OR_FAIL(rounds, f.Uint("rounds", o.rounds));
      ASSIGN_OR_FAIL(req, f.Uint("request-tokens", o.request_tokens));
      ASSIGN_OR_FAIL(out, f.Uint("output-tokens", o.output_tokens));
      ASSIGN_OR_FAIL(rate, f.Double("request-rate", 0));
      o.clients = static_cast<int>(clients);
      o.rounds = static_cast<int>(rounds);
      o.request_tokens = static_cast<uint32_t>(req);
      o.output_tokens = static_cast<uint32_t>(out);
      o.request_rate = rate;
      o.seed = c.seed;
      ASSIGN_OR_FAIL(generated, SglangMultiturn(o));
      trace = std::move(generated);
      source = absl::StrCat("sglang multiturn: ", o.clients, " clients x ", o.rounds,
                            " rounds, request ", o.request_tokens, ", output ", o.output_tokens);
    } else if (shape == "lmcache") {
      LmcacheQaOptions o;
      ASSIGN_OR_FAIL(users, f.Uint("users", o.users));
      ASSIGN_OR_FAIL(rounds, f.Uint("rounds", o.rounds));
      ASSIGN_OR_FAIL(sys, f.Uint("system-tokens", o.system_tokens));
      ASSIGN_OR_FAIL(ctx, f.Uint("user-context-tokens", o.user_context_tokens));
      ASSIGN_OR_FAIL(ans, f.Uint("answer-tokens", o.answer_tokens));
      o.users = static_cast<int>(users);
      o.rounds = static_cast<int>(rounds);
      o.system_tokens = static_cast<uint32_t>(sys);
      o.user_context_tokens = static_cast<uint32_t>(ctx);
      o.answer_tokens = static_cast<uint32_t>(ans);
      o.qps = 0;
      o.seed = c.seed;
      ASSIGN_OR_FAIL(generated, LmcacheMultiRoundQa(o));
      trace = std::move(generated);
      source = absl::StrCat("lmcache multi-round QA: ", o.users, " users x ", o.rounds,
                            " rounds, system ", o.system_tokens, ", context ",
                            o.user_context_tokens);
    } else if (shape == "fill") {
      FillMixOptions o;
      ASSIGN_OR_FAIL(chains, f.Uint("chains", o.chains));
      ASSIGN_OR_FAIL(chain_pages, f.Uint("chain-pages", o.chain_pages));
      ASSIGN_OR_FAIL(page_tokens, f.Uint("page-tokens", o.page_tokens));
      ASSIGN_OR_FAIL(read_fraction, f.Double("read-fraction", o.read_fraction));
      ASSIGN_OR_FAIL(distance, f.Double("reread-distance", o.mean_reread_distance));
      o.chains = static_cast<int>(chains);
      o.chain_pages = static_cast<int>(chain_pages);
      o.page_tokens = static_cast<uint32_t>(page_tokens);
      o.read_fraction = read_fraction;
      o.mean_reread_distance = distance;
      o.seed = c.seed;
      ASSIGN_OR_FAIL(generated, FillMix(o));
      trace = std::move(generated);
      source = absl::StrCat("fill: ", o.chains, " chains of ", o.chain_pages, " pages, ",
                            o.read_fraction, " of requests re-read a chain ~",
                            o.mean_reread_distance, " chains back");
    } else {
      return Fail(absl::InvalidArgumentError("--shape wants sglang, lmcache or fill"));
    }
  }
  ReplayOptions r;
  ASSIGN_OR_FAIL(bpt, f.Uint("bytes-per-token", r.bytes_per_token));
  ASSIGN_OR_FAIL(speed, f.Double("speed", 0));
  ASSIGN_OR_FAIL(fraction, f.Double("capacity-fraction", 0));
  std::string csv = f.Str("csv");
  const bool dry_run = f.Switch("print-capacity", false);
  const std::string dump = f.Str("dump-requests");
  const bool capacity_set_on_daemon = f.Switch("daemon-capacity-set", false);
  ASSIGN_OR_FAIL(restart_at, f.Double("restart-at", 0));
  const std::string restart = f.Str("restart", "clean");
  ASSIGN_OR_FAIL(order_sync_every, f.Double("order-sync-every", 0.01));
  if (auto s = f.CheckAllUsed(); !s.ok()) return Fail(s);
  if (restart_at != 0) {
    if (!(restart_at > 0 && restart_at < 1)) {
      return Fail(absl::InvalidArgumentError("--restart-at wants a fraction in (0, 1)"));
    }
    r.tail_from = std::max<uint64_t>(1, static_cast<uint64_t>(restart_at * trace.size()));
    if (restart == "clean") {
      r.restart = ReplayOptions::Restart::kClean;
    } else if (restart == "forget-order") {
      r.restart = ReplayOptions::Restart::kForgetOrder;
    } else if (restart == "crash") {
      if (!(order_sync_every > 0 && order_sync_every < restart_at)) {
        return Fail(absl::InvalidArgumentError(
            "--order-sync-every wants a fraction of the requests in (0, --restart-at)"));
      }
      if (c.backend.order_sync_seconds <= 0) {
        return Fail(absl::InvalidArgumentError("--restart crash needs --order-sync-seconds > 0"));
      }
      r.restart = ReplayOptions::Restart::kCrash;
      r.order_sync_every =
          std::max<uint64_t>(1, static_cast<uint64_t>(order_sync_every * trace.size()));
    } else if (restart != "none") {
      return Fail(
          absl::InvalidArgumentError("--restart wants clean, forget-order, crash or none"));
    }
  }
  r.bytes_per_token = bpt;
  r.speed = speed;
  r.concurrency = c.concurrency;
  r.progress = c.progress;
  r.seed = c.seed;
  r.label = workload;
  ASSIGN_OR_FAIL(page_bytes, ReplayPageBytes(trace, r));
  TraceSummary summary = Summarize(trace);
  c.backend.page_bytes = page_bytes;
  c.backend.page_tokens = trace.front().block_tokens;
  if (fraction > 0) {
    c.backend.capacity_bytes = static_cast<uint64_t>(fraction * summary.distinct_bytes(page_bytes));
  }
  if (!dump.empty()) {
    std::ofstream out(dump);
    for (const Request& req : trace) out << RequestJsonLine(req) << '\n';
    out.close();
    if (!out) return Fail(absl::UnavailableError(absl::StrCat("could not write ", dump)));
    std::printf("%zu requests written to %s\n", trace.size(), dump.c_str());
    return 0;
  }
  if (dry_run) {  // what the suite passes to a daemon as --capacity
    std::printf("%llu\n", static_cast<unsigned long long>(c.backend.capacity_bytes));
    return 0;
  }
  // The grpc tier's budget is the daemon's --capacity: the caller must have set it to this.
  const bool enforced = c.backend.kind != "grpc" || capacity_set_on_daemon;
  if (c.backend.capacity_bytes > 0 && !enforced) {
    std::fprintf(stderr, "prefixd-bench: note: the daemon's own --capacity is the budget of a "
                         "grpc run; pass --daemon-capacity-set when it was started with it\n");
  }
  ASSIGN_OR_FAIL(backend, MakeBackend(c.backend));
  ColdResult cold;
  if (c.cold) {
    cold = DropPageCache();
    if (!cold.dropped) std::fprintf(stderr, "prefixd-bench: --cold: %s\n", cold.note.c_str());
  }
  IoCounters before = backend->Io().value_or(IoCounters{});
  // The tier's disk use, sampled every 100 ms during the replay: the budget's bar is its peak.
  std::atomic<bool> replay_done{false};
  std::atomic<uint64_t> peak_disk{0};
  std::thread sampler([&] {
    while (!replay_done.load()) {
      if (auto d = backend->DiskBytes(); d.ok() && *d > peak_disk.load()) peak_disk = *d;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto replayed = RunReplay(trace, r, backend.get());
  replay_done = true;
  sampler.join();
  if (!replayed.ok()) return Fail(replayed.status());
  ReplayReport& report = *replayed;
  Footprint fp = MeasureFootprint(before, *backend);
  peak_disk = std::max<uint64_t>(peak_disk.load(), fp.disk_bytes);
  const double write_amplification =
      report.bytes_put ? static_cast<double>(fp.device_write_bytes) / report.bytes_put : 0;
  std::printf("%s %s on %s: %llu requests, token hit rate %.3f (after deadline %.3f), "
              "%.1f MB/s, %llu errors, %llu corrupt\n",
              workload.c_str(), source.c_str(), c.backend.kind.c_str(),
              static_cast<unsigned long long>(report.requests_done), report.token_hit_rate(),
              report.cached_token_rate(), report.mb_per_s(),
              static_cast<unsigned long long>(report.errors),
              static_cast<unsigned long long>(report.corrupt));
  if (report.tail_from > 0) {
    std::printf("  from request %llu on (restart before it: %s): token hit rate %.4f\n",
                static_cast<unsigned long long>(report.tail_from), report.restart.c_str(),
                report.tail_token_hit_rate());
  }
  std::printf("  disk: peak %.1f MiB%s; device writes %.1f MiB for %.1f MiB of pages put "
              "(write amplification %.3f)\n",
              peak_disk.load() / 1048576.0,
              c.backend.capacity_bytes
                  ? absl::StrFormat(" = %.3f x the budget of %.1f MiB",
                                    static_cast<double>(peak_disk.load()) / c.backend.capacity_bytes,
                                    c.backend.capacity_bytes / 1048576.0)
                        .c_str()
                  : "",
              fp.device_write_bytes / 1048576.0, report.bytes_put / 1048576.0,
              write_amplification);
  JsonObject j;
  j.Str("workload", workload);
  j.Str("source", source);
  j.Str("backend", c.backend.kind);
  j.Int("distinct_bytes", summary.distinct_bytes(page_bytes));
  j.Num("capacity_fraction", fraction > 0 ? std::optional(fraction) : std::nullopt, 3);
  j.Int("capacity_bytes", c.backend.capacity_bytes);
  if (c.backend.capacity_bytes == 0) {
    j.Null("capacity_enforced");
  } else {
    j.Bool("capacity_enforced", enforced);
  }
  j.Num("unbounded_token_hit_rate", summary.token_hit_rate(), 4);
  j.Bool("cold_requested", c.cold);
  if (c.cold) {
    j.Bool("page_cache_dropped", cold.dropped);
    j.Str("cold_note", cold.note);
  }
  j.Int("device_read_bytes", fp.device_read_bytes);
  j.Int("device_write_bytes", fp.device_write_bytes);
  j.Int("peak_rss_bytes", fp.peak_rss_bytes);
  j.Int("disk_bytes", fp.disk_bytes);
  j.Int("peak_disk_bytes", peak_disk.load());
  j.Num("write_amplification", write_amplification, 3);
  report.AppendJson(&j);
  // What LRU, S3-FIFO, LFU-DA and Belady would have served at the same budget, on the same
  // request sequence (bench/policy_sim.h): the bar for the tier's own eviction.
  if (c.backend.capacity_bytes > 0) {
    const uint64_t capacity_pages = c.backend.capacity_bytes / page_bytes;
    j.Int("sim_capacity_pages", capacity_pages);
    for (const PolicyResult& p : SimulatePolicies(trace, capacity_pages)) {
      j.Num("sim_" + p.policy + "_token_hit_rate", p.token_hit_rate(), 4);
      std::printf("  simulated %-9s at %llu pages: token hit rate %.3f\n", p.policy.c_str(),
                  static_cast<unsigned long long>(capacity_pages), p.token_hit_rate());
    }
  }
  if (auto s = WriteFile(c.json, j.Render()); !s.ok()) return Fail(s);
  if (auto s = WriteFile(csv, report.PerRequestCsv()); !s.ok()) return Fail(s);
  return report.errors == 0 && report.corrupt == 0 && !report.aborted ? 0 : 1;
}

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  auto flags = FlagSet::Parse(
      argc, argv, {"progress", "print-capacity", "daemon-capacity-set", "cold", "shm-side-calls"});
  if (!flags.ok()) return Fail(flags.status());
  std::string workload = flags->Str("workload", "micro");
  auto common = ParseCommon(*flags);
  if (!common.ok()) return Fail(common.status());
  if (workload == "micro") return RunMicroWorkload(*flags, *common);
  if (workload == "phases") return RunPhasesWorkload(*flags, *common);
  if (workload == "scale") return RunScaleWorkload(*flags, *common);
  if (workload == "trace" || workload == "multiturn") {
    return RunReplayWorkload(*flags, *common, workload);
  }
  return Fail(absl::InvalidArgumentError(
      absl::StrCat("--workload: unknown '", workload,
                   "' (micro, scale, trace, multiturn, phases)")));
}

}  // namespace
}  // namespace prefixd::bench

int main(int argc, char** argv) {
  // The daemon's thresholds, for every tier this process drives; arenas as glibc sets them
  // (one arena cost the in-process tier 15-30 % of its gets at two workers: tiers here
  // allocate concurrently in the caller's threads).
  const char* keep = std::getenv("PREFIXD_BENCH_DEFAULT_MALLOC");
  if (keep == nullptr || std::string_view(keep) != "1") {
    prefixd::util::TuneMallocForPageBuffers(/*single_arena=*/false);
  }
  return prefixd::bench::Main(argc, argv);
}
