// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum every page carries on the
// wire and on disk. Matches the common definition: Crc32c("123456789") == 0xE3069283.
// Uses the SSE4.2 instruction when the CPU has it, a table otherwise. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace prefixd::util {

// Returns the CRC32C of `crc`'s message extended by `data[0, n)`. Start with crc = 0.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }
inline uint32_t Crc32c(std::string_view s) { return Crc32c(s.data(), s.size()); }

}  // namespace prefixd::util
