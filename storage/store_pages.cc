// Store: exists, put, get, delete of pages.
#include <chrono>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/coding.h"
#include "storage/page_key.h"
#include "storage/rocks_status.h"
#include "storage/store_impl.h"
#include "util/crc32c.h"

namespace prefixd::storage {
using util::Crc32c;
namespace {

uint64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status ValidateKeys(std::span<const std::string> keys) {
  if (keys.empty()) return absl::InvalidArgumentError("the chain is empty");
  if (keys.size() > kMaxChainPages) {
    return absl::InvalidArgumentError(
        absl::StrCat("the chain has ", keys.size(), " pages; at most ", kMaxChainPages));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (auto s = ValidateClientKey(keys[i]); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("page ", i, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

std::string PageKeyOf(uint32_t ns_id, const IndexRecord& r) {
  return EncodePageKey(ns_id, r.root, r.depth, HashKey(r.key));
}

}  // namespace

absl::Status StoreImpl::StillCurrent(const NamespaceState* st, NamespaceRef ref) {
  auto again = Resolve(ref);
  if (!again.ok()) return again.status();
  if (again->get() != st) {
    return absl::FailedPreconditionError(absl::StrCat(
        "namespace '", std::string(ref.name), "' was deleted or recreated during the request"));
  }
  return absl::OkStatus();
}

uint64_t StoreImpl::AddPage(rocksdb::WriteBatch* batch, const Generation& gen, uint32_t ns_id,
                            const IndexRecord& rec, const KeyHash& h, std::string_view bytes) {
  std::string page_key = EncodePageKey(ns_id, rec.root, rec.depth, h);
  std::string header = EncodePageHeader(rec.crc32c, rec.key);
  rocksdb::Slice value_parts[2] = {header, rocksdb::Slice(bytes.data(), bytes.size())};
  rocksdb::Slice key_slice(page_key);
  batch->Put(gen.handle, rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(value_parts, 2));
  batch->Put(index_cf_, EncodeIndexKey(ns_id, h), EncodeIndexRecord(rec));
  // A blob record: a 32-byte header, the key and the value, as RocksDB 7.8 counts it in a blob
  // file's total_blob_bytes (checked against its metadata: 37 records, equal to the byte).
  constexpr uint64_t kBlobRecordHeader = 32;
  // A freed copy of this page in `gen` is no longer dead to the compaction filter: this
  // record has its key.
  dead_.Erase(gen.number, {ns_id, h});
  const uint64_t value = header.size() + bytes.size();
  return value >= options_.min_blob_size ? kBlobRecordHeader + page_key.size() + value : 0;
}

absl::StatusOr<std::vector<std::optional<IndexRecord>>> StoreImpl::ReadIndex(
    uint32_t ns_id, std::span<const std::string> keys, const rocksdb::Snapshot* snapshot) {
  std::vector<std::string> ikeys;
  ikeys.reserve(keys.size());
  for (const auto& k : keys) ikeys.push_back(EncodeIndexKey(ns_id, HashKey(k)));
  std::vector<rocksdb::Slice> slices(ikeys.begin(), ikeys.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  db_->MultiGet(ro, index_cf_, keys.size(), slices.data(), values.data(), statuses.data());
  std::vector<std::optional<IndexRecord>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "reading the index");
    auto rec = DecodeIndexRecord(std::string_view(values[i].data(), values[i].size()));
    if (!rec) return absl::DataLossError("undecodable index record");
    if (rec->key != keys[i]) continue;  // a 128-bit hash collision: not this page
    out[i] = std::move(rec);
  }
  return out;
}

absl::StatusOr<std::vector<bool>> StoreImpl::Exists(NamespaceRef ref,
                                                    std::span<const std::string> keys) {
  util::ScopedLatency timer(&exists_latency_);
  if (auto s = ValidateKeys(keys); !s.ok()) return s;
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  // From the in-memory key index: a few hash probes a key, no RocksDB lookup.
  std::vector<bool> present(keys.size());
  uint64_t hits = 0, evicted = 0, expired = 0;
  const uint64_t now = NowUnix();
  std::vector<KeyHash> hashes;  // for the shadow caches, which see the whole chain asked
  if (duel_) hashes.reserve(keys.size());
  // Pages evicted or not in the key index, for the ghosts: a page the index forgot may have
  // been evicted lately, and an evicted one may have gone unread.
  std::vector<KeyHash> gone;
  std::vector<bool> forgotten;
  for (size_t i = 0; i < keys.size(); ++i) {
    const KeyHash hash = HashKey(keys[i]);
    if (duel_) hashes.push_back(hash);
    const auto r = keys_.Find((*st)->info.id, hash);
    if (!r) {
      if (duel_) {
        gone.push_back(hash);
        forgotten.push_back(true);
      }
      continue;
    }
    // Past the TTL first: an expired page reclaimed (ReapExpired) is marked evicted.
    if ((*st)->Expired(r->created_unix, now)) {
      ++expired;
    } else if (!Live(r->generation)) {
      ++evicted;
      if (duel_) {
        gone.push_back(hash);
        forgotten.push_back(false);
      }
    } else {
      present[i] = true;
      ++hits;
    }
  }
  uint64_t evicted_unread = 0;
  const auto ghosts = Ghosts((*st)->info.id, gone);
  for (size_t k = 0; k < gone.size(); ++k) {
    if (ghosts[k] == ProbationTarget::Ghosted::kNo) continue;
    if (forgotten[k]) ++evicted;
    if (ghosts[k] == ProbationTarget::Ghosted::kUnread) ++evicted_unread;
  }
  (*st)->exists_queries.fetch_add(keys.size(), std::memory_order_relaxed);
  (*st)->exists_hits.fetch_add(hits, std::memory_order_relaxed);
  (*st)->miss_evicted.fetch_add(evicted, std::memory_order_relaxed);
  (*st)->miss_evicted_unread.fetch_add(evicted_unread, std::memory_order_relaxed);
  (*st)->miss_expired.fetch_add(expired, std::memory_order_relaxed);
  if (duel_) duel_->Read((*st)->info.id, hashes);
  return present;
}

absl::Status StoreImpl::CountOutsideExists(NamespaceRef ref, uint64_t asked, uint64_t present,
                                           uint64_t expired) {
  if (present > asked || expired > asked - present) {
    return absl::InvalidArgumentError(absl::StrCat("an Exists report of ", asked, " pages asked, ",
                                                   present, " present and ", expired, " expired"));
  }
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  (*st)->exists_queries.fetch_add(asked, std::memory_order_relaxed);
  (*st)->exists_hits.fetch_add(present, std::memory_order_relaxed);
  (*st)->miss_expired.fetch_add(expired, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PageState>> StoreImpl::Explain(NamespaceRef ref,
                                                          std::span<const std::string> keys) {
  if (auto s = ValidateKeys(keys); !s.ok()) return s;
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  auto recs = ReadIndex((*st)->info.id, keys);
  if (!recs.ok()) return recs.status();
  std::vector<PageState> out(keys.size());
  const uint64_t now = NowUnix();
  std::vector<KeyHash> hashes(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) hashes[i] = HashKey(keys[i]);
  const auto ghosts = Ghosts((*st)->info.id, hashes);
  // How an evicted page went: with its generation, or alone (unread or read, as a ghost
  // remembers; kAlone when none does).
  auto evicted_by = [&](size_t i, uint64_t generation) {
    using E = PageState::Eviction;
    if (generation != 0) return E::kGeneration;
    switch (ghosts[i]) {
      case ProbationTarget::Ghosted::kUnread: return E::kUnread;
      case ProbationTarget::Ghosted::kRead: return E::kRead;
      case ProbationTarget::Ghosted::kNo: break;
    }
    return E::kAlone;
  };
  bool broken = false;  // a page before this one is not served
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& r = (*recs)[i];
    PageState& p = out[i];
    if (r) {
      p.generation = r->generation;
      p.depth = r->depth;
      p.created_unix = r->created_unix;
    }
    if (!r) {
      const bool corrupt = corrupt_keys_.ever_added() &&
                           corrupt_keys_.Contains((*st)->info.id, hashes[i]);
      if (corrupt) {
        p.state = PageState::State::kCorrupt;
      } else if (ghosts[i] != ProbationTarget::Ghosted::kNo) {  // forgotten by the index only
        p.state = PageState::State::kEvicted;
        p.evicted_by = evicted_by(i, 0);
      }
    } else if ((*st)->Expired(r->created_unix, now)) {  // reclaimed or not
      p.state = PageState::State::kExpired;
    } else if (!Find(r->generation)) {
      p.state = PageState::State::kEvicted;
      p.evicted_by = evicted_by(i, r->generation);
    } else {
      p.state = broken ? PageState::State::kStranded : PageState::State::kPresent;
    }
    broken = broken || p.state != PageState::State::kPresent;
  }
  return out;
}

absl::StatusOr<PutResult> StoreImpl::Put(NamespaceRef ref, std::string_view parent_key,
                                         std::span<const PageWrite> pages) {
  util::ScopedLatency timer(&put_latency_);
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  NamespaceState& ns = **st;
  if (pages.empty()) return absl::InvalidArgumentError("the chain is empty");
  if (pages.size() > kMaxChainPages) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxChainPages, " pages a put"));
  }
  if (!parent_key.empty()) {
    if (auto s = ValidateClientKey(parent_key); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("parent key: ", s.message()));
    }
  }
  // Everything is checked before anything is written.
  std::vector<std::string> keys;  // parent (if any), then the pages
  keys.reserve(pages.size() + 1);
  if (!parent_key.empty()) keys.emplace_back(parent_key);
  for (size_t i = 0; i < pages.size(); ++i) {
    const PageWrite& p = pages[i];
    if (auto s = ValidateClientKey(p.key); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("page ", i, ": ", s.message()));
    }
    if (p.data.size() != ns.info.fingerprint.page_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("page ", i, " is ", p.data.size(), " bytes; namespace '", ns.info.name,
                       "' has pages of ", ns.info.fingerprint.page_bytes, " bytes"));
    }
    if (Crc32c(p.data) != p.crc32c) {
      return absl::DataLossError(
          absl::StrCat("page ", i, ": checksum mismatch (the bytes received are not the bytes "
                       "the client checksummed)"));
    }
    keys.emplace_back(p.key);
  }

  uint64_t incoming = 0;
  for (const PageWrite& p : pages) incoming += p.data.size();
  std::vector<KeyHash> hashes;  // of `keys`, hashed once, outside the lock
  hashes.reserve(keys.size());
  for (const std::string& k : keys) hashes.push_back(HashKey(k));
  absl::MutexLock wl(&write_mu_);
  if (auto s = StillCurrent(&ns, ref); !s.ok()) return s;
  if (PageEviction()) {
    // The chain's pages already stored (those after the first page a get missed may be) are
    // used by this put: queued again before room is made, so that the room for its new pages
    // does not come from them (evicted, they were written again below as missing: a wasted
    // device write each, and room made for them from other pages).
    std::vector<std::pair<KeyHash, uint32_t>> stored;
    std::vector<uint64_t> to_write;  // ghost fingerprints of the pages not stored
    for (size_t i = 0; i < hashes.size(); ++i) {
      const KeyHash& h = hashes[i];
      if (auto e = keys_.Find(ns.info.id, h); e && Live(e->generation)) {
        stored.emplace_back(h, static_cast<uint32_t>(e->generation));
      } else if (duel_ && (i > 0 || parent_key.empty())) {
        to_write.push_back(GhostKey({ns.info.id, h}));
      }
    }
    if (TouchPages(ns.info.id, stored)) CompactLru();
    if (!to_write.empty()) {  // those evicted lately move probation's target before the room
      absl::MutexLock l(&lru_mu_);
      for (uint64_t g : to_write) probation_.Wanted(g);
    }
  }
  if (auto s = MakeNamespaceRoom(ns, incoming); !s.ok()) return s;
  if (auto s = MakeRoom(incoming); !s.ok()) return s;
  GenerationPtr gen = Newest();
  // The key index says which keys (the parent's too) may have a live record: a put of new
  // pages, the common case, skips reading the index family. It never lacks a record the
  // family has (both change under write_mu_), and a record it has is read back below.
  bool maybe_stored = false;
  for (const KeyHash& h : hashes) {
    auto e = keys_.Find(ns.info.id, h);
    if (e && Live(e->generation)) {
      maybe_stored = true;
      break;
    }
  }
  absl::StatusOr<std::vector<std::optional<IndexRecord>>> recs =
      maybe_stored ? ReadIndex(ns.info.id, keys)
                   : std::vector<std::optional<IndexRecord>>(keys.size());
  if (!recs.ok()) return recs.status();
  // Evicted pages are as good as never written. Expired ones are written again: their old
  // copy goes (counted like a delete) in the same batch.
  const uint64_t put_now = NowUnix();
  std::vector<IndexRecord> expired;
  absl::flat_hash_set<std::string> expired_keys;  // a key repeated in the chain goes once
  for (size_t i = 0; i < recs->size(); ++i) {
    auto& r = (*recs)[i];
    if (!r) continue;
    if (!Live(r->generation)) {
      r.reset();
    } else if (ns.Expired(r->created_unix, put_now)) {
      const bool parent = i == 0 && !parent_key.empty();
      if (!parent && expired_keys.insert(r->key).second) expired.push_back(*r);
      r.reset();
    }
  }
  // Chain position: the parent's root and depth if it is stored; otherwise the chain is
  // anchored at the parent's key (its own root) or, with no parent, at the first page.
  uint64_t root = 0;
  int64_t depth = -1;
  size_t first = 0;
  if (!parent_key.empty()) {
    first = 1;
    if ((*recs)[0]) {
      root = (*recs)[0]->root;
      depth = (*recs)[0]->depth;
    } else {
      root = RootOf(hashes[0]);
    }
  } else {
    root = RootOf(hashes[0]);
  }
  // Sized once: a batch grown by doubling copies its pages again at every step, and past
  // malloc's mmap threshold each step maps fresh pages that fault in (measured: a third of an
  // in-process put's time). kPageOverhead covers a page's key, header and index record.
  constexpr size_t kPageOverhead = 256;
  rocksdb::WriteBatch batch(incoming + pages.size() * kPageOverhead +
                            expired.size() * kPageOverhead);
  PutResult result;
  uint64_t new_bytes = 0;
  uint64_t blob_bytes = 0;  // Generation::stored
  uint64_t now = put_now;
  // Expired copies removed, by generation number: holding a generation across WriteWithRoom,
  // which may evict, would make its eviction wait on this thread.
  std::vector<std::pair<uint64_t, uint64_t>> replaced;
  for (const IndexRecord& old : expired) {
    GenerationPtr g = Find(old.generation);
    if (!g) continue;
    batch.Delete(g->handle, PageKeyOf(ns.info.id, old));
    replaced.emplace_back(old.generation, old.size);
  }
  std::vector<std::pair<size_t, IndexRecord>> added;  // for the memory cache, once written
  absl::flat_hash_set<std::string_view> in_batch;
  std::vector<std::pair<KeyHash, KeyIndex::Entry>> indexed;  // pages written, for keys_
  for (size_t i = 0; i < pages.size(); ++i) {
    const auto& existing = (*recs)[first + i];
    if (existing || !in_batch.insert(pages[i].key).second) {
      if (existing) {
        root = existing->root;
        depth = existing->depth;
      }
      ++result.existing;
      continue;
    }
    ++depth;
    IndexRecord rec{.generation = gen->number,
                    .root = root,
                    .depth = static_cast<uint32_t>(depth),
                    .size = pages[i].data.size(),
                    .crc32c = pages[i].crc32c,
                    .created_unix = now,
                    .key = std::string(pages[i].key),
                    .parent_known = true,
                    .parent = std::nullopt};  // set below
    if (i > 0) {
      rec.parent = hashes[first + i - 1];
    } else if (!parent_key.empty()) {
      rec.parent = hashes[0];
    }
    const KeyHash& hash = hashes[first + i];
    blob_bytes += AddPage(&batch, *gen, ns.info.id, rec, hash, pages[i].data);
    indexed.emplace_back(hash, KeyIndex::EntryOf(rec));
    if (cache_.enabled()) added.emplace_back(i, rec);
    ++result.written;
    new_bytes += rec.size;
  }
  if (result.written > 0) {
    // A key dropped as corrupt and written again is no longer remembered as corrupt.
    if (corrupt_keys_.ever_added()) {
      for (const auto& [h, entry] : indexed) {
        if (corrupt_keys_.Contains(ns.info.id, h)) {
          batch.Delete(meta_cf_, CorruptMarkerKey(ns.info.id, h));
        }
      }
    }
    if (auto s = WriteWithRoom(&batch, gen->number); !s.ok()) return s;
    gen->stored += blob_bytes;
    gen->records += result.written;
    std::vector<std::pair<KeyHash, uint32_t>> used;  // for the LRU queue, in chain order
    for (const auto& [h, entry] : indexed) {
      // The copy it replaces, if any (an expired one), is dead.
      if (auto old = keys_.Set(ns.info.id, h, entry)) {
        Retire(old->generation, {ns.info.id, h}, *old);
      }
      if (PageEviction()) used.emplace_back(h, entry.generation);
    }
    if (duel_) {
      std::vector<KeyHash> written;
      written.reserve(used.size());
      for (const auto& [h, generation] : used) written.push_back(h);
      duel_->Wrote(ns.info.id, written);
    }
    const auto how = duel_ ? duel_->Choose() : InsertionDuel::Insertion::kLru;
    if (TouchPages(ns.info.id, used, Use::kWritten, how)) CompactLru();
  }
  for (const auto& [number, size] : replaced) {
    if (GenerationPtr g = Find(number)) g->Remove(ns.info.id, size);
    ns.pages.fetch_sub(1, std::memory_order_relaxed);
    ns.bytes.fetch_sub(size, std::memory_order_relaxed);
  }
  for (size_t i = 0; i < pages.size(); ++i) {
    if (!(*recs)[first + i] && in_batch.contains(pages[i].key)) {
      gen->Add(ns.info.id, pages[i].data.size());
      in_batch.erase(pages[i].key);  // a key repeated in the batch was written once
      if (corrupt_keys_.ever_added()) corrupt_keys_.Erase(ns.info.id, hashes[first + i]);
    }
  }
  // Pages just written are the likeliest to be read next (a conversation's next turn). The
  // caller's bytes may be shared memory another process can change: the cache checks its own
  // copy against the checksum before keeping it.
  for (const auto& [i, rec] : added) {
    cache_.InsertChecked(PageKeyOf(ns.info.id, rec), rec.generation, rec.crc32c, pages[i].data);
  }
  promote_credit_ = std::min<double>(promote_credit_ + options_.promote_budget * double(new_bytes),
                                     double(generation_bytes_));
  ns.pages.fetch_add(result.written, std::memory_order_relaxed);
  ns.bytes.fetch_add(new_bytes, std::memory_order_relaxed);
  ns.puts.fetch_add(result.written, std::memory_order_relaxed);
  ns.put_bytes.fetch_add(new_bytes, std::memory_order_relaxed);
  ns.put_existing.fetch_add(result.existing, std::memory_order_relaxed);
  return result;
}

void StoreImpl::DropCorrupt(NamespaceState& ns, const std::string& key, const IndexRecord& rec) {
  absl::MutexLock wl(&write_mu_);
  auto again = ReadIndex(ns.info.id, std::span<const std::string>(&key, 1));
  if (!again.ok() || !(*again)[0]) return;  // gone already
  const IndexRecord& now = *(*again)[0];
  if (now.generation != rec.generation || now.root != rec.root || now.depth != rec.depth ||
      now.size != rec.size || now.crc32c != rec.crc32c || now.created_unix != rec.created_unix) {
    return;  // replaced by a new put since it was read: not the corrupt page
  }
  GenerationPtr gen = Find(rec.generation);
  if (!gen) return;  // evicted meanwhile
  const KeyHash hash = HashKey(key);
  rocksdb::WriteBatch batch;
  batch.Delete(gen->handle, PageKeyOf(ns.info.id, rec));
  batch.Delete(index_cf_, EncodeIndexKey(ns.info.id, hash));
  std::string seq;
  PutLittle64(&seq, next_corrupt_seq_++);
  batch.Put(meta_cf_, CorruptMarkerKey(ns.info.id, hash), seq);
  if (auto s = db_->Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
    spdlog::error("namespace '{}': could not drop a corrupt page: {}", ns.info.name,
                  s.ToString());
    return;
  }
  gen->Remove(ns.info.id, rec.size);
  if (auto entry = keys_.Erase(ns.info.id, hash); entry && entry->generation == rec.generation) {
    Retire(entry->generation, {ns.info.id, hash}, *entry);
  }
  ReclaimDead();
  if (auto forgotten = corrupt_keys_.Add(ns.info.id, hash); !forgotten.empty()) {
    rocksdb::WriteBatch drop;
    for (const NamespacedKey& k : forgotten) {
      drop.Delete(meta_cf_, CorruptMarkerKey(k.ns_id, k.hash));
    }
    db_->Write(rocksdb::WriteOptions(), &drop).PermitUncheckedError();  // the next open prunes too
  }
  ns.pages.fetch_sub(1, std::memory_order_relaxed);
  ns.bytes.fetch_sub(rec.size, std::memory_order_relaxed);
  ns.corrupt_dropped.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("namespace '{}': dropped a corrupt page (depth {})", ns.info.name, rec.depth);
}

absl::StatusOr<GetResult> StoreImpl::Get(NamespaceRef ref, std::span<const std::string> keys,
                                         uint32_t max_pages, const PageSink& sink) {
  util::ScopedLatency timer(&get_latency_);
  if (auto s = ValidateKeys(keys); !s.ok()) return s;
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  NamespaceState& ns = **st;
  size_t n = keys.size();
  if (max_pages != 0 && max_pages < n) n = max_pages;
  // The records come from the key index in memory, the pages from a snapshot taken first.
  // The two can disagree while a write of the same keys runs (the key index is changed just
  // after the family); a page not found, or not matching its record, then sends the rest of
  // the chain to the index family at the snapshot (`from_memory` false), which the pages
  // agree with: a concurrent delete and re-put of a key is never mistaken for corruption.
  // Registered before anything is looked up: a blob record retired from now on is not freed
  // while this read could still reach it (ReclaimDead).
  ReadRegistry::Read in_flight(&reads_);
  ScopedSnapshot snap(db_.get());
  if (options_.testing_after_get_snapshot) options_.testing_after_get_snapshot();
  std::vector<std::optional<IndexRecord>> recs(n);
  std::vector<KeyHash> hashes(n);
  for (size_t i = 0; i < n; ++i) {
    hashes[i] = HashKey(keys[i]);
    if (auto e = keys_.Find(ns.info.id, hashes[i])) recs[i] = KeyIndex::RecordOf(*e, keys[i]);
  }
  bool from_memory = true;

  GetResult result;
  const GetResult::Stop whole =
      n < keys.size() ? GetResult::Stop::kLimit : GetResult::Stop::kComplete;
  // The leading pages stored, live and unexpired, from page `from` on; a dropped generation
  // means the page was evicted. Generations are held only while a group's reads run: eviction
  // waits, under write_mu_, for a dropped generation's last reference to go, so nothing here
  // may hold one while it takes write_mu_ (Promote, DropCorrupt) or waits on the client (sink).
  size_t present = 0;
  const uint64_t now = NowUnix();
  auto count_present = [&](size_t from) {
    present = from;
    while (present < n && recs[present] && Live(recs[present]->generation) &&
           !ns.Expired(recs[present]->created_unix, now)) {
      ++present;
    }
    result.stop = present < n ? GetResult::Stop::kAbsent : whole;
  };
  count_present(0);
  // Pages `from`.. read from the index family at the snapshot instead.
  auto from_family = [&](size_t from) -> absl::Status {
    auto read = ReadIndex(ns.info.id, keys.subspan(from, n - from), snap.get());
    if (!read.ok()) return read.status();
    for (size_t i = from; i < n; ++i) recs[i] = std::move((*read)[i - from]);
    from_memory = false;
    count_present(from);
    return absl::OkStatus();
  };
  // Pages read from the oldest generations get a second chance: they are copied forward.
  uint64_t promote_below = 0;  // generations below this number are promoted from
  // Without a capacity nothing is ever evicted: copying pages forward would only cost writes.
  const double promote_fraction = promote_fraction_.load(std::memory_order_relaxed);
  if (promote_fraction > 0 && options_.capacity_bytes != 0 && !PageEviction()) {
    absl::MutexLock l(&gen_mu_);
    promote_below = gens_.begin()->first +
                    std::max<uint64_t>(2, uint64_t(promote_fraction * gens_.size()));
  }
  const uint64_t newest = Newest()->number;

  // Every page asked and not returned is a miss with one cause.
  auto finish = [&](GetResult r) {
    if (PageEviction() && r.returned > 0) {
      std::vector<std::pair<KeyHash, uint32_t>> used;  // in chain order
      used.reserve(r.returned);
      for (size_t i = 0; i < r.returned; ++i) {
        used.emplace_back(hashes[i], static_cast<uint32_t>(recs[i]->generation));
      }
      // A store read far more than written keeps its queue short; a writer busy now will
      // look at it after its own write.
      if (TouchPages(ns.info.id, used) && write_mu_.TryLock()) {
        CompactLru();
        write_mu_.Unlock();
      }
    }
    ns.hits.fetch_add(r.returned, std::memory_order_relaxed);
    ns.misses.fetch_add(n - r.returned, std::memory_order_relaxed);
    if (r.stop == GetResult::Stop::kCancelled) return r;
    uint64_t evicted = 0, evicted_unread = 0, not_stored = 0, stranded = 0, corrupt = 0,
             expired = 0;
    // What the ghosts remember of the pages not returned: a page the index does not hold may
    // have been evicted lately, and an evicted one may have gone unread.
    const auto ghosts = Ghosts(ns.info.id, std::span(hashes).subspan(r.returned));
    auto ghost = [&](size_t i) { return ghosts[i - r.returned]; };
    for (size_t i = r.returned; i < n; ++i) {
      const auto& rec = recs[i];
      const bool unread = ghost(i) == ProbationTarget::Ghosted::kUnread;
      if (i == r.returned && r.stop == GetResult::Stop::kCorrupt) {
        ++corrupt;
      } else if (!rec) {
        const bool was_corrupt = corrupt_keys_.ever_added() &&
                                 corrupt_keys_.Contains(ns.info.id, hashes[i]);
        if (was_corrupt) {
          ++corrupt;
        } else if (ghost(i) != ProbationTarget::Ghosted::kNo) {
          ++evicted;
          evicted_unread += unread;
        } else {
          ++not_stored;
        }
      } else if (ns.Expired(rec->created_unix, now)) {  // reclaimed or not
        ++expired;
      } else if (!Live(rec->generation)) {
        ++evicted;
        evicted_unread += unread;
      } else {
        ++stranded;  // stored, behind a page that was not returned
      }
    }
    ns.miss_evicted.fetch_add(evicted, std::memory_order_relaxed);
    ns.miss_evicted_unread.fetch_add(evicted_unread, std::memory_order_relaxed);
    ns.miss_not_stored.fetch_add(not_stored, std::memory_order_relaxed);
    ns.miss_stranded.fetch_add(stranded, std::memory_order_relaxed);
    ns.miss_corrupt.fetch_add(corrupt, std::memory_order_relaxed);
    ns.miss_expired.fetch_add(expired, std::memory_order_relaxed);
    return r;
  };
  for (size_t begin = 0; begin < present;) {
    // One MultiGet per group of at most read_group_bytes (at least one page).
    size_t end = begin;
    uint64_t group_bytes = 0;
    while (end < present &&
           (end == begin || group_bytes + recs[end]->size <= options_.read_group_bytes)) {
      group_bytes += recs[end]->size;
      ++end;
    }
    size_t count = end - begin;
    std::vector<std::string> pkeys;
    pkeys.reserve(count);
    for (size_t i = begin; i < end; ++i) pkeys.push_back(PageKeyOf(ns.info.id, *recs[i]));
    // Pages in the memory cache were verified when they entered it; the rest are read.
    std::vector<std::shared_ptr<const std::string>> cached(count);
    std::vector<size_t> to_read;  // positions in the group
    for (size_t j = 0; j < count; ++j) {
      const IndexRecord& rec = *recs[begin + j];
      cached[j] = cache_.Lookup(pkeys[j], rec.generation, rec.crc32c);
      if (!cached[j]) to_read.push_back(j);
    }
    std::vector<GenerationPtr> held;  // the generations read from, until the reads are done
    std::vector<rocksdb::Slice> slices;
    std::vector<rocksdb::ColumnFamilyHandle*> families;
    for (size_t k = 0; k < to_read.size(); ++k) {
      const size_t j = to_read[k];
      GenerationPtr g = Find(recs[begin + j]->generation);
      if (!g) {  // evicted since the index was read: the chain ends here
        present = end = begin + j;
        count = j;
        to_read.resize(k);
        result.stop = GetResult::Stop::kAbsent;
        break;
      }
      slices.emplace_back(pkeys[j]);
      families.push_back(g->handle);
      held.push_back(std::move(g));
    }
    const size_t reads = to_read.size();
    std::vector<rocksdb::PinnableSlice> values(reads);
    std::vector<rocksdb::Status> statuses(reads);
    std::vector<const IndexRecord*> promote;
    std::vector<std::string_view> promote_bytes;
    size_t recheck = n;  // the page from which the index family is asked instead
    if (reads > 0) {
      // RocksDB's own blob checksum is skipped: every page is verified below against the
      // CRC32C the client computed, which covers the same bytes (hardware-accelerated here).
      rocksdb::ReadOptions ro;
      ro.verify_checksums = false;
      ro.snapshot = snap.get();
      db_->MultiGet(ro, reads, families.data(), slices.data(), values.data(), statuses.data());
    }
    held.clear();  // the values own their bytes; a dropped family's files may go now
    for (size_t j = 0, r = 0; j < count; ++j) {
      size_t i = begin + j;
      const IndexRecord& rec = *recs[i];
      std::string_view bytes;
      if (cached[j]) {
        bytes = *cached[j];
      } else {
        const rocksdb::Status& st = statuses[r];
        const rocksdb::PinnableSlice& value = values[r];
        ++r;
        if (st.IsNotFound() && from_memory) {
          recheck = i;
          break;
        }
        if (st.IsNotFound()) {
          // The index and the pages disagree (e.g. a concurrent delete): not served.
          result.stop = GetResult::Stop::kAbsent;
          return finish(result);
        }
        bool corrupt = st.IsCorruption();
        if (!corrupt && !st.ok()) return FromRocks(st, "reading a page");
        std::optional<PageView> v;
        if (!corrupt) v = DecodePageValue(std::string_view(value.data(), value.size()));
        if (corrupt || !v || v->key != keys[i] || v->crc32c != rec.crc32c ||
            v->bytes.size() != rec.size || Crc32c(v->bytes) != rec.crc32c) {
          if (from_memory) {  // judged against the family's record, not memory's
            recheck = i;
            break;
          }
          DropCorrupt(ns, keys[i], rec);
          result.stop = GetResult::Stop::kCorrupt;
          return finish(result);
        }
        bytes = v->bytes;
        cache_.Insert(pkeys[j], rec.generation, rec.crc32c, bytes);
      }
      if (!sink(i, keys[i], bytes, rec.crc32c)) {
        result.stop = GetResult::Stop::kCancelled;
        return finish(result);
      }
      ++result.returned;
      if (rec.generation < promote_below && rec.generation < newest) {
        promote.push_back(&rec);
        promote_bytes.push_back(bytes);
      }
    }
    Promote(ns, promote, promote_bytes);
    if (recheck < n) {
      if (auto s = from_family(recheck); !s.ok()) return s;
      begin = recheck;
      continue;
    }
    begin = end;
  }
  return finish(result);
}

absl::StatusOr<uint32_t> StoreImpl::Delete(NamespaceRef ref, std::span<const std::string> keys) {
  if (auto s = ValidateKeys(keys); !s.ok()) return s;
  auto st = Resolve(ref);
  if (!st.ok()) return st.status();
  NamespaceState& ns = **st;
  absl::MutexLock wl(&write_mu_);
  if (auto s = StillCurrent(&ns, ref); !s.ok()) return s;
  auto recs = ReadIndex(ns.info.id, keys);
  if (!recs.ok()) return recs.status();
  rocksdb::WriteBatch batch;
  uint32_t deleted = 0;
  uint64_t bytes = 0;
  absl::flat_hash_set<std::string_view> seen;
  std::vector<std::pair<GenerationPtr, uint64_t>> removed;
  std::vector<KeyHash> unindexed;  // index records deleted
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!(*recs)[i] || !seen.insert(keys[i]).second) continue;
    const KeyHash h = HashKey(keys[i]);
    batch.Delete(index_cf_, EncodeIndexKey(ns.info.id, h));
    unindexed.push_back(h);
    GenerationPtr gen = Find((*recs)[i]->generation);
    if (!gen) continue;  // evicted already: only its stale index record goes
    batch.Delete(gen->handle, PageKeyOf(ns.info.id, *(*recs)[i]));
    removed.emplace_back(gen, (*recs)[i]->size);
    ++deleted;
    bytes += (*recs)[i]->size;
  }
  std::vector<KeyHash> uncorrupt;  // a deleted key is "not stored" from now on
  if (corrupt_keys_.ever_added()) {
    for (const auto& k : keys) {
      const KeyHash h = HashKey(k);
      if (!corrupt_keys_.Contains(ns.info.id, h)) continue;
      batch.Delete(meta_cf_, CorruptMarkerKey(ns.info.id, h));
      uncorrupt.push_back(h);
    }
  }
  if (batch.Count() == 0) return 0u;
  if (auto s = db_->Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
    return FromRocks(s, "deleting pages");
  }
  for (const KeyHash& h : uncorrupt) corrupt_keys_.Erase(ns.info.id, h);
  for (const KeyHash& h : unindexed) {
    if (auto entry = keys_.Erase(ns.info.id, h)) {
      Retire(entry->generation, {ns.info.id, h}, *entry);
    }
  }
  for (const auto& [gen, size] : removed) gen->Remove(ns.info.id, size);
  ReclaimDead();
  ns.pages.fetch_sub(deleted, std::memory_order_relaxed);
  ns.bytes.fetch_sub(bytes, std::memory_order_relaxed);
  ns.deleted.fetch_add(deleted, std::memory_order_relaxed);
  return deleted;
}

}  // namespace prefixd::storage
