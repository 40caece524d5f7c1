#!/usr/bin/env python3
"""Eviction policies for a store that can only drop whole segments (prefixd's generations),
simulated beside the page-level policies of bench/policy_sim.h on the same request sequence.

A research tool for issue #3, not part of the suite: it asks what a policy built on whole-segment
drops could reach, and at what write cost, before anything is built into the store. Input is a
request sequence from `prefixd-bench ... --dump-requests FILE` (trace or multiturn). Model as in
policy_sim.h: every block one page, prefix semantics (a request is served its leading blocks
that are all cached), requests in order; the blocks a request misses are written after it.

Page-level references (as policy_sim.h): lru, s3fifo, lfu_aging, opt (Belady).
Segment policies: pages are written into the newest of `--segments` segments of capacity /
segments pages each; when the pages would pass the capacity a whole segment is dropped.
  gen     prefixd today: drop the oldest; a page read from the oldest quarter of the segments
          (at least two; --promote-fraction) is copied into the newest (its old copy keeps its
          space until its segment goes).
  clock   drop the oldest, but first copy its pages read since they were written into the newest
          (a lazy second chance, CLOCK at segment level: no dead copies, but more writes).
  strand  drop the segment with the smallest share of useful pages (live and every ancestor
          cached), the oldest among equals; copies as gen.
  hits    drop the segment with the fewest hits per page written, never one of the newest
          quarter; copies as gen.
  probation  two streams (S3-FIFO at segment level): new pages go to probation segments (a
          tenth of the budget), pages re-put soon after leaving probation unread (a ghost, as
          many keys as the budget has pages) to main segments; a page read while in probation
          is copied to main; main drops its oldest, copying pages read from its oldest quarter.
  clock2  clock, but rescuing only pages read at least twice since they were written.
  twostream  S3-FIFO at segment level with rescues at the drop (no dead copies): new pages go to
          probation segments (a tenth of the budget), pages re-put soon after leaving probation
          unread (a ghost, as many keys as the budget has pages) to main segments; dropping a
          probation segment copies its pages read since written into main, dropping a main
          segment copies those read at least twice since written.
  seglru  LRU by segments, no copies: drop the segment whose live pages' median last touch
          (write or read) is oldest, never the newest.
  segopt  an oracle: drop the segment with the fewest pages read again within 3 x capacity
          writes (needs the future: an upper bound for choosing segments, not a policy).
Reported: token hit rate, and copies per page inserted (extra device writes: the store's write
amplification rises by about that much).

Usage: bench/segment_policies.py FILE [--fractions 0.1,0.25,0.5] [--effective 0.98]
  --effective: the share of the budget a segment store gives to pages (prefixd counts its SSTs,
  logs and a 2 % headroom against --capacity); the page-level policies get the whole budget.
"""
import argparse
import bisect
import collections
import heapq
import json


def load(path):
    reqs = []
    with open(path) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                n, bt = d["prompt_tokens"], d["block_tokens"]
                blocks = d["blocks"]
                reqs.append((blocks, [min(bt, n - i * bt) for i in range(len(blocks))]))
    return reqs


def replay(reqs, policy):
    served = total = 0
    for blocks, tokens in reqs:
        total += sum(tokens)
        k = 0
        while k < len(blocks) and policy.contains(blocks[k]):
            k += 1
        served += sum(tokens[:k])
        policy.request(blocks, k)
    return served / total if total else 0.0


# ---- page-level references (the same rules as bench/policy_sim.cc) ----------------------------

class PagePolicy:
    copies = 0
    inserts = 1

    def request(self, blocks, k):
        for b in blocks:
            self.access(b)


class Lru(PagePolicy):
    def __init__(self, cap):
        self.cap, self.d = cap, collections.OrderedDict()

    def contains(self, b):
        return b in self.d

    def access(self, b):
        if b in self.d:
            self.d.move_to_end(b)
            return
        if len(self.d) >= self.cap:
            self.d.popitem(last=False)
        self.d[b] = 1


class S3Fifo(PagePolicy):
    def __init__(self, cap):
        self.cap = cap
        self.small_cap = max(1, cap // 10)
        self.main_cap = max(1, cap - self.small_cap)
        self.e, self.small, self.main = {}, collections.deque(), collections.deque()
        self.ghost = collections.OrderedDict()

    def contains(self, b):
        return b in self.e

    def access(self, b):
        if b in self.e:
            self.e[b][0] = min(self.e[b][0] + 1, 3)
            return
        while len(self.e) >= self.cap:
            self.evict()
        if b in self.ghost:
            del self.ghost[b]
            self.e[b] = [0, True]
            self.main.append(b)
        else:
            self.e[b] = [0, False]
            self.small.append(b)

    def evict(self):
        while True:
            if self.small and (len(self.small) >= self.small_cap or not self.main):
                t = self.small.popleft()
                if self.e[t][0] >= 1:
                    self.e[t] = [0, True]
                    self.main.append(t)
                    continue
                del self.e[t]
                self.ghost[t] = 1
                while len(self.ghost) > self.main_cap:
                    self.ghost.popitem(last=False)
                return
            t = self.main.popleft()
            if self.e[t][0] > 0:
                self.e[t][0] -= 1
                self.main.append(t)
                continue
            del self.e[t]
            return


class LfuAging(PagePolicy):
    def __init__(self, cap):
        self.cap, self.e, self.heap, self.aging, self.t = cap, {}, [], 0, 0

    def contains(self, b):
        return b in self.e

    def access(self, b):
        self.t += 1
        count = self.e[b][1] + 1 if b in self.e else 1
        if b not in self.e:
            while len(self.e) >= self.cap:
                prio, t, x = heapq.heappop(self.heap)
                if x in self.e and self.e[x][0] == prio and self.e[x][2] == t:
                    del self.e[x]
                    self.aging = prio
        prio = self.aging + count
        self.e[b] = (prio, count, self.t)
        heapq.heappush(self.heap, (prio, self.t, b))


class Opt(PagePolicy):
    def __init__(self, cap, reqs):
        seq = [b for blocks, _ in reqs for b in blocks]
        self.next, last = [0] * len(seq), {}
        for i in range(len(seq) - 1, -1, -1):
            self.next[i] = last.get(seq[i], 1 << 62)
            last[seq[i]] = i
        self.cap, self.i, self.e, self.heap = cap, 0, {}, []

    def contains(self, b):
        return b in self.e

    def access(self, b):
        n = self.next[self.i]
        self.i += 1
        if b not in self.e:
            while len(self.e) >= self.cap:
                far, x = heapq.heappop(self.heap)
                if self.e.get(x) == -far:
                    del self.e[x]
        self.e[b] = n
        heapq.heappush(self.heap, (-n, b))


# ---- segment policies --------------------------------------------------------------------------

class Segments:
    """Pages in segments written in order; `victim()` picks the segment to drop."""

    def __init__(self, cap, segments, promote_fraction=0.25, lazy_clock=False, min_reads=1):
        self.cap, self.seg_pages = cap, max(1, cap // segments)
        self.promote_fraction, self.lazy_clock = promote_fraction, lazy_clock
        self.min_reads = min_reads
        self.where = {}                          # page -> segment holding its live copy
        self.live = collections.OrderedDict()    # segment -> set of live pages, oldest first
        self.written = {}                        # segment -> pages written (its disk share)
        self.used = self.n = self.clock = 0
        self.read = collections.Counter()        # reads since (re)written (lazy clock)
        self.copies = self.inserts = 0
        self.new_segment()

    def new_segment(self):
        self.n += 1
        self.live[self.n] = set()
        self.written[self.n] = 0
        self.born_at(self.n)

    def born_at(self, seg):
        pass

    def contains(self, b):
        return b in self.where

    def write(self, b):
        if self.written[self.n] >= self.seg_pages:
            self.new_segment()
        while self.used + 1 > self.cap and len(self.live) > 1:
            self.drop(self.victim([s for s in self.live if s != self.n]))
        old = self.where.get(b)
        if old is not None:
            self.live[old].discard(b)
        self.live[self.n].add(b)
        self.written[self.n] += 1
        self.used += 1
        self.where[b] = self.n
        self.clock += 1

    def drop(self, seg):
        pages = self.live.pop(seg)
        self.used -= self.written.pop(seg)
        for b in pages:
            del self.where[b]
        if self.lazy_clock:
            for b in [b for b in pages if self.read[b] >= self.min_reads]:
                del self.read[b]
                self.copies += 1
                self.write(b)
        for b in pages:
            if b not in self.where:
                self.read.pop(b, None)

    def victim(self, candidates):
        return candidates[0]

    def on_hit(self, b, seg):
        pass

    def request(self, blocks, k):
        segs = list(self.live)
        promote = set(segs[:max(2, int(self.promote_fraction * len(segs)))])
        for b in blocks[:k]:
            seg = self.where.get(b)
            if seg is None:
                continue
            self.on_hit(b, seg)
            if self.lazy_clock:
                self.read[b] += 1
            elif self.promote_fraction > 0 and seg in promote and seg != self.n:
                self.copies += 1
                self.write(b)
        for b in blocks[k:]:
            if b not in self.where:
                self.inserts += 1
                self.write(b)
        self.after_request(blocks)

    def after_request(self, blocks):
        pass


class Stranded(Segments):
    def __init__(self, cap, segments, parent):
        super().__init__(cap, segments)
        self.parent = parent

    def useful(self, b):
        p = self.parent[b]
        while p is not None:
            if p not in self.where:
                return False
            p = self.parent[p]
        return True

    def victim(self, candidates):
        share = lambda s: sum(map(self.useful, self.live[s])) / max(1, self.written[s])
        return min(candidates, key=lambda s: (share(s), s))


class Hits(Segments):
    def __init__(self, cap, segments):
        self.hits = collections.Counter()
        super().__init__(cap, segments)

    def on_hit(self, b, seg):
        self.hits[seg] += 1

    def victim(self, candidates):
        pool = candidates[:max(1, len(candidates) - len(candidates) // 4)]
        return min(pool, key=lambda s: (self.hits[s] / max(1, self.written[s]), s))


class SegmentLru(Segments):
    def __init__(self, cap, segments):
        self.touch = {}
        super().__init__(cap, segments, promote_fraction=0)

    def write(self, b):
        super().write(b)
        self.touch[b] = self.clock

    def drop(self, seg):
        for b in self.live[seg]:
            del self.touch[b]
        super().drop(seg)

    def on_hit(self, b, seg):
        self.touch[b] = self.clock

    def median_touch(self, seg):
        ts = sorted(self.touch[b] for b in self.live[seg])
        return ts[len(ts) // 2] if ts else -1

    def victim(self, candidates):
        return min(candidates, key=lambda s: (self.median_touch(s), s))


class SegmentOracle(Segments):
    def __init__(self, cap, segments, reqs):
        self.positions = collections.defaultdict(list)
        t = 0
        for blocks, _ in reqs:
            for b in blocks:
                self.positions[b].append(t)
                t += 1
        self.t = 0
        super().__init__(cap, segments, promote_fraction=0)

    def after_request(self, blocks):
        self.t += len(blocks)

    def reused_soon(self, b):
        p = self.positions[b]
        i = bisect.bisect_right(p, self.t - 1)
        return i < len(p) and p[i] - self.t < 3 * self.cap

    def victim(self, candidates):
        share = lambda s: sum(map(self.reused_soon, self.live[s])) / max(1, self.written[s])
        return min(candidates, key=lambda s: (share(s), s))


class Probation:
    def __init__(self, cap, segments, probation_share=0.1):
        self.cap, self.seg_pages = cap, max(1, cap // segments)
        self.probation_cap = max(1, int(cap * probation_share))
        self.where = {}                        # page -> (stream, segment)
        self.streams = {"P": collections.OrderedDict(), "M": collections.OrderedDict()}
        self.used = {"P": 0, "M": 0}
        self.members = collections.defaultdict(list)
        self.ghost = collections.OrderedDict()
        self.n = self.copies = self.inserts = 0
        for stream in "PM":
            self.new_segment(stream)

    def new_segment(self, stream):
        self.n += 1
        self.streams[stream][self.n] = 0
        return self.n

    def contains(self, b):
        return b in self.where

    def drop(self, stream):
        seg, written = self.streams[stream].popitem(last=False)
        self.used[stream] -= written
        for b in self.members.pop(seg):
            if self.where.get(b) == (stream, seg):
                del self.where[b]
                if stream == "P":
                    self.ghost[b] = 1
                    while len(self.ghost) > self.cap:
                        self.ghost.popitem(last=False)

    def write(self, b, stream):
        segs = self.streams[stream]
        cur = next(reversed(segs))
        if segs[cur] >= self.seg_pages:
            cur = self.new_segment(stream)
        while self.used["P"] + self.used["M"] + 1 > self.cap:
            if self.used["P"] > self.probation_cap and len(self.streams["P"]) > 1:
                self.drop("P")
            elif len(self.streams["M"]) > 1:
                self.drop("M")
            elif len(self.streams["P"]) > 1:
                self.drop("P")
            else:
                break
        segs[cur] += 1
        self.used[stream] += 1
        self.where[b] = (stream, cur)
        self.members[cur].append(b)

    def request(self, blocks, k):
        main = list(self.streams["M"])
        oldest = set(main[:max(1, len(main) // 4)]) - {main[-1]}
        for b in blocks[:k]:
            w = self.where.get(b)
            if w is None:
                continue
            if w[0] == "P" or w[1] in oldest:
                self.copies += 1
                self.write(b, "M")
        for b in blocks[k:]:
            if b in self.where:
                continue
            self.inserts += 1
            if self.ghost.pop(b, None) is not None:
                self.write(b, "M")
            else:
                self.write(b, "P")


class TwoStream:
    """Probation and main streams of segments; rescues happen at the drop (see the docstring)."""

    def __init__(self, cap, segments, probation_share=0.1, main_min_reads=2):
        self.cap, self.seg_pages = cap, max(1, cap // segments)
        self.probation_cap = max(self.seg_pages, int(cap * probation_share))
        self.main_min_reads = main_min_reads
        self.where = {}                        # page -> (stream, segment)
        self.streams = {"P": collections.OrderedDict(), "M": collections.OrderedDict()}
        self.used = {"P": 0, "M": 0}
        self.members = collections.defaultdict(list)
        self.ghost = collections.OrderedDict()
        self.reads = collections.Counter()     # reads since (re)written
        self.n = self.copies = self.inserts = 0
        for stream in "PM":
            self.new_segment(stream)

    def new_segment(self, stream):
        self.n += 1
        self.streams[stream][self.n] = 0
        return self.n

    def contains(self, b):
        return b in self.where

    def drop(self, stream):
        seg, written = self.streams[stream].popitem(last=False)
        self.used[stream] -= written
        need = 1 if stream == "P" else self.main_min_reads
        rescue = []
        for b in self.members.pop(seg):
            if self.where.get(b) != (stream, seg):
                continue
            del self.where[b]
            if self.reads[b] >= need:
                rescue.append(b)
                continue
            self.reads.pop(b, None)
            if stream == "P":
                self.ghost[b] = 1
                while len(self.ghost) > self.cap:
                    self.ghost.popitem(last=False)
        for b in rescue:
            del self.reads[b]
            self.copies += 1
            self.write(b, "M")

    def write(self, b, stream):
        while self.used["P"] + self.used["M"] + 1 > self.cap:
            p, m = len(self.streams["P"]), len(self.streams["M"])
            if p > 1 and (self.used["P"] > self.probation_cap or m <= 1):
                self.drop("P")
            elif m > 1:
                self.drop("M")
            else:
                break
        segs = self.streams[stream]
        cur = next(reversed(segs))
        if segs[cur] >= self.seg_pages:
            cur = self.new_segment(stream)
        segs[cur] += 1
        self.used[stream] += 1
        self.where[b] = (stream, cur)
        self.members[cur].append(b)

    def request(self, blocks, k):
        for b in blocks[:k]:
            if b in self.where:
                self.reads[b] += 1
        for b in blocks[k:]:
            if b in self.where:
                continue
            self.inserts += 1
            self.write(b, "M" if self.ghost.pop(b, None) is not None else "P")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("requests")
    ap.add_argument("--fractions", default="0.1,0.25,0.5")
    ap.add_argument("--effective", type=float, default=0.98)
    ap.add_argument("--segments", type=int, default=32)
    args = ap.parse_args()
    reqs = load(args.requests)
    parent = {}
    for blocks, _ in reqs:
        for i, b in enumerate(blocks):
            parent.setdefault(b, blocks[i - 1] if i else None)
    distinct = len(parent)
    unbounded = replay(reqs, Lru(distinct))
    print(f"{args.requests}: {len(reqs)} requests, {distinct} distinct pages, "
          f"unbounded hit rate {unbounded:.3f}; segment policies get {args.effective:g} of the "
          f"budget, {args.segments} segments")
    print("| fraction | pages | LRU | S3-FIFO | LFU-DA | OPT | gen | clock | clock2 | strand | "
          "hits | probation | twostream | seglru | segopt |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in (float(x) for x in args.fractions.split(",")):
        cap = max(1, int(f * distinct))
        seg_cap = max(1, int(cap * args.effective))
        row = [f"{replay(reqs, p):.3f}" for p in
               (Lru(cap), S3Fifo(cap), LfuAging(cap), Opt(cap, reqs))]
        for p in (Segments(seg_cap, args.segments),
                  Segments(seg_cap, args.segments, promote_fraction=0, lazy_clock=True),
                  Segments(seg_cap, args.segments, promote_fraction=0, lazy_clock=True,
                           min_reads=2),
                  Stranded(seg_cap, args.segments, parent), Hits(seg_cap, args.segments),
                  Probation(seg_cap, args.segments), TwoStream(seg_cap, args.segments),
                  SegmentLru(seg_cap, args.segments), SegmentOracle(seg_cap, args.segments, reqs)):
            h = replay(reqs, p)
            row.append(f"{h:.3f} (+{p.copies / max(1, p.inserts):.2f})")
        print(f"| {f:g} | {cap:,} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
