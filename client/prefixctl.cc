// prefixctl: a command-line client for prefixd.
//   prefixctl [--target ADDR] health            exit 0 when the daemon is SERVING
//   prefixctl [--target ADDR] stats [--json] [--stranded]   store and per-namespace counters
//   prefixctl [--target ADDR] delete-namespace NAME
//   prefixctl [--target ADDR] explain --namespace NS (--keys K1,K2,... | --tokens T1,T2,...)
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "client/stats_json.h"
#include "util/byte_size.h"

namespace {

constexpr char kUsage[] =
    "usage: prefixctl [--target HOST:PORT|unix:///PATH] COMMAND\n"
    "commands:\n"
    "  health                  exit 0 when the daemon serves, 1 otherwise\n"
    "  stats [--json] [--stranded]\n"
    "                          pages, bytes, hits and misses, per namespace; --stranded also\n"
    "                          counts stored pages no get can serve (reads the whole index)\n"
    "  delete-namespace NAME   delete a namespace and all its pages\n"
    "  flush                   make every acknowledged page durable now\n"
    "  explain --namespace NS (--keys K1,K2,... | --tokens T1,T2,...) [--parent KEY]\n"
    "                          why each page of a chain is or is not served\n"
    "--target defaults to 127.0.0.1:50051\n";

void PrintStats(const prefixd::v1::StatsResponse& s) {
  using prefixd::util::FormatByteSize;
  std::printf("prefixd %s, up %llu s\n", s.version().c_str(),
              static_cast<unsigned long long>(s.uptime_seconds()));
  std::printf("pages %llu, %s of pages, %s on disk, capacity %s\n",
              static_cast<unsigned long long>(s.pages()), FormatByteSize(s.bytes()).c_str(),
              FormatByteSize(s.disk_bytes()).c_str(),
              s.capacity_bytes() ? FormatByteSize(s.capacity_bytes()).c_str() : "unlimited");
  std::printf(
      "%llu generations of %s, %llu evicted; key index %llu entries, %s of memory; LRU queue "
      "%llu entries, puts queued at its front: %s now, %llu so far; unread pages first: %s "
      "now, %llu puts so far, %llu unread (target %llu; evicted and remembered: %llu unread, "
      "%llu read)\n",
      static_cast<unsigned long long>(s.generations()),
      FormatByteSize(s.generation_bytes()).c_str(),
      static_cast<unsigned long long>(s.evicted_generations()),
      static_cast<unsigned long long>(s.key_index_entries()),
      FormatByteSize(s.key_index_bytes()).c_str(),
      static_cast<unsigned long long>(s.lru_entries()), s.bimodal_insertion() ? "yes" : "no",
      static_cast<unsigned long long>(s.bimodal_puts()), s.probation_insertion() ? "yes" : "no",
      static_cast<unsigned long long>(s.probation_puts()),
      static_cast<unsigned long long>(s.unread_pages()),
      static_cast<unsigned long long>(s.probation_target_pages()),
      static_cast<unsigned long long>(s.ghost_unread_pages()),
      static_cast<unsigned long long>(s.ghost_read_pages()));
  // Writes that waited on RocksDB (memtables full, or too many level-0 files): the daemon's
  // log says why once every 10 s; the total is here.
  std::printf("background writes: %s flushed, %s compacted; puts waited %.3f s for them\n",
              FormatByteSize(s.flush_write_bytes()).c_str(),
              FormatByteSize(s.compaction_write_bytes()).c_str(), s.stall_micros() / 1e6);
  std::printf("device writes: %s for %s of pages put, write amplification %.3f\n",
              FormatByteSize(s.process_write_bytes()).c_str(),
              FormatByteSize(s.put_bytes()).c_str(), s.write_amplification());
  if (s.stranded_counted()) {
    std::printf("stranded (stored, behind a page that is gone): %llu pages, %s\n",
                static_cast<unsigned long long>(s.stranded_pages()),
                FormatByteSize(s.stranded_bytes()).c_str());
  }
  std::printf("%-24s %10s %12s %10s %10s %10s %10s %8s%s\n", "namespace", "pages", "bytes",
              "hits", "misses", "evicted", "expired", "corrupt",
              s.stranded_counted() ? "   stranded" : "");
  for (const auto& n : s.namespaces()) {
    std::printf("%-24s %10llu %12s %10llu %10llu %10llu %10llu %8llu", n.name().c_str(),
                static_cast<unsigned long long>(n.pages()), FormatByteSize(n.bytes()).c_str(),
                static_cast<unsigned long long>(n.hits()),
                static_cast<unsigned long long>(n.misses()),
                static_cast<unsigned long long>(n.evicted_pages()),
                static_cast<unsigned long long>(n.expired_pages()),
                static_cast<unsigned long long>(n.corrupt_dropped()));
    if (s.stranded_counted()) {
      std::printf(" %10llu", static_cast<unsigned long long>(n.stranded_pages()));
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:50051";
  bool json = false, stranded = false;
  std::string ns_name, keys_arg, tokens_arg, parent;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--target" && i + 1 < argc) {
      target = argv[++i];
    } else if (a.starts_with("--target=")) {
      target = a.substr(9);
    } else if ((a == "--namespace" || a == "--keys" || a == "--tokens" || a == "--parent") &&
               i + 1 < argc) {
      (a == "--namespace" ? ns_name : a == "--keys" ? keys_arg : a == "--tokens" ? tokens_arg
                                                                               : parent) = argv[++i];
    } else if (a == "--json") {
      json = true;
    } else if (a == "--stranded") {
      stranded = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a.starts_with("--")) {
      std::fprintf(stderr, "prefixctl: unknown flag %s\n%s", a.c_str(), kUsage);
      return 2;
    } else {
      args.push_back(a);
    }
  }
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  prefixd::client::ClientOptions opts;
  opts.target = target;
  opts.max_attempts = 1;
  opts.rpc_timeout = absl::Seconds(30);
  auto client = prefixd::client::Client::Connect(opts);
  if (!client.ok()) {
    std::fprintf(stderr, "prefixctl: %s\n", client.status().ToString().c_str());
    return 2;
  }
  const std::string& cmd = args[0];
  if (cmd == "health") {
    auto s = (*client)->Health();
    if (!s.ok()) {
      std::fprintf(stderr, "prefixctl: %s: %s\n", target.c_str(), s.ToString().c_str());
      return 1;
    }
    std::printf("SERVING\n");
    return 0;
  }
  if (cmd == "stats") {
    auto s = (*client)->Stats(stranded);
    if (!s.ok()) {
      std::fprintf(stderr, "prefixctl: %s\n", s.status().ToString().c_str());
      return 1;
    }
    if (json) {
      std::fputs(prefixd::client::StatsToJson(*s).c_str(), stdout);
    } else {
      PrintStats(*s);
    }
    return 0;
  }
  if (cmd == "explain") {
    if (ns_name.empty() || (keys_arg.empty() == tokens_arg.empty())) {
      std::fprintf(stderr, "prefixctl: explain needs --namespace and one of --keys, --tokens\n");
      return 2;
    }
    prefixd::client::Chain chain;
    chain.parent_key = parent;
    for (absl::string_view part : absl::StrSplit(keys_arg, ',', absl::SkipEmpty())) {
      chain.keys.emplace_back(part);
    }
    for (absl::string_view part : absl::StrSplit(tokens_arg, ',', absl::SkipEmpty())) {
      uint32_t t = 0;
      if (!absl::SimpleAtoi(part, &t)) {
        std::fprintf(stderr, "prefixctl: --tokens: '%s' is not a token id\n", std::string(part).c_str());
        return 2;
      }
      chain.token_ids.push_back(t);
    }
    prefixd::client::Namespace ns{ns_name, 0, {}, false};
    auto r = (*client)->Explain(ns, chain);
    if (!r.ok()) {
      std::fprintf(stderr, "prefixctl: %s\n", r.status().ToString().c_str());
      return 1;
    }
    std::printf("%d pages, %u served as a prefix\n", r->pages_size(), r->prefix_pages());
    for (int i = 0; i < r->pages_size(); ++i) {
      const auto& p = r->pages(i);
      std::string why = prefixd::v1::PageState::State_Name(p.state());
      if (p.state() == prefixd::v1::PageState::EVICTED) {
        switch (p.evicted_by()) {
          case prefixd::v1::PageState::GENERATION:
            why += " (its generation " + std::to_string(p.generation()) + " was dropped for space)";
            break;
          case prefixd::v1::PageState::UNREAD:
            why += " (evicted alone for space before anyone read it: pages never read go first)";
            break;
          case prefixd::v1::PageState::READ:
            why += " (evicted alone for space, least recently used since its last read)";
            break;
          default:
            why += " (evicted alone for space)";
            break;
        }
      } else if (p.state() == prefixd::v1::PageState::STRANDED) {
        why += " (stored, but an earlier page is not)";
      } else if (p.state() == prefixd::v1::PageState::NOT_STORED) {
        why += " (never written, deleted, or evicted long ago)";
      } else if (p.state() == prefixd::v1::PageState::EXPIRED) {
        why += " (stored, but older than the namespace's TTL)";
      } else if (p.state() == prefixd::v1::PageState::CORRUPT) {
        why += " (dropped: its bytes on disk failed their checksum)";
      }
      std::printf("page %d: %s\n", i, why.c_str());
      if (i == static_cast<int>(r->prefix_pages()) && p.state() != prefixd::v1::PageState::PRESENT) {
        std::printf("  ^ the first miss\n");
      }
    }
    return 0;
  }
  if (cmd == "flush") {
    auto s = (*client)->Flush();
    if (!s.ok()) {
      std::fprintf(stderr, "prefixctl: %s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("flushed\n");
    return 0;
  }
  if (cmd == "delete-namespace" && args.size() == 2) {
    auto n = (*client)->DeleteNamespace(args[1]);
    if (!n.ok()) {
      std::fprintf(stderr, "prefixctl: %s\n", n.status().ToString().c_str());
      return 1;
    }
    std::printf("deleted namespace %s (%llu pages)\n", args[1].c_str(),
                static_cast<unsigned long long>(*n));
    return 0;
  }
  std::fprintf(stderr, "prefixctl: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return 2;
}
