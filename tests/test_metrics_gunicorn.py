"""Multiprocess mode: a real gunicorn with two workers and PROMETHEUS_MULTIPROC_DIR.

The spec's metrics appear once on /metrics, summed over the workers that
served the requests, with the job's last run taken from the database in every
worker, whether the plugin answers /metrics or the host's prometheus-flask-exporter does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest

from api_fixtures import Api
from host_app import HostData
from metrics_helpers import SPEC_METRICS, type_lines, value

pytest.importorskip("gunicorn")  # in requirements-test.txt; missing only outside the test environments

HOST_APP_DIR = Path(__file__).parent / "host_app"
WORKERS = 2
LAST_RUN = "agentidp_analytics_aggregation_job_last_run"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, token: str | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def seeded(make_app):
    """A migrated database with one tenant's usage, rolled up once (the ledger has a last run)."""
    app = make_app()
    host = HostData(app)
    tenant = host.tenant()
    host.events([(tenant, None, date(2026, 1, 5), "api_calls", 3)])
    Api(app).aggregate([date(2026, 1, 5)])
    with app.app_context():
        state = app.extensions["agentidp_analytics"]
        from agentidp_analytics_plugin.job_metrics import last_successful_run

        last_run = last_successful_run(state.engine, state.tables)
    return app.config["SQLALCHEMY_DATABASE_URI"], host.token(tenant), last_run


@pytest.fixture(params=["plugin", "flask"], ids=["plugin answers /metrics", "host exporter answers /metrics"])
def gunicorn(request, seeded, tmp_path):
    database_url, token, last_run = seeded
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
        "HOST_APP_DATABASE_URL": database_url,
        "HOST_APP_EXPORTER": request.param,
    }
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn",
            "--workers", str(WORKERS),
            "--bind", f"127.0.0.1:{port}",
            "--config", str(HOST_APP_DIR / "gunicorn.conf.py"),
            "--chdir", str(tmp_path),  # keep the source tree off sys.path: the installed plugin runs
            "--pythonpath", str(HOST_APP_DIR.parent),
            "host_app.serve:app",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(base + "/")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + server.stdout.read().decode())
            time.sleep(0.2)
        yield base, token, last_run, request.param
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


def served_by_every_worker(base: str, token: str) -> int:
    """usage-summary until each worker has answered at least once; returns the number of requests."""
    pids: set[str] = set()
    sent = 0
    with ThreadPoolExecutor(4) as pool:
        while len(pids) < WORKERS and sent < 400:
            for status, headers, _ in pool.map(lambda _: get(base + "/analytics/usage-summary", token), range(8)):
                assert status == 200
                pids.add(headers["X-Worker-Pid"])
                sent += 1
    assert len(pids) == WORKERS, "the requests never reached every worker"
    return sent


def test_the_metrics_show_once_summed_over_workers(gunicorn):
    base, token, _, _ = gunicorn
    sent = served_by_every_worker(base, token)
    status, _, text = get(base + "/metrics")
    assert status == 200
    for name, kind in SPEC_METRICS:
        assert type_lines(text, name) == [f"# TYPE {name} {kind}"], name
    hits = value(text, "agentidp_analytics_cache_hits_total", endpoint="usage-summary")
    misses = value(text, "agentidp_analytics_cache_misses_total", endpoint="usage-summary")
    assert hits + misses == sent
    assert misses == WORKERS  # each worker's in-process cache missed once: both workers' counts are in the sum


def test_every_scrape_reports_the_last_run_from_the_database(gunicorn):
    base, token, last_run, _ = gunicorn
    served_by_every_worker(base, token)
    for _ in range(2 * WORKERS):
        _, _, text = get(base + "/metrics")
        assert value(text, LAST_RUN) == pytest.approx(last_run, abs=0.001)
        assert type_lines(text, LAST_RUN) == [f"# TYPE {LAST_RUN} gauge"]


def test_endpoint_series_exist_at_zero_before_any_request(gunicorn):
    base, _, _, _ = gunicorn
    _, _, text = get(base + "/metrics")
    for endpoint in ("usage-summary", "agent-activity", "token-trends"):
        assert value(text, "agentidp_analytics_cache_hits_total", endpoint=endpoint) == 0
        assert value(text, "agentidp_analytics_query_duration_ms_count", endpoint=endpoint) == 0
