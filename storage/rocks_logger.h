// RocksDB's info log, sent to the daemon's own log (spdlog) instead of LOG files in the data
// directory. Internal to storage/.
//
// Why not RocksDB's own LOG files: its rolling logger keeps every "header" line ever logged
// (each column family's options dump, ~9 KB, logged when a generation is created) in memory and
// writes them all again at the top of each new file. With a generation created every few
// seconds the header outgrew max_log_file_size, so every line rolled the file: at a 32 MiB
// budget the four kept files held 4.6 MB (14 % of the budget), rewritten continuously.
#pragma once

#include <cstdarg>
#include <memory>

#include "rocksdb/env.h"

namespace prefixd::storage {

// Levels map as: DEBUG -> trace, INFO -> debug, WARN -> warn, ERROR -> error, FATAL ->
// critical, HEADER lines (option dumps) -> trace. Lines are prefixed "rocksdb: ". RocksDB
// skips formatting lines below the level spdlog had when the logger was made; lines spdlog
// would not print are dropped. Thread-safe, like spdlog's default logger.
std::shared_ptr<rocksdb::Logger> NewSpdlogRocksLogger();

}  // namespace prefixd::storage
