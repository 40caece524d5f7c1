#include "bench/phases.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/page_content.h"

namespace prefixd::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Us(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// Chain c's keys and the index of its page i's bytes.
std::vector<std::string> Keys(uint64_t seed, uint64_t chain, uint32_t n) {
  std::vector<std::string> k;
  for (uint32_t i = 0; i < n; ++i) k.push_back(PageKey(seed, chain, i));
  return k;
}
uint64_t PageIndex(uint64_t chain, uint32_t i) { return chain * 65536 + i; }

struct Shared {
  std::atomic<uint64_t> next_chain{0};  // chains started
  std::atomic<uint64_t> done_chains{0};  // a prefix of chains all written (approximately)
  std::atomic<uint64_t> claimed{0};      // bytes the current phase's operations claimed
};

// One worker's share of a phase.
void Work(const PhasesOptions& o, const std::string& phase, Backend* b, Shared* sh,
          Clock::time_point until, uint64_t worker, PhaseResult* out) {
  std::mt19937_64 rng(o.seed * 7919 + worker * 104729 + std::hash<std::string>()(phase));
  std::vector<std::string> pages(o.chain_pages, std::string(o.page_bytes, '\0'));
  std::vector<std::string> got;
  bool put_turn = phase != "serving";
  auto fail = [&](const absl::Status& s) {
    if (out->errors++ == 0) out->first_error = s.ToString();
  };
  const uint64_t chain_bytes = uint64_t{o.chain_pages} * o.page_bytes;
  while (Clock::now() < until) {
    if (o.phase_bytes > 0 && sh->claimed.fetch_add(chain_bytes) >= o.phase_bytes) break;
    const bool do_put = phase == "population" || (phase == "mixed" && put_turn) ||
                        sh->done_chains.load() == 0;
    put_turn = !put_turn;
    if (do_put) {
      const uint64_t chain = sh->next_chain.fetch_add(1);
      for (uint32_t i = 0; i < o.chain_pages; ++i) {
        FillPage(o.seed, PageIndex(chain, i), pages[i].data(), o.page_bytes);
      }
      std::vector<std::string_view> views(pages.begin(), pages.end());
      auto keys = Keys(o.seed, chain, o.chain_pages);
      auto t0 = Clock::now();
      auto s = b->Put(keys, views, "");
      if (!s.ok()) {
        fail(s);
        continue;
      }
      out->put_us.Add(Us(t0));
      out->put_bytes += o.chain_pages * o.page_bytes;
      ++out->puts;
      sh->done_chains.fetch_add(1);
      continue;
    }
    // A chain written before, recent ones likelier (a skew towards what was just computed).
    const uint64_t n = sh->done_chains.load();
    const uint64_t back = static_cast<uint64_t>(std::exponential_distribution<double>(
                              8.0 / static_cast<double>(n))(rng));
    const uint64_t chain = n - 1 - std::min(back, n - 1);
    auto keys = Keys(o.seed, chain, o.chain_pages);
    auto t0 = Clock::now();
    auto e = b->Exists(keys);
    if (!e.ok()) {
      fail(e.status());
      continue;
    }
    out->exists_us.Add(Us(t0));
    out->exists_keys += keys.size();
    t0 = Clock::now();
    auto g = b->Get(keys, &got);
    if (!g.ok()) {
      fail(g.status());
      continue;
    }
    out->get_us.Add(Us(t0));
    ++out->gets;
    out->pages_asked += keys.size();
    out->pages_returned += *g;
    for (size_t i = 0; i < *g; ++i) {
      if (!PageMatches(o.seed, PageIndex(chain, i), got[i], o.page_bytes)) ++out->wrong_pages;
    }
    out->get_bytes += *g * o.page_bytes;
  }
}

void Merge(PhaseResult* into, PhaseResult& w) {
  into->put_bytes += w.put_bytes;
  into->get_bytes += w.get_bytes;
  into->exists_keys += w.exists_keys;
  into->gets += w.gets;
  into->puts += w.puts;
  into->pages_asked += w.pages_asked;
  into->pages_returned += w.pages_returned;
  into->wrong_pages += w.wrong_pages;
  if (into->errors == 0 && w.errors > 0) into->first_error = w.first_error;
  into->errors += w.errors;
  into->put_us.Merge(w.put_us);
  into->exists_us.Merge(w.exists_us);
  into->get_us.Merge(w.get_us);
}

}  // namespace

absl::Status PhasesOptions::Validate() const {
  if (phases.empty()) return absl::InvalidArgumentError("--phases is empty");
  for (const auto& p : phases) {
    if (p != "population" && p != "serving" && p != "mixed") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown phase '", p, "' (population, serving, mixed)"));
    }
  }
  if (!(phase_seconds > 0)) return absl::InvalidArgumentError("--phase-seconds must be > 0");
  if (phase_bytes > 0 && phase_bytes < uint64_t{chain_pages} * page_bytes) {
    return absl::InvalidArgumentError("--phase-bytes is less than one chain");
  }
  if (page_bytes == 0 || chain_pages == 0 || chain_pages > 65536 || concurrency < 1) {
    return absl::InvalidArgumentError("bad --page-bytes, --chain-pages or --concurrency");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PhaseResult>> RunPhases(const PhasesOptions& o, Backend* b) {
  if (auto s = o.Validate(); !s.ok()) return s;
  Shared shared;
  std::vector<PhaseResult> results;
  for (const auto& phase : o.phases) {
    IoCounters before = b->Io().value_or(IoCounters{});
    shared.claimed.store(0);
    const auto start = Clock::now();
    const auto until = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(o.phase_seconds));
    std::vector<PhaseResult> per(o.concurrency);
    std::vector<std::thread> workers;
    for (int w = 0; w < o.concurrency; ++w) {
      workers.emplace_back(Work, std::cref(o), std::cref(phase), b, &shared, until, w, &per[w]);
    }
    for (auto& t : workers) t.join();
    PhaseResult r;
    r.name = phase;
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& p : per) Merge(&r, p);
    r.completed = o.phase_bytes == 0 || shared.claimed.load() >= o.phase_bytes;
    (void)b->Sync();  // the phase's writes reach the device inside the phase
    IoCounters after = b->Io().value_or(IoCounters{});
    r.device_write_bytes = after.write_bytes - std::min(after.write_bytes, before.write_bytes);
    r.stall_micros = after.stall_micros - std::min(after.stall_micros, before.stall_micros);
    if (o.progress) {
      std::fprintf(stderr, "phases: %s done: put %.1f MB/s, get %.1f MB/s, %llu errors\n",
                   phase.c_str(), r.put_bytes / 1e6 / r.seconds, r.get_bytes / 1e6 / r.seconds,
                   static_cast<unsigned long long>(r.errors));
    }
    results.push_back(std::move(r));
  }
  return results;
}

std::string PhasesToJson(const BackendOptions& b, const PhasesOptions& o,
                         std::vector<PhaseResult>& results) {
  JsonObject head;
  head.Str("workload", "phases");
  head.Str("backend", b.kind);
  head.Str("target", b.kind == "grpc" ? b.target : b.dir);
  head.Int("page_bytes", o.page_bytes);
  head.Int("chain_pages", o.chain_pages);
  head.Int("concurrency", o.concurrency);
  head.Num("phase_seconds", o.phase_seconds, 1);
  head.Int("phase_bytes", o.phase_bytes);
  std::string out = head.Render();
  out.resize(out.rfind('}'));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  out += ",\n  \"phases\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    PhaseResult& r = results[i];
    JsonObject j;
    j.Str("phase", r.name);
    j.Num("seconds", r.seconds, 3);
    j.Bool("completed", r.completed);
    j.Num("put_MBps", r.put_bytes / 1e6 / r.seconds, 1);
    j.Num("get_MBps", r.get_bytes / 1e6 / r.seconds, 1);
    j.Num("exists_keys_per_s", r.exists_keys / r.seconds, 0);
    j.Int("puts", r.puts);
    j.Int("gets", r.gets);
    j.Num("get_hit_ratio", r.pages_asked ? std::optional(double(r.pages_returned) / r.pages_asked)
                                         : std::nullopt, 4);
    j.Num("put_p50_us", r.put_us.Percentile(0.5), 1);
    j.Num("put_p99_us", r.put_us.Percentile(0.99), 1);
    j.Num("exists_p50_us", r.exists_us.Percentile(0.5), 1);
    j.Num("exists_p99_us", r.exists_us.Percentile(0.99), 1);
    j.Num("get_p50_us", r.get_us.Percentile(0.5), 1);
    j.Num("get_p99_us", r.get_us.Percentile(0.99), 1);
    j.Num("stall_seconds", r.stall_micros / 1e6, 3);
    j.Int("device_write_bytes", r.device_write_bytes);
    j.Int("wrong_pages", r.wrong_pages);
    j.Int("errors", r.errors);
    j.Str("first_error", r.first_error);
    std::string s = j.Render();
    while (!s.empty() && s.back() == '\n') s.pop_back();
    std::string indented;
    for (char c : s) {
      indented += c;
      if (c == '\n') indented += "  ";
    }
    out += "  " + indented + (i + 1 < results.size() ? ",\n" : "\n");
  }
  out += "  ]\n}\n";
  return out;
}

}  // namespace prefixd::bench
