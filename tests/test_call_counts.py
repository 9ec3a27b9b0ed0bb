"""The process's buffer of call counts: no lock on the request path, and still every call shipped once.

Requests append to a bucket while the shipper thread takes from it and
retires buckets left idle; these tests drive the buffer directly (its
request-path protocol, or the real hook in a bare Flask app), shipping into
a list instead of the table.
"""

from __future__ import annotations

import gc
import sys
import threading
import uuid

import pytest
import redis
from flask import Flask, g

from agentidp_analytics_plugin.call_counts import CallCounts
from agentidp_analytics_plugin.capture import CallCapture

TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")
AGENTS = [uuid.UUID(int=(0x22222222 << 96) + n) for n in range(1, 9)]
ROUTE = "/api/things"


class Shipped:
    """Where the buffer ships to: every batch it applied, by its key."""

    def __init__(self) -> None:
        self.batches: dict[str, dict] = {}

    def __call__(self, batch_key: str, buckets: dict) -> None:
        assert batch_key not in self.batches, "a batch was applied twice"
        self.batches[batch_key] = buckets

    def calls(self) -> int:
        return sum(int(calls) for batch in self.batches.values() for calls, _ in batch.values())

    def milliseconds(self) -> float:
        return sum(ms for batch in self.batches.values() for _, ms in batch.values())


@pytest.fixture
def shipped() -> Shipped:
    return Shipped()


@pytest.fixture
def counts(shipped) -> CallCounts:
    """A buffer without Redis whose thread never ticks on its own: the test ships."""
    return CallCounts(None, shipped, push_seconds=3600, flush_seconds=3600)


def _key(agent: uuid.UUID = AGENTS[0]) -> tuple:
    return (20_000, TENANT.int, agent.int, "GET", 200, ROUTE)


def _bucket(counts: CallCounts, key: tuple):
    """What a request does before its append: look the bucket up, or add it."""
    live, new_bucket, _, _ = counts.request_path()
    bucket = live.get(key)
    return bucket if bucket is not None else live.setdefault(key, new_bucket(key))


def test_a_bucket_empty_at_two_ticks_in_a_row_leaves_the_buffer(counts):
    _bucket(counts, _key()).append(0.001)
    live = counts.request_path().live
    counts.ship()
    counts.ship()
    assert _key() in live  # empty once: kept, the next call finds it
    counts.ship()
    assert _key() not in live


def test_a_call_appended_to_a_bucket_after_it_left_the_buffer_is_shipped(counts, shipped):
    held = _bucket(counts, _key())  # a request looked the bucket up, then was switched out
    held.append(0.001)
    for _ in range(3):  # its first call shipped; then empty at two ticks: retired
        counts.ship()
    assert _key() not in counts.request_path().live
    held.append(0.002)  # the request's late call, into the retired bucket
    del held  # the request lets go of it
    assert counts.pending() == 1
    assert counts.ship()
    assert (shipped.calls(), round(shipped.milliseconds(), 6)) == (2, 3.0)


def test_calls_wait_per_bucket_not_per_call_while_redis_is_down(shipped):
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    counts = CallCounts(down, shipped, push_seconds=3600, flush_seconds=3600)
    for _ in range(2):
        for _ in range(500):
            _bucket(counts, _key()).append(0.001)
        assert not counts.ship()  # the first batch stays in flight; the next calls wait behind it
    assert len(counts._held) == 1 and not counts.request_path().live[_key()]
    assert counts.pending() == 1000


def test_a_call_leaves_no_object_the_garbage_collector_tracks(counts):
    bucket = _bucket(counts, _key())
    bucket.append(0.001)
    assert not any(gc.is_tracked(latency) for latency in bucket)


def test_requests_racing_the_shipper_through_the_hook_lose_and_double_count_nothing(counts, shipped):
    app = Flask(__name__)
    app.add_url_rule(ROUTE, "things", lambda: "ok")
    errors: list[str] = []
    capture = CallCapture(counts, None, lambda e: False, lambda p: False, errors.append, caller_attr="caller")
    response = app.response_class("ok")
    threads, calls = 4, 5_000
    done = threading.Event()

    def requests(offset: int) -> None:
        counted = capture.wrap(lambda: response)
        with app.test_request_context(ROUTE):
            for n in range(calls):
                # Callers in turn, so buckets go idle, are retired and come back while calls race the drain.
                g.caller = (TENANT, AGENTS[(offset + n // 7) % len(AGENTS)])
                counted()

    def ship() -> None:
        while not done.is_set():
            counts.ship()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython will
    shipper = threading.Thread(target=ship)
    workers = [threading.Thread(target=requests, args=(n,)) for n in range(threads)]
    try:
        shipper.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        done.set()
        shipper.join()
        sys.setswitchinterval(interval)
    assert counts.ship()
    assert (shipped.calls(), counts.pending(), errors) == (threads * calls, 0, [])
    assert len(shipped.batches) > 1  # the thread shipped while the requests ran
