// Renders a StatsResponse as JSON with numbers as numbers (proto3's JSON mapping would quote
// 64-bit integers), for `prefixctl stats --json`. Thread-safe: a pure function.
#pragma once

#include <string>

#include "prefixd/v1/prefixd.pb.h"

namespace prefixd::client {

std::string StatsToJson(const v1::StatsResponse& s);

}  // namespace prefixd::client
