#include "bench/replay.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "bench/page_content.h"

namespace prefixd::bench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr uint64_t kMaxPageBytes = 256ull << 20;
constexpr uint64_t kAbortAfter = 100, kAbortAfterInARow = 10;

// Everything one worker accumulates; merged after join.
struct WorkerStats {
  Latencies exists_us, get_us, put_us;
  uint64_t pages_got = 0, bytes_got = 0, pages_put = 0, bytes_put = 0;
  uint64_t corrupt = 0, mismatches = 0;
  double max_lag_s = 0;
};

// State shared by the workers of one replay.
class Shared {
 public:
  explicit Shared(size_t n) : done_(n, 0) {}

  // Blocks until request `i` has finished or the run is stopping; false when stopping.
  bool AwaitDone(int64_t i) {
    if (i < 0) return true;
    absl::MutexLock l(&mu_);
    auto ready = [this, i]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || done_[static_cast<size_t>(i)] != 0;
    };
    mu_.Await(absl::Condition(&ready));
    return !stop_;
  }
  void MarkDone(size_t i) {
    absl::MutexLock l(&mu_);
    done_[i] = 1;
  }
  void RecordError(const std::string& msg) {
    absl::MutexLock l(&mu_);
    if (errors_++ == 0) first_error_ = msg;
    if (errors_ <= 5) std::fprintf(stderr, "prefixd-bench: error: %s\n", msg.c_str());
    if (++in_a_row_ >= kAbortAfterInARow || errors_ >= kAbortAfter) StopLocked(true);
  }
  void RecordSuccess() {
    absl::MutexLock l(&mu_);
    in_a_row_ = 0;
  }
  bool stopping() {
    absl::MutexLock l(&mu_);
    return stop_;
  }
  // For speed > 0: sleeps until `t`; false when the run is stopping.
  bool SleepUntil(Clock::time_point t) {
    auto left = t - Clock::now();
    if (left <= Clock::duration::zero()) return !stopping();
    return !stop_note_.WaitForNotificationWithTimeout(absl::FromChrono(left));
  }
  uint64_t errors() {
    absl::MutexLock l(&mu_);
    return errors_;
  }
  std::string first_error() {
    absl::MutexLock l(&mu_);
    return first_error_;
  }
  bool aborted() {
    absl::MutexLock l(&mu_);
    return aborted_;
  }
  void Abort() {
    absl::MutexLock l(&mu_);
    StopLocked(true);
  }

  std::atomic<size_t> next{0};
  // Progress figures.
  std::atomic<uint64_t> requests_done{0}, prompt_tokens{0}, served_tokens{0}, bytes{0};

 private:
  void StopLocked(bool aborted) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!stop_) stop_note_.Notify();
    stop_ = true;
    aborted_ = aborted_ || aborted;
  }

  absl::Mutex mu_;
  std::vector<char> done_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0, in_a_row_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_note_;
};

LatencySummary SummarizeLatency(Latencies& l) {
  return {l.count(), l.Percentile(0.5), l.Percentile(0.99), l.Percentile(0.999)};
}

}  // namespace

absl::Status ReplayOptions::Validate() const {
  if (!(speed >= 0) || !std::isfinite(speed)) {
    return absl::InvalidArgumentError(absl::StrCat("speed must be finite and >= 0, is ", speed));
  }
  if (bytes_per_token == 0) return absl::InvalidArgumentError("bytes_per_token must be > 0");
  if (concurrency < 1 || concurrency > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("concurrency must be in [1, 1024], is ", concurrency));
  }
  if (restart != Restart::kNone && tail_from == 0) {
    return absl::InvalidArgumentError("a restart needs tail_from > 0: the request it precedes");
  }
  if (restart != Restart::kNone && concurrency != 1) {
    return absl::InvalidArgumentError("a restart needs concurrency 1");
  }
  if ((restart == Restart::kCrash) != (order_sync_every >= 1 && order_sync_every <= tail_from)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "order_sync_every (", order_sync_every, ") must be in [1, tail_from = ", tail_from,
        "] with a crash, and 0 otherwise"));
  }
  return model.Validate();
}

std::string BlockKey(uint64_t block_id) { return absl::StrCat("b", block_id); }

absl::StatusOr<uint64_t> ReplayPageBytes(std::span<const Request> trace,
                                         const ReplayOptions& options) {
  if (trace.empty()) return absl::InvalidArgumentError("empty trace");
  if (absl::Status s = ValidateTrace(trace); !s.ok()) return s;
  if (options.bytes_per_token > kMaxPageBytes / trace[0].block_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("page of ", trace[0].block_tokens, " tokens x ",
                                                   options.bytes_per_token,
                                                   " bytes per token is over 256 MiB"));
  }
  return trace[0].block_tokens * options.bytes_per_token;
}

namespace {

// Replays request `i`; returns its record. All counters go to `w`, errors to `shared`.
RequestRecord ReplayOne(const Request& req, uint64_t index, const ReplayOptions& opt,
                        uint64_t page_bytes, Backend* backend, Shared* shared, WorkerStats* w,
                        std::vector<std::string>* got, std::string* arena) {
  RequestRecord rec;
  rec.index = index;
  rec.arrival_s = req.arrival_s;
  const size_t n = req.blocks.size();
  std::vector<std::string> keys;
  keys.reserve(n);
  for (uint64_t id : req.blocks) keys.push_back(BlockKey(id));
  auto fail = [&](std::string_view what, const absl::Status& s) {
    shared->RecordError(absl::StrCat(std::string(what), " (request ", index, "): ", s.ToString()));
  };

  // 1. Probe.
  Clock::time_point t0 = Clock::now();
  absl::StatusOr<std::vector<bool>> present = backend->Exists(keys);
  rec.probe_s = SecondsSince(t0);
  if (!present.ok()) {
    fail("exists", present.status());
  } else if (present->size() != n) {
    fail("exists", absl::InternalError(absl::StrCat("answered ", present->size(), " of ", n)));
  } else {
    shared->RecordSuccess();
    w->exists_us.Add(rec.probe_s * 1e6);
    while (rec.present_pages < n && (*present)[rec.present_pages]) ++rec.present_pages;
  }

  // 2. Load and verify the present prefix.
  if (rec.present_pages > 0) {
    got->clear();
    t0 = Clock::now();
    absl::StatusOr<size_t> count =
        backend->Get(std::span<const std::string>(keys).first(rec.present_pages), got);
    rec.get_s = SecondsSince(t0);
    if (!count.ok()) {
      fail("get", count.status());
    } else if (*count != got->size() || *count > rec.present_pages) {
      fail("get", absl::InternalError(absl::StrCat("returned ", *count, " (", got->size(),
                                                   " pages) of ", rec.present_pages, " asked")));
    } else {
      shared->RecordSuccess();
      w->get_us.Add(rec.get_s * 1e6);
      if (*count < rec.present_pages) ++w->mismatches;
      bool prefix_intact = true;
      for (size_t j = 0; j < *count; ++j) {
        const std::string& page = (*got)[j];
        w->bytes_got += page.size();
        ++w->pages_got;
        if (PageMatches(opt.seed, req.blocks[j], page, page_bytes)) {
          if (prefix_intact) ++rec.served_pages;
        } else {
          ++rec.corrupt_pages;
          prefix_intact = false;
        }
      }
      w->corrupt += rec.corrupt_pages;
    }
    got->clear();
  }

  // 3. Store what the engine computed: every page from the first one not served.
  if (rec.served_pages < n) {
    const size_t first = rec.served_pages, count = n - first;
    arena->resize(count * page_bytes);
    std::vector<std::string_view> pages;
    pages.reserve(count);
    for (size_t j = 0; j < count; ++j) {
      char* p = arena->data() + j * page_bytes;
      FillPage(opt.seed, req.blocks[first + j], p, page_bytes);
      pages.emplace_back(p, page_bytes);
    }
    t0 = Clock::now();
    absl::Status s = backend->Put(std::span<const std::string>(keys).subspan(first), pages,
                                  first > 0 ? std::string_view(keys[first - 1]) : "");
    rec.put_s = SecondsSince(t0);
    if (!s.ok()) {
      fail("put", s);
    } else {
      shared->RecordSuccess();
      w->put_us.Add(rec.put_s * 1e6);
      w->pages_put += count;
      w->bytes_put += count * page_bytes;
    }
  }

  // 4. The model.
  rec.ttft = EvaluateTtft(opt.model, {.prompt_tokens = req.prompt_tokens,
                                      .block_tokens = req.block_tokens,
                                      .served_pages = rec.served_pages,
                                      .probe_s = rec.probe_s,
                                      .get_s = rec.get_s});
  return rec;
}

void ProgressLoop(const std::string& label, uint64_t total, Clock::time_point start, Shared* shared,
                  absl::Notification* done) {
  while (!done->WaitForNotificationWithTimeout(absl::Seconds(2))) {
    double s = SecondsSince(start);
    uint64_t n = shared->requests_done.load(std::memory_order_relaxed);
    uint64_t prompt = shared->prompt_tokens.load(std::memory_order_relaxed);
    uint64_t served = shared->served_tokens.load(std::memory_order_relaxed);
    double mb = static_cast<double>(shared->bytes.load(std::memory_order_relaxed)) / 1e6;
    std::fprintf(stderr,
                 "prefixd-bench: %s %llu/%llu requests (%.0f%%), %.1f%% of tokens served, "
                 "%.1f MB/s, %.1f s\n",
                 label.c_str(), static_cast<unsigned long long>(n),
                 static_cast<unsigned long long>(total),
                 total ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0,
                 prompt ? 100.0 * static_cast<double>(served) / static_cast<double>(prompt) : 0.0,
                 s > 0 ? mb / s : 0.0, s);
  }
}

}  // namespace

absl::StatusOr<ReplayReport> RunReplay(std::span<const Request> trace, const ReplayOptions& options,
                                       Backend* backend) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  absl::StatusOr<uint64_t> page_bytes = ReplayPageBytes(trace, options);
  if (!page_bytes.ok()) return page_bytes.status();
  size_t max_blocks = 0;
  for (const Request& r : trace) max_blocks = std::max(max_blocks, r.blocks.size());
  const double need = 2.0 * static_cast<double>(max_blocks) * static_cast<double>(*page_bytes) *
                      options.concurrency;
  if (need > static_cast<double>(options.max_memory_bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the largest request (", max_blocks, " pages of ", *page_bytes,
                     " bytes) read and written "
                     "by ",
                     options.concurrency, " workers needs ", static_cast<uint64_t>(need),
                     " bytes, over the limit of ", options.max_memory_bytes,
                     ": lower bytes_per_token or concurrency"));
  }

  const size_t n = trace.size();
  Shared shared(n);
  std::vector<RequestRecord> records(n);
  std::vector<char> finished(n, 0);  // each slot written by one worker, read after join
  std::vector<WorkerStats> stats(options.concurrency);
  const Clock::time_point start = Clock::now();
  const double t_first = trace[0].arrival_s;

  auto worker = [&](int wi) {
    WorkerStats& w = stats[wi];
    std::vector<std::string> got;
    std::string arena;
    for (;;) {
      const size_t i = shared.next.fetch_add(1);
      if (i >= n || shared.stopping()) return;
      const Request& req = trace[i];
      if (options.speed > 0) {
        auto due =
            start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>((req.arrival_s - t_first) / options.speed));
        if (!shared.SleepUntil(due)) return;
        w.max_lag_s =
            std::max(w.max_lag_s, std::chrono::duration<double>(Clock::now() - due).count());
      }
      if (!shared.AwaitDone(req.after)) return;
      // Concurrency 1 for both: every earlier request has finished.
      if (options.restart == ReplayOptions::Restart::kCrash && i > 0 && i < options.tail_from &&
          i % options.order_sync_every == 0) {
        if (auto s = backend->SyncEvictionOrder(); !s.ok()) {
          shared.RecordError(
              absl::StrCat("syncing the order before request ", i, ": ", s.ToString()));
          shared.Abort();
          return;
        }
      }
      if (i == options.tail_from && options.restart != ReplayOptions::Restart::kNone) {
        using Order = Backend::OrderAtRestart;
        const Order order = options.restart == ReplayOptions::Restart::kClean   ? Order::kClosed
                            : options.restart == ReplayOptions::Restart::kCrash ? Order::kLastSync
                                                                                : Order::kNone;
        if (auto s = backend->Restart(order); !s.ok()) {
          shared.RecordError(absl::StrCat("restart before request ", i, ": ", s.ToString()));
          shared.Abort();
          return;
        }
      }
      const uint64_t bytes_before = w.bytes_got + w.bytes_put;
      records[i] = ReplayOne(req, i, options, *page_bytes, backend, &shared, &w, &got, &arena);
      finished[i] = 1;
      shared.MarkDone(i);
      shared.requests_done.fetch_add(1, std::memory_order_relaxed);
      shared.prompt_tokens.fetch_add(req.prompt_tokens, std::memory_order_relaxed);
      shared.served_tokens.fetch_add(records[i].ttft.served_tokens, std::memory_order_relaxed);
      shared.bytes.fetch_add(w.bytes_got + w.bytes_put - bytes_before, std::memory_order_relaxed);
    }
  };

  absl::Notification progress_done;
  std::thread progress;
  if (options.progress) {
    progress = std::thread(ProgressLoop, std::cref(options.label), static_cast<uint64_t>(n), start,
                           &shared, &progress_done);
  }
  {
    std::vector<std::thread> workers;
    workers.reserve(options.concurrency);
    for (int wi = 0; wi < options.concurrency; ++wi) workers.emplace_back(worker, wi);
    for (std::thread& t : workers) t.join();
  }
  progress_done.Notify();
  if (progress.joinable()) progress.join();

  ReplayReport rep;
  rep.seconds = SecondsSince(start);
  rep.page_bytes = *page_bytes;
  rep.bytes_per_token = options.bytes_per_token;
  rep.concurrency = options.concurrency;
  rep.speed = options.speed;
  rep.model = options.model;
  rep.requests = n;
  rep.tail_from = options.tail_from;
  rep.restart = options.restart == ReplayOptions::Restart::kClean         ? "clean"
                : options.restart == ReplayOptions::Restart::kForgetOrder ? "forget-order"
                : options.restart == ReplayOptions::Restart::kCrash       ? "crash"
                                                                          : "none";
  if (options.restart == ReplayOptions::Restart::kCrash) {
    // The last sync was before the last multiple of order_sync_every below tail_from (none if
    // tail_from is below it: the order is lost).
    const uint64_t every = options.order_sync_every;
    const uint64_t last = (options.tail_from - 1) / every * every;
    rep.order_synced_before = last > 0 ? options.tail_from - last : 0;
  }
  Latencies exists_us, get_us, put_us;
  for (WorkerStats& w : stats) {
    exists_us.Merge(w.exists_us);
    get_us.Merge(w.get_us);
    put_us.Merge(w.put_us);
    rep.pages_got += w.pages_got;
    rep.bytes_got += w.bytes_got;
    rep.pages_put += w.pages_put;
    rep.bytes_put += w.bytes_put;
    rep.corrupt += w.corrupt;
    rep.exists_get_mismatches += w.mismatches;
    rep.max_dispatch_lag_s = std::max(rep.max_dispatch_lag_s, w.max_lag_s);
  }
  rep.exists_us = SummarizeLatency(exists_us);
  rep.get_us = SummarizeLatency(get_us);
  rep.put_us = SummarizeLatency(put_us);
  std::vector<TtftResult> ttfts;
  for (size_t i = 0; i < n; ++i) {
    if (!finished[i]) continue;
    const RequestRecord& r = records[i];
    ++rep.requests_done;
    rep.prompt_tokens += r.ttft.prompt_tokens;
    rep.served_tokens += r.ttft.served_tokens;
    rep.cached_tokens += r.ttft.cached_tokens;
    rep.block_refs += trace[i].blocks.size();
    rep.present_blocks += r.present_pages;
    rep.served_blocks += r.served_pages;
    if (r.ttft.timed_out) ++rep.requests_timed_out;
    if (options.tail_from > 0 && i >= options.tail_from) {
      rep.tail_prompt_tokens += r.ttft.prompt_tokens;
      rep.tail_served_tokens += r.ttft.served_tokens;
    }
    ttfts.push_back(r.ttft);
    rep.records.push_back(r);
  }
  rep.ttft = SummarizeTtft(ttfts);
  for (int b = 0; b < kTtftBuckets; ++b) rep.ttft_by_bucket[b] = SummarizeTtft(ttfts, b);
  rep.errors = shared.errors();
  rep.first_error = shared.first_error();
  rep.aborted = shared.aborted();
  return rep;
}

// ---- Report -------------------------------------------------------------------------------------
namespace {

double Ratio(uint64_t a, uint64_t b) {
  return b ? static_cast<double>(a) / static_cast<double>(b) : 0;
}

// "1,234,567"
std::string Thousands(uint64_t v) {
  std::string digits = absl::StrCat(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Fixed(std::optional<double> v, int decimals) {
  if (!v || !std::isfinite(*v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, *v);
  return buf;
}

std::string Percent(double fraction) { return Fixed(100 * fraction, 1) + " %"; }

void AppendLatency(JsonObject* j, const std::string& name, const LatencySummary& l) {
  j->Int(name + "_count", l.count);
  j->Num(name + "_p50_us", l.p50_us, 1);
  j->Num(name + "_p99_us", l.p99_us, 1);
  j->Num(name + "_p999_us", l.p999_us, 1);
}

void AppendTtft(JsonObject* j, const std::string& prefix, const TtftSummary& t) {
  j->Int(prefix + "_count", t.count);
  j->Num(prefix + "_mean_s", t.mean_s, 4);
  j->Num(prefix + "_p50_s", t.p50_s, 4);
  j->Num(prefix + "_p99_s", t.p99_s, 4);
}

std::string LatencyCells(const LatencySummary& l) {
  return absl::StrCat(Fixed(l.p50_us, 0), " / ", Fixed(l.p99_us, 0), " / ", Fixed(l.p999_us, 0),
                      " (", Thousands(l.count), " calls)");
}

}  // namespace

double ReplayReport::token_hit_rate() const { return Ratio(served_tokens, prompt_tokens); }
double ReplayReport::tail_token_hit_rate() const {
  return Ratio(tail_served_tokens, tail_prompt_tokens);
}
double ReplayReport::cached_token_rate() const { return Ratio(cached_tokens, prompt_tokens); }
double ReplayReport::block_hit_rate() const { return Ratio(served_blocks, block_refs); }
double ReplayReport::requests_per_s() const {
  return seconds > 0 ? static_cast<double>(requests_done) / seconds : 0;
}
double ReplayReport::mb_per_s() const {
  return seconds > 0 ? static_cast<double>(bytes_got + bytes_put) / 1e6 / seconds : 0;
}
double ReplayReport::get_mb_per_s() const {
  return seconds > 0 ? static_cast<double>(bytes_got) / 1e6 / seconds : 0;
}
double ReplayReport::put_mb_per_s() const {
  return seconds > 0 ? static_cast<double>(bytes_put) / 1e6 / seconds : 0;
}

void ReplayReport::AppendJson(JsonObject* j) const {
  j->Int("requests", requests);
  j->Int("requests_done", requests_done);
  j->Int("page_bytes", page_bytes);
  j->Int("bytes_per_token", bytes_per_token);
  j->Int("concurrency", static_cast<uint64_t>(concurrency));
  j->Num("speed", speed, 3);
  j->Num("seconds", seconds, 3);
  j->Num("max_dispatch_lag_s", max_dispatch_lag_s, 3);
  j->Int("prompt_tokens", prompt_tokens);
  j->Int("served_tokens", served_tokens);
  j->Int("cached_tokens", cached_tokens);
  j->Num("token_hit_rate", token_hit_rate(), 4);
  if (tail_from > 0) {
    j->Int("tail_from", tail_from);
    j->Str("restart", restart);
    j->Int("order_synced_before", order_synced_before);
    j->Num("tail_token_hit_rate", tail_token_hit_rate(), 4);
  }
  j->Num("cached_token_rate", cached_token_rate(), 4);
  j->Int("block_refs", block_refs);
  j->Int("present_blocks", present_blocks);
  j->Int("served_blocks", served_blocks);
  j->Num("block_hit_rate", block_hit_rate(), 4);
  j->Int("requests_timed_out", requests_timed_out);
  j->Int("pages_got", pages_got);
  j->Int("bytes_got", bytes_got);
  j->Int("pages_put", pages_put);
  j->Int("bytes_put", bytes_put);
  j->Num("requests_per_s", requests_per_s(), 2);
  j->Num("mb_per_s", mb_per_s(), 1);
  j->Num("get_mb_per_s", get_mb_per_s(), 1);
  j->Num("put_mb_per_s", put_mb_per_s(), 1);
  AppendLatency(j, "exists", exists_us);
  AppendLatency(j, "get", get_us);
  AppendLatency(j, "put", put_us);
  AppendTtft(j, "ttft", ttft);
  for (int b = 0; b < kTtftBuckets; ++b) {
    AppendTtft(j, absl::StrCat("ttft_", TtftBucketName(b)), ttft_by_bucket[b]);
  }
  j->Num("model_per_token_s", model.per_token_s, 9);
  j->Num("model_attn_s", model.attn_s, 13);
  j->Str("model_prefetch_policy",
         model.policy == PrefetchPolicy::kTimeout ? "timeout" : "wait_complete");
  j->Num("model_deadline_base_s", model.deadline_base_s, 3);
  j->Num("model_deadline_per_1k_tokens_s", model.deadline_per_1k_tokens_s, 4);
  j->Num("model_deadline_max_s", model.deadline_max_s, 3);
  j->Int("model_min_prefetch_tokens", model.min_prefetch_tokens);
  j->Int("corrupt", corrupt);
  j->Int("exists_get_mismatches", exists_get_mismatches);
  j->Int("errors", errors);
  j->Str("first_error", first_error);
  j->Bool("aborted", aborted);
}

std::string ReplayReport::Json() const {
  JsonObject j;
  AppendJson(&j);
  return j.Render();
}

std::string ReplayReport::Markdown() const {
  std::string out = "| | |\n|---|---:|\n";
  auto row = [&out](std::string_view k, const std::string& v) {
    absl::StrAppend(&out, "| ", std::string(k), " | ", v, " |\n");
  };
  row("requests replayed", absl::StrCat(Thousands(requests_done), " of ", Thousands(requests),
                                        aborted ? " (aborted)" : ""));
  row("page size", absl::StrCat(Thousands(page_bytes), " B (", bytes_per_token, " B/token)"));
  row("tokens served by the tier", Percent(token_hit_rate()));
  row("tokens used after the prefetch deadline", Percent(cached_token_rate()));
  row("blocks served", Percent(block_hit_rate()));
  row("requests cut by the deadline", Thousands(requests_timed_out));
  row("throughput",
      absl::StrCat(Fixed(requests_per_s(), 1), " requests/s, ", Fixed(mb_per_s(), 1), " MB/s (get ",
                   Fixed(get_mb_per_s(), 1), ", put ", Fixed(put_mb_per_s(), 1), ")"));
  row("exists p50 / p99 / p99.9 (us)", LatencyCells(exists_us));
  row("get p50 / p99 / p99.9 (us)", LatencyCells(get_us));
  row("put p50 / p99 / p99.9 (us)", LatencyCells(put_us));
  row("corrupt pages / errors", absl::StrCat(Thousands(corrupt), " / ", Thousands(errors)));
  out +=
      "\n| prompt tokens | requests | mean TTFT (s) | p50 (s) | p99 (s) |\n"
      "|---|---:|---:|---:|---:|\n";
  static constexpr const char* kLabels[kTtftBuckets] = {"<= 4k", "4k-8k", "8k-16k", "> 16k"};
  auto ttft_row = [&out](std::string_view label, const TtftSummary& t) {
    absl::StrAppend(&out, "| ", std::string(label), " | ", Thousands(t.count), " | ",
                    Fixed(t.mean_s, 3), " | ", Fixed(t.p50_s, 3), " | ", Fixed(t.p99_s, 3), " |\n");
  };
  for (int b = 0; b < kTtftBuckets; ++b) ttft_row(kLabels[b], ttft_by_bucket[b]);
  ttft_row("all", ttft);
  return out;
}

std::string ReplayReport::PerRequestCsv() const {
  std::string out =
      "index,arrival_s,prompt_tokens,served_tokens,cached_tokens,probe_s,get_s,put_s,load_s,"
      "prefill_s,ttft_s,timed_out,corrupt_pages\n";
  char buf[320];
  for (const RequestRecord& r : records) {
    std::snprintf(buf, sizeof(buf), "%llu,%.6f,%u,%u,%u,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%d,%u\n",
                  static_cast<unsigned long long>(r.index), r.arrival_s, r.ttft.prompt_tokens,
                  r.ttft.served_tokens, r.ttft.cached_tokens, r.probe_s, r.get_s, r.put_s,
                  r.ttft.load_s, r.ttft.prefill_s, r.ttft.ttft_s, r.ttft.timed_out ? 1 : 0,
                  r.corrupt_pages);
    out += buf;
  }
  return out;
}

}  // namespace prefixd::bench
