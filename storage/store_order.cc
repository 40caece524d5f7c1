// Store: the eviction order of StoreOptions::Eviction::kPages kept across restarts
// (eviction_order.h: the saved queues; order_journal.h: the uses since). A full save lists
// every queued page; between saves, the uses of pages (TouchPages) gather in journal_buf_ and
// go to the journal once per StoreOptions::eviction_order_interval; a journal that has grown
// past the last save's size is replaced by a new save, so that the order costs the device at
// most about twice the journal's bytes.
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"
#include "storage/eviction_order.h"
#include "storage/order_journal.h"
#include "storage/store_impl.h"

namespace prefixd::storage {
namespace {

// Uses gathered between two syncs past this many bytes are dropped, and the next sync makes a
// full save instead (some 2.5M pages used within one interval).
constexpr size_t kMaxJournalBuffer = size_t{64} << 20;
// A journal is replaced by a full save once it is larger than the last save, or than this.
// Small: the journal takes room in the budget (a MiB cost the SGLang replay at 10 % eight
// pages of 128 KiB).
constexpr uint64_t kMinJournalBytes = uint64_t{64} << 10;

std::string JournalPath(const std::string& dir) {
  return JoinFilePath(dir, StoreOptions::kEvictionOrderJournal);
}

}  // namespace

void StoreImpl::BuildLru() {
  const std::string path = JoinFilePath(options_.path, StoreOptions::kEvictionOrderFile);
  std::optional<EvictionOrder> saved;
  if (auto r = ReadEvictionOrder(path); r.ok()) {
    if (r->db_identity == db_identity_) {
      saved = *std::move(r);
    } else {  // the data dir's DB was made again, or the file copied from another
      spdlog::warn("{}: saved by DB {}, this is {}: not used", path, r->db_identity,
                   db_identity_);
    }
  } else if (!absl::IsNotFound(r.status())) {
    spdlog::warn("eviction order not used: {}", r.status().ToString());
  }
  // Saved at this very state (a clean close): every page is listed. Saved earlier (a crash):
  // the pages written since are not, and are the most recent.
  const bool exact = saved && saved->sequence == opened_sequence_;
  // Restored pages are told apart by their ticks, set as they are queued (no tick is used yet:
  // lru_tick_ moves past them below): kListed for a page queued in the LRU order, kListed |
  // kUnreadTick for an unread one; kPending | kUnreadTick marks an unread page not queued yet.
  constexpr uint32_t kListed = 1, kPending = 2;
  std::deque<LruEntry> lru, unread;
  size_t listed = 0;
  if (saved) {
    // A page in another generation than saved was written again since: not listed.
    for (size_t i = 0; i < saved->unread.size(); ++i) {
      const NamespacedKey& k = saved->unread[i];
      const auto e = keys_.Find(k.ns_id, k.hash);
      if (!e || e->generation != saved->unread_generations[i] || !Live(e->generation) ||
          e->touched != 0) {
        continue;  // gone, written again, or listed twice
      }
      keys_.Touch(k.ns_id, k.hash, e->generation, kPending | kUnreadTick);
      unread.push_back({k, e->generation, kListed | kUnreadTick});
    }
    for (size_t i = 0; i < saved->lru.size(); ++i) {
      const NamespacedKey& k = saved->lru[i];
      const auto e = keys_.Find(k.ns_id, k.hash);
      if (!e || e->generation != saved->lru_generations[i] || !Live(e->generation)) continue;
      uint32_t tick;
      if (e->touched == 0) {
        tick = kListed;
      } else if (e->touched == (kPending | kUnreadTick)) {
        tick = kListed | kUnreadTick;
      } else {
        continue;  // listed twice
      }
      keys_.Touch(k.ns_id, k.hash, e->generation, tick);
      lru.push_back({k, e->generation, tick});
      ++listed;
    }
    if (duel_) duel_->Restore(saved->duel);
  }
  // The pages not listed, oldest generation first. Without a saved order, when each page was
  // last used is not known (a crash with no save): the oldest generations are taken as the
  // least recently used. After an older save they were written since: the most recent, unread
  // (as a put queues them). After a clean close there are none.
  std::vector<LruEntry> unlisted;
  keys_.ForEach([&](const NamespacedKey& k, const KeyIndex::Entry& e) {
    if (!Live(e.generation)) return;
    if (e.touched != 0 && e.touched != (kPending | kUnreadTick)) return;
    unlisted.push_back({k, e.generation, e.touched});
  });
  std::stable_sort(unlisted.begin(), unlisted.end(), [](const LruEntry& a, const LruEntry& b) {
    return a.generation < b.generation;
  });
  const bool newest = saved && !exact;
  for (LruEntry& at : unlisted) {
    const bool queued_unread = at.tick != 0;  // listed unread only, not in the LRU order
    if (newest) {
      at.tick = kListed | kUnreadTick;
      keys_.Touch(at.page.ns_id, at.page.hash, at.generation, at.tick);
      if (!queued_unread) unread.push_back(at);
    } else {
      // Not unread: its entry in the unread queue goes stale.
      if (queued_unread) keys_.Touch(at.page.ns_id, at.page.hash, at.generation, 0);
      at.tick = 0;
    }
  }
  lru.insert(newest ? lru.end() : lru.begin(), unlisted.begin(), unlisted.end());
  const size_t restored_unread = unread.size();
  {
    absl::MutexLock l(&lru_mu_);
    probation_ = ProbationTarget();
    if (saved) probation_.Restore(saved->probation);
    lru_tick_ = kPending;  // the next use gets a newer tick than every page restored
    lru_ = std::move(lru);
    lru_compact_at_ = 2 * lru_.size() + 1024;
    unread_ = std::move(unread);
    unread_live_ = unread_.size();
    unread_compact_at_ = 2 * unread_.size() + 1024;
  }
  // Then the uses since the save, as they happened. The files stay: a crash before the next
  // save or sync finds the order as it was then.
  const bool journaling = Journaling();
  uint64_t uses = 0;
  std::optional<OrderJournal> journal;
  if (saved) {
    JournalHandlers replay;
    replay.use = [&](const JournalUse& u) {
      ++uses;
      TouchPages(u.ns_id, u.pages, u.written ? Use::kWritten : Use::kUsed, u.how);
    };
    replay.duel = [&](const JournalDuelInput& d) {
      if (duel_ == nullptr) return;
      switch (d.kind) {
        case JournalDuelInput::Kind::kRead:
          duel_->Read(d.ns_id, d.keys);
          break;
        case JournalDuelInput::Kind::kWrote:
          duel_->Wrote(d.ns_id, d.keys);
          break;
        case JournalDuelInput::Kind::kCapacity:
          duel_->SetCapacity(d.capacity_pages);
          break;
      }
    };
    replay.ghost = [&](std::span<const uint64_t> evicted, bool unread) {
      absl::MutexLock l(&lru_mu_);
      for (uint64_t g : evicted) probation_.Remember(g, unread);
    };
    auto j = OrderJournal::Replay(JournalPath(options_.path), saved->nonce, replay);
    if (j.ok()) {
      journal = *std::move(j);
    } else if (!absl::IsNotFound(j.status())) {
      spdlog::warn("eviction order journal not used: {}", j.status().ToString());
    }
    spdlog::info("eviction order restored: {} pages as saved, {} unread, {} not listed{}; {} "
                 "uses replayed from its journal",
                 listed, restored_unread, unlisted.size(),
                 exact ? "" : absl::StrCat(" (saved at sequence ", saved->sequence,
                                           ", the store is at ", opened_sequence_, ")"),
                 uses);
  }
  std::error_code ec;
  uint64_t saved_bytes = std::filesystem::file_size(path, ec);
  if (ec) saved_bytes = 0;
  if (!journaling) {  // a journal would only go stale
    journal.reset();
    std::filesystem::remove(JournalPath(options_.path), ec);
  }
  if (duel_) duel_->set_journal(journaling);
  absl::MutexLock sl(&saver_mu_);
  journal_ = std::move(journal);  // none: the first sync saves in full
  saved_bytes_ = saved_bytes;
  absl::MutexLock l(&lru_mu_);
  journal_uses_ = journaling;
}

absl::Status StoreImpl::SaveEvictionOrder() {
  if (!PageEviction()) return absl::OkStatus();
  absl::MutexLock saving(&saver_mu_);
  return SaveEvictionOrderLocked();
}

absl::Status StoreImpl::SaveEvictionOrderLocked() {
  EvictionOrder order;
  order.db_identity = db_identity_;
  order.nonce = std::random_device()() | (uint64_t{std::random_device()()} << 32);
  order.sequence = db_->GetLatestSequenceNumber();
  // Both queues are copied under lru_mu_ (gets queue their pages under it) and filtered after:
  // a page used again meanwhile is listed where it was, and its use goes to the new journal.
  std::vector<LruEntry> lru, unread;
  const absl::Time start = absl::Now();
  absl::Duration held;  // gets wait this long to queue their pages
  {
    absl::MutexLock l(&lru_mu_);
    auto whole = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lru_mu_) { return !compacting_; };
    lru_mu_.Await(absl::Condition(&whole));  // CompactLru holds a queue outside it meanwhile
    lru.assign(lru_.begin(), lru_.end());
    unread.assign(unread_.begin(), unread_.end());
    if (duel_) order.probation = probation_.Save();
    journal_buf_.clear();  // uses the save holds
    journal_overflow_ = false;
    held = absl::Now() - start;
  }
  order.lru.reserve(lru.size());
  order.lru_generations.reserve(lru.size());
  for (const LruEntry& at : lru) {
    if (!Current(at)) continue;
    order.lru.push_back(at.page);
    order.lru_generations.push_back(at.generation);
  }
  for (const LruEntry& at : unread) {
    if (!Current(at)) continue;
    order.unread.push_back(at.page);
    order.unread_generations.push_back(at.generation);
  }
  if (duel_) {
    // What the shadows were fed before this is in the save (a feed between the two calls is
    // in both, and replayed once more after a crash: a shadow a few keys off).
    bool overflow;
    duel_->TakeJournal(&overflow);
    order.duel = duel_->Save();
  }
  const std::string path = JoinFilePath(options_.path, StoreOptions::kEvictionOrderFile);
  if (auto s = WriteEvictionOrder(path, order); !s.ok()) {
    // The last save and its journal stay as they were (less the uses since, dropped above).
    journal_.reset();
    spdlog::warn("eviction order not saved (a start after a crash takes the last save, or the "
                 "oldest generations first): {}", s.ToString());
    return s;
  }
  std::error_code ec;
  saved_bytes_ = std::filesystem::file_size(path, ec);
  if (ec) saved_bytes_ = 0;
  journal_.reset();
  const std::string journal_path = JournalPath(options_.path);
  if (Journaling()) {
    // A crash before the rename leaves the old journal, whose nonce is not this save's.
    auto j = OrderJournal::Create(journal_path, order.nonce);
    if (j.ok()) {
      journal_ = *std::move(j);
    } else {
      spdlog::warn("eviction order journal not started (the next sync saves in full): {}",
                   j.status().ToString());
    }
  } else {
    std::filesystem::remove(journal_path, ec);  // the old save's
  }
  // Debug: with the journal on, a small store saves about once a journal's worth of uses.
  spdlog::debug("eviction order saved: {} pages, {} unread, {} bytes, in {} (queues held {})",
               order.lru.size(), order.unread.size(), saved_bytes_,
               absl::FormatDuration(absl::Now() - start), absl::FormatDuration(held));
  return absl::OkStatus();
}

absl::Status StoreImpl::SyncEvictionOrder() {
  if (!PageEviction()) return absl::OkStatus();
  absl::MutexLock saving(&saver_mu_);
  std::string uses;
  bool overflow;
  {
    absl::MutexLock l(&lru_mu_);
    uses.swap(journal_buf_);
    overflow = journal_overflow_;
  }
  if (duel_) {
    bool duel_overflow;
    uses += duel_->TakeJournal(&duel_overflow);
    overflow = overflow || duel_overflow;
  }
  if (uses.empty() && !overflow) return absl::OkStatus();  // no page used or looked up since
  if (!journal_ || overflow ||
      journal_->bytes() + uses.size() > std::max(saved_bytes_, kMinJournalBytes)) {
    return SaveEvictionOrderLocked();
  }
  if (auto s = journal_->Append(uses); !s.ok()) {
    journal_.reset();  // the next sync saves in full
    spdlog::warn("eviction order journal: {}", s.ToString());
    return s;
  }
  return absl::OkStatus();
}

void StoreImpl::SyncOrderPeriodically() {
  for (;;) {
    {
      absl::MutexLock l(&saver_mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(saver_mu_) { return saver_stop_; };
      if (saver_mu_.AwaitWithTimeout(absl::Condition(&stopping),
                                     options_.eviction_order_interval)) {
        return;
      }
    }
    SyncEvictionOrder().IgnoreError();  // logged; the next interval tries again
  }
}

void StoreImpl::RecordGhost(std::span<const uint64_t> evicted, bool unread) {
  if (!journal_uses_ || journal_overflow_) return;
  AppendGhost(&journal_buf_, evicted, unread);
}

void StoreImpl::RecordUse(uint32_t ns_id, std::span<const std::pair<KeyHash, uint32_t>> pages,
                           Use use, InsertionDuel::Insertion how) {
  if (!journal_uses_ || journal_overflow_) return;
  if (journal_buf_.size() > kMaxJournalBuffer) {
    journal_overflow_ = true;
    journal_buf_.clear();
    return;
  }
  AppendUse(&journal_buf_, ns_id, use == Use::kWritten, how, pages);
}

}  // namespace prefixd::storage
