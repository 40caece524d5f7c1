// For storage's tests: a file path in a fresh directory of its own, read and written whole.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace prefixd::storage::testing {

// `name` in a directory made empty for it under the test temp dir (`tag` and the process id
// name it), removed with this object. The file itself is not created.
class ScratchFile {
 public:
  ScratchFile(const std::string& tag, const std::string& name)
      : dir_(std::filesystem::path(::testing::TempDir()) /
             (tag + "_" + std::to_string(::getpid()))),
        path_((dir_ / name).string()) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~ScratchFile() { std::filesystem::remove_all(dir_); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::string& path() const { return path_; }
  // The file's bytes (empty if it does not exist).
  std::string Contents() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  // Replaces the file's bytes with `bytes`.
  void Overwrite(const std::string& bytes) const {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace prefixd::storage::testing
