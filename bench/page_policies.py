#!/usr/bin/env python3
"""Page-level eviction policies for `--eviction pages`, simulated beside the references of
bench/policy_sim.h on the same request sequence, at a share of the budget.

A research tool for issue #3, not part of the suite (as bench/segment_policies.py): it asks which
single-page policy the store should run, and what the share of the budget the store can give to
pages (its SSTs, logs and unflushed pages take the rest) costs. Input is a request sequence from
`prefixd-bench ... --dump-requests FILE`. Model as in policy_sim.h: every block one page, prefix
semantics, requests in order. The references (lru, s3fifo, lfu_aging) get the whole budget; the
candidates get `--effective` of it.

Candidates (a request's served prefix is read, then its missing blocks written, as a client does):
  lru-rr     what the store runs: exact LRU, and the pages of a chain used together (read or
             written) queued deepest first, so a chain loses its end before its prefix.
  lru-ff     the same, root first (the order of policy_sim.h's LRU).
  clock      CLOCK over pages in write order (the store's policy before stop 21), root first.
  clock-r    CLOCK, a request's new pages queued deepest first.
  arc-rr     ARC (Megiddo and Modha, FAST'03), pages used deepest first.
  mid        LRU with midpoint insertion: new pages of a request with no prefix hit enter at the
             middle of the queue (the older half), the rest at the MRU end (MySQL's buffer pool,
             with the chain in use as the test for "young").
  bip        lru-rr, but a request's new pages enter at the LRU end unless the request is one of
             an eighth drawn at random (bimodal insertion, Qureshi et al., ISCA'07): a cycle
             longer than the cache keeps the chains admitted instead of losing them all.
  duel       set dueling between lru-rr and bip: both run as shadow caches over a sixteenth of
             the pages (by hash) with a sixteenth of the budget; the real cache inserts as the
             one whose shadow served more leading pages so far.
  duel-m     what the store runs (storage/insertion_duel.h): as duel, but bip's shadow must serve
             1.5 times the leading pages of lru-rr's, scores halve once their sum passes 1,024,
             and a put makes room for all its new pages before queueing them (at the front,
             deepest first, when not admitted), as the store's put does.
  duel-2q    what the store ran in stops 23-28: duel-m plus a third shadow running probation
             (2Q with the pages not read since written as its first queue, a quarter of the
             capacity, and a ghost of pages evicted unread); while it serves more leading pages
             than the LRU shadow (and bimodal is not chosen), the hand takes unread pages first.
  duel-arc   what the store runs since stop 29 (storage/probation_target.h): duel-m, and while
             bimodal is not chosen, probation always, with the unread pages' target adapted as
             ARC's (a put of a page evicted unread grows it by 2 x max(|B2|/|B1|, 1), one of a
             page evicted read shrinks it by 2 x max(|B1|/|B2|, 1); it starts at half the
             capacity).
Reported: token hit rate and its ratio to the best of the references.

Usage: bench/page_policies.py FILE... [--fractions 0.1,0.25,0.5] [--effective 1.0]
"""
import argparse
import collections
import hashlib
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segment_policies import LfuAging, Lru, S3Fifo, load, replay  # noqa: E402

OD = collections.OrderedDict


class StoreLru:
    copies = 0
    inserts = 1

    def __init__(self, cap, deepest_first=True):
        self.cap, self.d, self.rev = cap, OD(), deepest_first

    def contains(self, b):
        return b in self.d

    def order(self, blocks):
        return reversed(blocks) if self.rev else blocks

    def request(self, blocks, k):
        for b in self.order(blocks[:k]):
            self.d.move_to_end(b)
        for b in self.order(blocks[k:]):
            if b in self.d:  # stored behind a missing page: the store's put skips it
                continue
            while len(self.d) >= self.cap:
                self.d.popitem(last=False)
            self.d[b] = 1


class Clock:
    copies = 0
    inserts = 1

    def __init__(self, cap, deepest_first=False):
        self.cap, self.q, self.ref, self.rev = cap, collections.deque(), {}, deepest_first

    def contains(self, b):
        return b in self.ref

    def request(self, blocks, k):
        for b in blocks[:k]:
            self.ref[b] = 1
        rest = blocks[k:]
        for b in (reversed(rest) if self.rev else rest):
            if b in self.ref:
                continue
            while len(self.ref) >= self.cap:
                x = self.q.popleft()
                if self.ref[x]:
                    self.ref[x] = 0
                    self.q.append(x)
                else:
                    del self.ref[x]
            self.q.append(b)
            self.ref[b] = 0


class ArcRr:
    copies = 0
    inserts = 1

    def __init__(self, c):
        self.c, self.p = c, 0
        self.t1, self.t2, self.b1, self.b2 = OD(), OD(), OD(), OD()

    def contains(self, x):
        return x in self.t1 or x in self.t2

    def replace(self, x):
        if self.t1 and (len(self.t1) > self.p or (x in self.b2 and len(self.t1) == self.p)):
            y, _ = self.t1.popitem(last=False)
            self.b1[y] = 1
        else:
            y, _ = self.t2.popitem(last=False)
            self.b2[y] = 1

    def access(self, x):
        c = self.c
        if x in self.t1:
            del self.t1[x]
            self.t2[x] = 1
            return
        if x in self.t2:
            self.t2.move_to_end(x)
            return
        if x in self.b1:
            self.p = min(c, self.p + max(len(self.b2) / max(1, len(self.b1)), 1))
            self.replace(x)
            del self.b1[x]
            self.t2[x] = 1
            return
        if x in self.b2:
            self.p = max(0, self.p - max(len(self.b1) / max(1, len(self.b2)), 1))
            self.replace(x)
            del self.b2[x]
            self.t2[x] = 1
            return
        l1 = len(self.t1) + len(self.b1)
        if l1 == c:
            if len(self.t1) < c:
                self.b1.popitem(last=False)
                self.replace(x)
            else:
                self.t1.popitem(last=False)
        elif l1 < c:
            total = l1 + len(self.t2) + len(self.b2)
            if total >= c:
                if total == 2 * c:
                    self.b2.popitem(last=False)
                self.replace(x)
        self.t1[x] = 1

    def request(self, blocks, k):
        for b in reversed(blocks[:k]):
            self.access(b)
        for b in reversed(blocks[k:]):
            self.access(b)


class Midpoint:
    copies = 0
    inserts = 1

    def __init__(self, cap, old_share=0.5):
        self.cap, self.ycap = cap, max(1, int(cap * (1 - old_share)))
        self.young, self.old = OD(), OD()

    def contains(self, b):
        return b in self.young or b in self.old

    def use(self, b):
        self.old.pop(b, None)
        self.young[b] = 1
        self.young.move_to_end(b)
        while len(self.young) > self.ycap:
            x, _ = self.young.popitem(last=False)
            self.old[x] = 1

    def request(self, blocks, k):
        for b in reversed(blocks[:k]):
            self.use(b)
        for b in reversed(blocks[k:]):
            if self.contains(b):
                self.use(b)
                continue
            while len(self.young) + len(self.old) >= self.cap:
                (self.old if self.old else self.young).popitem(last=False)
            if k > 0:
                self.use(b)
            else:
                self.old[b] = 1


def sampled(b, sample):
    """Whether block `b` is one of the one in `sample` a shadow cache sees (by hash)."""
    digest = hashlib.blake2b(str(b).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % sample == 0


def shadow_request(shadow, mine, **put):
    """A request of the sampled blocks `mine` on a shadow with get/put (StoreLruPut or its
    subclass): returns how many leading blocks it held (its score), then reads those and puts
    the rest with `put`'s arguments."""
    lead = 0
    while lead < len(mine) and shadow.contains(mine[lead]):
        lead += 1
    shadow.get(mine, lead)
    shadow.put(mine, lead, **put)
    return lead


class Bip:
    """lru-rr whose requests' new pages enter at the LRU end, but for one in `1/eps` requests.
    With `duel`, the choice between that and lru-rr follows sampled shadow caches."""
    copies = 0
    inserts = 1

    def __init__(self, cap, eps=1 / 8, duel=False, sample=16, seed=1):
        self.cap, self.d, self.eps, self.rng = cap, OD(), eps, random.Random(seed)
        self.duel, self.sample = duel, sample
        self.shadows = [OD(), OD()]  # lru-rr, bip
        self.shadow_cap = max(4, cap // sample)
        self.score = 0  # shadow hits of lru-rr minus those of bip

    def contains(self, b):
        return b in self.d

    @staticmethod
    def insert(d, cap, b, mru):
        while len(d) >= cap:
            d.popitem(last=False)
        d[b] = 1
        if not mru:
            d.move_to_end(b, last=False)

    def sampled(self, b):
        return sampled(b, self.sample)

    def request(self, blocks, k):
        admit = self.rng.random() < self.eps
        if self.duel:
            mine = [b for b in blocks if self.sampled(b)]
            for i, d in enumerate(self.shadows):
                lead = 0
                while lead < len(mine) and mine[lead] in d:
                    lead += 1
                self.score += lead if i == 0 else -lead
                for b in reversed(mine):
                    if b in d:
                        d.move_to_end(b)
                    else:
                        self.insert(d, self.shadow_cap, b, i == 0 or admit)
        mru = admit or (self.duel and self.score >= 0)
        for b in reversed(blocks[:k]):
            self.d.move_to_end(b)
        for b in reversed(blocks[k:]):
            if b not in self.d:
                self.insert(self.d, self.cap, b, mru)


class StoreLruPut:
    """lru-rr with the store's put: the chain's pages already stored are queued again (deepest
    first), room for all the new pages is made, then they are queued at the back (deepest first)
    or, with `front`, at the front (deepest at the front)."""

    def __init__(self, cap):
        self.cap, self.d = cap, OD()

    def contains(self, b):
        return b in self.d

    def get(self, blocks, k):
        for b in reversed(blocks[:k]):
            self.d.move_to_end(b)

    def put(self, blocks, k, front):
        new = [b for b in blocks[k:] if b not in self.d]
        for b in reversed(blocks[k:]):
            if b in self.d:
                self.d.move_to_end(b)
        while self.d and len(self.d) + len(new) > self.cap:
            self.d.popitem(last=False)
        if front:
            for b in new:
                self.d[b] = 1
                self.d.move_to_end(b, last=False)
        else:
            for b in reversed(new):
                self.d[b] = 1


class DuelMargin:
    copies = 0
    inserts = 1

    def __init__(self, cap, sample=16, eps=1 / 8, margin=1.5, halve_at=1024, seed=1):
        self.real = StoreLruPut(cap)
        self.shadows = [StoreLruPut(max(4, cap // sample)) for _ in range(2)]  # lru-rr, bip
        self.scores = [0.0, 0.0]
        self.sample, self.eps, self.margin, self.halve_at = sample, eps, margin, halve_at
        self.rng = random.Random(seed)

    def contains(self, b):
        return self.real.contains(b)

    def request(self, blocks, k):
        admit = self.rng.random() < self.eps
        mine = [b for b in blocks if sampled(b, self.sample)]
        for i, s in enumerate(self.shadows):
            self.scores[i] += shadow_request(s, mine, front=i == 1 and not admit)
        if sum(self.scores) > self.halve_at:
            self.scores = [x / 2 for x in self.scores]
        bimodal = self.scores[1] > self.margin * self.scores[0]
        self.real.get(blocks, k)
        self.put(blocks, k, bimodal, admit)

    def put(self, blocks, k, bimodal, admit):
        self.real.put(blocks, k, front=bimodal and not admit)


class StoreProbation(StoreLruPut):
    """StoreLruPut plus what --insertion adaptive's probation mode adds: the pages a put writes
    and no one has read since are also queued, in write order, as unread. While probation is on,
    the hand takes the oldest unread page as long as a `share` of the capacity or more is
    unread, and the least recently used page otherwise (2Q, Johnson and Shasha, VLDB'94, with
    the unread pages as its probation queue); an unread page evicted so is remembered (a ghost
    of as many keys as the capacity), and a put of a remembered page does not count it unread.
    A page read (or queued again behind a miss) is no longer unread."""

    def __init__(self, cap, share=0.25):
        super().__init__(cap)
        self.pcap = max(1, int(cap * share))
        self.unread, self.ghost = OD(), OD()
        self.probation = False

    def get(self, blocks, k):
        for b in blocks[:k]:
            self.unread.pop(b, None)
        super().get(blocks, k)

    def evict(self):
        if self.probation and len(self.unread) >= self.pcap:
            b, _ = self.unread.popitem(last=False)
            del self.d[b]
            self.ghost[b] = 1
            while len(self.ghost) > self.cap:
                self.ghost.popitem(last=False)
        else:
            b, _ = self.d.popitem(last=False)
            self.unread.pop(b, None)

    def put(self, blocks, k, front, probation=False):
        self.probation = probation
        new = [b for b in blocks[k:] if b not in self.d]
        for b in reversed(blocks[k:]):
            if b in self.d:
                self.d.move_to_end(b)
                self.unread.pop(b, None)
        while self.d and len(self.d) + len(new) > self.cap:
            self.evict()
        if front:
            for b in new:
                self.d[b] = 1
                self.d.move_to_end(b, last=False)
        else:
            for b in reversed(new):
                self.d[b] = 1
        for b in reversed(new):  # deepest first, as they are to be evicted
            if b in self.ghost:
                del self.ghost[b]
            else:
                self.unread[b] = 1


class DuelProbation:
    """duel-m plus a third shadow running probation (StoreProbation with it always on): puts
    use probation while its shadow has served `margin2` times the leading pages of the LRU
    one (scores halve once their sum passes `halve2_at`) and bimodal insertion is not chosen."""
    copies = 0
    inserts = 1

    def __init__(self, cap, sample=16, eps=1 / 8, margin=1.5, halve_at=1024, share=0.25,
                 margin2=1.0, halve2_at=16384, seed=1):
        self.real = StoreProbation(cap, share)
        small = max(4, cap // sample)
        self.shadows = [StoreProbation(small, share) for _ in range(3)]  # lru, bip, probation
        self.scores, self.scores2 = [0.0, 0.0], [0.0, 0.0]
        self.sample, self.eps, self.margin, self.halve_at = sample, eps, margin, halve_at
        self.margin2, self.halve2_at = margin2, halve2_at
        self.rng = random.Random(seed)

    def contains(self, b):
        return self.real.contains(b)

    def request(self, blocks, k):
        admit = self.rng.random() < self.eps
        mine = [b for b in blocks if sampled(b, self.sample)]
        leads = [shadow_request(s, mine, front=i == 1 and not admit, probation=i == 2)
                 for i, s in enumerate(self.shadows)]
        self.scores[0] += leads[0]
        self.scores[1] += leads[1]
        self.scores2[0] += leads[0]
        self.scores2[1] += leads[2]
        if sum(self.scores) > self.halve_at:
            self.scores = [x / 2 for x in self.scores]
        if sum(self.scores2) > self.halve2_at:
            self.scores2 = [x / 2 for x in self.scores2]
        bimodal = self.scores[1] > self.margin * self.scores[0]
        probation = not bimodal and self.scores2[1] > self.margin2 * self.scores2[0]
        self.real.get(blocks, k)
        self.real.put(blocks, k, front=bimodal and not admit, probation=probation)


class StoreArc(StoreProbation):
    """StoreProbation whose unread target adapts as ARC's p: ghosts of the pages evicted
    unread (B1, StoreProbation's ghost) and of those evicted read (B2), as many as the
    capacity each."""

    def __init__(self, cap, share=0.5, step=2.0):
        super().__init__(cap, share)
        self.p, self.step, self.b2 = cap * share, step, OD()

    def evict(self):
        if self.probation and self.unread and len(self.unread) >= max(self.p, 1):
            b, _ = self.unread.popitem(last=False)
            del self.d[b]
            unread = True
        else:
            b, _ = self.d.popitem(last=False)
            unread = self.unread.pop(b, None) is not None
        ghost = self.ghost if unread else self.b2
        ghost[b] = 1
        while len(ghost) > self.cap:
            ghost.popitem(last=False)

    def put(self, blocks, k, front, probation=False):
        for b in blocks[k:]:
            if b in self.d:
                continue
            b1, b2 = len(self.ghost), len(self.b2)
            if b in self.ghost:
                self.p = min(self.cap, self.p + self.step * max(b2 / b1, 1))
            elif b in self.b2:
                self.p = max(0, self.p - self.step * max(b1 / b2, 1))
                del self.b2[b]
        super().put(blocks, k, front, probation)


class DuelArc(DuelMargin):
    """duel-m with StoreArc as the real cache, probation on while bimodal is not chosen."""

    def __init__(self, cap, **kw):
        super().__init__(cap, **kw)
        self.real = StoreArc(cap)

    def put(self, blocks, k, bimodal, admit):
        self.real.put(blocks, k, front=bimodal and not admit, probation=not bimodal)


CANDIDATES = {
    "lru-rr": lambda c: StoreLru(c),
    "lru-ff": lambda c: StoreLru(c, deepest_first=False),
    "clock": lambda c: Clock(c),
    "clock-r": lambda c: Clock(c, deepest_first=True),
    "arc-rr": ArcRr,
    "mid": Midpoint,
    "bip": Bip,
    "duel": lambda c: Bip(c, duel=True),
    "duel-m": DuelMargin,
    "duel-2q": DuelProbation,
    "duel-arc": DuelArc,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--fractions", default="0.1,0.25,0.5")
    ap.add_argument("--effective", type=float, default=1.0)
    args = ap.parse_args()
    fractions = [float(x) for x in args.fractions.split(",")]
    print("file | fraction | best of LRU / S3-FIFO / LFU-DA | " + " | ".join(CANDIDATES))
    for path in args.files:
        reqs = load(path)
        distinct = len({b for blocks, _ in reqs for b in blocks})
        for f in fractions:
            cap = max(1, int(f * distinct))
            best = max(replay(reqs, p) for p in (Lru(cap), S3Fifo(cap), LfuAging(cap)))
            c = max(1, int(cap * args.effective))
            cells = []
            for make in CANDIDATES.values():
                r = replay(reqs, make(c))
                cells.append(f"{r:.3f} ({r / best:.3f}x)" if best else f"{r:.3f}")
            print(f"{os.path.basename(path)} | {f} | {best:.3f} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
