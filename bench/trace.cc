#include "bench/trace.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace prefixd::bench {

uint32_t Request::BlockTokens(size_t i) const {
  uint64_t start = static_cast<uint64_t>(i) * block_tokens;
  return static_cast<uint32_t>(std::min<uint64_t>(block_tokens, prompt_tokens - start));
}

uint32_t Request::PrefixTokens(size_t n) const {
  return static_cast<uint32_t>(
      std::min<uint64_t>(prompt_tokens, static_cast<uint64_t>(n) * block_tokens));
}

absl::Status Request::Validate() const {
  if (block_tokens == 0) return absl::InvalidArgumentError("block_tokens is 0");
  if (prompt_tokens == 0) return absl::InvalidArgumentError("prompt_tokens is 0");
  uint64_t want = (static_cast<uint64_t>(prompt_tokens) + block_tokens - 1) / block_tokens;
  if (blocks.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(blocks.size(), " blocks for ", prompt_tokens,
                                                   " tokens of ", block_tokens, " a block (want ",
                                                   want, ")"));
  }
  if (!std::isfinite(arrival_s) || arrival_s < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad arrival time ", arrival_s));
  }
  return absl::OkStatus();
}

absl::Status ValidateTrace(std::span<const Request> trace) {
  for (size_t i = 0; i < trace.size(); ++i) {
    const Request& r = trace[i];
    if (absl::Status s = r.Validate(); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("request ", i, ": ", s.message()));
    }
    if (r.block_tokens != trace[0].block_tokens) {
      return absl::InvalidArgumentError(absl::StrCat("request ", i, ": block_tokens ",
                                                     r.block_tokens, " differs from ",
                                                     trace[0].block_tokens));
    }
    if (i > 0 && r.arrival_s < trace[i - 1].arrival_s) {
      return absl::InvalidArgumentError(absl::StrCat("request ", i, ": arrival out of order"));
    }
    if (r.after < -1 || r.after >= static_cast<int64_t>(i)) {
      return absl::InvalidArgumentError(absl::StrCat("request ", i, ": bad after ", r.after));
    }
  }
  return absl::OkStatus();
}

// ---- Mooncake JSONL ---------------------------------------------------------------------------
namespace {

// A strict cursor over one line. Errors carry the 1-based column.
class LineParser {
 public:
  explicit LineParser(std::string_view s) : s_(s) {}

  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ == s_.size();
  }
  bool Peek(char c) {
    SkipSpace();
    return i_ < s_.size() && s_[i_] == c;
  }
  absl::Status Expect(char c) {
    if (!Peek(c)) return Error(absl::StrCat("expected '", std::string(1, c), "'"));
    ++i_;
    return absl::OkStatus();
  }
  // A string without escapes (the four keys need none).
  absl::StatusOr<std::string_view> String() {
    if (absl::Status s = Expect('"'); !s.ok()) return s;
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\' || static_cast<unsigned char>(s_[i_]) < 0x20) {
        return Error("unexpected character in string");
      }
      ++i_;
    }
    if (i_ == s_.size()) return Error("unterminated string");
    return s_.substr(start, i_++ - start);
  }
  // A JSON integer >= 0 that fits in uint64.
  absl::StatusOr<uint64_t> Unsigned() {
    SkipSpace();
    size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') return Error("negative number");
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s_.data() + i_, s_.data() + s_.size(), v);
    if (ec == std::errc::result_out_of_range) return Error("number out of range");
    if (ec != std::errc() || p == s_.data() + i_) return Error("expected an integer");
    i_ = p - s_.data();
    if (i_ - start > 1 && s_[start] == '0') return Error("leading zero");
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) {
      return Error("expected an integer");
    }
    return v;
  }
  // A JSON number >= 0 (integer or with fraction/exponent), finite.
  absl::StatusOr<double> NonNegative() {
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == '-') return Error("negative number");
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') return Error("expected a number");
    double v = 0;
    auto [p, ec] = std::from_chars(s_.data() + i_, s_.data() + s_.size(), v);
    if (ec != std::errc() || !std::isfinite(v)) return Error("bad number");
    i_ = p - s_.data();
    return v;
  }
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("column ", i_ + 1, ": ", std::string(what)));
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

absl::StatusOr<Request> ParseMooncakeLine(std::string_view line) {
  LineParser p(line);
  Request r;
  r.block_tokens = kMooncakeBlockTokens;
  bool seen[4] = {false, false, false, false};
  constexpr std::string_view kKeys[4] = {"timestamp", "input_length", "output_length", "hash_ids"};
  uint64_t input_length = 0, output_length = 0;
  if (absl::Status s = p.Expect('{'); !s.ok()) return s;
  for (bool first = true; !p.Peek('}'); first = false) {
    if (!first && !p.Peek(',')) return p.Error("expected ',' or '}'");
    if (!first) p.Expect(',').IgnoreError();  // cannot fail: just peeked
    absl::StatusOr<std::string_view> key = p.String();
    if (!key.ok()) return key.status();
    int k = static_cast<int>(std::find(kKeys, kKeys + 4, *key) - kKeys);
    if (k == 4) return p.Error(absl::StrCat("unknown field \"", std::string(*key), "\""));
    if (seen[k]) return p.Error(absl::StrCat("repeated field \"", std::string(*key), "\""));
    seen[k] = true;
    if (absl::Status s = p.Expect(':'); !s.ok()) return s;
    if (k == 0) {
      absl::StatusOr<double> ms = p.NonNegative();
      if (!ms.ok()) return ms.status();
      r.arrival_s = *ms / 1000.0;
    } else if (k == 1 || k == 2) {
      absl::StatusOr<uint64_t> v = p.Unsigned();
      if (!v.ok()) return v.status();
      if (*v > UINT32_MAX) return p.Error("length over 2^32 - 1");
      (k == 1 ? input_length : output_length) = *v;
    } else {
      if (absl::Status s = p.Expect('['); !s.ok()) return s;
      for (bool first_id = true; !p.Peek(']'); first_id = false) {
        if (!first_id && !p.Peek(',')) return p.Error("expected ',' or ']'");
        if (!first_id) p.Expect(',').IgnoreError();  // cannot fail: just peeked
        absl::StatusOr<uint64_t> id = p.Unsigned();
        if (!id.ok()) return id.status();
        r.blocks.push_back(*id);
      }
      if (absl::Status s = p.Expect(']'); !s.ok()) return s;
    }
  }
  if (absl::Status s = p.Expect('}'); !s.ok()) return s;
  if (!p.AtEnd()) return p.Error("trailing text after the object");
  for (int k = 0; k < 4; ++k) {
    if (!seen[k]) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing field \"", std::string(kKeys[k]), "\""));
    }
  }
  if (input_length == 0) return absl::InvalidArgumentError("input_length is 0");
  r.prompt_tokens = static_cast<uint32_t>(input_length);
  r.output_tokens = static_cast<uint32_t>(output_length);
  if (absl::Status s = r.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("hash_ids: ", s.message()));
  }
  return r;
}

absl::StatusOr<std::vector<Request>> LoadMooncakeTrace(const std::string& path, size_t limit) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open trace ", path));
  std::vector<Request> out;
  std::string line;
  bool sorted = true;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    absl::StatusOr<Request> r = ParseMooncakeLine(line);
    if (!r.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": ", r.status().message()));
    }
    if (!out.empty() && r->arrival_s < out.back().arrival_s) sorted = false;
    out.push_back(*std::move(r));
    if (limit != 0 && out.size() == limit) break;
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("read error in ", path));
  if (!sorted) {
    std::stable_sort(out.begin(), out.end(),
                     [](const Request& a, const Request& b) { return a.arrival_s < b.arrival_s; });
  }
  return out;
}

// ---- Multi-turn generators ----------------------------------------------------------------------
namespace {

// splitmix64: portable and deterministic (std:: distributions differ between libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Exponential with rate `rate` > 0: -ln(U) / rate, U uniform in (0, 1].
  double Exp(double rate) {
    double u = static_cast<double>((Next() >> 11) + 1) * 0x1.0p-53;
    return -std::log(u) / rate;
  }

 private:
  uint64_t state_;
};

// A run of tokens with one identity: (kind, owner, index) names the content, e.g. the answer
// of user 3 in round 2. Two segments with equal identity hold equal tokens.
struct Segment {
  uint64_t kind = 0, owner = 0, index = 0;
  uint32_t tokens = 0;
};
enum SegmentKind : uint64_t { kSystem = 0, kContext = 1, kQuestion = 2, kAnswer = 3 };

// Assigns dense, prefix-chained block ids: a block's id is a function of its parent's id and
// the exact (segment, begin, end) pieces it covers. Not thread-safe.
class BlockInterner {
 public:
  std::vector<uint64_t> Blocks(const std::vector<Segment>& segments, uint32_t block_tokens) {
    std::vector<uint64_t> out;
    uint64_t parent = UINT64_MAX;
    std::string sig;
    uint32_t in_block = 0;
    auto flush = [&] {
      parent = ids_.try_emplace(sig, ids_.size()).first->second;
      out.push_back(parent);
      in_block = 0;
    };
    auto put = [&sig](uint64_t v) { sig.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
    for (const Segment& seg : segments) {
      for (uint32_t off = 0; off < seg.tokens;) {
        if (in_block == 0) {
          sig.clear();
          put(parent);
        }
        uint32_t take = std::min(seg.tokens - off, block_tokens - in_block);
        put(seg.kind);
        put(seg.owner);
        put(seg.index);
        put((static_cast<uint64_t>(off) << 32) | (off + take));
        off += take;
        in_block += take;
        if (in_block == block_tokens) flush();
      }
    }
    if (in_block > 0) flush();
    return out;
  }

 private:
  std::unordered_map<std::string, uint64_t> ids_;
};

uint32_t TotalTokens(const std::vector<Segment>& segments) {
  uint64_t n = 0;
  for (const Segment& s : segments) n += s.tokens;
  return static_cast<uint32_t>(n);
}

absl::Status CheckPromptSize(uint64_t tokens) {
  if (tokens > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("longest prompt ", tokens, " tokens > 2^32"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SglangMultiturnOptions::Validate() const {
  if (clients <= 0 || rounds <= 0 || max_parallel <= 0) {
    return absl::InvalidArgumentError("clients, rounds and max_parallel must be > 0");
  }
  if (request_tokens == 0 || page_tokens == 0) {
    return absl::InvalidArgumentError("request_tokens and page_tokens must be > 0");
  }
  if (!(request_rate >= 0) || !std::isfinite(request_rate) || !(response_s >= 0) ||
      !std::isfinite(response_s)) {
    return absl::InvalidArgumentError("request_rate and response_s must be finite and >= 0");
  }
  return CheckPromptSize(request_tokens +
                         static_cast<uint64_t>(rounds - 1) * (output_tokens + request_tokens));
}

absl::StatusOr<std::vector<Request>> SglangMultiturn(const SglangMultiturnOptions& o) {
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  struct Client {
    int round = 0;        // next round to send
    double ready_at = 0;  // when its previous answer is complete
    int64_t last = -1;    // index of its previous request
  };
  std::vector<Client> clients(o.clients);
  std::vector<int> sent_in_round(o.rounds, 0);
  std::vector<double> round_done_at(o.rounds, 0);  // latest answer of the round
  std::vector<double> outstanding;                 // min-heap of answer times
  auto later = std::greater<double>();
  Rng rng(o.seed);
  BlockInterner interner;
  std::vector<Request> out;
  const uint64_t total = static_cast<uint64_t>(o.clients) * o.rounds;
  out.reserve(total);

  // When client c can send its next round, given the barrier; +inf if it cannot yet know.
  auto ready_time = [&](const Client& c) {
    double t = c.ready_at;
    if (o.round_barrier && c.round > 0) {
      if (sent_in_round[c.round - 1] < o.clients) return HUGE_VAL;
      t = std::max(t, round_done_at[c.round - 1]);
    }
    return t;
  };
  double now = 0;
  std::vector<int> ready;
  while (out.size() < total) {
    while (!outstanding.empty() && outstanding.front() <= now) {
      std::pop_heap(outstanding.begin(), outstanding.end(), later);
      outstanding.pop_back();
    }
    if (outstanding.size() >= static_cast<size_t>(o.max_parallel)) {
      now = outstanding.front();
      continue;
    }
    ready.clear();
    double next = HUGE_VAL;
    for (int c = 0; c < o.clients; ++c) {
      if (clients[c].round >= o.rounds) continue;
      double t = ready_time(clients[c]);
      if (t <= now) ready.push_back(c);
      next = std::min(next, t);
    }
    if (ready.empty()) {
      now = next;  // finite: some client has rounds left and the barrier can always lift
      continue;
    }
    Client& c = clients[ready[rng.Below(ready.size())]];
    const int client_id = static_cast<int>(&c - clients.data());
    std::vector<Segment> segs;
    for (int k = 0; k <= c.round; ++k) {
      if (k > 0)
        segs.push_back({kAnswer, static_cast<uint64_t>(client_id), k - 1u, o.output_tokens});
      segs.push_back({kQuestion, static_cast<uint64_t>(client_id), static_cast<uint64_t>(k),
                      o.request_tokens});
    }
    std::erase_if(segs, [](const Segment& s) { return s.tokens == 0; });
    Request r;
    r.arrival_s = now;
    r.prompt_tokens = TotalTokens(segs);
    r.output_tokens = o.output_tokens;
    r.block_tokens = o.page_tokens;
    r.blocks = interner.Blocks(segs, o.page_tokens);
    r.after = c.last;
    c.last = static_cast<int64_t>(out.size());
    out.push_back(std::move(r));

    double done = now + o.response_s;
    c.ready_at = done;
    round_done_at[c.round] = std::max(round_done_at[c.round], done);
    ++sent_in_round[c.round];
    ++c.round;
    outstanding.push_back(done);
    std::push_heap(outstanding.begin(), outstanding.end(), later);
    if (o.request_rate > 0) now += rng.Exp(o.request_rate);
  }
  return out;
}

absl::Status LmcacheQaOptions::Validate() const {
  if (users <= 0 || rounds <= 0) return absl::InvalidArgumentError("users and rounds must be > 0");
  if (question_tokens == 0 || page_tokens == 0) {
    return absl::InvalidArgumentError("question_tokens and page_tokens must be > 0");
  }
  if (!(qps >= 0) || !std::isfinite(qps)) {
    return absl::InvalidArgumentError("qps must be finite and >= 0");
  }
  return CheckPromptSize(static_cast<uint64_t>(system_tokens) + user_context_tokens +
                         static_cast<uint64_t>(rounds - 1) * (question_tokens + answer_tokens) +
                         question_tokens);
}

absl::StatusOr<std::vector<Request>> LmcacheMultiRoundQa(const LmcacheQaOptions& o) {
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  Rng rng(o.seed);
  BlockInterner interner;
  std::vector<Request> out;
  out.reserve(static_cast<size_t>(o.users) * o.rounds);
  double now = 0;
  for (int k = 0; k < o.rounds; ++k) {
    for (int u = 0; u < o.users; ++u) {
      const uint64_t user = static_cast<uint64_t>(u);
      std::vector<Segment> segs = {{kSystem, 0, 0, o.system_tokens},
                                   {kContext, user, 0, o.user_context_tokens}};
      for (int j = 0; j <= k; ++j) {
        if (j > 0) segs.push_back({kAnswer, user, j - 1u, o.answer_tokens});
        segs.push_back({kQuestion, user, static_cast<uint64_t>(j), o.question_tokens});
      }
      std::erase_if(segs, [](const Segment& s) { return s.tokens == 0; });
      if (!out.empty() && o.qps > 0) now += o.poisson ? rng.Exp(o.qps) : 1.0 / o.qps;
      Request r;
      r.arrival_s = now;
      r.prompt_tokens = TotalTokens(segs);
      r.output_tokens = o.answer_tokens;
      r.block_tokens = o.page_tokens;
      r.blocks = interner.Blocks(segs, o.page_tokens);
      r.after = k == 0 ? -1 : static_cast<int64_t>(out.size()) - o.users;
      out.push_back(std::move(r));
    }
  }
  return out;
}

// ---- The fill benchmark ------------------------------------------------------------------------

absl::Status FillMixOptions::Validate() const {
  if (chains <= 0 || chain_pages <= 0 || page_tokens == 0) {
    return absl::InvalidArgumentError("chains, chain_pages and page_tokens must be > 0");
  }
  if (!(read_fraction >= 0 && read_fraction < 1)) {
    return absl::InvalidArgumentError("read_fraction must be in [0, 1)");
  }
  if (!(mean_reread_distance >= 1) || !std::isfinite(mean_reread_distance)) {
    return absl::InvalidArgumentError("mean_reread_distance must be finite and >= 1");
  }
  return CheckPromptSize(static_cast<uint64_t>(chain_pages) * page_tokens);
}

absl::StatusOr<std::vector<Request>> FillMix(const FillMixOptions& o) {
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  Rng rng(o.seed);
  // Geometric on {1, 2, ...} with mean m: success probability 1/m.
  const double p = 1.0 / o.mean_reread_distance;
  auto chain_request = [&](uint64_t c) {
    Request r;
    r.prompt_tokens = static_cast<uint32_t>(o.chain_pages) * o.page_tokens;
    r.block_tokens = o.page_tokens;
    for (int j = 0; j < o.chain_pages; ++j) r.blocks.push_back(c * o.chain_pages + j);
    return r;
  };
  std::vector<Request> out;
  uint64_t written = 0;
  while (written < static_cast<uint64_t>(o.chains)) {
    const double u = static_cast<double>((rng.Next() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
    if (written > 0 && u <= o.read_fraction) {
      uint64_t k = 1;
      if (p < 1) {
        const double v = static_cast<double>((rng.Next() >> 11) + 1) * 0x1.0p-53;
        k += static_cast<uint64_t>(std::floor(std::log(v) / std::log1p(-p)));
      }
      out.push_back(chain_request(written - std::min(k, written)));
    } else {
      out.push_back(chain_request(written++));
    }
  }
  return out;
}

// ---- Summary ------------------------------------------------------------------------------------

double TraceSummary::block_hit_rate() const {
  return block_refs ? static_cast<double>(hit_block_refs) / static_cast<double>(block_refs) : 0;
}
double TraceSummary::token_hit_rate() const {
  return prompt_tokens ? static_cast<double>(hit_tokens) / static_cast<double>(prompt_tokens) : 0;
}
double TraceSummary::mean_prompt_tokens() const {
  return requests ? static_cast<double>(prompt_tokens) / static_cast<double>(requests) : 0;
}

std::string RequestJsonLine(const Request& r) {
  std::string out = absl::StrCat("{\"arrival_s\": ", absl::StrFormat("%.6f", r.arrival_s),
                                 ", \"prompt_tokens\": ", r.prompt_tokens,
                                 ", \"output_tokens\": ", r.output_tokens,
                                 ", \"block_tokens\": ", r.block_tokens, ", \"after\": ", r.after,
                                 ", \"blocks\": [");
  for (size_t i = 0; i < r.blocks.size(); ++i) absl::StrAppend(&out, i ? ", " : "", r.blocks[i]);
  out += "]}";
  return out;
}

TraceSummary Summarize(std::span<const Request> trace) {
  TraceSummary s;
  std::unordered_set<uint64_t> seen;
  for (const Request& r : trace) {
    ++s.requests;
    s.block_refs += r.blocks.size();
    s.prompt_tokens += r.prompt_tokens;
    s.max_prompt_tokens = std::max(s.max_prompt_tokens, r.prompt_tokens);
    size_t lead = 0;
    while (lead < r.blocks.size() && seen.contains(r.blocks[lead])) ++lead;
    s.hit_block_refs += lead;
    s.hit_tokens += r.PrefixTokens(lead);
    if (lead > 0) ++s.reusing_requests;
    seen.insert(r.blocks.begin(), r.blocks.end());
  }
  s.distinct_blocks = seen.size();
  if (!trace.empty()) s.duration_s = trace.back().arrival_s - trace.front().arrival_s;
  return s;
}

}  // namespace prefixd::bench
