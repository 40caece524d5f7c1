#include "bench/micro.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <latch>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/cold.h"
#include "bench/page_content.h"
#include "bench/progress.h"
#include "shm/arena.h"

namespace prefixd::bench {
namespace {

using Clock = std::chrono::steady_clock;

double MicrosSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Failed calls, shared by all workers. The first few go to stderr as they happen.
class ErrorLog {
 public:
  static constexpr uint64_t kPrinted = 5;
  // The workers stop early past this many errors, or this many in a row (no call succeeding
  // in between): the target is down or refusing everything.
  static constexpr uint64_t kAbortAfter = 100;
  static constexpr uint64_t kAbortAfterInARow = 10;

  void Record(const std::string& msg) {
    absl::MutexLock l(&mu_);
    if (count_++ == 0) first_ = msg;
    ++in_a_row_;
    if (count_ <= kPrinted) std::fprintf(stderr, "prefixd-bench: error: %s\n", msg.c_str());
  }
  void Success() {
    absl::MutexLock l(&mu_);
    in_a_row_ = 0;
  }
  bool TooMany() const {
    absl::MutexLock l(&mu_);
    return count_ >= kAbortAfter || in_a_row_ >= kAbortAfterInARow;
  }
  uint64_t count() const {
    absl::MutexLock l(&mu_);
    return count_;
  }
  std::string first() const {
    absl::MutexLock l(&mu_);
    return first_;
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t in_a_row_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_ ABSL_GUARDED_BY(mu_);
};

// Adds a worker's counters and samples (not phase times or errors) into `dst`.
void Merge(const MicroReport& src, MicroReport* dst) {
  dst->put.bytes += src.put.bytes;
  dst->get.bytes += src.get.bytes;
  dst->put_chain_us.Merge(src.put_chain_us);
  dst->exists_us.Merge(src.exists_us);
  dst->get_chain_us.Merge(src.get_chain_us);
  dst->exists_present_pages += src.exists_present_pages;
  dst->exists_keys += src.exists_keys;
  dst->exists_get_mismatches += src.exists_get_mismatches;
  dst->verified_pages += src.verified_pages;
  dst->missing_pages += src.missing_pages;
  dst->corrupt_pages += src.corrupt_pages;
  dst->data_loss_errors += src.data_loss_errors;
  dst->fill_seconds += src.fill_seconds;
  dst->verify_seconds += src.verify_seconds;
}

class MicroRun {
 public:
  MicroRun(const MicroOptions& o, Backend* b) : o_(o), backend_(b) {}

  // Runs one phase over all chains with o_.concurrency workers; returns its wall seconds, from
  // when every worker has run `prepare` (if given; untimed) to when the last one ends.
  template <typename Body>  // void(uint64_t chain, MicroReport* part, ProgressMeter* meter)
  double RunPhase(const char* label, Body body, MicroReport* report,
                  const std::function<void()>& prepare = nullptr) {
    std::vector<MicroReport> parts(o_.concurrency);
    ProgressMeter meter(label, o_.pages, o_.progress);
    std::latch ready(o_.concurrency), go(1);
    std::vector<std::thread> threads;
    for (int t = 0; t < o_.concurrency; ++t) {
      threads.emplace_back([&, t] {
        if (prepare) prepare();
        ready.count_down();
        go.wait();
        for (uint64_t c = t; c < o_.chains() && !errors_.TooMany(); c += o_.concurrency) {
          body(c, &parts[t], &meter);
        }
      });
    }
    ready.wait();
    auto t0 = Clock::now();
    go.count_down();
    for (auto& th : threads) th.join();
    double seconds = SecondsSince(t0);
    for (const auto& p : parts) Merge(p, report);
    return seconds;
  }

  void PutChain(uint64_t c, MicroReport* out, ProgressMeter* meter) {
    thread_local std::string buf;
    const uint64_t first = c * o_.chain_pages, n = PagesIn(c), B = o_.page_bytes;
    auto f0 = Clock::now();
    if (buf.size() < n * B) buf.resize(n * B);
    std::vector<std::string_view> views(n);
    for (uint64_t i = 0; i < n; ++i) {
      FillPage(o_.seed, first + i, buf.data() + i * B, B);
      views[i] = std::string_view(buf.data() + i * B, B);
    }
    out->fill_seconds += SecondsSince(f0);
    const std::vector<std::string> keys = KeysOf(c);
    auto t0 = Clock::now();
    auto r = backend_->Put(keys, views, "");
    double us = MicrosSince(t0);
    meter->Add(n, n * B);
    if (!r.ok()) {
      errors_.Record(absl::StrCat("put chain ", c, ": ", r.ToString()));
      return;
    }
    errors_.Success();
    out->put_chain_us.Add(us);
    out->put.bytes += n * B;
  }

  void GetChain(uint64_t c, MicroReport* out, ProgressMeter* meter) {
    const uint64_t first = c * o_.chain_pages, n = PagesIn(c), B = o_.page_bytes;
    const std::vector<std::string> keys = KeysOf(c);
    auto t0 = Clock::now();
    auto e = backend_->Exists(keys);
    double us = MicrosSince(t0);
    uint64_t prefix = 0;
    if (e.ok()) {
      out->exists_us.Add(us);
      for (bool p : *e) out->exists_present_pages += p;
      while (prefix < e->size() && (*e)[prefix]) ++prefix;
    } else {
      errors_.Record(absl::StrCat("exists chain ", c, ": ", e.status().ToString()));
    }
    t0 = Clock::now();
    auto g = backend_->GetViews(keys);
    us = MicrosSince(t0);
    if (!g.ok()) {
      if (g.status().code() == absl::StatusCode::kDataLoss) ++out->data_loss_errors;
      errors_.Record(absl::StrCat("get chain ", c, ": ", g.status().ToString()));
      meter->Add(n, 0);
      return;
    }
    errors_.Success();
    out->get_chain_us.Add(us);
    const std::vector<std::string_view>& pages = g->pages;
    const uint64_t got = pages.size();
    auto v0 = Clock::now();
    uint64_t verified = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (i >= got) {
        ++out->missing_pages;
      } else if (PageMatches(o_.seed, first + i, pages[i], B)) {
        ++verified;
      } else {
        ++out->corrupt_pages;
      }
    }
    out->verify_seconds += SecondsSince(v0);
    out->verified_pages += verified;
    out->get.bytes += verified * B;
    meter->Add(n, verified * B);
    if (e.ok() && prefix != got) ++out->exists_get_mismatches;
    if (got > n) {
      errors_.Record(absl::StrCat("get chain ", c, ": ", got, " pages returned for ", n, " asked"));
    }
  }

  // Exists alone: every page of the chain was written before, so all must be present.
  void ExistsChain(uint64_t c, MicroReport* out, ProgressMeter* meter) {
    const std::vector<std::string> keys = KeysOf(c);
    auto t0 = Clock::now();
    auto e = backend_->Exists(keys);
    double us = MicrosSince(t0);
    meter->Add(keys.size(), 0);
    if (!e.ok()) {
      errors_.Record(absl::StrCat("exists chain ", c, ": ", e.status().ToString()));
      return;
    }
    errors_.Success();
    out->exists_us.Add(us);
    out->exists_keys += keys.size();
    uint64_t present = 0;
    for (bool p : *e) present += p;
    out->exists_present_pages += present;
    out->missing_pages += keys.size() - present;
  }

  const ErrorLog& errors() const { return errors_; }

 private:
  uint64_t PagesIn(uint64_t c) const {
    return std::min<uint64_t>(o_.pages, (c + 1) * o_.chain_pages) - c * o_.chain_pages;
  }

  std::vector<std::string> KeysOf(uint64_t c) const {
    std::vector<std::string> keys;
    keys.reserve(PagesIn(c));
    for (uint64_t j = 0; j < PagesIn(c); ++j) keys.push_back(PageKey(o_.seed, c, j));
    return keys;
  }

  const MicroOptions& o_;
  Backend* const backend_;
  ErrorLog errors_;
};

}  // namespace

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kPut:
      return "put";
    case Phase::kGet:
      return "get";
    case Phase::kAll:
      return "all";
    case Phase::kExists:
      return "exists";
  }
  return "?";
}

absl::Status MicroOptions::Validate() const {
  if (pages == 0) return absl::InvalidArgumentError("--pages must be at least 1");
  if (page_bytes == 0 || page_bytes > (uint64_t{256} << 20)) {
    return absl::InvalidArgumentError("--page-bytes must be in [1, 256MiB]");
  }
  if (chain_pages == 0 || chain_pages > 65536) {
    return absl::InvalidArgumentError("--chain-pages must be in [1, 65536]");
  }
  if (chain_pages * page_bytes > (uint64_t{4} << 30)) {
    return absl::InvalidArgumentError(
        "--chain-pages x --page-bytes is over 4GiB (each worker holds one chain in memory)");
  }
  if (exists_rounds < 1 || exists_rounds > 1000) {
    return absl::InvalidArgumentError("--exists-rounds must be in [1, 1000]");
  }
  if (concurrency < 1 || concurrency > 1024) {
    return absl::InvalidArgumentError("--concurrency must be in [1, 1024]");
  }
  return absl::OkStatus();
}

std::optional<double> PhaseReport::mbps() const {
  if (!ran || seconds <= 0) return std::nullopt;
  return static_cast<double>(bytes) / 1e6 / seconds;
}

absl::StatusOr<MicroReport> RunMicro(const MicroOptions& o, Backend* backend) {
  if (auto s = o.Validate(); !s.ok()) return s;
  MicroRun run(o, backend);
  MicroReport report;
  report.cold_requested = o.cold;
  auto maybe_drop = [&] {
    if (!o.cold) return;
    ColdResult r = DropPageCache();
    report.page_cache_dropped = r.dropped;
    report.cold_note = r.note;
    if (!r.dropped) std::fprintf(stderr, "prefixd-bench: --cold: %s\n", r.note.c_str());
  };
  auto finish = [&] {
    report.errors = run.errors().count();
    report.first_error = run.errors().first();
    report.aborted = run.errors().TooMany();
    return report;
  };
  if (o.phase == Phase::kExists) {
    maybe_drop();
    report.exists.ran = true;
    for (uint32_t round = 0; round < o.exists_rounds && !run.errors().TooMany(); ++round) {
      report.exists.seconds += run.RunPhase(
          "exists", [&](uint64_t c, MicroReport* p, ProgressMeter* m) { run.ExistsChain(c, p, m); },
          &report);
    }
    return finish();
  }
  if (o.phase != Phase::kGet) {
    report.put.ran = true;
    report.put.seconds = run.RunPhase(
        "put", [&](uint64_t c, MicroReport* p, ProgressMeter* m) { run.PutChain(c, p, m); },
        &report);
  }
  if (o.phase != Phase::kPut && !run.errors().TooMany()) {
    if (report.put.ran) {
      // The tier's background work from the puts (memtable flushes, the kernel's write-back)
      // is finished before gets are timed: left running, it took 16-23 % of a 1 MiB get
      // phase's rate over shared memory with four workers on two CPUs, and more the faster
      // the puts had returned. Timed apart from both phases.
      auto t0 = Clock::now();
      if (auto s = backend->Sync(); !s.ok()) {
        std::fprintf(stderr, "prefixd-bench: sync between put and get: %s\n",
                     s.ToString().c_str());
      }
      report.settle_seconds = SecondsSince(t0);
    }
    maybe_drop();
    report.get.ran = true;
    report.get.seconds = run.RunPhase(
        "get", [&](uint64_t c, MicroReport* p, ProgressMeter* m) { run.GetChain(c, p, m); },
        &report, [&] { backend->PrepareGets(o.chain_pages, o.page_bytes); });
  }
  if (report.get.ran) {
    report.unverified_pages =
        o.pages - report.verified_pages - report.missing_pages - report.corrupt_pages;
  }
  return finish();
}

std::optional<double> MemcpyCeilingMBps(uint64_t page_bytes, uint64_t bytes,
                                        uint64_t source_bytes) {
  const uint64_t slots = std::max<uint64_t>(1, (uint64_t{256} << 20) / page_bytes);
  auto arena = shm::Arena::Create(slots * page_bytes, "prefixd-bench-ceiling");
  if (!arena.ok()) return std::nullopt;
  // At most 1 GiB of sources: far past any CPU cache, and bounded memory for large runs.
  source_bytes = std::min(source_bytes, uint64_t{1} << 30);
  const uint64_t sources = std::max<uint64_t>(1, source_bytes / page_bytes);
  std::vector<char> source(sources * page_bytes);
  for (uint64_t i = 0; i < sources; ++i) FillPage(1, i, source.data() + i * page_bytes, page_bytes);
  bytes = std::max(bytes, uint64_t{1} << 30);
  // Touch every slot first: the ceiling is a copy into memory already mapped, as an arena is
  // after its first use. (First touch on this VM ran at 0.3-0.4 GB/s against ~21 GB/s after,
  // which put a quarter of the copies at fault speed.)
  std::memset((*arena)->data(), 0, slots * page_bytes);
  auto start = std::chrono::steady_clock::now();
  uint64_t copied = 0;
  for (uint64_t i = 0; copied < bytes; ++i, copied += page_bytes) {
    std::memcpy((*arena)->data() + (i % slots) * page_bytes,
                source.data() + (i % sources) * page_bytes, page_bytes);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return secs > 0 ? std::optional(copied / 1e6 / secs) : std::nullopt;
}

}  // namespace prefixd::bench
