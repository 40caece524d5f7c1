// Translation at the RPC edge: proto messages <-> storage types, absl::Status -> grpc::Status,
// and the keys of a request's chain. Thread-safe: pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"
#include "prefixd/v1/prefixd.pb.h"
#include "storage/fingerprint.h"
#include "controller/controller.h"
#include "storage/store.h"

namespace prefixd::server {

storage::Fingerprint FromProto(const v1::Fingerprint& p);
v1::Fingerprint ToProto(const storage::Fingerprint& f);

void ToProto(const controller::ControllerStatus& s, v1::ControllerStats* out);

// absl and gRPC share their codes: the conversion is a cast.
grpc::Status ToGrpc(const absl::Status& s);

inline grpc::Status Invalid(const std::string& msg) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
}

// The page keys a chain names: its client keys, or the keys derived from its token ids for
// namespace `ns`. INVALID_ARGUMENT if both or neither are given, or a token chain has no full
// page. Key contents are validated by the store.
absl::StatusOr<std::vector<std::string>> ChainKeys(const v1::KeySource& chain,
                                                   const storage::NamespaceInfo& ns);

inline storage::NamespaceRef RefOf(const v1::NamespaceRef& ns) {
  return storage::NamespaceRef{ns.name(), ns.id()};
}

// Pages per batch: about `batch_bytes`, at least one page, at most `pages` (at least 1).
uint64_t GroupPages(uint64_t batch_bytes, uint64_t page_bytes, uint64_t pages);

// The wire form of how a Get ended. kCancelled has none (the RPC itself is cancelled).
void SetGetDone(const storage::GetResult& r, v1::GetDone* done);

// Page requests must carry the id OpenNamespace returned: it proves the client checked its
// fingerprint, and it changes when the namespace is recreated. INVALID_ARGUMENT when it is 0.
absl::Status RequireOpened(const v1::NamespaceRef& ns);

}  // namespace prefixd::server
