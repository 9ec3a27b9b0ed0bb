"""The in-process tier in front of the shared (Redis) cache: each process keeps the answers it served last.

A hit from Redis moves the whole answer over the network and into the
process every time: for the largest answer (agent-activity of every agent,
1,000 agents, 90 days: 6.8 MB) that transfer is most of the hit. A process
that serves the same answer again keeps it, as the bytes it stored or read
(:class:`.caching.CachedAnswer`), and serves it without asking Redis for it.

Two rules keep a local entry from ever being an answer the shared cache
could not serve at that moment:

* **Keyed by the full cache key**, which covers the aggregate generation
  (:mod:`.caching`). Every request still learns the current generation from
  the shared mirror (or the database), so after a re-aggregation every
  process looks up new keys at once and no entry of an older generation is
  reached again; those age out of the tier.
* **No longer than the shared entry it copies.** Its deadline is the
  answer's own expiry: for an answer this process computed and stored, the
  moment of storing plus the TTL; for one read from Redis, the entry's
  remaining ``PTTL``, read in the same round trip as the value and counted
  from before that round trip, so the deadline is never later than Redis's
  and no clocks of different machines are compared. So no answer is served
  staler than the shared cache alone would serve it.

Bounded by bytes (the answers' JSON), the least recently used entry leaves
first; an answer larger than the whole budget is not kept. Thread safe: one
lock, and the work under it moves references, never copies bodies.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .caching import CachedAnswer


class NearCache:
    """Most recently used answers of one process, bounded by ``max_bytes`` and by each entry's deadline.

    Deadlines are ``clock()`` values (default :func:`time.monotonic`).
    """

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_bytes <= 0:
            raise ValueError("a near cache needs a positive byte budget (0 means: build none)")
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[CachedAnswer, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        """The bytes of the answers held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedAnswer | None:
        """The answer stored under ``key`` if its deadline has not passed, else None."""
        now = self._clock()
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            answer, deadline = found
            if now >= deadline:
                self._remove(key)
                return None
            self._entries.move_to_end(key)
        # A wrapper of its own per request: whoever parses the fields (the tab, CSV) keeps
        # them in that wrapper, never in the tier, whose budget counts the JSON bytes only.
        return CachedAnswer(answer.raw, answer.digest, answer.complete_through)

    def put(self, key: str, answer: CachedAnswer, deadline: float) -> None:
        """Keep ``answer`` under ``key`` until ``deadline``, evicting the least recently used beyond the budget."""
        size = len(answer.raw)
        if size > self.max_bytes or deadline <= self._clock():
            return
        kept = CachedAnswer(answer.raw, answer.digest, answer.complete_through)  # the bytes, not parsed fields
        with self._lock:
            if key in self._entries:
                self._remove(key)
            self._entries[key] = (kept, deadline)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (evicted, _) = self._entries.popitem(last=False)
                self._bytes -= len(evicted.raw)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _remove(self, key: str) -> None:
        answer, _ = self._entries.pop(key)
        self._bytes -= len(answer.raw)
