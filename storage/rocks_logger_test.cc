#include "storage/rocks_logger.h"

#include <cstdarg>
#include <memory>
#include <sstream>
#include <string>

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

}  // namespace
}  // namespace prefixd::storage
