#include "controller/signals.h"

namespace prefixd::controller {
namespace {

double Per(uint64_t before, uint64_t after, double seconds) {
  return after > before ? static_cast<double>(after - before) / seconds : 0.0;
}

double Quantile(const util::LatencyCounts& before, const util::LatencyCounts& after, double q) {
  return util::LatencyPercentile(before, after, q).value_or(0);
}

}  // namespace

double EpochRates::write_amplification() const {
  if (put_bytes <= 0) return 0;
  return (flush_bytes + compaction_write_bytes + promoted_bytes) / put_bytes;
}

double EpochRates::read_share() const {
  double total = get_bytes + put_bytes;
  return total > 0 ? get_bytes / total : 0.5;
}

EpochRates Rates(const storage::StoreSignals& b, const storage::StoreSignals& a, double seconds) {
  EpochRates r;
  r.seconds = seconds;
  r.put_bytes = Per(b.put_bytes, a.put_bytes, seconds);
  r.get_bytes = Per(b.get_bytes, a.get_bytes, seconds);
  r.put_pages = Per(b.put_pages, a.put_pages, seconds);
  r.get_pages = Per(b.get_pages, a.get_pages, seconds);
  r.exists_keys = Per(b.exists_keys, a.exists_keys, seconds);
  r.flush_bytes = Per(b.flush_write_bytes, a.flush_write_bytes, seconds);
  r.compaction_write_bytes = Per(b.compaction_write_bytes, a.compaction_write_bytes, seconds);
  r.compaction_read_bytes = Per(b.compaction_read_bytes, a.compaction_read_bytes, seconds);
  r.promoted_bytes = Per(b.promoted_bytes, a.promoted_bytes, seconds);
  r.stall_fraction = std::min(1.0, Per(b.stall_micros, a.stall_micros, seconds) / 1e6);
  const double asked = Per(b.get_pages + b.get_misses, a.get_pages + a.get_misses, seconds);
  r.hit_ratio = asked > 0 ? r.get_pages / asked : 0;
  r.l0_files = a.l0_files;
  r.pending_compaction_bytes = a.pending_compaction_bytes;
  r.blob_garbage_bytes = a.blob_garbage_bytes;
  r.get_p50_us = Quantile(b.get_latency, a.get_latency, 0.5);
  r.get_p99_us = Quantile(b.get_latency, a.get_latency, 0.99);
  r.put_p99_us = Quantile(b.put_latency, a.put_latency, 0.99);
  r.exists_p99_us = Quantile(b.exists_latency, a.exists_latency, 0.99);
  return r;
}

}  // namespace prefixd::controller
