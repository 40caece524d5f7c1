#include "storage/rocks_status.h"

#include "absl/strings/str_cat.h"

namespace prefixd::storage {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(std::string(what), ": ", s.ToString());
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  // An I/O error is not worth retrying blindly (a failing disk): INTERNAL, not UNAVAILABLE.
  if (s.IsBusy() || s.IsTryAgain() || s.IsIncomplete()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

}  // namespace prefixd::storage
