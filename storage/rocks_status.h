// Maps rocksdb::Status to absl::Status, once, at the storage boundary. Internal to storage/.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace prefixd::storage {

// Corruption -> DATA_LOSS, Busy/TryAgain/Incomplete -> UNAVAILABLE, NoSpace -> RESOURCE_EXHAUSTED,
// NotFound -> NOT_FOUND, InvalidArgument -> INVALID_ARGUMENT, anything else (IOError included)
// -> INTERNAL. `what` prefixes the message.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what);

}  // namespace prefixd::storage
