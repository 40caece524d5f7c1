#include "storage/page_key.h"

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace prefixd::storage {
namespace {

TEST(PageKey, ValidatesClientKeys) {
  EXPECT_TRUE(ValidateClientKey(std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateClientKey("k").ok());
  EXPECT_EQ(ValidateClientKey("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateClientKey(std::string(65, 'a')).code(), absl::StatusCode::kInvalidArgument);
}

std::string Hex(const std::array<uint8_t, 32>& d) {
  std::string s;
  char b[3];
  for (uint8_t v : d) {
    std::snprintf(b, sizeof(b), "%02x", v);
    s += b;
  }
  return s;
}

// FIPS 180-2's examples and the empty string, each hashed again after another: each thread
// reuses one digest context, which must start afresh every time.
void ExpectKnownAnswers() {
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(Hex(Sha256("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(Hex(Sha256("")),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(Hex(Sha256(std::string(1000000, 'a'))),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
}

TEST(PageKey, Sha256KnownAnswers) { ExpectKnownAnswers(); }

TEST(PageKey, Sha256KnownAnswersFromSeveralThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(ExpectKnownAnswers);
  for (auto& t : threads) t.join();
}

TEST(PageKey, KeysAreFixedSizeWhateverTheClientKey) {
  auto a = EncodePageKey(1, 2, 3, HashKey("k"));
  auto b = EncodePageKey(1, 2, 3, HashKey(std::string(64, 'z')));
  EXPECT_EQ(a.size(), kPageKeyBytes);
  EXPECT_EQ(b.size(), kPageKeyBytes);
  EXPECT_EQ(EncodeIndexKey(7, HashKey("k")).size(), kIndexKeyBytes);
}

TEST(PageKey, OrderKeepsAChainTogetherAndInDepthOrder) {
  KeyHash big{}, small{};
  big.fill(0xff);
  small.fill(0x00);
  // Same namespace and root: depth decides, whatever the hashes.
  EXPECT_LT(EncodePageKey(1, 5, 1, big), EncodePageKey(1, 5, 2, small));
  EXPECT_LT(EncodePageKey(1, 5, 255, big), EncodePageKey(1, 5, 256, small));
  // Another root sorts outside the whole chain.
  EXPECT_LT(EncodePageKey(1, 5, 1000000, big), EncodePageKey(1, 6, 0, small));
  // Namespaces are contiguous ranges.
  EXPECT_LT(EncodePageKey(1, UINT64_MAX, UINT32_MAX, big), NamespaceLimit(1));
  EXPECT_GE(EncodePageKey(1, 0, 0, small), NamespacePrefix(1));
  uint32_t id = 0;
  ASSERT_TRUE(DecodeNamespaceId(EncodePageKey(42, 1, 2, big), &id));
  EXPECT_EQ(id, 42u);
  EXPECT_FALSE(DecodeNamespaceId("x", &id));
}

TEST(PageKey, DerivationIsStableChainedAndSeededByNamespace) {
  std::vector<uint32_t> tokens(10);
  for (uint32_t i = 0; i < tokens.size(); ++i) tokens[i] = i + 100;
  auto a = DeriveKeys("ns", "", tokens, 4);
  ASSERT_EQ(a.size(), 2u);  // the trailing partial page gets no key
  EXPECT_EQ(a[0].size(), 32u);
  EXPECT_EQ(a, DeriveKeys("ns", "", tokens, 4));
  EXPECT_NE(a[0], DeriveKeys("other", "", tokens, 4)[0]);
  // A chain continued from its parent key gives the same keys as the whole chain.
  auto tail = DeriveKeys("ns", a[0], std::span(tokens).subspan(4), 4);
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0], a[1]);
  // A different earlier token changes every later key (the key stands for the prefix).
  tokens[0] = 1;
  auto b = DeriveKeys("ns", "", tokens, 4);
  EXPECT_NE(a[0], b[0]);
  EXPECT_NE(a[1], b[1]);
  EXPECT_TRUE(DeriveKeys("ns", "", tokens, 0).empty());
}

// The derivation is a frozen contract: other clients (Python, SGLang) compute the same keys.
// Expected values computed independently with Python's hashlib:
//   seed = sha256(b"prefixd/v1/keysllama"); k0 = sha256(seed + struct.pack("<4I", 1, 2, 3, 4))
TEST(PageKey, DerivationKnownAnswer) {
  std::vector<uint32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8};
  auto keys = DeriveKeys("llama", "", tokens, 4);
  ASSERT_EQ(keys.size(), 2u);
  auto hex = [](const std::string& s) {
    std::string out;
    char buf[3];
    for (unsigned char c : s) {
      std::snprintf(buf, sizeof(buf), "%02x", c);
      out += buf;
    }
    return out;
  };
  EXPECT_EQ(hex(keys[0]), "6e04676999e6a183f5fffb228b7ab308f179b7aa1e99fbec4d3e5de5f3ba5236");
  EXPECT_EQ(hex(keys[1]), "1c3ac2f20e833956eccf0210527374fbdeeff66b57a79cf8be9c511a82f54d1b");
}

TEST(PageKey, IndexKeysDecodeBackToTheirNamespaceAndHash) {
  const KeyHash h = HashKey("a page");
  NamespacedKey k;
  ASSERT_TRUE(DecodeIndexKey(EncodeIndexKey(42, h), &k));
  EXPECT_EQ(k, (NamespacedKey{42, h}));
  EXPECT_FALSE(DecodeIndexKey(EncodeIndexKey(42, h).substr(1), &k));
  EXPECT_FALSE(DecodeIndexKey(EncodePageKey(42, 1, 2, h), &k));
}

}  // namespace
}  // namespace prefixd::storage
