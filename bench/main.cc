// prefixd-bench: measures a storage tier (prefixd over gRPC or in-process, or a baseline) and
// verifies every byte it serves.
//   prefixd-bench [--backend KIND] (--target ADDR | --dir DIR) --workload micro --pages N
//                 --page-bytes B [--phase put|get|all] [--seed S] [--chain-pages C]
//                 [--concurrency K] [--namespace NAME] [--capacity BYTES] [--io-threads N]
//                 [--progress|--no-progress] [--json FILE]
// Exit status: 0 when nothing failed (no errors, no corrupt page, and, when reading, no missing
// page); 1 otherwise; 2 for bad flags.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/backend.h"
#include "bench/micro.h"
#include "bench/stats.h"
#include "util/byte_size.h"

namespace {

using prefixd::bench::MicroOptions;
using prefixd::bench::MicroReport;
using prefixd::bench::Phase;

constexpr char kUsage[] =
    "usage: prefixd-bench [--backend KIND] (--target HOST:PORT|unix:///PATH | --dir DIR)\n"
    "                     --workload micro --pages N --page-bytes SIZE [--phase put|get|all]\n"
    "                     [--seed S] [--json FILE]\n"
    "  --backend KIND       grpc (default: prefixd at --target), inproc (prefixd's storage in\n"
    "                       this process), file, file-sharded, rocksdb-inline (at --dir)\n"
    "  --capacity SIZE      LRU size cap of the file tiers; default none\n"
    "  --io-threads N       I/O threads of file-sharded; default 4\n"
    "  --chain-pages C      pages per chain (one Put/Exists/Get each); default 16\n"
    "  --concurrency K      worker threads, each with its own chains; default 1\n"
    "  --namespace NAME     default \"bench\"\n"
    "  --seed S             seeds page bytes and keys; --phase get needs the writer's; default 1\n"
    "  --phase get          verify pages an earlier run wrote (e.g. before a restart)\n"
    "  --progress           a progress line on stderr every 2 s (default: when it is a tty)\n"
    "  --no-progress        none\n"

    "SIZE accepts 4096, 64KiB, 1MiB, ... Exit 0: no errors, corrupt or missing pages; 1: some;"
    " 2: bad flags.\n";

struct Flags {
  std::string workload = "micro", json_path;
  prefixd::bench::BackendOptions backend;
  MicroOptions micro;
};

int BadFlag(const std::string& msg) {
  std::fprintf(stderr, "prefixd-bench: %s\n(see prefixd-bench --help)\n", msg.c_str());
  return 2;
}

// Parses argv into `f`; returns -1 on success, else the exit code (0 for --help).
int ParseFlags(int argc, char** argv, Flags* f) {
  MicroOptions& m = f->micro;
  m.progress = isatty(STDERR_FILENO);
  bool have_pages = false, have_page_bytes = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--progress" || a == "--no-progress") {
      m.progress = a == "--progress";
      continue;
    }
    if (!a.starts_with("--")) return BadFlag(absl::StrCat("unexpected argument '", a, "'"));
    std::string name = a.substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return BadFlag(absl::StrCat("--", name, " needs a value"));
    }
    auto bad = [&](const std::string& why) {
      return BadFlag(absl::StrCat("--", name, ": ", why, ": '", value, "'"));
    };
    uint64_t n = 0;
    if (name == "target") {
      f->backend.target = value;
    } else if (name == "backend") {
      f->backend.kind = value;
    } else if (name == "dir") {
      f->backend.dir = value;
    } else if (name == "capacity") {
      auto b = prefixd::util::ParseByteSize(value);
      if (!b.ok()) return bad("not a byte size");
      f->backend.capacity_bytes = *b;
    } else if (name == "workload") {
      f->workload = value;
    } else if (name == "json") {
      f->json_path = value;
    } else if (name == "namespace") {
      f->backend.ns_name = value;
    } else if (name == "phase") {
      static const std::map<std::string, Phase> kPhases = {
          {"put", Phase::kPut}, {"get", Phase::kGet}, {"all", Phase::kAll}};
      auto it = kPhases.find(value);
      if (it == kPhases.end()) return bad("want put, get or all");
      m.phase = it->second;
    } else if (name == "page-bytes") {
      auto b = prefixd::util::ParseByteSize(value);
      if (!b.ok()) return bad("not a byte size");
      m.page_bytes = *b;
      have_page_bytes = true;
    } else if (name == "pages" || name == "seed" || name == "chain-pages" ||
               name == "concurrency" || name == "io-threads") {
      if (!absl::SimpleAtoi(value, &n)) return bad("not a non-negative integer");
      if (name == "pages") {
        m.pages = n;
        have_pages = true;
      } else if (name == "seed") {
        m.seed = n;
      } else if (n > (uint64_t{1} << 31)) {
        return bad("too large");
      } else if (name == "chain-pages") {
        m.chain_pages = static_cast<uint32_t>(n);
      } else if (name == "io-threads") {
        f->backend.io_threads = static_cast<int>(n);
      } else {
        m.concurrency = static_cast<int>(n);
      }
    } else {
      return BadFlag(absl::StrCat("unknown flag --", name));
    }
  }
  if (f->backend.kind == "grpc" && f->backend.target.empty()) {
    return BadFlag("--target is required with --backend grpc (HOST:PORT or unix:///PATH)");
  }
  if (f->backend.kind != "grpc" && f->backend.dir.empty()) {
    return BadFlag(absl::StrCat("--dir is required with --backend ", f->backend.kind));
  }
  if (f->workload != "micro") {
    return BadFlag(absl::StrCat("--workload: unknown workload '", f->workload, "' (want micro)"));
  }
  if (!have_pages) return BadFlag("--pages is required");
  if (!have_page_bytes) return BadFlag("--page-bytes is required");
  if (auto s = m.Validate(); !s.ok()) return BadFlag(std::string(s.message()));
  f->backend.page_bytes = m.page_bytes;
  return -1;
}

// What the tier did to the device and memory during the run.
struct Footprint {
  uint64_t device_read_bytes = 0, device_write_bytes = 0, peak_rss_bytes = 0, disk_bytes = 0;
};

std::string ToJson(const Flags& f, MicroReport& r, const Footprint& fp) {
  const MicroOptions& m = f.micro;
  prefixd::bench::JsonObject j;
  j.Str("workload", f.workload);
  j.Str("backend", f.backend.kind);
  j.Str("target", f.backend.kind == "grpc" ? f.backend.target : f.backend.dir);
  j.Str("namespace", f.backend.ns_name);
  j.Int("capacity_bytes", f.backend.capacity_bytes);
  j.Str("phase", prefixd::bench::PhaseName(m.phase));
  j.Int("pages", m.pages);
  j.Int("page_bytes", m.page_bytes);
  j.Int("chain_pages", m.chain_pages);
  j.Int("chains", m.chains());
  j.Int("concurrency", m.concurrency);
  j.Int("seed", m.seed);
  auto secs = [](const prefixd::bench::PhaseReport& p) {
    return p.ran ? std::optional<double>(p.seconds) : std::nullopt;
  };
  j.Num("put_seconds", secs(r.put), 6);
  j.Int("put_bytes", r.put.bytes);
  j.Num("put_MBps", r.put.mbps(), 1);
  j.Num("put_chain_p50_us", r.put_chain_us.Percentile(0.5), 1);
  j.Num("put_chain_p99_us", r.put_chain_us.Percentile(0.99), 1);
  j.Num("put_fill_thread_seconds", r.put.ran ? std::optional(r.fill_seconds) : std::nullopt, 6);
  j.Num("get_seconds", secs(r.get), 6);
  j.Int("get_bytes", r.get.bytes);
  j.Num("get_MBps", r.get.mbps(), 1);
  j.Num("exists_p50_us", r.exists_us.Percentile(0.5), 1);
  j.Num("exists_p99_us", r.exists_us.Percentile(0.99), 1);
  j.Num("exists_p999_us", r.exists_us.Percentile(0.999), 1);
  j.Num("get_chain_p50_us", r.get_chain_us.Percentile(0.5), 1);
  j.Num("get_chain_p99_us", r.get_chain_us.Percentile(0.99), 1);
  j.Num("get_verify_thread_seconds", r.get.ran ? std::optional(r.verify_seconds) : std::nullopt, 6);
  j.Int("exists_present_pages", r.exists_present_pages);
  j.Int("exists_get_mismatches", r.exists_get_mismatches);
  j.Int("verified_pages", r.verified_pages);
  j.Int("missing_pages", r.missing_pages);
  j.Int("corrupt_pages", r.corrupt_pages);
  j.Int("unverified_pages", r.unverified_pages);
  j.Int("data_loss_errors", r.data_loss_errors);
  j.Int("device_read_bytes", fp.device_read_bytes);
  j.Int("device_write_bytes", fp.device_write_bytes);
  j.Num("write_amplification",
        r.put.bytes ? std::optional(double(fp.device_write_bytes) / double(r.put.bytes))
                    : std::nullopt,
        3);
  j.Int("peak_rss_bytes", fp.peak_rss_bytes);
  j.Int("disk_bytes", fp.disk_bytes);
  j.Int("errors", r.errors);
  j.Str("first_error", r.first_error);
  j.Bool("aborted", r.aborted);
  return j.Render();
}

std::string Fmt(std::optional<double> v, const char* unit) {
  if (!v) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f %s", *v, unit);
  return buf;
}

void PrintSummary(const Flags& f, MicroReport& r) {
  const MicroOptions& m = f.micro;
  using prefixd::util::FormatByteSize;
  std::printf(
      "prefixd-bench micro: %llu pages of %s in chains of %u, concurrency %d, seed %llu, "
      "%s %s\n",
      static_cast<unsigned long long>(m.pages), FormatByteSize(m.page_bytes).c_str(), m.chain_pages,
      m.concurrency, static_cast<unsigned long long>(m.seed), f.backend.kind.c_str(),
      (f.backend.kind == "grpc" ? f.backend.target : f.backend.dir).c_str());
  if (r.put.ran) {
    std::printf(
        "put:    %s in %.3f s = %.1f MB/s; chain p50 %s, p99 %s\n",
        FormatByteSize(r.put.bytes).c_str(), r.put.seconds, r.put.mbps().value_or(0),
        Fmt(r.put_chain_us.Percentile(0.5), "us").c_str(),
        Fmt(r.put_chain_us.Percentile(0.99), "us").c_str());
  }
  if (r.get.ran) {
    std::printf("get:    %s verified in %.3f s = %.1f MB/s; chain p50 %s, p99 %s\n",
                FormatByteSize(r.get.bytes).c_str(), r.get.seconds, r.get.mbps().value_or(0),
                Fmt(r.get_chain_us.Percentile(0.5), "us").c_str(),
                Fmt(r.get_chain_us.Percentile(0.99), "us").c_str());
    std::printf("exists: p50 %s, p99 %s, p99.9 %s\n",
                Fmt(r.exists_us.Percentile(0.5), "us").c_str(),
                Fmt(r.exists_us.Percentile(0.99), "us").c_str(),
                Fmt(r.exists_us.Percentile(0.999), "us").c_str());
    std::printf("pages:  %llu verified, %llu missing, %llu corrupt, %llu unverified\n",
                static_cast<unsigned long long>(r.verified_pages),
                static_cast<unsigned long long>(r.missing_pages),
                static_cast<unsigned long long>(r.corrupt_pages),
                static_cast<unsigned long long>(r.unverified_pages));
  }
  std::printf("errors: %llu%s%s%s%s\n", static_cast<unsigned long long>(r.errors),
              r.errors ? " (first: " : "", r.first_error.c_str(), r.errors ? ")" : "",
              r.aborted ? "; ABORTED early, the rest was not run" : "");
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (int rc = ParseFlags(argc, argv, &flags); rc >= 0) return rc;

  auto backend = prefixd::bench::MakeBackend(flags.backend);
  if (!backend.ok()) {
    std::fprintf(stderr, "prefixd-bench: %s backend: %s\n", flags.backend.kind.c_str(),
                 backend.status().ToString().c_str());
    return 1;
  }
  auto io0 = (*backend)->Io();
  auto report = prefixd::bench::RunMicro(flags.micro, backend->get());
  if (!report.ok()) {
    std::fprintf(stderr, "prefixd-bench: %s\n", report.status().ToString().c_str());
    return 1;
  }
  Footprint fp;
  if (auto io1 = (*backend)->Io(); io0.ok() && io1.ok()) {
    fp.device_read_bytes = io1->read_bytes - io0->read_bytes;
    fp.device_write_bytes = io1->write_bytes - io0->write_bytes;
    fp.peak_rss_bytes = io1->peak_rss_bytes;
  }
  if (auto d = (*backend)->DiskBytes(); d.ok()) fp.disk_bytes = *d;

  PrintSummary(flags, *report);
  if (!flags.json_path.empty()) {
    std::ofstream out(flags.json_path, std::ios::trunc);
    out << ToJson(flags, *report, fp);
    out.close();
    if (!out) {
      std::fprintf(stderr, "prefixd-bench: cannot write %s\n", flags.json_path.c_str());
      return 1;
    }
    std::printf("wrote %s\n", flags.json_path.c_str());
  }
  const MicroReport& r = *report;
  bool ok = r.errors == 0 && r.corrupt_pages == 0 && !r.aborted &&
            (flags.micro.phase == Phase::kPut || (r.missing_pages == 0 && r.unverified_pages == 0));
  return ok ? 0 : 1;
}
