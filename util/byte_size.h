// Byte sizes as people write them: "4096", "512KiB", "512MiB", "10GiB", "1TiB", also "10G",
// "1.5GiB" and the SI forms "1GB" (10^9). Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace prefixd::util {

// INVALID_ARGUMENT for an empty, negative, unknown-unit or overflowing size.
absl::StatusOr<uint64_t> ParseByteSize(std::string_view text);

// "512 MiB", "1.50 GiB", "123 B".
std::string FormatByteSize(uint64_t bytes);

}  // namespace prefixd::util
