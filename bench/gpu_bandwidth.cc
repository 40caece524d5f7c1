// prefixd-gpu-bandwidth: pages in GPU memory to the daemon and back, on both GPU paths, against
// cudaMemcpyAsync between device memory and the same pinned arena as the ceiling. Needs a GPU and
// a daemon with --shm-socket; exits 2 (with the reason) without a GPU.
//
//   prefixd-gpu-bandwidth TARGET SHM_SOCKET [PAGE_BYTES=1048576] [PAGES=512] [ROUNDS=3]
//
// Paths: `arena` = PutFromDevice / GetToDevice (device -> pinned arena by DMA -> daemon -> disk,
// and back), `ipc` = PutFromDeviceIpc / GetToDeviceIpc (the daemon opens the CUDA IPC handle of
// the allocation and copies itself). Every page is distinct; after each round's gets the
// destination buffer is copied back and compared byte for byte with what was put, then zeroed.
// Prints one JSON object: medians over the rounds of MB/s (10^6 bytes) and of each round's p99
// chain latency, and the pages verified (the lowest count of any round).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/page_content.h"
#include "client/client.h"
#include "gpu/gpu.h"

namespace {

using namespace prefixd;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kChain = 16;

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double P99(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(0.99 * v.size()))];
}

// What one path measured over the rounds.
struct PathFigures {
  std::vector<double> put_mbps, get_mbps, put_p99_us, get_p99_us;
  uint64_t verified = ~uint64_t{0};  // lowest over rounds
  int errors = 0;
};

struct Setup {
  client::Client* c;
  const client::Namespace* ns;
  uint64_t page, pages;
  std::vector<const void*> src;  // page i of the source allocation
  std::vector<void*> dst;        // page i of the destination allocation
  void* dst_base;
  const std::string* expected;  // every page as put, in order
};

std::vector<std::string> Keys(uint64_t seed, uint64_t ch) {
  std::vector<std::string> keys;
  for (uint64_t i = 0; i < kChain; ++i) keys.push_back(bench::PageKey(seed, ch, i));
  return keys;
}

// One round of one path: every chain put, flushed, got back, verified.
void Round(const Setup& s, bool ipc, uint64_t seed, PathFigures* f) {
  const uint64_t chains = s.pages / kChain;
  std::vector<double> lat;
  auto t0 = Clock::now();
  for (uint64_t ch = 0; ch < chains; ++ch) {
    auto chain = client::Chain::FromKeys(Keys(seed, ch));
    std::span<const void* const> in(s.src.data() + ch * kChain, kChain);
    auto t = Clock::now();
    auto r = ipc ? s.c->PutFromDeviceIpc(*s.ns, chain, in) : s.c->PutFromDevice(*s.ns, chain, in);
    lat.push_back(Seconds(t) * 1e6);
    if (!r.ok()) {
      if (++f->errors == 1) std::fprintf(stderr, "put: %s\n", r.status().ToString().c_str());
    }
  }
  f->put_mbps.push_back(chains * kChain * s.page / 1e6 / Seconds(t0));
  f->put_p99_us.push_back(P99(lat));
  (void)s.c->Flush();
  lat.clear();
  uint64_t got = 0;
  t0 = Clock::now();
  for (uint64_t ch = 0; ch < chains; ++ch) {
    auto chain = client::Chain::FromKeys(Keys(seed, ch));
    std::span<void* const> out(s.dst.data() + ch * kChain, kChain);
    auto t = Clock::now();
    auto r = ipc ? s.c->GetToDeviceIpc(*s.ns, chain, out) : s.c->GetToDevice(*s.ns, chain, out);
    lat.push_back(Seconds(t) * 1e6);
    if (r.ok()) {
      got += r->pages;
    } else if (++f->errors == 1) {
      std::fprintf(stderr, "get: %s\n", r.status().ToString().c_str());
    }
  }
  f->get_mbps.push_back(got * s.page / 1e6 / Seconds(t0));
  f->get_p99_us.push_back(P99(lat));
  // Untimed: every page that came back, byte for byte; then the destination is cleared so the
  // next round cannot pass on what this one left.
  std::string back(chains * kChain * s.page, '\0');
  uint64_t verified = 0;
  if (gpu::CopyToHost(back.data(), s.dst_base, back.size()).ok()) {
    for (uint64_t i = 0; i < chains * kChain; ++i) {
      verified += std::memcmp(back.data() + i * s.page, s.expected->data() + i * s.page,
                              s.page) == 0;
    }
  }
  f->verified = std::min(f->verified, verified);
  std::string zeros(back.size(), '\0');
  if (!gpu::CopyToDevice(s.dst_base, zeros.data(), zeros.size()).ok()) ++f->errors;
}

void PrintPath(const char* name, const PathFigures& f, bool last) {
  std::printf("  \"%s\": {\"put_MBps\": %.1f, \"get_MBps\": %.1f, \"put_p99_chain_us\": %.1f, "
              "\"get_p99_chain_us\": %.1f, \"verified\": %llu, \"errors\": %d}%s\n",
              name, Median(f.put_mbps), Median(f.get_mbps), Median(f.put_p99_us),
              Median(f.get_p99_us), static_cast<unsigned long long>(f.verified), f.errors,
              last ? "" : ",");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TARGET SHM_SOCKET [PAGE_BYTES] [PAGES] [ROUNDS]\n", argv[0]);
    return 2;
  }
  if (auto s = gpu::Available(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  const uint64_t page = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1 << 20;
  const uint64_t pages = (argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 512) / kChain * kChain;
  const int rounds = argc > 5 ? std::atoi(argv[5]) : 3;
  if (page == 0 || pages == 0 || rounds <= 0) {
    std::fprintf(stderr, "page bytes, pages (>= %llu) and rounds must be positive\n",
                 static_cast<unsigned long long>(kChain));
    return 2;
  }
  client::ClientOptions o;
  o.target = argv[1];
  o.shm_socket = argv[2];
  o.shm_required = true;
  o.shm_arena_bytes = 4 * kChain * page;
  auto c = client::Client::Connect(o);
  if (!c.ok()) return std::fprintf(stderr, "%s\n", c.status().ToString().c_str()), 1;
  v1::Fingerprint fp;
  fp.set_model("gpu-bandwidth");
  fp.set_dtype("bytes");
  fp.set_kv_layout("opaque");
  fp.set_page_tokens(64);
  fp.set_page_bytes(page);
  fp.set_tp_size(1);
  fp.set_key_scheme("bench-v1");
  auto ns = (*c)->OpenNamespace("gpu-bandwidth-" + std::to_string(page), fp);
  if (!ns.ok()) return std::fprintf(stderr, "%s\n", ns.status().ToString().c_str()), 1;
  auto src = gpu::DeviceBuffer::Allocate(pages * page);
  auto dst = gpu::DeviceBuffer::Allocate(pages * page);
  auto stream = gpu::CopyStream::Create();
  auto arena = (*c)->ArenaOf(*ns);
  for (const absl::Status& s : {src.status(), dst.status(), stream.status(), arena.status()}) {
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }
  std::string expected(pages * page, '\0');
  for (uint64_t i = 0; i < pages; ++i) bench::FillPage(31, i, expected.data() + i * page, page);
  if (auto s = gpu::CopyToDevice((*src)->data(), expected.data(), expected.size()); !s.ok()) {
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }
  Setup setup{c->get(), &*ns, page, pages, {}, {}, (*dst)->data(), &expected};
  for (uint64_t i = 0; i < pages; ++i) {
    setup.src.push_back(static_cast<char*>((*src)->data()) + i * page);
    setup.dst.push_back(static_cast<char*>((*dst)->data()) + i * page);
  }
  // The arena is pinned on its first device put; do that before the ceiling is timed.
  (void)(*c)->PutFromDevice(*ns, client::Chain::FromKeys({"warm"}), {setup.src.data(), 1});
  // Ceiling: the same bytes between device memory and the pinned arena, chain by chain on one
  // stream, with nothing else in the way.
  std::vector<double> ceil_d2h, ceil_h2d;
  for (int r = 0; r < rounds; ++r) {
    std::vector<gpu::Copy> d2h(kChain), h2d(kChain);
    auto t0 = Clock::now();
    for (uint64_t ch = 0; ch < pages / kChain; ++ch) {
      for (uint64_t i = 0; i < kChain; ++i) {
        d2h[i] = {arena->data() + i * page, setup.src[ch * kChain + i], page};
      }
      (void)(*stream)->DeviceToHost(d2h);
    }
    ceil_d2h.push_back(pages * page / 1e6 / Seconds(t0));
    t0 = Clock::now();
    for (uint64_t ch = 0; ch < pages / kChain; ++ch) {
      for (uint64_t i = 0; i < kChain; ++i) {
        h2d[i] = {setup.dst[ch * kChain + i], arena->data() + i * page, page};
      }
      (void)(*stream)->HostToDevice(h2d);
    }
    ceil_h2d.push_back(pages * page / 1e6 / Seconds(t0));
  }
  PathFigures arena_path, ipc_path;
  for (int r = 0; r < rounds; ++r) {  // alternate the paths so a slow moment hits both
    Round(setup, false, 100 + r, &arena_path);
    Round(setup, true, 200 + r, &ipc_path);
  }
  std::printf("{\n  \"page_bytes\": %llu, \"pages\": %llu, \"rounds\": %d,\n"
              "  \"ceiling_d2h_MBps\": %.1f, \"ceiling_h2d_MBps\": %.1f,\n",
              static_cast<unsigned long long>(page), static_cast<unsigned long long>(pages),
              rounds, Median(ceil_d2h), Median(ceil_h2d));
  PrintPath("arena", arena_path, false);
  PrintPath("ipc", ipc_path, true);
  std::printf("}\n");
  const bool ok = arena_path.errors == 0 && ipc_path.errors == 0 &&
                  arena_path.verified == pages && ipc_path.verified == pages;
  return ok ? 0 : 1;
}
