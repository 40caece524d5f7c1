// prefixd::client::Client — the library serving engines link to put and get KV pages.
//
// Chunking into 1-4 MiB frames, CRC32C checksums (computed on put, verified again on get) and
// retries on UNAVAILABLE (with exponential backoff) are hidden inside. Puts are idempotent,
// so retrying one is safe; a retried get starts over.
//
// Thread-safety: a Client may be used by any number of threads at once; each call is an
// independent RPC on one shared channel.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prefixd/v1/prefixd.pb.h"

namespace prefixd::client {

struct ClientOptions {
  // "HOST:PORT" or "unix:///path/to.sock". Required.
  std::string target;
  // Attempts per call when the server is UNAVAILABLE, the first included. Default 4.
  int max_attempts = 4;
  // Backoff before the second attempt; doubles each time, up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Page bytes per put frame. Default 2 MiB; at most 8 MiB.
  uint64_t frame_bytes = uint64_t{2} << 20;
  // Deadline of each RPC attempt; zero for none. Default none.
  absl::Duration rpc_timeout = absl::ZeroDuration();

  absl::Status Validate() const;
};

// The pages a request names, in chain order: client keys, or token ids from which the server
// derives the keys (one per full page). `parent_key` is the key of the page before the first.
struct Chain {
  std::vector<std::string> keys;
  std::vector<uint32_t> token_ids;
  std::string parent_key;

  static Chain FromKeys(std::vector<std::string> keys, std::string parent_key = "");
  static Chain FromTokens(std::vector<uint32_t> token_ids, std::string parent_key = "");
};

// An opened namespace. Pass it to every page call.
struct Namespace {
  std::string name;
  uint64_t id = 0;
  v1::Fingerprint fingerprint;
  bool created = false;
};

struct ExistsResult {
  uint32_t prefix_pages = 0;       // leading pages present (SGLang's batch_exists)
  std::vector<bool> present;       // per page
  std::vector<std::string> keys;   // derived keys, for token chains
};

struct PutResult {
  uint32_t written = 0;
  uint32_t existing = 0;
  std::vector<std::string> keys;  // derived keys, for token chains
};

struct GetResult {
  std::vector<std::string> pages;  // the leading present pages, byte-exact, in order
  v1::GetDone::Stop stop = v1::GetDone::STOP_UNSPECIFIED;
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  virtual ~Client() = default;

  // Opens (creating on first use) a namespace; FAILED_PRECONDITION names differing fields.
  virtual absl::StatusOr<Namespace> OpenNamespace(const std::string& name,
                                                  const v1::Fingerprint& fingerprint) = 0;

  virtual absl::StatusOr<ExistsResult> Exists(const Namespace& ns, const Chain& chain) = 0;

  // Writes `pages` (each exactly the namespace's page_bytes) as the chain's pages.
  virtual absl::StatusOr<PutResult> Put(const Namespace& ns, const Chain& chain,
                                        std::span<const std::string_view> pages) = 0;

  // Reads the leading present pages of the chain (at most `max_pages`; 0 = all).
  virtual absl::StatusOr<GetResult> Get(const Namespace& ns, const Chain& chain,
                                        uint32_t max_pages = 0) = 0;

  virtual absl::StatusOr<uint32_t> Delete(const Namespace& ns, const Chain& chain) = 0;

  // Deletes a namespace by name; `id` 0 matches any id.
  virtual absl::StatusOr<uint64_t> DeleteNamespace(const std::string& name, uint64_t id = 0) = 0;

  virtual absl::StatusOr<v1::StatsResponse> Stats() = 0;

  // Why each page of the chain is or is not served (index only; `ns.id` may be 0).
  virtual absl::StatusOr<v1::ExplainResponse> Explain(const Namespace& ns, const Chain& chain) = 0;

  // Asks the daemon to make every acknowledged page durable now.
  virtual absl::Status Flush() = 0;

  // OK when the server reports SERVING on the standard gRPC health service.
  virtual absl::Status Health() = 0;
};

}  // namespace prefixd::client
