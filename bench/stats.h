// Small reporting helpers for prefixd-bench: latency percentiles and a flat JSON object.
// Not thread-safe: each instance belongs to one thread (merge per-thread recorders after join).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prefixd::bench {

// Latency samples in microseconds.
class Latencies {
 public:
  void Add(double us) {
    samples_.push_back(us);
    sorted_ = false;
  }
  void Merge(const Latencies& other);
  size_t count() const { return samples_.size(); }
  // The samples' sum (0 with none).
  double Sum() const;

  // Nearest-rank percentile, q in [0, 1] (0.5 = p50, 0.999 = p99.9); nullopt with no samples.
  // Sorts the samples on first use after an Add or Merge.
  std::optional<double> Percentile(double q);

 private:
  std::vector<double> samples_;
  bool sorted_ = true;
};

// A flat JSON object whose fields keep the order they were added in. Strings are escaped;
// a nullopt number renders as null; doubles render with `decimals` digits after the point.
class JsonObject {
 public:
  void Str(std::string_view key, std::string_view value);
  void Int(std::string_view key, uint64_t value);
  void Num(std::string_view key, std::optional<double> value, int decimals = 3);
  void Bool(std::string_view key, bool value);
  void Null(std::string_view key);

  // One field per line, two-space indent, trailing newline.
  std::string Render() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;  // key, rendered value
};

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

}  // namespace prefixd::bench
