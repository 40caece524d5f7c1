#include "storage/rocks_logger.h"

#include <chrono>
#include <cstdarg>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace prefixd::storage {
namespace {

// How RocksDB logs a line without a level.
void Unlevelled(rocksdb::Logger* log, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  log->Logv(format, ap);
  va_end(ap);
}

// Makes spdlog's default logger write "<level>|<message>" lines into a string, at `level`.
class RocksLoggerTest : public ::testing::Test {
 protected:
  void Use(spdlog::level::level_enum level) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_pattern("%l|%v");
    logger->set_level(level);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_);
  }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_ = spdlog::default_logger();
};

TEST_F(RocksLoggerTest, EachRocksDBLevelLandsAtItsSpdlogLevel) {
  Use(spdlog::level::trace);
  auto log = NewSpdlogRocksLogger();
  EXPECT_EQ(log->GetInfoLogLevel(), rocksdb::InfoLogLevel::DEBUG_LEVEL);
  rocksdb::Log(rocksdb::InfoLogLevel::DEBUG_LEVEL, log, "d %d", 1);
  rocksdb::Log(rocksdb::InfoLogLevel::INFO_LEVEL, log, "i %s", "two");
  rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, log, "w %d", 3);
  rocksdb::Log(rocksdb::InfoLogLevel::ERROR_LEVEL, log, "e %d", 4);
  rocksdb::Log(rocksdb::InfoLogLevel::FATAL_LEVEL, log, "f %d", 5);
  rocksdb::Header(log, "h %d\n", 6);
  Unlevelled(log.get(), "u %d", 7);
  EXPECT_EQ(out_.str(),
            "trace|rocksdb: d 1\n"
            "debug|rocksdb: i two\n"
            "warning|rocksdb: w 3\n"
            "error|rocksdb: e 4\n"
            "critical|rocksdb: f 5\n"
            "trace|rocksdb: h 6\n"
            "debug|rocksdb: u 7\n");
}

TEST_F(RocksLoggerTest, LinesBelowTheDaemonsLevelAreDroppedAndOthersKept) {
  Use(spdlog::level::info);
  auto log = NewSpdlogRocksLogger();
  // RocksDB itself skips formatting INFO and DEBUG lines.
  EXPECT_EQ(log->GetInfoLogLevel(), rocksdb::InfoLogLevel::WARN_LEVEL);
  rocksdb::Log(rocksdb::InfoLogLevel::INFO_LEVEL, log, "flush started");
  rocksdb::Header(log, "Options.write_buffer_size: %d", 1);
  Unlevelled(log.get(), "unlevelled %d", 2);  // counts as INFO
  rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, log, "Stopping writes");
  EXPECT_EQ(out_.str(), "warning|rocksdb: Stopping writes\n");
}

TEST_F(RocksLoggerTest, LongLinesArriveWhole) {
  Use(spdlog::level::debug);
  auto log = NewSpdlogRocksLogger();
  const std::string long_text(5000, 'x');
  rocksdb::Log(rocksdb::InfoLogLevel::INFO_LEVEL, log, "%s|%d", long_text.c_str(), 7);
  EXPECT_EQ(out_.str(), "debug|rocksdb: " + long_text + "|7\n");
}

// One call site each, as in RocksDB: a site is its format string.
void StallWarning(const std::shared_ptr<rocksdb::Logger>& log, int n) {
  rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, log,
               "[gen.%d] Stopping writes because we have 2 immutable memtables", n);
}
void OtherWarning(const std::shared_ptr<rocksdb::Logger>& log) {
  rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, log, "background error");
}
void Failure(const std::shared_ptr<rocksdb::Logger>& log, int n) {
  rocksdb::Log(rocksdb::InfoLogLevel::ERROR_LEVEL, log, "write failed %d", n);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST_F(RocksLoggerTest, AWarningRepeatedFromOnePlacePrintsOnceAnInterval) {
  Use(spdlog::level::info);
  auto log = NewSpdlogRocksLogger(std::chrono::hours(1));
  for (int i = 0; i < 50; ++i) StallWarning(log, i);
  OtherWarning(log);
  OtherWarning(log);
  for (int i = 0; i < 3; ++i) Failure(log, i);  // errors are never held back
  EXPECT_EQ(out_.str(),
            "warning|rocksdb: [gen.0] Stopping writes because we have 2 immutable memtables\n"
            "warning|rocksdb: background error\n"
            "error|rocksdb: write failed 0\n"
            "error|rocksdb: write failed 1\n"
            "error|rocksdb: write failed 2\n");
}

TEST_F(RocksLoggerTest, AZeroIntervalPrintsEveryWarning) {
  Use(spdlog::level::info);
  auto log = NewSpdlogRocksLogger(std::chrono::milliseconds(0));
  for (int i = 0; i < 5; ++i) StallWarning(log, i);
  EXPECT_EQ(Lines(out_.str()).size(), 5u) << out_.str();
}

TEST_F(RocksLoggerTest, EveryWarningHeldBackIsCountedInTheNextOnePrinted) {
  Use(spdlog::level::info);
  const auto interval = std::chrono::milliseconds(200);
  auto log = NewSpdlogRocksLogger(interval);
  for (int i = 0; i < 20; ++i) StallWarning(log, i);
  std::this_thread::sleep_for(interval + std::chrono::milliseconds(100));
  StallWarning(log, 20);
  // Whatever this machine's pauses did to the first twenty, each of the 21 lines was printed
  // or counted in a later line that was: the last one always prints, past the interval.
  const std::string marker = " more from the same place not printed)";
  uint64_t printed = 0, held = 0;
  for (const std::string& line : Lines(out_.str())) {
    ++printed;
    if (auto at = line.rfind(" ("); at != std::string::npos && line.ends_with(marker)) {
      uint64_t n = 0;
      ASSERT_TRUE(absl::SimpleAtoi(line.substr(at + 2, line.size() - marker.size() - at - 2), &n))
          << line;
      held += n;
    }
  }
  EXPECT_EQ(printed + held, 21u) << out_.str();
  EXPECT_LT(printed, 21u) << "nothing was held back: " << out_.str();
  EXPECT_TRUE(Lines(out_.str()).back().starts_with("warning|rocksdb: [gen.20] Stopping writes"))
      << out_.str();
}

}  // namespace
}  // namespace prefixd::storage
