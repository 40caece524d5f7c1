// RocksDB's info log, sent to the daemon's own log (spdlog) instead of LOG files in the data
// directory. Internal to storage/.
//
// Why not RocksDB's own LOG files: its rolling logger keeps every "header" line ever logged
// (each column family's options dump, ~9 KB, logged when a generation is created) in memory and
// writes them all again at the top of each new file. With a generation created every few
// seconds the header outgrew max_log_file_size, so every line rolled the file: at a 32 MiB
// budget the four kept files held 4.6 MB (14 % of the budget), rewritten continuously.
#pragma once

#include <chrono>
#include <cstdarg>
#include <memory>

#include "rocksdb/env.h"

namespace prefixd::storage {

// Levels map as: DEBUG -> trace, INFO -> debug, WARN -> warn, ERROR -> error, FATAL ->
// critical, HEADER lines (option dumps) -> trace. Lines are prefixed "rocksdb: ". RocksDB
// skips formatting lines below the level spdlog had when the logger was made; lines spdlog
// would not print are dropped. Thread-safe, like spdlog's default logger.
//
// A warning logged again from the same place (the same format string) within
// `repeat_interval` of the last one printed from there is counted, not printed; the next one
// printed ends with how many were held back. A store whose disk cannot keep up logs "Stopping
// writes because we have N immutable memtables" for every column family at every memtable
// switch: 90 lines in 8 s of a Mooncake replay. The time writes waited is in the stats
// (stall_micros). Errors and fatal lines are always printed; a zero interval prints all.
std::shared_ptr<rocksdb::Logger> NewSpdlogRocksLogger(
    std::chrono::milliseconds repeat_interval = std::chrono::seconds(10));

}  // namespace prefixd::storage
