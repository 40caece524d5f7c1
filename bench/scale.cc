#include "bench/scale.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/page_content.h"
#include "bench/progress.h"

namespace prefixd::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

class ScaleRun {
 public:
  ScaleRun(const ScaleOptions& o, Backend* b) : o_(o), backend_(b) {}

  std::vector<std::string> Keys(uint64_t chain) const {
    std::vector<std::string> k;
    for (uint32_t j = 0; j < o_.chain_pages; ++j) k.push_back(PageKey(o_.seed, chain, j));
    return k;
  }

  // Writes chains [from, to) with `concurrency` workers; times each when `lat` is set.
  void Put(uint64_t from, uint64_t to, ScalePoint* point, Latencies* lat, ProgressMeter* meter) {
    ForEach(from, to, [&](uint64_t c, Latencies* mine, ScalePoint* part) {
      thread_local std::string buf;
      const uint64_t B = o_.page_bytes, n = o_.chain_pages;
      buf.resize(n * B);
      std::vector<std::string_view> views(n);
      for (uint64_t i = 0; i < n; ++i) {
        FillPage(o_.seed, c * n + i, buf.data() + i * B, B);
        views[i] = std::string_view(buf.data() + i * B, B);
      }
      auto t0 = Clock::now();
      auto s = backend_->Put(Keys(c), views, "");
      if (lat != nullptr) mine->Add(Since(t0) * 1e6);
      if (!s.ok()) Error(part, absl::StrCat("put chain ", c, ": ", s.ToString()));
      if (meter) meter->Add(n, n * B);
    }, point, lat);
  }

  // Exists then Get of `count` random chains below `stored`.
  void Probe(uint64_t stored_chains, ScalePoint* point) {
    std::mt19937_64 rng(o_.seed * 7919 + stored_chains);
    std::vector<uint64_t> picks(o_.window_chains);
    for (auto& p : picks) p = rng() % stored_chains;
    auto t0 = Clock::now();
    ForEach(0, picks.size(), [&](uint64_t i, Latencies* lat, ScalePoint* part) {
      auto t = Clock::now();
      auto e = backend_->Exists(Keys(picks[i]));
      lat->Add(Since(t) * 1e6);
      if (!e.ok()) Error(part, absl::StrCat("exists: ", e.status().ToString()));
    }, point, &point->exists_us);
    double es = Since(t0);
    point->exists_keys_per_s = double(picks.size() * o_.chain_pages) / es;

    std::atomic<uint64_t> returned{0};
    t0 = Clock::now();
    ForEach(0, picks.size(), [&](uint64_t i, Latencies* lat, ScalePoint* part) {
      thread_local std::vector<std::string> pages;
      auto t = Clock::now();
      auto g = backend_->Get(Keys(picks[i]), &pages);
      lat->Add(Since(t) * 1e6);
      if (!g.ok()) {
        Error(part, absl::StrCat("get: ", g.status().ToString()));
        return;
      }
      returned += pages.size();
      for (uint64_t j = 0; j < o_.chain_pages; ++j) {
        if (j >= pages.size()) {
          ++part->missing;
        } else if (PageMatches(o_.seed, picks[i] * o_.chain_pages + j, pages[j],
                               o_.page_bytes)) {
          ++part->verified;
        } else {
          ++part->corrupt;
        }
      }
    }, point, &point->get_us);
    point->get_pages_per_s = double(returned.load()) / Since(t0);
  }

 private:
  template <typename Body>  // void(uint64_t index, Latencies* lat, ScalePoint* part)
  void ForEach(uint64_t from, uint64_t to, Body body, ScalePoint* point, Latencies* lat) {
    std::vector<ScalePoint> parts(o_.concurrency);
    std::vector<Latencies> lats(o_.concurrency);
    std::vector<std::thread> threads;
    for (int t = 0; t < o_.concurrency; ++t) {
      threads.emplace_back([&, t] {
        for (uint64_t i = from + t; i < to; i += o_.concurrency) body(i, &lats[t], &parts[t]);
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < o_.concurrency; ++t) {
      const ScalePoint& p = parts[t];
      if (lat != nullptr) lat->Merge(lats[t]);
      point->verified += p.verified;
      point->missing += p.missing;
      point->corrupt += p.corrupt;
      point->errors += p.errors;
      if (point->first_error.empty()) point->first_error = p.first_error;
    }
  }

  static void Error(ScalePoint* part, const std::string& msg) {
    if (part->errors++ == 0) part->first_error = msg;
  }

  const ScaleOptions& o_;
  Backend* const backend_;
};

}  // namespace

absl::Status ScaleOptions::Validate() const {
  if (checkpoints.empty()) return absl::InvalidArgumentError("--checkpoints is empty");
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    if (checkpoints[i] < uint64_t{chain_pages} * window_chains ||
        (i > 0 && checkpoints[i] <= checkpoints[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--checkpoints must ascend, each at least --chain-pages x the window (",
          uint64_t{chain_pages} * window_chains, " pages)"));
    }
  }
  if (page_bytes == 0 || page_bytes > (uint64_t{64} << 20)) {
    return absl::InvalidArgumentError("--page-bytes must be in [1, 64MiB]");
  }
  if (chain_pages == 0 || chain_pages > 4096) {
    return absl::InvalidArgumentError("--chain-pages must be in [1, 4096]");
  }
  if (window_chains == 0) return absl::InvalidArgumentError("--window-chains must be > 0");
  if (concurrency < 1 || concurrency > 256) {
    return absl::InvalidArgumentError("--concurrency must be in [1, 256]");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScalePoint>> RunScale(const ScaleOptions& o, Backend* backend) {
  if (auto s = o.Validate(); !s.ok()) return s;
  ScaleRun run(o, backend);
  std::vector<ScalePoint> points;
  uint64_t written_chains = 0;
  ProgressMeter meter("fill", o.checkpoints.back(), o.progress);
  for (uint64_t target_pages : o.checkpoints) {
    ScalePoint p;
    const uint64_t target = target_pages / o.chain_pages;
    const uint64_t window_start = target - o.window_chains;
    auto t0 = Clock::now();
    if (written_chains < window_start) {
      run.Put(written_chains, window_start, &p, nullptr, &meter);
    }
    auto w0 = Clock::now();
    run.Put(std::max(written_chains, window_start), target, &p, &p.put_us, &meter);
    double window_s = Since(w0);
    p.put_pages_per_s = double((target - std::max(written_chains, window_start)) *
                               o.chain_pages) / window_s;
    p.fill_seconds = Since(t0);
    written_chains = target;
    p.pages = target * o.chain_pages;
    run.Probe(written_chains, &p);
    if (auto d = backend->DiskBytes(); d.ok()) p.disk_bytes = *d;
    if (o.progress) {
      std::fprintf(stderr, "scale: %llu pages: put %.0f/s, exists %.0f keys/s, get %.0f/s\n",
                   static_cast<unsigned long long>(p.pages), p.put_pages_per_s,
                   p.exists_keys_per_s, p.get_pages_per_s);
    }
    points.push_back(std::move(p));
  }
  return points;
}

std::string ScaleToJson(std::vector<ScalePoint>& points) {
  std::string out = "[\n";
  for (size_t i = 0; i < points.size(); ++i) {
    auto& p = points[i];
    JsonObject j;
    j.Int("pages", p.pages);
    j.Num("fill_seconds", p.fill_seconds, 3);
    j.Num("put_pages_per_s", p.put_pages_per_s, 1);
    j.Num("put_chain_p99_us", p.put_us.Percentile(0.99), 1);
    j.Num("exists_keys_per_s", p.exists_keys_per_s, 1);
    j.Num("exists_chain_p50_us", p.exists_us.Percentile(0.5), 1);
    j.Num("exists_chain_p99_us", p.exists_us.Percentile(0.99), 1);
    j.Num("get_pages_per_s", p.get_pages_per_s, 1);
    j.Num("get_chain_p50_us", p.get_us.Percentile(0.5), 1);
    j.Num("get_chain_p99_us", p.get_us.Percentile(0.99), 1);
    j.Int("disk_bytes", p.disk_bytes);
    j.Int("verified_pages", p.verified);
    j.Int("missing_pages", p.missing);
    j.Int("corrupt_pages", p.corrupt);
    j.Int("errors", p.errors);
    j.Str("first_error", p.first_error);
    absl::StrAppend(&out, j.Render(), i + 1 < points.size() ? ",\n" : "\n");
  }
  return out + "]\n";
}

}  // namespace prefixd::bench
