#include "storage/blob_refs.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"

namespace prefixd::storage {
namespace {

constexpr uint8_t kBlobIndexTypeBlob = 1;  // rocksdb::BlobIndex::Type::kBlob
constexpr uint8_t kNoCompression = 0;      // rocksdb::kNoCompression
constexpr size_t kPropertyRecordBytes = 40;

bool GetVarint64(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const auto b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *v |= uint64_t(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

class Collector final : public rocksdb::TablePropertiesCollector {
 public:
  Collector(BlobRefListener* listener, uint32_t cf_id, bool flushed)
      : listener_(listener), cf_id_(cf_id), flushed_(flushed) {}

  rocksdb::Status AddUserKey(const rocksdb::Slice& key, const rocksdb::Slice& value,
                             rocksdb::EntryType type, rocksdb::SequenceNumber,
                             uint64_t) override {
    if (type != rocksdb::kEntryBlobIndex) return rocksdb::Status::OK();
    NamespacedKey page;
    if (!DecodePageKey(std::string_view(key.data(), key.size()), &page)) {
      return rocksdb::Status::OK();
    }
    auto ref = DecodeBlobIndex(std::string_view(value.data(), value.size()), key.size());
    if (!ref) return rocksdb::Status::OK();
    PutLittle32(&encoded_, page.ns_id);
    encoded_.append(reinterpret_cast<const char*>(page.hash.data()), page.hash.size());
    PutLittle64(&encoded_, ref->file_number);
    PutLittle64(&encoded_, ref->offset);
    PutLittle32(&encoded_, static_cast<uint32_t>(ref->bytes));
    if (listener_ != nullptr) listener_->Located(cf_id_, page, *ref, flushed_);
    return rocksdb::Status::OK();
  }

  rocksdb::Status Finish(rocksdb::UserCollectedProperties* properties) override {
    properties->emplace(std::string(kBlobRefsProperty), std::move(encoded_));
    return rocksdb::Status::OK();
  }

  rocksdb::UserCollectedProperties GetReadableProperties() const override {
    return {{std::string(kBlobRefsProperty) + ".records",
             std::to_string(encoded_.size() / kPropertyRecordBytes)}};
  }

  const char* Name() const override { return "prefixd.BlobRefCollector"; }

 private:
  BlobRefListener* const listener_;
  const uint32_t cf_id_;
  const bool flushed_;
  std::string encoded_;
};

class Factory final : public rocksdb::TablePropertiesCollectorFactory {
 public:
  explicit Factory(BlobRefListener* listener) : listener_(listener) {}
  rocksdb::TablePropertiesCollector* CreateTablePropertiesCollector(
      rocksdb::TablePropertiesCollectorFactory::Context context) override {
    return new Collector(listener_, context.column_family_id, context.level_at_creation == 0);
  }
  const char* Name() const override { return "prefixd.BlobRefCollectorFactory"; }

 private:
  BlobRefListener* const listener_;
};

}  // namespace

std::optional<BlobRef> DecodeBlobIndex(std::string_view index, uint64_t key_bytes) {
  if (index.empty() || uint8_t(index.front()) != kBlobIndexTypeBlob) return std::nullopt;
  index.remove_prefix(1);
  uint64_t file = 0, value_offset = 0, value_bytes = 0;
  if (!GetVarint64(&index, &file) || !GetVarint64(&index, &value_offset) ||
      !GetVarint64(&index, &value_bytes) || index.size() != 1 ||
      uint8_t(index.front()) != kNoCompression) {
    return std::nullopt;
  }
  const uint64_t before = kBlobRecordHeaderBytes + key_bytes;
  if (value_offset < before || value_bytes > UINT32_MAX - before) return std::nullopt;
  return BlobRef{file, value_offset - before, before + value_bytes};
}

std::string BlobFilePath(const std::string& dir, uint64_t file_number) {
  char name[32];
  std::snprintf(name, sizeof(name), "%06llu.blob", static_cast<unsigned long long>(file_number));
  return dir + "/" + name;
}

absl::StatusOr<uint64_t> PunchBlob(const std::string& path, const BlobRef& ref) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return absl::NotFoundError(absl::StrCat(path, " is gone"));
    return absl::InternalError(absl::StrCat("opening ", path, ": ", std::strerror(e)));
  }
  struct stat before {}, after {};
  const bool counted = ::fstat(fd, &before) == 0;
  int rc = ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(ref.offset),
                       off_t(ref.bytes));
  const int e = errno;
  const bool counted_after = ::fstat(fd, &after) == 0;
  ::close(fd);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("freeing ", ref.bytes, " bytes at ", ref.offset,
                                            " of ", path, ": ", std::strerror(e)));
  }
  if (!counted || !counted_after || after.st_blocks >= before.st_blocks) return 0;
  return uint64_t(before.st_blocks - after.st_blocks) * 512;
}

std::shared_ptr<rocksdb::TablePropertiesCollectorFactory> NewBlobRefCollectorFactory(
    BlobRefListener* listener) {
  return std::make_shared<Factory>(listener);
}

bool ForEachBlobRef(std::string_view property,
                    const std::function<void(const NamespacedKey&, const BlobRef&)>& fn) {
  if (property.size() % kPropertyRecordBytes != 0) return false;
  for (size_t at = 0; at < property.size(); at += kPropertyRecordBytes) {
    const char* p = property.data() + at;
    NamespacedKey page;
    page.ns_id = GetLittle32(p);
    std::memcpy(page.hash.data(), p + 4, page.hash.size());
    fn(page, BlobRef{GetLittle64(p + 20), GetLittle64(p + 28), GetLittle32(p + 36)});
  }
  return true;
}

}  // namespace prefixd::storage
