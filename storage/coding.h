// Fixed-width integer encoding helpers for the on-disk formats (see page_key.h, records.h).
// Big-endian where bytes must sort like numbers (keys); little-endian elsewhere.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace prefixd::storage {

inline void PutBig32(std::string* dst, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  dst->append(b, 4);
}

inline void PutBig64(std::string* dst, uint64_t v) {
  PutBig32(dst, uint32_t(v >> 32));
  PutBig32(dst, uint32_t(v));
}

inline uint32_t GetBig32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t(u[0]) << 24) | (uint32_t(u[1]) << 16) | (uint32_t(u[2]) << 8) | uint32_t(u[3]);
}

inline uint64_t GetBig64(const char* p) {
  return (uint64_t(GetBig32(p)) << 32) | GetBig32(p + 4);
}

inline void PutLittle32(std::string* dst, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = char(v >> (8 * i));
  dst->append(b, 4);
}

inline void PutLittle64(std::string* dst, uint64_t v) {
  PutLittle32(dst, uint32_t(v));
  PutLittle32(dst, uint32_t(v >> 32));
}

inline uint32_t GetLittle32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t(u[0]) | (uint32_t(u[1]) << 8) | (uint32_t(u[2]) << 16) | (uint32_t(u[3]) << 24);
}

inline uint64_t GetLittle64(const char* p) {
  return uint64_t(GetLittle32(p)) | (uint64_t(GetLittle32(p + 4)) << 32);
}

// Appends a length-prefixed (one byte, < 256) string.
inline void PutShortString(std::string* dst, std::string_view s) {
  dst->push_back(char(static_cast<uint8_t>(s.size())));
  dst->append(s);
}

// Reads a length-prefixed string from `*in`, advancing it. False if `*in` is too short.
inline bool GetShortString(std::string_view* in, std::string_view* out) {
  if (in->empty()) return false;
  size_t n = static_cast<uint8_t>((*in)[0]);
  if (in->size() < 1 + n) return false;
  *out = in->substr(1, n);
  in->remove_prefix(1 + n);
  return true;
}

}  // namespace prefixd::storage
