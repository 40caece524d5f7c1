#include "storage/store_options.h"

#include "absl/strings/str_cat.h"

namespace prefixd::storage {

absl::Status StoreOptions::Validate() const {
  if (path.empty()) return absl::InvalidArgumentError("store path is empty");
  if (write_buffer_size < (uint64_t{1} << 20)) {
    return absl::InvalidArgumentError("write_buffer_size must be at least 1 MiB");
  }
  if (max_write_buffer_number < 2) {
    return absl::InvalidArgumentError("max_write_buffer_number must be at least 2");
  }
  if (blob_file_size < (uint64_t{1} << 20)) {
    return absl::InvalidArgumentError("blob_file_size must be at least 1 MiB");
  }
  if (max_background_jobs < 1 || max_background_jobs > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_background_jobs must be in [1, 64], got ", max_background_jobs));
  }
  if (max_manifest_bytes != 0 && max_manifest_bytes < (uint64_t{4} << 10)) {
    return absl::InvalidArgumentError("max_manifest_bytes must be 0 (derived) or at least 4 KiB");
  }
  if (read_group_bytes == 0) return absl::InvalidArgumentError("read_group_bytes must be > 0");
  if (!(promote_fraction >= 0 && promote_fraction <= 1)) {
    return absl::InvalidArgumentError("promote_fraction must be in [0, 1]");
  }
  if (!(promote_budget >= 0 && promote_budget <= 1)) {
    return absl::InvalidArgumentError("promote_budget must be in [0, 1]");
  }
  if (eviction_order_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("eviction_order_interval must not be negative");
  }
  if (capacity_bytes != 0 && capacity_bytes < (uint64_t{16} << 20)) {
    return absl::InvalidArgumentError("capacity must be 0 (unlimited) or at least 16 MiB");
  }
  return absl::OkStatus();
}

}  // namespace prefixd::storage
