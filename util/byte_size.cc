#include "util/byte_size.h"

#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace prefixd::util {

absl::StatusOr<uint64_t> ParseByteSize(std::string_view text) {
  std::string s(absl::StripAsciiWhitespace(std::string(text)));
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a byte size: '", std::string(text), "' (e.g. 4096, 512MiB, 10GiB)"));
  };
  size_t split = 0;
  while (split < s.size() && (absl::ascii_isdigit(static_cast<unsigned char>(s[split])) ||
                              s[split] == '.')) {
    ++split;
  }
  if (split == 0) return bad();
  std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(s.substr(split)));
  static constexpr std::pair<const char*, double> kUnits[] = {
      {"", 1.0},         {"b", 1.0},         {"k", 1024.0},     {"kib", 1024.0},
      {"kb", 1e3},       {"m", 1048576.0},   {"mib", 1048576.0}, {"mb", 1e6},
      {"g", 1073741824.0}, {"gib", 1073741824.0}, {"gb", 1e9},
      {"t", 1099511627776.0}, {"tib", 1099511627776.0}, {"tb", 1e12}};
  double mult = -1;
  for (const auto& [name, m] : kUnits) {
    if (unit == name) mult = m;
  }
  double value = 0;
  if (mult < 0 || !absl::SimpleAtod(s.substr(0, split), &value)) return bad();
  double bytes = std::floor(value * mult);
  if (!(bytes >= 0) || bytes >= 18446744073709551615.0) return bad();
  return static_cast<uint64_t>(bytes);
}

std::string FormatByteSize(uint64_t bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int i = 0;
  while (v >= 1024.0 && i < 5) {
    v /= 1024.0;
    ++i;
  }
  char buf[32];
  if (i == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  } else if (v == std::floor(v)) {
    std::snprintf(buf, sizeof(buf), "%.0f %s", v, kNames[i]);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f %s", v, kNames[i]);
  }
  return buf;
}

}  // namespace prefixd::util
