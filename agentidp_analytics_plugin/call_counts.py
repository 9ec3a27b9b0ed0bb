"""Where counted API calls wait before the table: a per-process buffer, shipped in batches.

A request adds one to its bucket in a dict of its process
(:meth:`CallCounts.request_path`: a dict update under a lock, the bucket keyed by
the values the request had at hand: the day number, the caller as the
resolver gave it, the method, the status code, the route); no request ever
waits on Redis or the database, and no request leaves an object behind for
each call (calls kept one by one would each survive the garbage
collector's young generation and make its collections dearer for every
request of the process). A daemon thread ships the buffer every
``push_seconds``, first turning each bucket into its stored form: ids in
hex, the method and status class, latency in microseconds (a caller that is
not a pair of ids is dropped there and counted as a capture error):

* with Redis (``ANALYTICS_CALL_PATTERNS_REDIS_URL``, default the cache's
  Redis), as one pipelined script call of ``HINCRBY`` into the day's hash
  ``{analytics-callpatterns}:live:{day}``. The script first sets a marker for
  the batch (``SET ... NX``) and adds nothing if it is already there, so a
  batch re-sent after a lost reply is added once. The flush job
  (:func:`.call_flush.flush_redis`) then moves the hashes into the table.
* without Redis, straight into the table every ``flush_seconds``, as a batch
  with its own key (:func:`.call_flush.apply_batch`), so a retried batch is
  added once too.

When Redis does not answer, the batch stays in the process and is re-sent
on the next tick (new calls keep counting meanwhile); the host's requests
never notice. At a normal exit (``atexit``, e.g. a gunicorn worker restart)
the process ships what it holds: to Redis, or into the table when Redis is
still down. What a process holds and has not shipped (at most
``push_seconds`` of its calls with Redis, ``flush_seconds`` without) is lost
if the process is killed (SIGKILL, out of memory): that is the price of not
writing anything per request.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable
from datetime import date
from typing import Any, NamedTuple

from .call_buckets import EPOCH_ORDINAL, METHOD_OF, OTHER_METHOD, STATUS_CLASS_OF, status_class
from .call_flush import LIVE_PREFIX, REDIS_PREFIX, BucketKey, FlushReport, encode_field

log = logging.getLogger(__name__)

#: Seconds a batch marker is kept in Redis: far longer than any retry.
MARKER_TTL = 86400

#: KEYS[1]: the batch's marker; KEYS[2..]: the live day hashes.
#: ARGV[1]: marker TTL; then (key index, field, increment) triples.
PUSH_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  for i = 2, #ARGV, 3 do
    redis.call('HINCRBY', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  end
  return 1
end
return 0
"""

#: (UTC day number, tenant hex, agent hex or '', method, status class, route) -> [calls, latency us];
#: in the live buffer the tenant and agent are still as the resolver gave them (UUID, text; agent None).
LocalKey = tuple[int, Any, Any, str, str, str]
#: A bucket as a request keys it: (days since 1970-01-01 UTC, the resolver's answer, method, status code, route);
#: its value is [calls, latency in seconds].
RawKey = tuple[int, Any, str, int, str]


class RequestPath(NamedTuple):
    """The buffer's parts a request updates (:meth:`CallCounts.request_path`)."""

    lock: Any
    live: dict[RawKey, list[Any]]
    running: list[bool]
    start: Callable[[], None]


_instances: weakref.WeakSet[CallCounts] = weakref.WeakSet()


class CallCounts:
    """One process's buffer of call counts and the thread that ships it (see the module doc)."""

    def __init__(
        self,
        redis_client: Any | None,
        apply: Callable[[str, dict[BucketKey, list[float]]], FlushReport],
        *,
        push_seconds: float,
        flush_seconds: float,
        on_error: Callable[[str], None] = lambda stage: None,
    ) -> None:
        self.redis = redis_client
        self.apply = apply
        self.interval = push_seconds if redis_client is not None else flush_seconds
        self.on_error = on_error
        self._lock = threading.Lock()
        #: The buckets the requests add to; cleared in place when shipped, so the requests' reference stays valid.
        self._live: dict[RawKey, list[Any]] = {}
        #: A batch shipped but not confirmed, in its stored form: re-sent as it is (same id), never merged.
        self._inflight: tuple[str, dict[LocalKey, list[int]]] | None = None
        self._ship_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: One flag the requests read: False until this process's shipper thread runs (again, after a fork).
        self._running = [False]
        self._stop = threading.Event()
        self._script: Any = None
        _instances.add(self)

    def request_path(self) -> RequestPath:
        """The buffer's parts a request adds its call with, inline (:meth:`.capture.CallCapture.wrap`).

        A Python call would cost more than the update itself. The protocol:
        under ``lock``, ``live[key]`` becomes ``[1, seconds]`` or its two
        fields grow by one call and ``seconds``; then, while ``running[0]``
        is false, ``start()`` (the first call of a process starts its
        shipper thread). The objects stay the same for the
        buffer's life: shipping clears ``live`` in place, and a fork resets
        the lock in place.
        """
        return RequestPath(self._lock, self._live, self._running, self._start)

    def pending(self) -> int:
        """Calls held in this process, not yet shipped."""
        with self._lock:
            held = sum(c[0] for c in self._live.values())
            if self._inflight is not None:
                held += sum(c[0] for c in self._inflight[1].values())
        return held

    def ship(self, *, final: bool = False) -> bool:
        """Ship what the process holds; True when nothing is left behind.

        ``final`` (at exit): what Redis does not take goes into the table.
        """
        with self._ship_lock:
            with self._lock:
                taken: dict[RawKey, list[Any]] | None = None
                if self._inflight is None and self._live:
                    taken = self._live.copy()
                    self._live.clear()
            if taken is not None:
                # Into the stored form outside the lock the requests take; ship() alone changes _inflight.
                converted = (uuid.uuid4().hex, stored_form(taken, self._bad_caller))
                with self._lock:
                    self._inflight = converted
            batch = self._inflight
            if batch is None:
                return True
            if self.redis is not None and self._push(*batch):
                self._done(batch)
                return self._drained()
            if self.redis is None or final:
                try:
                    self.apply(f"{REDIS_PREFIX}:process:{batch[0]}", _buckets(batch[1]))
                except Exception:
                    self.on_error("flush")
                    log.warning("Adding call counts to the table failed; retrying on the next tick.", exc_info=True)
                    return False
                self._done(batch)
                return self._drained()
            return False

    def close(self) -> None:
        """Stop the thread and ship what is left (called at exit)."""
        self._stop.set()
        try:
            self.ship(final=True)
            if self._live:
                self.ship(final=True)
        except Exception:
            log.warning("Could not ship the last call counts at exit.", exc_info=True)

    def _drained(self) -> bool:
        with self._lock:
            return self._inflight is None and not self._live

    def _done(self, batch: tuple[str, dict[LocalKey, list[int]]]) -> None:
        with self._lock:
            if self._inflight is batch:
                self._inflight = None

    def _push(self, batch_id: str, counts: dict[LocalKey, list[int]]) -> bool:
        keys: list[str] = [f"{REDIS_PREFIX}:pushed:{batch_id}"]
        index: dict[int, int] = {}
        args: list[Any] = [MARKER_TTL]
        for (day, tenant, agent, method, status, route), (calls, micros) in counts.items():
            position = index.get(day)
            if position is None:
                keys.append(f"{LIVE_PREFIX}{date.fromordinal(day).isoformat()}")
                position = index[day] = len(keys)
            name = encode_field(tenant, agent, method, status, route)
            args += [position, f"c\x1f{name}", calls, position, f"l\x1f{name}", micros]
        try:
            if self._script is None:
                self._script = self.redis.register_script(PUSH_SCRIPT)
            self._script(keys=keys, args=args)
        except Exception:
            self.on_error("push")
            log.warning("Sending call counts to Redis failed; keeping them in the process.", exc_info=True)
            return False
        return True

    def _bad_caller(self, caller: Any) -> None:
        self.on_error("capture")
        log.warning("A call-pattern resolver gave a caller that is not (tenant_id, agent_id): %.80r", caller)

    def _start(self) -> None:
        with self._ship_lock:
            if self._running[0]:
                return
            self._thread = threading.Thread(target=self._run, name="analytics-call-counts", daemon=True)
            self._thread.start()
            self._running[0] = True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.ship()
            except Exception:
                log.exception("Shipping call counts failed.")

    def _after_fork(self) -> None:
        """In a forked child: no shipper thread runs yet, no lock is held, and the parent's calls are the parent's.

        The locks are reset in place (the requests hold a reference to them);
        the next call of the child starts its own thread. What the buffer
        held at the fork is dropped from the child's copy: the parent ships
        it, and a child that shipped it too (at its exit, say) would count
        those calls twice.
        """
        for lock in (self._lock, self._ship_lock):
            lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._live.clear()
        self._inflight = None
        self._stop = threading.Event()
        self._thread = None
        self._running[0] = False


def as_hex(value: Any) -> str:
    """A tenant or agent id as it is shipped: 32 hex digits (from a UUID, or its text in any UUID spelling)."""
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex


def stored_form(
    counts: dict[RawKey, list[Any]], bad_caller: Callable[[Any], None] = lambda caller: None
) -> dict[LocalKey, list[int]]:
    """The buffer's buckets as they are shipped: UTC day ordinal, ids in hex, method, status class, microseconds.

    Buckets of one id in two spellings (a UUID and its text) merge; a caller
    that is not a pair of ids is dropped and reported to ``bad_caller``.
    """
    out: dict[LocalKey, list[int]] = {}
    for (day, caller, method, status, route), (calls, seconds) in counts.items():
        try:
            tenant, agent = caller
            key = (
                day + EPOCH_ORDINAL,
                as_hex(tenant),
                as_hex(agent) if agent else "",
                METHOD_OF.get(method, OTHER_METHOD),
                STATUS_CLASS_OF.get(status) or status_class(status),
                route,
            )
        except (TypeError, ValueError, AttributeError):
            bad_caller(caller)
            continue
        micros = round(seconds * 1_000_000)
        held = out.get(key)
        if held is None:
            out[key] = [calls, micros]
        else:
            held[0] += calls
            held[1] += micros
    return out


def _buckets(counts: dict[LocalKey, list[int]]) -> dict[BucketKey, list[float]]:
    out: dict[BucketKey, list[float]] = {}
    for (day, tenant, agent, method, status, route), (calls, micros) in counts.items():
        key: BucketKey = (
            uuid.UUID(tenant),
            uuid.UUID(agent) if agent else None,
            date.fromordinal(day),
            method,
            route,
            status,
        )
        out[key] = [calls, micros / 1000.0]
    return out


@atexit.register
def _ship_all_at_exit() -> None:
    for counts in list(_instances):
        counts.close()


def _reset_after_fork() -> None:
    for counts in list(_instances):
        counts._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
