#include "storage/records.h"

#include "gtest/gtest.h"
#include "storage/coding.h"

namespace prefixd::storage {
namespace {

Fingerprint SampleFingerprint() {
  return Fingerprint{"llama", "rev1", "bfloat16", "layer_first", 64, 1 << 20, 0, 1,
                     "sglang-sha256"};
}

TEST(Records, IndexRecordRoundTrip) {
  IndexRecord r{77, 123, 4, 1 << 20, 0xdeadbeef, 1700000000, "some-key", true, std::nullopt};
  auto d = DecodeIndexRecord(EncodeIndexRecord(r));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->generation, 77u);
  EXPECT_EQ(IndexRecordGeneration(EncodeIndexRecord(r)), 77u);
  EXPECT_EQ(d->root, r.root);
  EXPECT_EQ(d->depth, r.depth);
  EXPECT_EQ(d->size, r.size);
  EXPECT_EQ(d->crc32c, r.crc32c);
  EXPECT_EQ(d->created_unix, r.created_unix);
  EXPECT_EQ(d->key, r.key);
}

TEST(Records, IndexRecordParentRoundTrips) {
  // A chain's first page: no parent.
  IndexRecord first{1, 2, 0, 3, 4, 5, "root", true, std::nullopt};
  auto d = DecodeIndexRecord(EncodeIndexRecord(first));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->parent_known);
  EXPECT_FALSE(d->parent);
  IndexRecord child = first;
  child.key = "child";
  child.parent = HashKey("root");
  d = DecodeIndexRecord(EncodeIndexRecord(child));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->parent_known);
  ASSERT_TRUE(d->parent);
  EXPECT_EQ(*d->parent, HashKey("root"));
  EXPECT_EQ(d->key, "child");
  IndexRecord unknown = first;
  unknown.parent_known = false;
  d = DecodeIndexRecord(EncodeIndexRecord(unknown));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->parent_known);
  EXPECT_FALSE(d->parent);
}

// Version 2, as stores written before parents were recorded hold it: read with the parent
// unknown, everything else as written.
TEST(Records, IndexRecordVersion2IsReadWithoutAParent) {
  const uint32_t depth = 4, crc = 0xdeadbeef;
  const uint64_t size = 1 << 20, created = 1700000000;
  std::string v2;
  v2.push_back(char(2));
  PutLittle64(&v2, 77);
  PutLittle64(&v2, 123);
  PutLittle32(&v2, depth);
  PutLittle64(&v2, size);
  PutLittle32(&v2, crc);
  PutLittle64(&v2, created);
  PutShortString(&v2, "abc");
  auto d = DecodeIndexRecord(v2);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->generation, 77u);
  EXPECT_EQ(d->root, 123u);
  EXPECT_EQ(d->depth, 4u);
  EXPECT_EQ(d->size, size);
  EXPECT_EQ(d->crc32c, crc);
  EXPECT_EQ(d->created_unix, created);
  EXPECT_EQ(d->key, "abc");
  EXPECT_FALSE(d->parent_known);
  EXPECT_EQ(IndexRecordGeneration(v2), 77u);
}

TEST(Records, RejectsTruncatedOrUnknownVersion) {
  std::string enc = EncodeIndexRecord(IndexRecord{9, 1, 2, 3, 4, 5, "k", true, std::nullopt});
  EXPECT_FALSE(DecodeIndexRecord(enc.substr(0, enc.size() - 1)));
  std::string bad_flags = enc;
  bad_flags[41] = 7;  // parent flags: neither none, a hash, nor unknown
  EXPECT_FALSE(DecodeIndexRecord(bad_flags));
  enc[0] = 1;  // the pre-release format without generations
  EXPECT_FALSE(DecodeIndexRecord(enc));
  EXPECT_FALSE(IndexRecordGeneration(enc));
  EXPECT_FALSE(DecodePageValue("\x01\x00"));
}

TEST(Records, PageValueRoundTrip) {
  std::string v = EncodePageHeader(77, "key") + std::string("payload\0bytes", 13);
  auto p = DecodePageValue(v);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->crc32c, 77u);
  EXPECT_EQ(p->key, "key");
  EXPECT_EQ(p->bytes, std::string_view("payload\0bytes", 13));
}

TEST(Records, NamespaceRecordRoundTrip) {
  NamespaceRecord r{9, SampleFingerprint()};
  auto d = DecodeNamespaceRecord(EncodeNamespaceRecord(r));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->id, 9u);
  EXPECT_EQ(d->fingerprint, r.fingerprint);
}

TEST(Fingerprint, ValidateAndDiff) {
  Fingerprint fp = SampleFingerprint();
  EXPECT_TRUE(fp.Validate().ok());
  Fingerprint bad = fp;
  bad.tp_rank = 1;
  EXPECT_EQ(bad.Validate().code(), absl::StatusCode::kInvalidArgument);
  bad = fp;
  bad.page_bytes = 0;
  EXPECT_FALSE(bad.Validate().ok());
  bad = fp;
  bad.model.clear();
  EXPECT_FALSE(bad.Validate().ok());
  Fingerprint other = fp;
  other.dtype = "fp8_e4m3";
  other.tp_size = 2;
  EXPECT_EQ(DiffFingerprints(fp, other), (std::vector<std::string>{"dtype", "tp_size"}));
  EXPECT_TRUE(DiffFingerprints(fp, fp).empty());
}

TEST(Records, CorruptMarkerKeysRoundTripAndSortByNamespace) {
  const KeyHash h = HashKey("page");
  const std::string k = CorruptMarkerKey(7, h);
  NamespacedKey back;
  ASSERT_TRUE(DecodeCorruptMarkerKey(k, &back));
  EXPECT_EQ(back, (NamespacedKey{7, h}));
  // Namespace 7's markers lie in [CorruptMarkerKey(7, 0...), CorruptMarkerLimit(7)).
  EXPECT_LE(CorruptMarkerKey(7, KeyHash{}), k);
  EXPECT_LT(k, CorruptMarkerLimit(7));
  EXPECT_LE(CorruptMarkerLimit(7), CorruptMarkerKey(8, KeyHash{}));
  EXPECT_FALSE(DecodeCorruptMarkerKey(k.substr(0, k.size() - 1), &back));
  EXPECT_FALSE(DecodeCorruptMarkerKey("ns/" + k.substr(8), &back));
}

}  // namespace
}  // namespace prefixd::storage
