// prefixd-gpu-bandwidth: device -> pinned arena -> daemon -> disk and back, against
// cudaMemcpy into the same pinned arena as the ceiling. Needs a GPU and a daemon with
// --shm-socket; exits 2 (with the reason) without a GPU.
//
//   prefixd-gpu-bandwidth TARGET SHM_SOCKET [PAGE_BYTES=1048576] [PAGES=512]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/page_content.h"
#include "client/client.h"
#include "gpu/gpu.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace prefixd;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TARGET SHM_SOCKET [PAGE_BYTES] [PAGES]\n", argv[0]);
    return 2;
  }
  if (auto s = gpu::Available(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  const uint64_t page = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1 << 20;
  const uint64_t pages = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 512;
  const uint64_t chain = 16;
  client::ClientOptions o;
  o.target = argv[1];
  o.shm_socket = argv[2];
  o.shm_required = true;
  o.shm_arena_bytes = 4 * chain * page;
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
  auto ns = (*c)->OpenNamespace("gpu-bandwidth", fp);
  if (!ns.ok()) return std::fprintf(stderr, "%s\n", ns.status().ToString().c_str()), 1;
  auto dev = gpu::DeviceBuffer::Allocate(chain * page);
  auto stream = gpu::CopyStream::Create();
  auto arena = (*c)->ArenaOf(*ns);
  if (!dev.ok() || !stream.ok() || !arena.ok()) return 1;
  std::vector<const void*> in;
  std::vector<void*> out;
  for (uint64_t i = 0; i < chain; ++i) {
    in.push_back(static_cast<char*>((*dev)->data()) + i * page);
    out.push_back(static_cast<char*>((*dev)->data()) + i * page);
  }
  // Ceiling: device -> pinned arena and back with nothing else in the way.
  std::vector<gpu::Copy> d2h, h2d;
  for (uint64_t i = 0; i < chain; ++i) {
    d2h.push_back({arena->data() + i * page, in[i], page});
    h2d.push_back({out[i], arena->data() + i * page, page});
  }
  (void)(*c)->PutFromDevice(*ns, client::Chain::FromKeys({"warm"}), {in.data(), 1});  // pins
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t done = 0; done < pages; done += chain) (void)(*stream)->DeviceToHost(d2h);
  double ceil_d2h = pages * page / 1e6 / Seconds(t0);
  t0 = std::chrono::steady_clock::now();
  for (uint64_t done = 0; done < pages; done += chain) (void)(*stream)->HostToDevice(h2d);
  double ceil_h2d = pages * page / 1e6 / Seconds(t0);
  t0 = std::chrono::steady_clock::now();
  int errors = 0;
  for (uint64_t ch = 0; ch * chain < pages; ++ch) {
    std::vector<std::string> keys;
    for (uint64_t i = 0; i < chain; ++i) keys.push_back(bench::PageKey(9, ch, i));
    errors += !(*c)->PutFromDevice(*ns, client::Chain::FromKeys(keys), in).ok();
  }
  double put = pages * page / 1e6 / Seconds(t0);
  (void)(*c)->Flush();
  t0 = std::chrono::steady_clock::now();
  uint64_t got = 0;
  for (uint64_t ch = 0; ch * chain < pages; ++ch) {
    std::vector<std::string> keys;
    for (uint64_t i = 0; i < chain; ++i) keys.push_back(bench::PageKey(9, ch, i));
    auto r = (*c)->GetToDevice(*ns, client::Chain::FromKeys(keys), out);
    if (r.ok()) got += r->pages; else ++errors;
  }
  double get = got * page / 1e6 / Seconds(t0);
  std::printf("{\"page_bytes\": %llu, \"pages\": %llu, \"ceiling_d2h_MBps\": %.1f, "
              "\"ceiling_h2d_MBps\": %.1f, \"put_from_device_MBps\": %.1f, "
              "\"get_to_device_MBps\": %.1f, \"pages_got\": %llu, \"errors\": %d}\n",
              (unsigned long long)page, (unsigned long long)pages, ceil_d2h, ceil_h2d, put, get,
              (unsigned long long)got, errors);
  return errors == 0 && got == pages ? 0 : 1;
}
