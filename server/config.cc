#include "server/config.h"

#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "util/byte_size.h"

namespace prefixd::server {
namespace {

using Setter = std::function<absl::Status(ServerConfig&, const std::string&)>;

struct Setting {
  const char* name;
  const char* help;
  Setter set;
  std::function<std::string(const ServerConfig&)> get;
};

Setter Text(std::string ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& v) {
    c.*field = v;
    return absl::OkStatus();
  };
}

Setter Bytes(uint64_t ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& v) -> absl::Status {
    auto b = util::ParseByteSize(v);
    if (!b.ok()) return b.status();
    c.*field = *b;
    return absl::OkStatus();
  };
}

template <typename Int>
Setter Number(Int ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& v) -> absl::Status {
    int64_t n = 0;
    if (!absl::SimpleAtoi(v, &n) || n < 0 || n >= int64_t{1} << 31) {
      return absl::InvalidArgumentError(absl::StrCat("not a non-negative integer: '", v, "'"));
    }
    c.*field = static_cast<Int>(n);
    return absl::OkStatus();
  };
}

Setter OnOff(bool ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& v) -> absl::Status {
    if (v != "on" && v != "off") {
      return absl::InvalidArgumentError(absl::StrCat("not on or off: '", v, "'"));
    }
    c.*field = v == "on";
    return absl::OkStatus();
  };
}

Setter Fraction(double ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& v) -> absl::Status {
    double x = 0;
    if (!absl::SimpleAtod(v, &x) || !(x >= 0 && x <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat("not a fraction in [0, 1]: '", v, "'"));
    }
    c.*field = x;
    return absl::OkStatus();
  };
}

const std::vector<Setting>& Settings() {
  static const auto* kSettings = new std::vector<Setting>{
      {"listen", "TCP listener HOST:PORT; empty for none", Text(&ServerConfig::listen),
       [](const ServerConfig& c) { return c.listen; }},
      {"unix", "unix-socket listener path; empty for none", Text(&ServerConfig::unix_path),
       [](const ServerConfig& c) { return c.unix_path; }},
      {"shm-socket", "side socket for shared-memory arenas (co-located clients); empty: off",
       Text(&ServerConfig::shm_socket), [](const ServerConfig& c) { return c.shm_socket; }},
      {"shm-max-bytes", "bytes of client arenas mapped at once, all clients together",
       Bytes(&ServerConfig::shm_max_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.shm_max_bytes); }},
      {"shm-max-arenas", "client arenas registered at once", Number(&ServerConfig::shm_max_arenas),
       [](const ServerConfig& c) { return absl::StrCat(c.shm_max_arenas); }},
      {"shm-calls", "serve shared-memory gets as calls on the side socket, not gRPC (on|off)",
       OnOff(&ServerConfig::shm_calls),
       [](const ServerConfig& c) { return std::string(c.shm_calls ? "on" : "off"); }},
      {"data-dir", "directory of the store", Text(&ServerConfig::data_dir),
       [](const ServerConfig& c) { return c.data_dir; }},
      {"capacity", "disk budget (e.g. 512MiB, 10GiB); 0 = unlimited",
       Bytes(&ServerConfig::capacity_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.capacity_bytes); }},
      {"block-cache", "RocksDB block cache for key blocks (not page values)",
       Bytes(&ServerConfig::block_cache_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.block_cache_bytes); }},
      {"memory-cache", "bytes of verified hot pages kept in memory; 0 = off",
       Bytes(&ServerConfig::memory_cache_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.memory_cache_bytes); }},
      {"generation-size",
       "page bytes per generation (with --eviction generations, the unit of eviction); "
       "0 = capacity/24 with --eviction pages, /32 with generations (without --capacity, of "
       "the file system's size)",
       Bytes(&ServerConfig::generation_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.generation_bytes); }},
      {"eviction",
       "how room is made: pages (single pages, least recently used first, freed in place) or "
       "generations (drop the oldest whole)",
       [](ServerConfig& c, const std::string& v) -> absl::Status {
         if (v != "generations" && v != "pages") {
           return absl::InvalidArgumentError(
               absl::StrCat("not generations or pages: '", v, "'"));
         }
         c.evict_pages = v == "pages";
         return absl::OkStatus();
       },
       [](const ServerConfig& c) { return std::string(c.evict_pages ? "pages" : "generations"); }},
      {"insertion",
       "with --eviction pages, where puts queue new pages and which pages go first: adaptive "
       "(chosen by shadow caches: new pages at the least recently used end on a cycle longer "
       "than the cache; pages never read evicted first where pages read again pay) or lru "
       "(always the most recently used end, least recently used first)",
       [](ServerConfig& c, const std::string& v) -> absl::Status {
         if (v != "adaptive" && v != "lru") {
           return absl::InvalidArgumentError(absl::StrCat("not adaptive or lru: '", v, "'"));
         }
         c.adaptive_insertion = v == "adaptive";
         return absl::OkStatus();
       },
       [](const ServerConfig& c) { return std::string(c.adaptive_insertion ? "adaptive" : "lru"); }},
      {"eviction-order-sync-seconds",
       "with --eviction pages, append the uses of pages to the eviction order's journal this "
       "often, so that a crash loses at most this much of the order; 0 = saved at SIGTERM only",
       Number(&ServerConfig::eviction_order_sync_seconds),
       [](const ServerConfig& c) { return absl::StrCat(c.eviction_order_sync_seconds); }},
      {"promote-fraction",
       "with --eviction generations: pages read from this oldest share of the generations are "
       "copied forward (0 = never)",
       Fraction(&ServerConfig::promote_fraction),
       [](const ServerConfig& c) { return absl::StrCat(c.promote_fraction); }},
      {"promote-budget",
       "copies forward may write at most this share of the accepted page bytes (0 = never)",
       Fraction(&ServerConfig::promote_budget),
       [](const ServerConfig& c) { return absl::StrCat(c.promote_budget); }},
      {"max-inflight-bytes", "page bytes all requests may hold in memory",
       Bytes(&ServerConfig::max_inflight_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.max_inflight_bytes); }},
      {"admission-wait-ms", "how long a request waits for in-flight budget",
       Number(&ServerConfig::admission_wait_ms),
       [](const ServerConfig& c) { return absl::StrCat(c.admission_wait_ms); }},
      {"batch-bytes", "bytes a put writes per batch",
       Bytes(&ServerConfig::batch_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.batch_bytes); }},
      {"read-group-bytes", "bytes a get reads per group (one MultiGet) before sending them",
       Bytes(&ServerConfig::read_group_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.read_group_bytes); }},
      {"frame-bytes", "page bytes per streamed get frame", Bytes(&ServerConfig::frame_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.frame_bytes); }},
      {"max-threads", "threads serving RPCs", Number(&ServerConfig::max_threads),
       [](const ServerConfig& c) { return absl::StrCat(c.max_threads); }},
      {"stream-idle-timeout-seconds", "cancel a put/get stream idle this long; 0 = never",
       Number(&ServerConfig::stream_idle_timeout_seconds),
       [](const ServerConfig& c) { return absl::StrCat(c.stream_idle_timeout_seconds); }},
      {"shutdown-grace-seconds", "on SIGTERM, time left to in-flight requests",
       Number(&ServerConfig::shutdown_grace_seconds),
       [](const ServerConfig& c) { return absl::StrCat(c.shutdown_grace_seconds); }},
      {"background-jobs", "RocksDB flush and compaction threads",
       Number(&ServerConfig::background_jobs),
       [](const ServerConfig& c) { return absl::StrCat(c.background_jobs); }},
      {"write-buffer-size", "memtable size of the page store (unflushed pages: ~4x this)",
       Bytes(&ServerConfig::write_buffer_bytes),
       [](const ServerConfig& c) { return absl::StrCat(c.write_buffer_bytes); }},
      {"controller", "adaptive controller: off, on, pin:balanced|write-heavy|read-heavy",
       Text(&ServerConfig::controller), [](const ServerConfig& c) { return c.controller; }},
      {"controller-epoch", "controller epoch length, e.g. 5s or 500ms",
       Text(&ServerConfig::controller_epoch),
       [](const ServerConfig& c) { return c.controller_epoch; }},
      {"controller-threshold",
       "percent a profile must be predicted cheaper by before the controller switches to it",
       Number(&ServerConfig::controller_threshold_percent),
       [](const ServerConfig& c) { return absl::StrCat(c.controller_threshold_percent); }},
      {"controller-patience", "epochs running the gain must hold before a switch",
       Number(&ServerConfig::controller_patience),
       [](const ServerConfig& c) { return absl::StrCat(c.controller_patience); }},
      {"log-level", "trace, debug, info, warn or error", Text(&ServerConfig::log_level),
       [](const ServerConfig& c) { return c.log_level; }},
  };
  return *kSettings;
}

}  // namespace

absl::Status ServerConfig::Validate() const {
  if (listen.empty() && unix_path.empty()) {
    return absl::InvalidArgumentError("no listener: set --listen or --unix");
  }
  if (!listen.empty() && listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--listen wants HOST:PORT, got '", listen, "'"));
  }
  if (data_dir.empty()) return absl::InvalidArgumentError("--data-dir is empty");
  if (!shm_socket.empty() && (shm_max_arenas < 1 || shm_max_bytes < 4096)) {
    return absl::InvalidArgumentError(
        "--shm-max-arenas must be at least 1 and --shm-max-bytes at least 4KiB");
  }
  if (batch_bytes < (uint64_t{64} << 10)) {
    return absl::InvalidArgumentError("--batch-bytes must be at least 64KiB");
  }
  if (read_group_bytes < 4096) {
    return absl::InvalidArgumentError("--read-group-bytes must be at least 4KiB");
  }
  if (frame_bytes < 4096 || frame_bytes > (uint64_t{8} << 20)) {
    return absl::InvalidArgumentError("--frame-bytes must be in [4KiB, 8MiB]");
  }
  if (max_inflight_bytes < frame_bytes) {
    return absl::InvalidArgumentError("--max-inflight-bytes must be at least --frame-bytes");
  }
  if (max_threads < 4) return absl::InvalidArgumentError("--max-threads must be at least 4");
  if (write_buffer_bytes < (uint64_t{1} << 20)) {
    return absl::InvalidArgumentError("--write-buffer-size must be at least 1MiB");
  }
  if (background_jobs < 1 || background_jobs > 64) {
    return absl::InvalidArgumentError("--background-jobs must be in [1, 64]");
  }
  absl::Duration epoch;
  if (!absl::ParseDuration(controller_epoch, &epoch) || epoch < absl::Milliseconds(50)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--controller-epoch wants a duration of at least 50ms (e.g. 5s), got '",
        controller_epoch, "'"));
  }
  if (controller_patience < 1 || controller_patience > 100) {
    return absl::InvalidArgumentError("--controller-patience must be in [1, 100]");
  }
  if (controller_threshold_percent > 99) {  // a predicted gain is below 100 %
    return absl::InvalidArgumentError("--controller-threshold must be in [0, 99] (percent)");
  }
  if (controller != "off" && controller != "on" && controller.rfind("pin:", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--controller wants off, on or pin:<profile>, got '", controller, "'"));
  }
  static const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (std::find(kLevels.begin(), kLevels.end(), log_level) == kLevels.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown --log-level '", log_level, "'"));
  }
  return absl::OkStatus();
}

absl::Status ServerConfig::Set(std::string_view name, std::string_view value) {
  for (const auto& s : Settings()) {
    if (name == s.name) {
      auto st = s.set(*this, std::string(value));
      if (!st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(s.name, ": ", st.message()));
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown setting '", std::string(name), "'"));
}

absl::Status ServerConfig::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    std::string_view l(line);
    if (auto hash = l.find('#'); hash != std::string_view::npos) l = l.substr(0, hash);
    std::string text(absl::StripAsciiWhitespace(std::string(l)));
    if (text.empty()) continue;
    auto eq = text.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", lineno, ": expected 'name = value'"));
    }
    std::string name(absl::StripAsciiWhitespace(text.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(text.substr(eq + 1)));
    if (auto s = Set(name, value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", lineno, ": ", s.message()));
    }
  }
  config_file = path;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ServerConfig::ParseArgs(int argc, char** argv) {
  // (name, value) pairs in order; --config is applied first.
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!a.starts_with("--")) {
      positional.push_back(a);
      continue;
    }
    a = a.substr(2);
    std::string value;
    if (auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", a, " needs a value"));
    }
    flags.emplace_back(a, value);
  }
  for (const auto& [name, value] : flags) {
    if (name == "config") {
      if (auto s = LoadFile(value); !s.ok()) return s;
    }
  }
  for (const auto& [name, value] : flags) {
    if (name == "config") continue;
    if (auto s = Set(name, value); !s.ok()) return s;
  }
  return positional;
}

std::string ServerConfig::Describe() const {
  std::string out;
  for (const auto& s : Settings()) absl::StrAppend(&out, s.name, " = ", s.get(*this), "\n");
  return out;
}

std::string ConfigUsage() {
  std::string out =
      "usage: prefixd [--config FILE] [--SETTING VALUE ...]\n\n"
      "Every setting is a flag (--name VALUE or --name=VALUE) and a config-file line\n"
      "(name = VALUE). Flags win over the file. Settings and defaults:\n";
  ServerConfig defaults;
  for (const auto& s : Settings()) {
    absl::StrAppend(&out, "  --", s.name, " (default '", s.get(defaults), "')\n      ", s.help,
                    "\n");
  }
  return out;
}

}  // namespace prefixd::server
