#include "server/write_amplification.h"

namespace prefixd::server {

WriteAmplification ShareDeviceWrites(uint64_t device_bytes,
                                     std::span<const NamespaceWrites> namespaces) {
  WriteAmplification wa;
  double written = 0;  // page bytes written, copies included
  for (const NamespaceWrites& n : namespaces) {
    wa.put_bytes += n.put_bytes;
    written += double(n.put_bytes) + double(n.copied_bytes);
  }
  if (wa.put_bytes > 0) wa.overall = double(device_bytes) / double(wa.put_bytes);
  wa.namespaces.reserve(namespaces.size());
  for (const NamespaceWrites& n : namespaces) {
    if (n.put_bytes == 0 || written == 0) {
      wa.namespaces.push_back(0);
      continue;
    }
    const double share = (double(n.put_bytes) + double(n.copied_bytes)) / written;
    wa.namespaces.push_back(double(device_bytes) * share / double(n.put_bytes));
  }
  return wa;
}

}  // namespace prefixd::server
