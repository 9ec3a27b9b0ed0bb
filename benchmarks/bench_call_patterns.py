"""What the call-pattern hook costs a host request, as a ratio to the same host without it, same run.

Three copies of one minimal host (Flask + Flask-SQLAlchemy on SQLite, the
plugin loaded, a trivial route ``GET /api/ping`` answering ``ok``, a caller
resolver that reads what the host's authentication left in ``g``):

* ``off``: ``ANALYTICS_CALL_PATTERNS_ENABLED`` false (the baseline: the plugin without the hook);
* ``control``: a second copy of ``off``, whose ratio to ``off`` shows the run's noise;
* ``buffer``: the hook on, counts in the process buffer, written to the table by the shipper thread;
* ``redis``: the hook on, the buffer shipped to Redis every second (``REDIS_URL``, default
  ``redis://127.0.0.1:6379/14``; its call-pattern keys are deleted before and after).

Requests are WSGI calls straight into each app (no HTTP server, no test
client), so the host's own cost is as small as a Flask route gets and the
hook's share is as large as it can be. The three apps take turns in short
batches, in a shuffled order each round; a round's ratio compares batches run
moments apart, so load that drifts on a shared machine cancels out. Figures:
the median time per request of each app, the median of the rounds' ratios,
and the hook's own time per request (its before- and after-request functions
timed alone in a request context, resolver included), the absolute cost.

    python benchmarks/bench_call_patterns.py [--rounds 300] [--batch 200]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, g
from flask_sqlalchemy import SQLAlchemy
from werkzeug.test import EnvironBuilder

from agentidp_analytics_plugin import AnalyticsPlugin
from agentidp_analytics_plugin.call_flush import REDIS_PREFIX

TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")
AGENT = uuid.UUID("22222222-2222-4222-8222-222222222222")


def _caller(_request: Any) -> tuple[uuid.UUID, uuid.UUID] | None:
    return g.get("caller")


def build(workdir: str, name: str, **config: Any) -> Flask:
    app = Flask(name)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{workdir}/{name}.sqlite",
        ANALYTICS_SCHEDULER_ENABLED=False,
        ANALYTICS_METRICS_ENABLED=False,
        ANALYTICS_API_TENANT_RESOLVER=lambda _r: None,
        ANALYTICS_UI_TENANT_RESOLVER=lambda _r: None,
        ANALYTICS_CALL_PATTERNS_RESOLVER=_caller,
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

    AnalyticsPlugin(app)
    with app.app_context():
        app.extensions["agentidp_analytics"].upgrade_schema()
    return app


def timer(app: Flask) -> Callable[[int], float]:
    """Seconds per request over ``n`` WSGI calls of GET /api/ping."""
    template = EnvironBuilder(path="/api/ping", method="GET").get_environ()
    wsgi = app.wsgi_app

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        assert status.startswith("200")

    def run(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            environ = dict(template)
            environ["wsgi.input"] = io.BytesIO()
            body = wsgi(environ, start_response)
            b"".join(body)
            if hasattr(body, "close"):
                body.close()
        return (time.perf_counter() - started) / n

    return run


HOOK_RUNS, HOOK_CALLS = 5, 20000


def hook_cost(app: Flask, n: int = HOOK_CALLS) -> float:
    """Seconds per request spent in the hook itself (its after-request function, resolver included)."""
    from flask import Response

    from agentidp_analytics_plugin.capture import STARTED_KEY

    capture = app.extensions["agentidp_analytics"].call_patterns.capture
    response = Response("ok")
    with app.test_request_context("/api/ping") as ctx:
        app.preprocess_request()
        environ = ctx.request.environ
        started = time.perf_counter()
        for _ in range(n):
            environ[STARTED_KEY] = time.perf_counter()  # what the WSGI wrapper does
            capture._finished(response)
        return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()

    import redis

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{REDIS_PREFIX}*"):
        client.delete(key)

    workdir = tempfile.mkdtemp(prefix="analytics-bench-calls-")
    apps = {
        "off": build(workdir, "off", ANALYTICS_CALL_PATTERNS_ENABLED=False),
        "control": build(workdir, "control", ANALYTICS_CALL_PATTERNS_ENABLED=False),
        "buffer": build(workdir, "buffer", ANALYTICS_CALL_PATTERNS_ENABLED=True),
        "redis": build(
            workdir, "redis", ANALYTICS_CALL_PATTERNS_ENABLED=True, ANALYTICS_CALL_PATTERNS_REDIS_URL=redis_url
        ),
    }
    runs = {name: timer(app) for name, app in apps.items()}
    for run in runs.values():  # warm up: imports, first-request set-up, the shipper threads
        run(args.batch)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    ratios: dict[str, list[float]] = {"control": [], "buffer": [], "redis": []}
    order = list(runs)
    shuffle = random.Random(9).shuffle
    for _ in range(args.rounds):
        shuffle(order)
        took = {name: runs[name](args.batch) for name in order}
        for name, value in took.items():
            samples[name].append(value)
        for name in ratios:
            ratios[name].append(took[name] / took["off"])
    own = {name: min(hook_cost(apps[name]) for _ in range(HOOK_RUNS)) * 1e6 for name in ("buffer", "redis")}

    # Every call was counted: ship what the processes hold, then read Redis and the table back.
    sent = (args.rounds + 1) * args.batch + HOOK_RUNS * HOOK_CALLS  # the WSGI calls and the hook-alone calls
    for name in ("buffer", "redis"):
        assert apps[name].extensions["agentidp_analytics"].call_patterns.counts.ship()
    in_redis = sum(
        int(value)
        for key in client.scan_iter(match=f"{REDIS_PREFIX}:live:*")
        for field, value in client.hgetall(key).items()
        if field.startswith(b"c")
    )
    with apps["buffer"].app_context():
        engine = apps["buffer"].extensions["sqlalchemy"].engine
        with engine.connect() as conn:
            in_table = conn.execute(sa.text("SELECT SUM(calls) FROM analytics_call_patterns")).scalar_one()
    for key in client.scan_iter(match=f"{REDIS_PREFIX}*"):
        client.delete(key)

    medians = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.1f}; {args.rounds} rounds x {args.batch} requests per app, shuffled turns"
    )
    print(f"{'host':8} {'us/request':>11} {'ratio (median of rounds)':>25} {'hook alone':>12}")
    print(f"{'off':8} {medians['off']:11.1f} {'1.000':>25} {'-':>12}")
    for name in ("control", "buffer", "redis"):
        ratio = statistics.median(ratios[name])
        alone = f"{own[name]:9.1f} us" if name in own else f"{'-':>12}"
        print(f"{name:8} {medians[name]:11.1f} {ratio:25.3f} {alone}")
    print(f"calls per app: {sent:,}; counted: {in_table:,} in the table (buffer), {in_redis:,} in Redis (redis)")


if __name__ == "__main__":
    main()
