#include "bench/micro_report.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "bench/stats.h"
#include "util/byte_size.h"

namespace prefixd::bench {
namespace {

std::string Fmt(std::optional<double> v, const char* unit) {
  if (!v) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f %s", *v, unit);
  return buf;
}

}  // namespace

Footprint MeasureFootprint(const IoCounters& before, Backend& backend) {
  Footprint fp;
  if (auto s = backend.Sync(); !s.ok()) {
    std::fprintf(stderr, "prefixd-bench: sync before measuring: %s\n", s.ToString().c_str());
  }
  if (auto now = backend.Io(); now.ok()) {
    fp.device_read_bytes = now->read_bytes - before.read_bytes;
    fp.device_write_bytes = now->write_bytes - before.write_bytes;
    fp.peak_rss_bytes = now->peak_rss_bytes;
  }
  if (auto d = backend.DiskBytes(); d.ok()) fp.disk_bytes = *d;
  return fp;
}

std::string MicroToJson(const BackendOptions& b, const MicroOptions& m, MicroReport& r,
                        const Footprint& fp) {
  JsonObject j;
  j.Str("workload", "micro");
  j.Str("backend", b.kind);
  j.Str("target", b.kind == "grpc" ? b.target : b.dir);
  if (b.kind == "grpc") j.Str("transport", b.transport);
  j.Str("namespace", b.ns_name);
  j.Int("capacity_bytes", b.capacity_bytes);
  j.Str("phase", PhaseName(m.phase));
  j.Int("pages", m.pages);
  j.Int("page_bytes", m.page_bytes);
  j.Int("chain_pages", m.chain_pages);
  j.Int("chains", m.chains());
  j.Int("concurrency", m.concurrency);
  j.Int("seed", m.seed);
  auto secs = [](const PhaseReport& p) {
    return p.ran ? std::optional<double>(p.seconds) : std::nullopt;
  };
  j.Num("put_seconds", secs(r.put), 6);
  j.Int("put_bytes", r.put.bytes);
  j.Num("put_MBps", r.put.mbps(), 1);
  j.Num("put_chain_p50_us", r.put_chain_us.Percentile(0.5), 1);
  j.Num("put_chain_p99_us", r.put_chain_us.Percentile(0.99), 1);
  j.Num("put_fill_thread_seconds", r.put.ran ? std::optional(r.fill_seconds) : std::nullopt, 6);
  j.Num("settle_seconds", r.put.ran && r.get.ran ? std::optional(r.settle_seconds) : std::nullopt,
        6);
  j.Num("get_seconds", secs(r.get), 6);
  j.Int("get_bytes", r.get.bytes);
  j.Num("get_MBps", r.get.mbps(), 1);
  // The same bytes over the time spent inside Get calls (averaged over the workers): without
  // the Exists before each get and the benchmark's own byte comparison after it, which
  // get_MBps includes. Exact for one worker.
  const double get_call_s = r.get_chain_us.Sum() / 1e6 / std::max(1, m.concurrency);
  j.Num("get_call_MBps",
        r.get.ran && get_call_s > 0 ? std::optional(r.get.bytes / 1e6 / get_call_s) : std::nullopt,
        1);
  j.Num("exists_p50_us", r.exists_us.Percentile(0.5), 1);
  j.Num("exists_p99_us", r.exists_us.Percentile(0.99), 1);
  j.Num("exists_p999_us", r.exists_us.Percentile(0.999), 1);
  j.Num("get_chain_p50_us", r.get_chain_us.Percentile(0.5), 1);
  j.Num("get_chain_p99_us", r.get_chain_us.Percentile(0.99), 1);
  j.Num("get_verify_thread_seconds", r.get.ran ? std::optional(r.verify_seconds) : std::nullopt, 6);
  if (r.exists.ran) {  // --phase exists: batched existence checks alone
    j.Int("exists_rounds", m.exists_rounds);
    j.Num("exists_seconds", r.exists.seconds, 6);
    j.Int("exists_keys", r.exists_keys);
    j.Num("exists_keys_per_s",
          r.exists.seconds > 0 ? std::optional(r.exists_keys / r.exists.seconds) : std::nullopt, 0);
    j.Int("exists_calls", r.exists_us.count());
  }
  j.Bool("cold_requested", r.cold_requested);
  if (r.cold_requested) {
    j.Bool("page_cache_dropped", r.page_cache_dropped);
    j.Str("cold_note", r.cold_note);
  }
  if (b.kind == "grpc" && b.transport == "shm") {
    j.Bool("shm_side_calls", b.shm_side_calls);  // gets as side calls (else gRPC)
    j.Int("shm_put_pages", r.shm_put_pages);
    j.Int("shm_get_pages", r.shm_get_pages);
    j.Num("memcpy_ceiling_MBps", r.memcpy_ceiling_mbps, 1);
    j.Num("memcpy_working_set_MBps", r.memcpy_working_set_mbps, 1);
  }
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

void PrintMicroSummary(const BackendOptions& b, const MicroOptions& m, MicroReport& r) {
  using util::FormatByteSize;
  std::printf(
      "prefixd-bench micro: %llu pages of %s in chains of %u, concurrency %d, seed %llu, "
      "%s %s\n",
      static_cast<unsigned long long>(m.pages), FormatByteSize(m.page_bytes).c_str(), m.chain_pages,
      m.concurrency, static_cast<unsigned long long>(m.seed), b.kind.c_str(),
      (b.kind == "grpc" ? b.target : b.dir).c_str());
  if (r.put.ran) {
    std::printf(
        "put:    %s in %.3f s = %.1f MB/s; chain p50 %s, p99 %s\n",
        FormatByteSize(r.put.bytes).c_str(), r.put.seconds, r.put.mbps().value_or(0),
        Fmt(r.put_chain_us.Percentile(0.5), "us").c_str(),
        Fmt(r.put_chain_us.Percentile(0.99), "us").c_str());
  }
  if (r.exists.ran) {
    std::printf("exists: %llu keys in %.3f s = %.0f keys/s; chain p50 %s, p99 %s, p99.9 %s; "
                "%llu absent\n",
                static_cast<unsigned long long>(r.exists_keys), r.exists.seconds,
                r.exists.seconds > 0 ? r.exists_keys / r.exists.seconds : 0.0,
                Fmt(r.exists_us.Percentile(0.5), "us").c_str(),
                Fmt(r.exists_us.Percentile(0.99), "us").c_str(),
                Fmt(r.exists_us.Percentile(0.999), "us").c_str(),
                static_cast<unsigned long long>(r.missing_pages));
  }
  if (r.cold_requested) {
    std::printf("cold:   %s\n", r.page_cache_dropped ? "page cache dropped before reading"
                                                      : r.cold_note.c_str());
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

}  // namespace prefixd::bench
