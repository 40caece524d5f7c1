#include "storage/probation_target.h"

#include <algorithm>

namespace prefixd::storage {
namespace {
constexpr uint64_t kUnbounded = UINT64_MAX / 4;  // until SetCapacity
}  // namespace

ProbationTarget::ProbationTarget(const Options& options) : options_(options) {}

void ProbationTarget::Ghost::Add(uint64_t fingerprint, uint64_t capacity) {
  keys[fingerprint] = next;
  order.emplace_back(fingerprint, next++);
  Trim(capacity);
}

void ProbationTarget::Ghost::Trim(uint64_t capacity) {
  while (keys.size() > capacity || order.size() > 2 * capacity + 64) {
    const auto [fingerprint, number] = order.front();
    order.pop_front();
    auto it = keys.find(fingerprint);
    if (it != keys.end() && (it->second & ~kCounted) == number) keys.erase(it);
  }
}

std::vector<uint64_t> ProbationTarget::Ghost::List() const {
  std::vector<uint64_t> out;
  out.reserve(keys.size());
  for (const auto& [fingerprint, number] : order) {
    auto it = keys.find(fingerprint);
    if (it != keys.end() && (it->second & ~kCounted) == number) out.push_back(fingerprint);
  }
  return out;
}

void ProbationTarget::SetCapacity(uint64_t pages) {
  capacity_ = pages;
  if (target_ < 0) {
    target_ = std::max(0.0, options_.initial_share * double(pages) + pending_);
    pending_ = 0;
  }
  target_ = std::min(target_, double(pages));
  unread_.Trim(pages);
  read_.Trim(pages);
}

void ProbationTarget::Evicted(uint64_t fingerprint, bool unread) {
  if (capacity_ == 0) return;
  (unread ? unread_ : read_).Add(fingerprint, capacity_);
}

void ProbationTarget::Remember(uint64_t fingerprint, bool unread) {
  (unread ? unread_ : read_).Add(fingerprint, capacity_ ? capacity_ : kUnbounded);
}

void ProbationTarget::Move(const Ghost& from) {
  const double b1 = double(unread_.keys.size()), b2 = double(read_.keys.size());
  const double delta = &from == &unread_ ? options_.step * std::max(b2 / b1, 1.0)
                                         : -options_.step * std::max(b1 / b2, 1.0);
  if (target_ < 0) {  // ghosts restored (a journal replayed) before any target
    pending_ += delta;
    return;
  }
  target_ = std::max(0.0, target_ + delta);
  if (capacity_ > 0) target_ = std::min(target_, double(capacity_));
}

void ProbationTarget::Wanted(uint64_t fingerprint) {
  for (Ghost* g : {&unread_, &read_}) {
    auto it = g->keys.find(fingerprint);
    if (it == g->keys.end()) continue;
    if (!(it->second & kCounted)) {
      Move(*g);
      it->second |= kCounted;
    }
    return;
  }
}

bool ProbationTarget::Written(uint64_t fingerprint) {
  for (Ghost* g : {&unread_, &read_}) {
    auto it = g->keys.find(fingerprint);
    if (it == g->keys.end()) continue;
    if (!(it->second & kCounted)) Move(*g);
    g->keys.erase(it);
    return g == &unread_;
  }
  return false;
}

uint64_t ProbationTarget::target() const {
  return std::max<uint64_t>(1, uint64_t(std::max(target_, 0.0)));
}

ProbationTarget::State ProbationTarget::Save() const {
  return {.target = target_, .unread_ghost = unread_.List(), .read_ghost = read_.List()};
}

void ProbationTarget::Restore(const State& state) {
  target_ = state.target;
  for (uint64_t g : state.unread_ghost) Remember(g, /*unread=*/true);
  for (uint64_t g : state.read_ghost) Remember(g, /*unread=*/false);
}

}  // namespace prefixd::storage
