"""Two app hosts, as an install past one machine runs them: the reference IdP under two gunicorn servers.

Each server is its own process tree on its own port with its own Prometheus
multiprocess folder, as two machines would be; both use the same PostgreSQL
primary, read replica and Redis. Their logs (the plugin's INFO lines included)
go to a file each, so a test can tell which host ran the nightly job.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from services import free_port

WSGI = """
import logging
logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s %(levelname)s %(message)s")
from reference_idp import create_app
app = create_app()
"""


def get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def flask(env: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class AppHost:
    """One gunicorn server (two workers) of the reference IdP."""

    name: str
    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        folder = self.workdir / f"{self.name}-prometheus"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (self.workdir / "two_hosts_wsgi.py").write_text(WSGI)
        env = {**self.env, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(self.workdir)}
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{self.port}", "--timeout", "30",
                 "--graceful-timeout", "5", "two_hosts_wsgi:app"],
                env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(self.port, "/analytics/usage-summary")[0] == 401:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"app host {self.name} did not come up; see {self.log}")

    def metric(self, line_start: str) -> float | None:
        """The value of the first ``/metrics`` sample whose line starts with ``line_start``."""
        status, body = get(self.port, "/metrics")
        assert status == 200
        for line in body.decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


def host_env(**settings: str) -> dict[str, str]:
    """The environment of an app host: this one's, minus any ANALYTICS_/FLASK_ leftovers, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "FLASK_", "PROMETHEUS_"))}
    return {**env, "FLASK_APP": "reference_idp", "SECRET_KEY": "two-hosts", **settings}
