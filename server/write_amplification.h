// Write amplification as Stats reports it: the daemon's device writes (/proc/self/io, less
// cancelled writeback: flushes, compactions, the WAL, copies forward, the eviction order's
// files) over the page bytes puts wrote, overall and per namespace. Device writes are not
// tagged by namespace: each namespace is charged the share of them that its page bytes written
// (puts, and copies forward of its pages) are of all page bytes written, over its own puts'
// bytes. A namespace deleted since the daemon started takes its bytes with it, and the others
// are charged its device writes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace prefixd::server {

struct NamespaceWrites {
  uint64_t put_bytes = 0;     // page bytes its puts wrote
  uint64_t copied_bytes = 0;  // page bytes copied forward for it (promotions)
};

struct WriteAmplification {
  uint64_t put_bytes = 0;           // all namespaces' put_bytes
  double overall = 0;               // device bytes / put_bytes; 0 with no put
  std::vector<double> namespaces;   // one per NamespaceWrites; 0 for a namespace with no put
};

WriteAmplification ShareDeviceWrites(uint64_t device_bytes,
                                     std::span<const NamespaceWrites> namespaces);

}  // namespace prefixd::server
