// The benchmark's prefixd tiers and the tier with values inline. Thread-safe as Backend says.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "bench/backend.h"
#include "prefixd/v1/prefixd.pb.h"

namespace prefixd::bench {

// model "prefixd-bench", revision "1", dtype "bytes", layout "opaque", `page_tokens`,
// `page_bytes`, rank 0 of 1, key scheme "bench-v1".
v1::Fingerprint BenchFingerprint(uint64_t page_bytes, uint32_t page_tokens = 64);

// prefixd over gRPC at options.target (opens options.ns_name).
absl::StatusOr<std::unique_ptr<Backend>> NewGrpcBackend(const BackendOptions& options);

// prefixd's storage library in this process, at options.dir.
absl::StatusOr<std::unique_ptr<Backend>> NewInprocBackend(const BackendOptions& options);

// RocksDB with default options and values inline (no blob files), at options.dir. Writes skip
// the WAL as prefixd's do, so the difference to `inproc` is key-value separation (and
// prefixd's index); existence checks read values, as they must without an index.
absl::StatusOr<std::unique_ptr<Backend>> NewRocksdbInlineBackend(const BackendOptions& options);

}  // namespace prefixd::bench
