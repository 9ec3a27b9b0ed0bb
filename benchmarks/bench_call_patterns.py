"""What the plugin and its call-pattern hook cost a host request, as ratios to the bare host, same run.

Copies of one minimal host (Flask + Flask-SQLAlchemy on SQLite, a trivial
route ``GET /api/ping`` answering ``ok``, the host's own authentication in a
``before_request`` leaving the caller in ``g.caller``):

* ``bare``: the host without the plugin (the baseline);
* ``control``: a second copy of ``bare``, whose ratio to ``bare`` shows the run's noise;
* ``off``: the plugin loaded, ``ANALYTICS_CALL_PATTERNS_ENABLED`` false;
* ``buffer``: the hook on, reading the caller from ``g.caller``
  (``ANALYTICS_CALL_PATTERNS_CALLER_ATTR``), counts in the process buffer, written to the table
  by the shipper thread;
* ``redis``: as ``buffer``, the buffer shipped to Redis every second (``REDIS_URL``, default
  ``redis://127.0.0.1:6379/14``; its call-pattern keys are deleted before and after);
* ``resolver``: as ``buffer``, but the host tells who called through a resolver function,
  ``ANALYTICS_CALL_PATTERNS_RESOLVER``, that reads ``g.get("caller")`` (its reach through
  Flask's ``g`` proxy is the host's code, and shows what such a resolver adds).

Requests are WSGI calls straight into each app (no HTTP server, no test
client), so the host's own cost is as small as a Flask route gets and the
plugin's share is as large as it can be. The apps take turns in short
batches, in a shuffled order each round; a round's ratio compares batches run
moments apart, so load that drifts on a shared machine cancels out. Figures:
the median time per request of each app, the median of the rounds' ratios to
``bare`` and to ``off``, and the hook's own time per request (its wrapper timed
alone in a request context around a dispatch that answers at once, resolver included).

``--callgrind`` adds a second measure that a busy machine does not blur: the
instructions one request executes (valgrind's callgrind, run once with no
requests and once with ``--instructions-requests``, after the same warm-up;
the difference divided by the requests), per app.

    python benchmarks/bench_call_patterns.py [--rounds 300] [--batch 200] [--callgrind]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, g
from flask_sqlalchemy import SQLAlchemy
from werkzeug.test import EnvironBuilder

from agentidp_analytics_plugin import AnalyticsPlugin, call_counts
from agentidp_analytics_plugin.call_flush import REDIS_PREFIX

TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")
AGENT = uuid.UUID("22222222-2222-4222-8222-222222222222")


def _caller(_request: Any) -> tuple[uuid.UUID, uuid.UUID] | None:
    return g.get("caller")


def build(workdir: str, name: str, plugin: bool = True, **config: Any) -> Flask:
    app = Flask(name)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{workdir}/{name}.sqlite",
        ANALYTICS_SCHEDULER_ENABLED=False,
        ANALYTICS_METRICS_ENABLED=False,
        ANALYTICS_API_TENANT_RESOLVER=lambda _r: None,
        ANALYTICS_UI_TENANT_RESOLVER=lambda _r: None,
        **config,
    )
    db = SQLAlchemy()
    db.init_app(app)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE tenants (id CHAR(32) PRIMARY KEY, tier VARCHAR(20))"))
        conn.execute(sa.text("CREATE TABLE agents (id CHAR(32) PRIMARY KEY, tenant_id CHAR(32), name TEXT)"))
        conn.execute(
            sa.text(
                "CREATE TABLE usage_events (tenant_id CHAR(32), agent_id CHAR(32), date DATE, "
                "metric_type VARCHAR(64), count BIGINT)"
            )
        )
        conn.execute(sa.text("INSERT INTO tenants VALUES (:t, 'pro')"), {"t": TENANT.hex})

    @app.before_request
    def authenticate() -> None:  # the host's own authentication, already there without the plugin
        g.caller = (TENANT, AGENT)

    @app.get("/api/ping")
    def ping() -> str:
        return "ok"

    if plugin:
        AnalyticsPlugin(app)
        with app.app_context():
            app.extensions["agentidp_analytics"].upgrade_schema()
    return app


def requester(app: Flask) -> Callable[[int], None]:
    """``n`` WSGI calls of GET /api/ping."""
    template = EnvironBuilder(path="/api/ping", method="GET").get_environ()
    wsgi = app.wsgi_app

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        assert status.startswith("200")

    def run(n: int) -> None:
        for _ in range(n):
            environ = dict(template)
            environ["wsgi.input"] = io.BytesIO()
            body = wsgi(environ, start_response)
            b"".join(body)
            if hasattr(body, "close"):
                body.close()

    return run


def timer(app: Flask) -> Callable[[int], float]:
    """Seconds per request over ``n`` WSGI calls of GET /api/ping."""
    run = requester(app)

    def timed(n: int) -> float:
        started = time.perf_counter()
        run(n)
        return (time.perf_counter() - started) / n

    return timed


VARIANTS: dict[str, dict[str, Any]] = {
    "bare": {"plugin": False},
    "control": {"plugin": False},
    "off": {"ANALYTICS_CALL_PATTERNS_ENABLED": False},
    "buffer": {"ANALYTICS_CALL_PATTERNS_ENABLED": True, "ANALYTICS_CALL_PATTERNS_CALLER_ATTR": "caller"},
    "redis": {
        "ANALYTICS_CALL_PATTERNS_ENABLED": True,
        "ANALYTICS_CALL_PATTERNS_CALLER_ATTR": "caller",
        "ANALYTICS_CALL_PATTERNS_REDIS_URL": None,
    },
    "resolver": {"ANALYTICS_CALL_PATTERNS_ENABLED": True, "ANALYTICS_CALL_PATTERNS_RESOLVER": _caller},
}


def build_variant(workdir: str, name: str, redis_url: str) -> Flask:
    config = dict(VARIANTS[name])
    if "ANALYTICS_CALL_PATTERNS_REDIS_URL" in config:
        config["ANALYTICS_CALL_PATTERNS_REDIS_URL"] = redis_url
    return build(workdir, name, **config)


WARM_UP = 500


def instructions_child(name: str, requests: int, redis_url: str) -> None:
    """What runs under valgrind: build one app, warm it up, then ``requests`` more requests.

    With the hook on, the buffer is turned into its shipped form at the end
    (ids in hex, method and status classes: the shipper's work, once per
    bucket) and counted with the requests; only the send to Redis or the
    table is left out.
    """
    app = build_variant(tempfile.mkdtemp(prefix="analytics-bench-calls-cg-"), name, redis_url)
    patterns = app.extensions["agentidp_analytics"].call_patterns if name not in ("bare", "control") else None
    run = requester(app)
    run(WARM_UP)
    run(requests)
    if patterns is not None:
        call_counts.stored_form(patterns.counts.take())


def instructions_per_request(name: str, requests: int, redis_url: str) -> float:
    """Instructions one request of ``name`` executes: two callgrind runs, the difference over ``requests``."""
    counts = []
    for n in (0, requests):
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--instructions-of",
                name,
                "--instructions-requests",
                str(n),
            ],
            env={**os.environ, "PYTHONHASHSEED": "0", "REDIS_URL": redis_url},
            capture_output=True,
            text=True,
            check=True,
        )
        (line,) = [text for text in done.stderr.splitlines() if "Collected :" in text]
        counts.append(int(line.rsplit(":", 1)[1]))
    return (counts[1] - counts[0]) / requests


HOOK_RUNS, HOOK_CALLS = 5, 20000


def hook_cost(app: Flask, n: int = HOOK_CALLS) -> float:
    """Seconds per request spent counting it: the hook's wrapper around a dispatch that answers at once."""
    capture = app.extensions["agentidp_analytics"].call_patterns.capture
    clock = time.perf_counter
    with app.test_request_context("/api/ping"):
        app.preprocess_request()
        response = app.make_response("ok")
        counted = capture.wrap(lambda: response)
        started = clock()
        for _ in range(n):
            counted()
        return (clock() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--callgrind", action="store_true", help="also count instructions per request (valgrind)")
    parser.add_argument("--instructions-requests", type=int, default=2000)
    parser.add_argument("--instructions-of", help=argparse.SUPPRESS)  # the child run under valgrind
    args = parser.parse_args()

    import redis

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    if args.instructions_of:
        # The shipper's ticks depend on wall time, which valgrind stretches: only the request path is counted.
        VARIANTS[args.instructions_of].update(
            ANALYTICS_CALL_PATTERNS_PUSH_SECONDS=3600, ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS=3600
        )
        instructions_child(args.instructions_of, args.instructions_requests, redis_url)
        return
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{REDIS_PREFIX}*"):
        client.delete(key)

    workdir = tempfile.mkdtemp(prefix="analytics-bench-calls-")
    apps = {name: build_variant(workdir, name, redis_url) for name in VARIANTS}
    runs = {name: timer(app) for name, app in apps.items()}
    for run in runs.values():  # warm up: imports, first-request set-up, the shipper threads
        run(args.batch)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    ratios: dict[str, list[float]] = {name: [] for name in runs}
    to_off: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    shuffle = random.Random(9).shuffle
    for _ in range(args.rounds):
        shuffle(order)
        took = {name: runs[name](args.batch) for name in order}
        for name, value in took.items():
            samples[name].append(value)
            ratios[name].append(value / took["bare"])
            to_off[name].append(value / took["off"])
    own = {name: min(hook_cost(apps[name]) for _ in range(HOOK_RUNS)) * 1e6 for name in ("buffer", "redis", "resolver")}

    # Every call was counted: ship what the processes hold, then read Redis and the table back.
    sent = (args.rounds + 1) * args.batch + HOOK_RUNS * HOOK_CALLS  # the WSGI calls and the hook-alone calls
    for name in ("buffer", "redis", "resolver"):
        assert apps[name].extensions["agentidp_analytics"].call_patterns.counts.ship()
    in_redis = sum(
        int(value)
        for key in client.scan_iter(match=f"{REDIS_PREFIX}:live:*")
        for field, value in client.hgetall(key).items()
        if field.startswith(b"c")
    )
    in_table = {}
    for name in ("buffer", "resolver"):
        with apps[name].app_context():
            engine = apps[name].extensions["sqlalchemy"].engine
            with engine.connect() as conn:
                in_table[name] = conn.execute(sa.text("SELECT SUM(calls) FROM analytics_call_patterns")).scalar_one()
    for key in client.scan_iter(match=f"{REDIS_PREFIX}*"):
        client.delete(key)

    instructions = {}
    if args.callgrind:
        instructions = {
            name: instructions_per_request(name, args.instructions_requests, redis_url) for name in VARIANTS
        }

    medians = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.1f}; {args.rounds} rounds x {args.batch} requests per app, shuffled turns"
    )
    header = f"{'host':8} {'us/request':>11} {'vs bare':>8} {'vs off':>7} {'+us vs bare':>12} {'hook alone':>11}"
    if instructions:
        header += f" {'instr/request':>14} {'vs bare':>8} {'vs off':>7}"
    print(header)
    for name in VARIANTS:
        line = (
            f"{name:8} {medians[name]:11.1f} {statistics.median(ratios[name]):8.3f} "
            f"{statistics.median(to_off[name]):7.3f} {medians[name] - medians['bare']:12.1f} "
            + (f"{own[name]:8.1f} us" if name in own else f"{'-':>11}")
        )
        if instructions:
            line += (
                f" {instructions[name]:14,.0f} {instructions[name] / instructions['bare']:8.3f}"
                f" {instructions[name] / instructions['off']:7.3f}"
            )
        print(line)
    print(
        f"calls per app: {sent:,}; counted: {in_table['buffer']:,} and {in_table['resolver']:,} in the tables "
        f"(buffer, resolver), {in_redis:,} in Redis (redis)"
    )


if __name__ == "__main__":
    main()
