"""Where counted API calls wait before the table: a per-process buffer, shipped in batches.

A request appends its latency to its bucket in a dict of its process
(:meth:`CallCounts.request_path`), the bucket keyed by the values the
request had at hand: the day number, the caller's ids (their integers when
they are UUIDs, see :data:`RawKey`), the method, the status code, the route. No request waits on Redis, the
database or a lock: a bucket is a :class:`collections.deque`, whose
``append`` and ``popleft`` are atomic, and the dict only ever gains a
bucket on the request path (``setdefault``). What a call leaves behind until
the next tick is one float, which the garbage collector does not track, so
it makes no collection dearer.

A daemon thread takes the calls every ``push_seconds``: from each bucket
exactly the calls it held when the thread looked (``popleft``, as many as
its length was), summed into the thread's own tally; then it turns the tally
into its stored form: ids in hex, the method and status class, latency in
microseconds (a caller that is not a pair of ids is dropped there and counted
as a capture error), and ships it:

* with Redis (``ANALYTICS_CALL_PATTERNS_REDIS_URL``, default the cache's
  Redis), as one pipelined script call of ``HINCRBY`` into the day's hash
  ``{analytics-callpatterns}:live:{day}``. The script first sets a marker for
  the batch (``SET ... NX``) and adds nothing if it is already there, so a
  batch re-sent after a lost reply is added once. The flush job
  (:func:`.call_flush.flush_redis`) then moves the hashes into the table.
* without Redis, straight into the table every ``flush_seconds``, as a batch
  with its own key (:func:`.call_flush.apply_batch`), so a retried batch is
  added once too.

A bucket found empty at two ticks in a row leaves the dict, so yesterday's
buckets do not stay for the process's life. A request may hold that bucket
already (it looked it up just before) and append to it after it left: such
a bucket reports what it holds when its last reference goes
(:meth:`_Bucket.__del__`, at once in CPython, whose reference counts free
it when the request drops it), and the next tick takes it. No call is lost to
the race between a request and the thread.

When Redis does not answer, the batch stays in the process and is re-sent
on the next tick; new calls keep counting into the tally meanwhile, a bucket
at a time, so a long outage costs memory per bucket, not per call. At a
normal exit (``atexit``, e.g. a gunicorn worker restart) the process ships
what it holds: to Redis, or into the table when Redis is still down. What a
process holds and has not shipped (at most ``push_seconds`` of its calls
with Redis, ``flush_seconds`` without) is lost if the process is killed
(SIGKILL, out of memory): that is the price of not writing anything per
request.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable
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

#: (UTC day number, tenant hex, agent hex or '', method, status class, route) -> [calls, latency us].
LocalKey = tuple[int, Any, Any, str, str, str]
#: A bucket as a request keys it: (days since 1970-01-01 UTC, tenant, agent, method, status code, route).
#: Tenant and agent are the 128-bit integers of the caller's UUIDs (agent None for no agent): ints hash and
#: compare in C, where a UUID's ``__hash__`` and ``__eq__`` are Python calls. A caller given otherwise (ids as
#: text, or not a pair) is kept as the resolver gave it, in the tenant's place, with :data:`AS_GIVEN` as agent.
RawKey = tuple[int, Any, Any, str, int, str]

#: The agent's place in a :data:`RawKey` whose tenant's place holds the caller as the resolver gave it.
AS_GIVEN = object()


class RequestPath(NamedTuple):
    """The buffer's parts a request adds its call with (:meth:`CallCounts.request_path`)."""

    live: dict[RawKey, _Bucket]
    new_bucket: Callable[[RawKey], _Bucket]
    running: list[bool]
    start: Callable[[], None]


class _Bucket(deque):
    """One bucket's calls not taken yet: each call's latency in seconds.

    Requests append, the shipper thread pops from the other end. A bucket
    that left the buffer's dict while a request still held it reports what
    was appended to it afterwards, when its last reference goes: to
    ``strays``, which the shipper drains on its next tick.
    """

    __slots__ = ("key", "strays")

    def __init__(self, key: RawKey, strays: deque[tuple[RawKey, tuple[float, ...]]]) -> None:
        super().__init__()
        self.key = key
        self.strays = strays

    def __del__(self) -> None:
        if self:
            self.strays.append((self.key, tuple(self)))


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
        #: The buckets the requests append to. Requests only add buckets; the shipper alone removes them.
        self._live: dict[RawKey, _Bucket] = {}
        #: (key, latencies) of buckets that left ``_live`` and were appended to afterwards (:class:`_Bucket`).
        self._strays: deque[tuple[RawKey, tuple[float, ...]]] = deque()
        #: Keys of the buckets found empty at the last tick: they leave ``_live`` if empty at this one too.
        self._idle: set[RawKey] = set()
        #: Calls taken from the buckets and not shipped yet: key -> [calls, latency in seconds].
        self._held: dict[RawKey, list[Any]] = {}
        #: A batch shipped but not confirmed, in its stored form: re-sent as it is (same id), never merged.
        self._inflight: tuple[str, dict[LocalKey, list[int]]] | None = None
        #: Held by whoever takes from the buckets or ships: the thread, ``close`` at exit, a test.
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
        ``bucket = live.get(key)``; when None, ``bucket =
        live.setdefault(key, new_bucket(key))``; then ``bucket.append(seconds)``;
        then, while ``running[0]`` is false, ``start()`` (the first call of a
        process starts its shipper thread). No lock: each of these steps is
        one atomic operation, and the shipper only ever removes a bucket it
        found empty twice, whose late calls reach it anyway (:class:`_Bucket`).
        The objects stay the same for the buffer's life (a fork clears the
        dict in place).
        """
        return RequestPath(self._live, self._new_bucket, self._running, self._start)

    def pending(self) -> int:
        """Calls held in this process, not yet shipped."""
        with self._ship_lock:
            held = sum(len(bucket) for bucket in self._buckets(self._live.values()))
            held += sum(len(latencies) for _, latencies in list(self._strays))
            held += sum(c[0] for c in self._held.values())
            if self._inflight is not None:
                held += sum(c[0] for c in self._inflight[1].values())
        return held

    def take(self) -> dict[RawKey, list[Any]]:
        """Every call the buffer holds, taken out of it: key -> [calls, latency in seconds]."""
        with self._ship_lock:
            self._gather()
            taken, self._held = self._held, {}
        return taken

    def ship(self, *, final: bool = False) -> bool:
        """Ship what the process holds; True when nothing is left behind.

        ``final`` (at exit): what Redis does not take goes into the table.
        """
        with self._ship_lock:
            self._gather()
            if self._inflight is None and self._held:
                taken, self._held = self._held, {}
                self._inflight = (uuid.uuid4().hex, stored_form(taken, self._bad_caller))
            batch = self._inflight
            if batch is None:
                return True
            if self.redis is not None and self._push(*batch):
                self._inflight = None
                return not self._held
            if self.redis is None or final:
                try:
                    self.apply(f"{REDIS_PREFIX}:process:{batch[0]}", _buckets(batch[1]))
                except Exception:
                    self.on_error("flush")
                    log.warning("Adding call counts to the table failed; retrying on the next tick.", exc_info=True)
                    return False
                self._inflight = None
                return not self._held
            return False

    def close(self) -> None:
        """Stop the thread and ship what is left (called at exit): a batch in flight, then the rest."""
        self._stop.set()
        try:
            if not self.ship(final=True):
                self.ship(final=True)
        except Exception:
            log.warning("Could not ship the last call counts at exit.", exc_info=True)

    def _new_bucket(self, key: RawKey) -> _Bucket:
        return _Bucket(key, self._strays)

    def _gather(self) -> None:
        """Move the buckets' calls and the strays into ``_held``; retire buckets empty at two ticks running.

        Called with ``_ship_lock`` held. A bucket gives up exactly the calls
        it held when its length was read: requests append at the other end
        meanwhile, and their calls wait for the next tick.
        """
        held, live = self._held, self._live
        idle: set[RawKey] = set()
        for key, bucket in self._buckets(live.items()):
            if not bucket:
                if key not in self._idle:
                    idle.add(key)
                    continue
                # Only this thread removes buckets, so the one under the key is this one. A request that
                # took it before and appends after: the calls go to the strays when it lets go of it.
                del live[key]
            _add(held, key, _drain(bucket))
        strays = self._strays
        for _ in range(len(strays)):
            key, latencies = strays.popleft()
            _add(held, key, latencies)
        self._idle = idle

    @staticmethod
    def _buckets(view: Iterable[Any]) -> list[Any]:
        """``list(view)`` of the live dict, taken again if a request added a bucket while it was copied."""
        while True:
            try:
                return list(view)
            except RuntimeError:  # "dictionary changed size during iteration"
                continue

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

        The lock is reset in place; the next call of the child starts its own
        thread. What the buffer held at the fork is dropped from the child's
        copy: the parent ships it, and a child that shipped it too (at its
        exit, say) would count those calls twice. The parent's buckets report
        to a strays queue that the child no longer drains.
        """
        self._ship_lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._strays = deque()
        self._live.clear()
        self._idle = set()
        self._held = {}
        self._inflight = None
        self._stop = threading.Event()
        self._thread = None
        self._running[0] = False


def _drain(bucket: deque[float]) -> tuple[float, ...]:
    """The latencies a bucket held when its length was read, popped from it (appends go to the other end)."""
    pop = bucket.popleft
    return tuple([pop() for _ in range(len(bucket))])


def _add(held: dict[RawKey, list[Any]], key: RawKey, latencies: tuple[float, ...]) -> None:
    if not latencies:
        return
    tally = held.get(key)
    if tally is None:
        held[key] = [len(latencies), sum(latencies)]
    else:
        tally[0] += len(latencies)
        tally[1] += sum(latencies)


def as_hex(value: Any) -> str:
    """A tenant or agent id as it is shipped: 32 hex digits (from a UUID, or its text in any UUID spelling)."""
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex


def int_hex(value: Any) -> str:
    """A UUID's 128-bit integer (``UUID.int``, as a request keys its bucket) as 32 hex digits."""
    if not isinstance(value, int) or not 0 <= value < 1 << 128:
        raise ValueError(f"not a UUID's integer: {value!r:.80}")
    return f"{value:032x}"


def stored_form(
    counts: dict[RawKey, list[Any]], bad_caller: Callable[[Any], None] = lambda caller: None
) -> dict[LocalKey, list[int]]:
    """The buffer's buckets as they are shipped: UTC day ordinal, ids in hex, method, status class, microseconds.

    Buckets of one id in two spellings (a UUID and its text) merge; a caller
    that is not a pair of ids is dropped and reported to ``bad_caller``.
    """
    out: dict[LocalKey, list[int]] = {}
    for (day, tenant, agent, method, status, route), (calls, seconds) in counts.items():
        caller = tenant if agent is AS_GIVEN else (tenant, agent)
        try:
            if agent is AS_GIVEN:
                tenant, agent = caller
                ids = as_hex(tenant), as_hex(agent) if agent else ""
            else:
                ids = int_hex(tenant), "" if agent is None else int_hex(agent)
            key = (
                day + EPOCH_ORDINAL,
                *ids,
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
