#include "client/stats_json.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace prefixd::client {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

// A count that exists only when the daemon was asked for it: null otherwise.
std::string Counted(bool counted, uint64_t v) { return counted ? absl::StrCat(v) : "null"; }

}  // namespace

std::string StatsToJson(const v1::StatsResponse& s) {
  std::string out = absl::StrCat(
      "{\n  \"version\": ", Quote(s.version()), ",\n  \"capacity_bytes\": ", s.capacity_bytes(),
      ",\n  \"pages\": ", s.pages(), ",\n  \"bytes\": ", s.bytes(), ",\n  \"disk_bytes\": ",
      s.disk_bytes(), ",\n  \"uptime_seconds\": ", s.uptime_seconds(),
      ",\n  \"inflight_bytes\": ", s.inflight_bytes(), ",\n  \"rejected_busy\": ",
      s.rejected_busy(), ",\n  \"process_read_bytes\": ", s.process_read_bytes(),
      ",\n  \"process_write_bytes\": ", s.process_write_bytes(), ",\n  \"put_bytes\": ",
      s.put_bytes(), ",\n  \"write_amplification\": ", s.write_amplification(),
      ",\n  \"peak_rss_bytes\": ",
      s.peak_rss_bytes(), ",\n  \"generations\": ", s.generations(),
      ",\n  \"generation_bytes\": ", s.generation_bytes(), ",\n  \"evicted_generations\": ",
      s.evicted_generations(), ",\n  \"promoted_bytes\": ", s.promoted_bytes(),
      ",\n  \"promotions_declined\": ", s.promotions_declined(),
      ",\n  \"reclaimed_records\": ", s.reclaimed_records(),
      ",\n  \"reclaimed_bytes\": ", s.reclaimed_bytes(),
      ",\n  \"dead_records_dropped\": ", s.dead_records_dropped(),
      ",\n  \"record_compactions\": ", s.record_compactions(),
      ",\n  \"promote_budget\": ", s.promote_budget(),
      ",\n  \"shm_arenas\": ", s.shm_arenas(), ",\n  \"shm_mapped_bytes\": ",
      s.shm_mapped_bytes(), ",\n  \"shm_put_pages\": ", s.shm_put_pages(),
      ",\n  \"shm_get_pages\": ", s.shm_get_pages(),
      ",\n  \"shm_side_get_calls\": ", s.shm_side_get_calls());
  absl::StrAppend(&out, ",\n  \"memory_cache_capacity\": ", s.memory_cache_capacity(),
                  ",\n  \"memory_cache_bytes\": ", s.memory_cache_bytes(),
                  ",\n  \"memory_cache_hits\": ", s.memory_cache_hits(),
                  ",\n  \"memory_cache_misses\": ", s.memory_cache_misses(),
                  ",\n  \"key_index_entries\": ", s.key_index_entries(),
                  ",\n  \"key_index_bytes\": ", s.key_index_bytes(),
                  ",\n  \"lru_entries\": ", s.lru_entries(),
                  ",\n  \"bimodal_insertion\": ", s.bimodal_insertion() ? "true" : "false",
                  ",\n  \"bimodal_puts\": ", s.bimodal_puts(),
                  ",\n  \"probation_insertion\": ", s.probation_insertion() ? "true" : "false",
                  ",\n  \"probation_puts\": ", s.probation_puts(),
                  ",\n  \"unread_pages\": ", s.unread_pages(),
                  ",\n  \"probation_target_pages\": ", s.probation_target_pages(),
                  ",\n  \"ghost_unread_pages\": ", s.ghost_unread_pages(),
                  ",\n  \"ghost_read_pages\": ", s.ghost_read_pages(),
                  ",\n  \"stall_micros\": ", s.stall_micros(), ",\n  \"flush_write_bytes\": ",
                  s.flush_write_bytes(), ",\n  \"compaction_write_bytes\": ",
                  s.compaction_write_bytes());
  const bool stranded = s.stranded_counted();
  absl::StrAppend(&out, ",\n  \"stranded_pages\": ", Counted(stranded, s.stranded_pages()),
                  ",\n  \"stranded_bytes\": ", Counted(stranded, s.stranded_bytes()));
  const auto& c = s.controller();
  absl::StrAppend(
      &out, ",\n  \"controller\": {\"mode\": ", Quote(c.mode()), ", \"profile\": ",
      Quote(c.profile()), ", \"write_buffer_bytes\": ", c.write_buffer_bytes(),
      ", \"l0_slowdown_trigger\": ", c.l0_slowdown_trigger(), ", \"l0_stop_trigger\": ",
      c.l0_stop_trigger(), ", \"max_background_jobs\": ", c.max_background_jobs(),
      ", \"background_rate_bytes\": ", c.background_rate_bytes(), ", \"promote_fraction\": ",
      c.promote_fraction(), ",\n    \"epochs\": ", c.epochs(), ", \"cpu_seconds\": ",
      c.cpu_seconds(), ", \"device_bandwidth\": ", c.device_bandwidth(),
      ", \"write_amplification\": ", c.write_amplification(), ",\n    \"last_epoch\": ",
      Quote(c.last_epoch()), ",\n    \"decisions\": [");
  for (int i = 0; i < c.decisions_size(); ++i) {
    const auto& d = c.decisions(i);
    absl::StrAppend(&out, i ? "," : "", "\n      {\"epoch\": ", d.epoch(), ", \"from\": ",
                    Quote(d.from()), ", \"to\": ", Quote(d.to()), ", \"predicted_gain\": ",
                    d.predicted_gain(), ", \"cost_from\": ", Quote(d.cost_from()),
                    ", \"cost_to\": ", Quote(d.cost_to()), ", \"signals\": ",
                    Quote(d.signals()), "}");
  }
  absl::StrAppend(&out, c.decisions_size() ? "\n    ]}" : "]}", ",\n  \"namespaces\": [");
  for (int i = 0; i < s.namespaces_size(); ++i) {
    const auto& n = s.namespaces(i);
    const auto& f = n.fingerprint();
    absl::StrAppend(
        &out, i ? "," : "", "\n    {\"name\": ", Quote(n.name()), ", \"id\": ", n.id(),
        ",\n     \"fingerprint\": {\"model\": ", Quote(f.model()),
        ", \"model_revision\": ", Quote(f.model_revision()), ", \"dtype\": ", Quote(f.dtype()),
        ", \"kv_layout\": ", Quote(f.kv_layout()), ", \"page_tokens\": ", f.page_tokens(),
        ", \"page_bytes\": ", f.page_bytes(), ", \"tp_rank\": ", f.tp_rank(),
        ", \"tp_size\": ", f.tp_size(), ", \"key_scheme\": ", Quote(f.key_scheme()), "},\n");
    absl::StrAppend(&out, "     \"pages\": ", n.pages(), ", \"bytes\": ", n.bytes(),
                    ", \"puts\": ", n.puts(), ", \"put_existing\": ", n.put_existing(),
                    ", \"hits\": ", n.hits(), ", \"misses\": ", n.misses(),
                    ", \"exists_queries\": ", n.exists_queries(), ", \"exists_hits\": ",
                    n.exists_hits(), ", \"corrupt_dropped\": ", n.corrupt_dropped(),
                    ", \"deleted\": ", n.deleted(), ", \"evicted_pages\": ", n.evicted_pages(),
                    ", \"evicted_bytes\": ", n.evicted_bytes(), ", \"promoted_pages\": ",
                    n.promoted_pages(), ", \"miss_evicted\": ", n.miss_evicted(),
                    ", \"miss_not_stored\": ", n.miss_not_stored(), ", \"miss_stranded\": ",
                    n.miss_stranded(), ", \"miss_corrupt\": ", n.miss_corrupt(),
                    ", \"refused_opens\": ", n.refused_opens(), ", \"miss_expired\": ",
                    n.miss_expired(), ", \"ttl_seconds\": ", n.ttl_seconds(),
                    ", \"quota_bytes\": ", n.quota_bytes(), ", \"expired_pages\": ",
                    n.expired_pages(), ", \"expired_bytes\": ", n.expired_bytes(),
                    ", \"miss_evicted_unread\": ", n.miss_evicted_unread(),
                    ", \"put_bytes\": ", n.put_bytes(),
                    ", \"write_amplification\": ", n.write_amplification(),
                    ",\n     \"stranded_pages\": ", Counted(stranded, n.stranded_pages()),
                    ", \"stranded_bytes\": ", Counted(stranded, n.stranded_bytes()),
                    ", \"parent_unknown_pages\": ", Counted(stranded, n.parent_unknown_pages()),
                    "}");
  }
  absl::StrAppend(&out, s.namespaces_size() ? "\n  ]\n}\n" : "]\n}\n");
  return out;
}

}  // namespace prefixd::client
