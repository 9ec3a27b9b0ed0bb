"""The fault suite's stack and load: the reference host under gunicorn, on a PostgreSQL and a Redis of its own.

Everything listens on loopback ports chosen at start; the shared servers of
other test runs are never touched. :class:`Load` keeps a few client threads
sending a mix of API requests (several tenants, all three endpoints, some
refused on purpose) and records every answer, so each scenario can assert on
exactly what clients saw, and :class:`Report` turns those records into the
figures of ``docs/reliability.md``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services import PostgresInstance, RedisInstance, free_port, pg_bin

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
CLIENTS = 12


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "FLASK_"))}
    env.update(extra)
    return env


@dataclass
class Stack:
    """PostgreSQL, Redis and gunicorn (several workers) running the reference host with the plugin."""

    workdir: Path
    postgres: PostgresInstance = field(init=False)
    redis: RedisInstance = field(init=False)
    port: int = field(default_factory=free_port)
    gunicorn: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.postgres = PostgresInstance()
        self.redis = RedisInstance(self.workdir)

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def env(self) -> dict[str, str]:
        return _env(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis.url,
            SECRET_KEY="fault-suite",
            FLASK_APP="reference_idp",
            PYTHONPATH=str(Path(__file__).parent),
        )

    def flask(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "flask", *args],
            env=self.env(), cwd=self.workdir, capture_output=True, text=True, timeout=timeout, check=True,
        )
        return result.stdout

    def start(self) -> None:
        self.postgres.init()
        self.postgres.start()
        self.redis.start()
        self.flask("idp", "seed-demo")
        for slug in ("acme", "globex", "initech"):
            self.tokens[slug] = self.flask("idp", "token", slug).strip().splitlines()[-1]
        self.start_gunicorn()

    def start_gunicorn(self) -> None:
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        self.gunicorn = subprocess.Popen(
            [
                gunicorn, "--workers", str(WORKERS), "--bind", f"127.0.0.1:{self.port}",
                "--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning",
                "--error-logfile", str(self.workdir / "gunicorn.log"), "faults_wsgi:app",
            ],
            env=self.env(), cwd=self.workdir,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(self.worker_pids()) == WORKERS and self._answers():
                return
            time.sleep(0.2)
        raise TimeoutError("gunicorn did not come up")

    def _answers(self) -> bool:
        try:
            return request(self.port, "/analytics/usage-summary", None)[0] == 401
        except OSError:
            return False

    def worker_pids(self) -> set[int]:
        assert self.gunicorn is not None
        path = Path(f"/proc/{self.gunicorn.pid}/task/{self.gunicorn.pid}/children")
        return set(map(int, path.read_text().split())) if path.exists() else set()

    def stop(self) -> None:
        if self.gunicorn is not None:
            self.gunicorn.send_signal(signal.SIGTERM)
            try:
                self.gunicorn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.gunicorn.kill()
        self.redis.stop()
        self.postgres.destroy()


def request(port: int, path: str, token: str | None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@dataclass
class Answer:
    phase: str
    started: float
    seconds: float
    path: str
    status: int | None  # None: no HTTP answer at all (connection refused, reset, timed out)
    json_error: str | None = None
    retry_after: bool = False
    content_type: str = ""
    failure: str = ""


class Load:
    """Client threads sending a mix of requests until stopped; every answer is recorded."""

    def __init__(self, stack: Stack, seed: int = 7) -> None:
        self.stack = stack
        self.answers: list[Answer] = []
        self.phase = "warm-up"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._threads: list[threading.Thread] = []

    def requests(self) -> list[tuple[str, str | None]]:
        """(path, token): paying tenants on every endpoint; a free tenant (403), bad token (401), bad range (400)."""
        today = time.strftime("%Y-%m-%d", time.gmtime())
        sixty_days_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 60 * 86400))
        paths = [
            "/analytics/usage-summary",
            f"/analytics/usage-summary?from={sixty_days_ago}",
            "/analytics/agent-activity",
            "/analytics/token-trends",
            "/analytics/token-trends?granularity=week",
            f"/analytics/token-trends?to={today}",
        ]
        paying = [self.stack.tokens["acme"], self.stack.tokens["globex"]]
        mix = [(p, t) for p in paths for t in paying] * 4
        mix += [
            ("/analytics/usage-summary", self.stack.tokens["initech"]),
            ("/analytics/token-trends", "idp_bad"),
            ("/analytics/usage-summary?from=2020-01-01", self.stack.tokens["acme"]),
        ]
        return mix

    def start(self) -> Load:
        mix = self.requests()
        for n in range(CLIENTS):
            rng = random.Random(self._rng.random() + n)
            thread = threading.Thread(target=self._client, args=(mix, rng), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _client(self, mix: list[tuple[str, str | None]], rng: random.Random) -> None:
        while not self._stop.is_set():
            path, token = rng.choice(mix)
            phase, started = self.phase, time.monotonic()
            try:
                status, headers, body = request(self.stack.port, path, token)
            except OSError as exc:
                answer = Answer(phase, started, time.monotonic() - started, path, None, failure=repr(exc))
            else:
                answer = Answer(
                    phase, started, time.monotonic() - started, path, status,
                    json_error=_error_code(headers, body),
                    retry_after="retry-after" in headers,
                    content_type=headers.get("content-type", ""),
                )
            with self._lock:
                self.answers.append(answer)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def of(self, phase: str) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.phase == phase]


def _error_code(headers: dict[str, str], body: bytes) -> str | None:
    if not headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        return json.loads(body).get("error", {}).get("code")
    except (ValueError, AttributeError):
        return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Report:
    """Figures of one run, written as JSON and as the Markdown of docs/reliability.md."""

    def __init__(self, fault_seconds: float, frozen_seconds: float) -> None:
        self.fault_seconds = fault_seconds
        self.frozen_seconds = frozen_seconds
        self.started = time.time()
        self.phases: list[dict[str, Any]] = []
        self.sections: dict[str, dict[str, Any]] = {}

    def phase(self, name: str, answers: list[Answer], **extra: Any) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for a in answers:
            key = str(a.status) if a.status is not None else "no answer"
            statuses[key] = statuses.get(key, 0) + 1
        seconds = [a.seconds for a in answers if a.status is not None]
        outages = [a.seconds for a in answers if a.status == 503]
        entry = {
            "phase": name,
            "requests": len(answers),
            "statuses": dict(sorted(statuses.items())),
            "p50_ms": round(percentile(seconds, 50) * 1000, 1),
            "p95_ms": round(percentile(seconds, 95) * 1000, 1),
            "p99_ms": round(percentile(seconds, 99) * 1000, 1),
            "max_ms": round(max(seconds, default=0) * 1000, 1),
            "slowest_503_ms": round(max(outages) * 1000, 1) if outages else None,
            **extra,
        }
        self.phases.append(entry)
        return entry

    def machine(self) -> dict[str, Any]:
        cpu = ""
        with contextlib.suppress(OSError, StopIteration):
            cpu = next(
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            )
        pg = subprocess.run([pg_bin("postgres"), "--version"], capture_output=True, text=True, check=False)
        pg_version = pg.stdout.strip()
        redis_version = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.split(" sha=")[0]
        return {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "postgresql": pg_version,
            "redis": redis_version.strip(),
            "os": platform.platform(),
        }

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        data = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 1),
            "machine": self.machine(),
            "workers": WORKERS,
            "clients": CLIENTS,
            "fault_seconds": self.fault_seconds,
            "frozen_seconds": self.frozen_seconds,
            "phases": self.phases,
            **self.sections,
        }
        (directory / "reliability.json").write_text(json.dumps(data, indent=2) + "\n")
        path = directory / "reliability.md"
        path.write_text(render_markdown(data))
        return path


def render_markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        "# Reliability: the fault suite's figures",
        "",
        "Written by `tests/faults` (tox env `faults`, part of `scripts/test`) from one run; re-run it and",
        "copy `test-artifacts/faults/reliability.md` here to refresh. Every request is sent on loopback to",
        f"gunicorn ({data['workers']} sync workers) running the reference host with the plugin, on a",
        "PostgreSQL and a Redis the suite starts for itself, by",
        f"{data['clients']} client threads sending a mix of the three API endpoints for two paying tenants, a",
        "free-tier tenant (403), an invalid token (401) and a too long period (400), with the plugin's",
        "default database bounds.",
        "",
        f"Run: {data['date']}, {data['seconds']} s in all. Machine: {m['cpu']}, {m['cores']} cores, "
        f"Python {m['python']}, {m['postgresql']}, {m['redis']}.",
        "",
        "## Under load and faults",
        "",
        "| phase | requests | statuses | p50 ms | p95 ms | p99 ms | max ms | slowest 503 ms | recovery | workers |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for p in data["phases"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in p["statuses"].items())
        recovery = p.get("recovery", "")
        workers = p.get("workers", "")
        lines.append(
            f"| {p['phase']} | {p['requests']} | {statuses} | {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} "
            f"| {p['max_ms']} | {p['slowest_503_ms'] or ''} | {recovery} | {workers} |"
        )
    totals = data.get("totals")
    if totals:
        lines += [
            "",
            f"In all: {totals['requests']} requests, {totals['no_answer']} without an answer, "
            f"{totals['other_5xx']} 5xx other than the JSON 503.",
        ]
    lines += [
        "",
        "Every 503 above is the API's JSON `SERVICE_UNAVAILABLE` with `Retry-After`; no request got a",
        "5xx of another kind, an HTML page or no answer. Each fault lasts "
        f"{data['fault_seconds']} s inside its phase (the freeze "
        f"{data['frozen_seconds']} s: longer than the round-trip bound",
        "and the connect timeout together, so every worker meets the bound); latencies",
        "are the clients' (gunicorn's queue included: while the database is frozen each sync worker",
        "spends up to the round-trip bound on a request, 6 s by default, so the other requests queue).",
        "\"recovery\" is the time from the database (or Redis) being back to the first request answered",
        "200, then to the last 503. \"workers\" compares gunicorn's worker processes before and after.",
        "",
    ]
    for title, section in (
        ("## The aggregation, killed and doubled", data.get("aggregation")),
        ("## Generated requests (schemathesis)", data.get("schemathesis")),
    ):
        if section:
            lines += [title, ""]
            lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in section.items()]
            lines.append("")
    return "\n".join(lines)


def count_schemathesis_cases(output: str) -> int | None:
    """The number of generated test cases schemathesis reports in its summary."""
    match = re.search(r"(\d[\d,]*) generated", output)
    return int(match.group(1).replace(",", "")) if match else None
