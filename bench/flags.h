// Command-line flags of prefixd-bench: `--name VALUE` or `--name=VALUE`, and bare switches.
// Workloads take the flags they know; anything left over is an error naming it.
// Not thread-safe: used by main() only.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prefixd::bench {

class FlagSet {
 public:
  // `switches` are flags that take no value (e.g. "progress").
  static absl::StatusOr<FlagSet> Parse(int argc, char** argv, const std::set<std::string>& switches);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // Each getter marks the flag used and returns `def` when it is absent. INVALID_ARGUMENT,
  // naming the flag, when the value does not parse.
  std::string Str(const std::string& name, const std::string& def = "");
  bool Switch(const std::string& name, bool def);  // --name / --no-name
  absl::StatusOr<uint64_t> Uint(const std::string& name, uint64_t def);
  absl::StatusOr<uint64_t> Bytes(const std::string& name, uint64_t def);  // 4096, 1MiB, ...
  absl::StatusOr<double> Double(const std::string& name, double def);
  absl::StatusOr<std::vector<uint64_t>> UintList(const std::string& name,
                                                 std::vector<uint64_t> def);  // 10k,100k,1M

  // INVALID_ARGUMENT naming the first flag nobody asked for.
  absl::Status CheckAllUsed() const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> used_;
};

}  // namespace prefixd::bench
