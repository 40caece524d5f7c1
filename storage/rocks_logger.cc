#include "storage/rocks_logger.h"

#include <cstdio>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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
  explicit SpdlogRocksLogger(std::chrono::milliseconds repeat_interval)
      : rocksdb::Logger(FromSpdlog(spdlog::default_logger()->level())),
        repeat_interval_(repeat_interval) {}

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
  // A warning's place in RocksDB's code: its format string, a literal at every call site.
  struct Site {
    std::chrono::steady_clock::time_point printed;
    uint64_t held = 0;  // lines from here not printed since `printed`
  };

  // How many lines from `format`'s place were held back before this one, or nullopt if this
  // one is held back too.
  std::optional<uint64_t> Admit(rocksdb::InfoLogLevel level, const char* format) {
    if (level != rocksdb::InfoLogLevel::WARN_LEVEL || repeat_interval_.count() <= 0) return 0;
    const auto now = std::chrono::steady_clock::now();
    absl::MutexLock l(&mu_);
    auto [it, first] = sites_.try_emplace(format);
    Site& site = it->second;
    if (!first && now - site.printed < repeat_interval_) {
      ++site.held;
      return std::nullopt;
    }
    const uint64_t held = site.held;
    site = {now, 0};
    return held;
  }

  void Write(rocksdb::InfoLogLevel level, const char* format, va_list ap) {
    const spdlog::level::level_enum to = ToSpdlog(level);
    if (!spdlog::should_log(to)) return;
    const std::optional<uint64_t> held = Admit(level, format);
    if (!held) return;
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
    if (*held > 0) absl::StrAppend(&line, " (", *held, " more from the same place not printed)");
    spdlog::log(to, "rocksdb: {}", line);
  }

  const std::chrono::milliseconds repeat_interval_;
  absl::Mutex mu_;
  absl::flat_hash_map<const char*, Site> sites_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewSpdlogRocksLogger(std::chrono::milliseconds repeat_interval) {
  return std::make_shared<SpdlogRocksLogger>(repeat_interval);
}

}  // namespace prefixd::storage
