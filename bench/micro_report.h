// Reporting of the micro workload: a JSON object and a human summary. Thread-safe: pure
// functions of their arguments.
#pragma once

#include <cstdint>
#include <string>

#include "bench/backend.h"
#include "bench/micro.h"

namespace prefixd::bench {

// What the tier did to the device and memory during a run.
struct Footprint {
  uint64_t device_read_bytes = 0, device_write_bytes = 0, peak_rss_bytes = 0, disk_bytes = 0;
};

// Syncs the tier, then the difference of two Io() readings and the tier's disk use now.
Footprint MeasureFootprint(const IoCounters& before, Backend& backend);

std::string MicroToJson(const BackendOptions& b, const MicroOptions& m, MicroReport& r,
                        const Footprint& fp);
void PrintMicroSummary(const BackendOptions& b, const MicroOptions& m, MicroReport& r);

}  // namespace prefixd::bench
