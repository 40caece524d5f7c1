// Store: counting stranded pages (stored, but behind a page that is gone).
#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "storage/page_key.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"

namespace prefixd::storage {
namespace {

using PageId = NamespacedKey;

// A live page (stored, in a live generation, not expired); pages that are not live are left
// out of the graph, so "absent" means "gone".
struct Node {
  enum class Reach : uint8_t { kUnknown, kVisiting, kYes, kNo };
  bool parent_known = false;
  std::optional<KeyHash> parent;
  uint64_t size = 0;
  Reach reach = Reach::kUnknown;
};

using Graph = absl::flat_hash_map<PageId, Node>;

// Whether `start` can be served as part of a prefix: it and every page before it are live.
// Iterative (chains may be long); memoised in Node::reach.
bool Reachable(Graph& g, const PageId& start) {
  std::vector<Node*> path;
  PageId id = start;
  bool result = false;
  while (true) {
    auto it = g.find(id);
    if (it == g.end()) {  // the parent is gone (never stored, deleted, or compacted away)
      result = false;
      break;
    }
    Node& n = it->second;
    if (n.reach == Node::Reach::kYes || n.reach == Node::Reach::kNo) {
      result = n.reach == Node::Reach::kYes;
      break;
    }
    if (n.reach == Node::Reach::kVisiting) {  // a cycle of parents: call it reachable
      result = true;
      break;
    }
    if (!n.parent_known || !n.parent) {  // a chain's first page, or a parent not recorded
      n.reach = Node::Reach::kYes;
      result = true;
      break;
    }
    n.reach = Node::Reach::kVisiting;
    path.push_back(&n);
    id = PageId{id.ns_id, *n.parent};
  }
  for (Node* n : path) n->reach = result ? Node::Reach::kYes : Node::Reach::kNo;
  return result;
}

}  // namespace

absl::StatusOr<std::vector<StrandedCount>> StoreImpl::CountStranded() {
  ScopedSnapshot snap(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.get();
  ro.fill_cache = false;  // one pass over everything: do not push the hot key blocks out
  const uint64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  absl::flat_hash_map<uint32_t, std::shared_ptr<NamespaceState>> namespaces;
  {
    absl::MutexLock l(&ns_mu_);
    namespaces = by_id_;
  }
  Graph graph;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, index_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    uint32_t ns_id = 0;
    if (key.size() != kIndexKeyBytes || !DecodeNamespaceId(key, &ns_id)) {
      return absl::DataLossError("undecodable index key");
    }
    auto ns = namespaces.find(ns_id);
    if (ns == namespaces.end()) continue;  // a namespace deleted or created since
    auto rec = DecodeIndexRecord(std::string_view(it->value().data(), it->value().size()));
    if (!rec) return absl::DataLossError("undecodable index record");
    if (!Live(rec->generation) || ns->second->Expired(rec->created_unix, now)) continue;
    PageId id{ns_id, {}};
    std::memcpy(id.hash.data(), key.data() + key.size() - id.hash.size(), id.hash.size());
    Node& n = graph[id];
    n.parent_known = rec->parent_known;
    n.parent = rec->parent;
    n.size = rec->size;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the index");
  absl::flat_hash_map<uint32_t, StrandedCount> counts;
  std::vector<PageId> ids;
  ids.reserve(graph.size());
  for (const auto& [id, n] : graph) ids.push_back(id);
  for (const PageId& id : ids) {
    StrandedCount& c = counts[id.ns_id];
    const Node& n = graph.at(id);
    ++c.pages;
    if (!n.parent_known) ++c.parent_unknown;
    if (!Reachable(graph, id)) {
      ++c.stranded_pages;
      c.stranded_bytes += n.size;
    }
  }
  std::vector<StrandedCount> out;
  for (const auto& [ns_id, ns] : namespaces) {
    StrandedCount c = counts[ns_id];
    c.ns_name = ns->info.name;
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(),
            [](const StrandedCount& a, const StrandedCount& b) { return a.ns_name < b.ns_name; });
  return out;
}

}  // namespace prefixd::storage
