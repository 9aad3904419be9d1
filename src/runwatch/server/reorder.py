"""Put one run's live records back in seq order: each once, none skipped.

With several replicas, two commits of one run race to publish: a viewer may hear seq 8 before
seq 7, or hear 7 never (its replica died between commit and publish). ``SeqOrder`` releases
only the records that follow the last one sent; whatever comes after a hole is held until the
hole is filled (by the bus, or by re-reading the store's journal).
"""

from __future__ import annotations

LiveItem = tuple[int, str]  # (seq, the record's JSON text)

# Records held past a hole; past this, the highest seqs are dropped (the store has them all,
# and they are read again once the hole is filled).
HELD_MAX = 2048


class SeqOrder:
    """The seq-ordered release of one stream; ``last`` is the last seq released."""

    def __init__(self, last: int, cap: int = HELD_MAX) -> None:
        self.last = last
        self._held: dict[int, str] = {}
        self._cap = cap

    @property
    def waiting(self) -> bool:
        """True while records past a hole are held."""
        return bool(self._held)

    def push(self, items: list[LiveItem]) -> list[LiveItem]:
        """Add items (any order, repeats allowed); return those now releasable, in order."""
        if not self._held:
            fresh = [item for item in items if item[0] > self.last]
            base = self.last + 1
            if all(seq == base + i for i, (seq, _) in enumerate(fresh)):
                # The common case, one replica publishing in order: no buffering at all.
                if fresh:
                    self.last = fresh[-1][0]
                return fresh
            items = fresh
        for seq, text in items:
            if seq > self.last:
                self._held[seq] = text
        out: list[LiveItem] = []
        while self.last + 1 in self._held:
            self.last += 1
            out.append((self.last, self._held.pop(self.last)))
        if len(self._held) > self._cap:
            for seq in sorted(self._held)[self._cap :]:
                del self._held[seq]
        return out

    def skip_to(self, seq: int) -> None:
        """Continue after ``seq`` (a reset, or a hole the store never fills)."""
        self.last = max(self.last, seq)
        self._held = {s: t for s, t in self._held.items() if s > self.last}

    def first_held(self) -> int | None:
        """The lowest seq held past the hole, if any."""
        return min(self._held) if self._held else None
