#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace prefixd::bench {

void Latencies::Merge(const Latencies& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = false;
}

double Latencies::Sum() const {
  double sum = 0;
  for (double s : samples_) sum += s;
  return sum;
}

std::optional<double> Latencies::Percentile(double q) {
  if (samples_.empty()) return std::nullopt;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  q = std::clamp(q, 0.0, 1.0);
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(samples_.size())));
  return samples_[std::clamp<size_t>(rank, 1, samples_.size()) - 1];
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

void JsonObject::Str(std::string_view key, std::string_view value) {
  fields_.emplace_back(std::string(key), JsonQuote(value));
}

void JsonObject::Int(std::string_view key, uint64_t value) {
  fields_.emplace_back(std::string(key), absl::StrCat(value));
}

void JsonObject::Num(std::string_view key, std::optional<double> value, int decimals) {
  if (!value || !std::isfinite(*value)) return Null(key);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, *value);
  fields_.emplace_back(std::string(key), buf);
}

void JsonObject::Bool(std::string_view key, bool value) {
  fields_.emplace_back(std::string(key), value ? "true" : "false");
}

void JsonObject::Null(std::string_view key) { fields_.emplace_back(std::string(key), "null"); }

std::string JsonObject::Render() const {
  std::string out = "{\n";
  for (size_t i = 0; i < fields_.size(); ++i) {
    absl::StrAppend(&out, "  ", JsonQuote(fields_[i].first), ": ", fields_[i].second,
                    i + 1 < fields_.size() ? ",\n" : "\n");
  }
  out += "}\n";
  return out;
}

}  // namespace prefixd::bench
