#include "storage/fingerprint.h"

#include "absl/strings/str_cat.h"
#include "storage/coding.h"

namespace prefixd::storage {
namespace {

constexpr uint8_t kVersion = 1;

absl::Status CheckString(std::string_view field, const std::string& v, bool required) {
  if (required && v.empty()) return absl::InvalidArgumentError(absl::StrCat(std::string(field), " is empty"));
  if (v.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(field), " is longer than 255 bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Fingerprint::Validate() const {
  for (auto [name, value, required] :
       {std::tuple{"model", &model, true}, std::tuple{"model_revision", &model_revision, false},
        std::tuple{"dtype", &dtype, true}, std::tuple{"kv_layout", &kv_layout, false},
        std::tuple{"key_scheme", &key_scheme, true}}) {
    if (auto s = CheckString(name, *value, required); !s.ok()) return s;
  }
  if (page_tokens == 0) return absl::InvalidArgumentError("page_tokens must be > 0");
  if (page_bytes == 0 || page_bytes > kMaxPageBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_bytes must be in [1, ", kMaxPageBytes, "], got ", page_bytes));
  }
  if (tp_size == 0) return absl::InvalidArgumentError("tp_size must be > 0");
  if (tp_rank >= tp_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("tp_rank (", tp_rank, ") must be < tp_size (", tp_size, ")"));
  }
  return absl::OkStatus();
}

std::vector<std::string> DiffFingerprints(const Fingerprint& a, const Fingerprint& b) {
  std::vector<std::string> d;
  if (a.model != b.model) d.push_back("model");
  if (a.model_revision != b.model_revision) d.push_back("model_revision");
  if (a.dtype != b.dtype) d.push_back("dtype");
  if (a.kv_layout != b.kv_layout) d.push_back("kv_layout");
  if (a.page_tokens != b.page_tokens) d.push_back("page_tokens");
  if (a.page_bytes != b.page_bytes) d.push_back("page_bytes");
  if (a.tp_rank != b.tp_rank) d.push_back("tp_rank");
  if (a.tp_size != b.tp_size) d.push_back("tp_size");
  if (a.key_scheme != b.key_scheme) d.push_back("key_scheme");
  return d;
}

std::string EncodeFingerprint(const Fingerprint& fp) {
  std::string out;
  out.push_back(char(kVersion));
  PutShortString(&out, fp.model);
  PutShortString(&out, fp.model_revision);
  PutShortString(&out, fp.dtype);
  PutShortString(&out, fp.kv_layout);
  PutLittle32(&out, fp.page_tokens);
  PutLittle64(&out, fp.page_bytes);
  PutLittle32(&out, fp.tp_rank);
  PutLittle32(&out, fp.tp_size);
  PutShortString(&out, fp.key_scheme);
  return out;
}

std::optional<Fingerprint> DecodeFingerprint(std::string_view in) {
  if (in.empty() || uint8_t(in[0]) != kVersion) return std::nullopt;
  in.remove_prefix(1);
  Fingerprint fp;
  std::string_view s;
  for (std::string* f : {&fp.model, &fp.model_revision, &fp.dtype, &fp.kv_layout}) {
    if (!GetShortString(&in, &s)) return std::nullopt;
    f->assign(s);
  }
  if (in.size() < 20) return std::nullopt;
  fp.page_tokens = GetLittle32(in.data());
  fp.page_bytes = GetLittle64(in.data() + 4);
  fp.tp_rank = GetLittle32(in.data() + 12);
  fp.tp_size = GetLittle32(in.data() + 16);
  in.remove_prefix(20);
  if (!GetShortString(&in, &s)) return std::nullopt;
  fp.key_scheme.assign(s);
  if (!in.empty()) return std::nullopt;
  return fp;
}

}  // namespace prefixd::storage
