// Options of the page store. Plain struct; Validate() rejects unusable values.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace prefixd::storage {

struct StoreOptions {
  // Directory holding the RocksDB store. Created if missing. Not changeable online.
  std::string path;

  // Disk budget in bytes; 0 = unlimited. Reported now, enforced by the eviction work.
  uint64_t capacity_bytes = 0;

  // Memtable size per column family (bytes). Default 64 MiB. Changeable online.
  uint64_t write_buffer_size = uint64_t{64} << 20;

  // Memtables per column family before writes stall. Default 4. Changeable online.
  int max_write_buffer_number = 4;

  // Values of at least this size go to blob files. Default 512 bytes. Changeable online.
  uint64_t min_blob_size = 512;

  // Target size of one blob file (bytes). Default 256 MiB. Changeable online.
  uint64_t blob_file_size = uint64_t{256} << 20;

  // Background flush and compaction threads. Default 4. Changeable online.
  int max_background_jobs = 4;

  // Block cache for the index and key blocks (bytes). Default 64 MiB. Not changeable online.
  uint64_t block_cache_bytes = uint64_t{64} << 20;

  // Reads of one Get are issued in MultiGet groups of at most this many bytes of pages.
  // Bounds the memory one Get pins. Default 64 MiB.
  uint64_t read_group_bytes = uint64_t{64} << 20;

  absl::Status Validate() const;
};

}  // namespace prefixd::storage
