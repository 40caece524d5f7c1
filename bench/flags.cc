#include "bench/flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/byte_size.h"

namespace prefixd::bench {
namespace {

absl::Status Bad(const std::string& name, const std::string& value, const std::string& want) {
  return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", value, "' is not ", want));
}

}  // namespace

absl::StatusOr<FlagSet> FlagSet::Parse(int argc, char** argv,
                                       const std::set<std::string>& switches) {
  FlagSet f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!a.starts_with("--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", a, "'"));
    }
    std::string name = a.substr(2), value;
    bool negated = name.starts_with("no-") && switches.count(name.substr(3));
    if (switches.count(name) || negated) {
      f.values_[negated ? name.substr(3) : name] = negated ? "false" : "true";
      continue;
    }
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    f.values_[name] = value;
  }
  return f;
}

std::string FlagSet::Str(const std::string& name, const std::string& def) {
  used_.insert(name);
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

bool FlagSet::Switch(const std::string& name, bool def) {
  used_.insert(name);
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second == "true";
}

absl::StatusOr<uint64_t> FlagSet::Uint(const std::string& name, uint64_t def) {
  used_.insert(name);
  if (!Has(name)) return def;
  std::string v = Str(name);
  uint64_t n = 0;
  if (!absl::SimpleAtoi(v, &n)) return Bad(name, v, "a non-negative integer");
  return n;
}

absl::StatusOr<uint64_t> FlagSet::Bytes(const std::string& name, uint64_t def) {
  used_.insert(name);
  if (!Has(name)) return def;
  std::string v = Str(name);
  auto b = util::ParseByteSize(v);
  if (!b.ok()) return Bad(name, v, "a byte size (4096, 64KiB, 1MiB)");
  return *b;
}

absl::StatusOr<double> FlagSet::Double(const std::string& name, double def) {
  used_.insert(name);
  if (!Has(name)) return def;
  std::string v = Str(name);
  double d = 0;
  if (!absl::SimpleAtod(v, &d)) return Bad(name, v, "a number");
  return d;
}

absl::StatusOr<std::vector<uint64_t>> FlagSet::UintList(const std::string& name,
                                                        std::vector<uint64_t> def) {
  used_.insert(name);
  if (!Has(name)) return def;
  std::string v = Str(name);
  std::vector<uint64_t> out;
  for (absl::string_view part : absl::StrSplit(v, ',')) {
    std::string p(part);
    uint64_t mult = 1;
    if (!p.empty() && (p.back() == 'k' || p.back() == 'K')) mult = 1000;
    if (!p.empty() && (p.back() == 'm' || p.back() == 'M')) mult = 1000000;
    if (mult != 1) p.pop_back();
    uint64_t n = 0;
    if (!absl::SimpleAtoi(p, &n)) return Bad(name, v, "a list like 10k,100k,1M");
    out.push_back(n * mult);
  }
  return out;
}

absl::Status FlagSet::CheckAllUsed() const {
  for (const auto& [name, value] : values_) {
    if (!used_.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " for this workload"));
    }
  }
  return absl::OkStatus();
}

}  // namespace prefixd::bench
