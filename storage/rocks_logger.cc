#include "storage/rocks_logger.h"

#include <cstdio>
#include <string>

#include "spdlog/spdlog.h"

namespace prefixd::storage {
namespace {

spdlog::level::level_enum ToSpdlog(rocksdb::InfoLogLevel level) {
  switch (level) {
    case rocksdb::InfoLogLevel::DEBUG_LEVEL: return spdlog::level::trace;
    case rocksdb::InfoLogLevel::INFO_LEVEL: return spdlog::level::debug;
    case rocksdb::InfoLogLevel::WARN_LEVEL: return spdlog::level::warn;
    case rocksdb::InfoLogLevel::ERROR_LEVEL: return spdlog::level::err;
    case rocksdb::InfoLogLevel::FATAL_LEVEL: return spdlog::level::critical;
    default: return spdlog::level::trace;  // HEADER_LEVEL: option dumps
  }
}

// The most verbose RocksDB level whose lines spdlog prints now.
rocksdb::InfoLogLevel FromSpdlog(spdlog::level::level_enum level) {
  if (level <= spdlog::level::trace) return rocksdb::InfoLogLevel::DEBUG_LEVEL;
  if (level <= spdlog::level::debug) return rocksdb::InfoLogLevel::INFO_LEVEL;
  if (level <= spdlog::level::warn) return rocksdb::InfoLogLevel::WARN_LEVEL;
  if (level <= spdlog::level::err) return rocksdb::InfoLogLevel::ERROR_LEVEL;
  return rocksdb::InfoLogLevel::FATAL_LEVEL;
}

class SpdlogRocksLogger final : public rocksdb::Logger {
 public:
  SpdlogRocksLogger() : rocksdb::Logger(FromSpdlog(spdlog::default_logger()->level())) {}

  // RocksDB calls this one for lines logged without a level (INFO).
  void Logv(const char* format, va_list ap) override {
    Write(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    Write(level, format, ap);
  }
  // RocksDB's own rolling logger keeps these to repeat at the top of every new file; here
  // they are logged once and forgotten.
  void LogHeader(const char* format, va_list ap) override {
    Write(rocksdb::InfoLogLevel::HEADER_LEVEL, format, ap);
  }

 private:
  static void Write(rocksdb::InfoLogLevel level, const char* format, va_list ap) {
    const spdlog::level::level_enum to = ToSpdlog(level);
    if (!spdlog::should_log(to)) return;
    char small[512];
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(small, sizeof(small), format, copy);
    va_end(copy);
    if (n < 0) return;
    std::string line;
    if (static_cast<size_t>(n) < sizeof(small)) {
      line.assign(small, n);
    } else {
      line.resize(n + 1);
      std::vsnprintf(line.data(), line.size(), format, ap);
      line.resize(n);
    }
    while (!line.empty() && line.back() == '\n') line.pop_back();
    spdlog::log(to, "rocksdb: {}", line);
  }
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewSpdlogRocksLogger() {
  return std::make_shared<SpdlogRocksLogger>();
}

}  // namespace prefixd::storage
