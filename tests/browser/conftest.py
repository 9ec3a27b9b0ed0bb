"""Browser fixtures: Debian's Chromium, the demo host IdP and the gallery, served live.

Playwright drives /usr/bin/chromium (never a downloaded browser). Two servers
run for the session: the reference IdP seeded with the demo tenants (SQLite in
a temporary folder, started as the documented commands would) and a bare app
serving the gallery under the same strict CSP as the host. Screenshots go to
test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from agentidp_analytics_plugin import config as settings
from agentidp_analytics_plugin.blueprint import analytics_blueprint

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("ANALYTICS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The host's policy (reference_idp/headers.py says the same): nothing inline.
STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'"
DEMO_PASSWORD = "agentidp-demo"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # Reduced motion turns chart animation off, so charts are final when ready.
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "reduced_motion": "reduce"}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


#: How to run the demo host's CLI: (flask command, environment, folder), set by ``demo_url``.
DEMO_COMMAND: list[Any] = []


@pytest.fixture(scope="session")
def demo_token(demo_url: str) -> str:
    """A tenant API token of acme, for the JSON API (made by the host's ``flask idp token``)."""
    flask, env, folder = DEMO_COMMAND
    done = subprocess.run([*flask, "idp", "token", "acme"], env=env, cwd=folder, check=True, capture_output=True)
    return done.stdout.decode().strip().splitlines()[-1]


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference IdP with the demo tenants, run the way its README says."""
    folder = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite'}",
        "SECRET_KEY": "browser-tests",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "examples" / "reference_idp"), os.environ.get("PYTHONPATH")])
        ),
    }
    env.pop("REDIS_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "reference_idp"]
    # The probe agents: names like markup and 190 characters long, which the tab must show as text.
    subprocess.run(
        [*flask, "idp", "seed-demo", "--with-probe-agents"], env=env, cwd=folder, check=True, capture_output=True
    )
    port = _free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen(
        [*flask, "run", "--port", str(port), "--no-reload"], env=env, cwd=folder, stdout=log, stderr=log
    )
    DEMO_COMMAND[:] = [flask, env, folder]
    try:
        _wait_for(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def gallery_app() -> Flask:
    app = Flask(__name__)
    settings.apply_defaults(app.config)
    app.config.update(ANALYTICS_GALLERY_ENABLED=True)
    app.register_blueprint(analytics_blueprint())

    @app.get("/favicon.ico")
    def favicon() -> tuple[str, int]:
        return "", 204

    @app.after_request
    def strict_csp(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = STRICT_CSP
        return response

    return app


@pytest.fixture(scope="session")
def gallery_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, gallery_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    # The first gallery page builds every mock tenant (a real roll-up of 500 agents x 90 days on
    # SQLite): tens of seconds on a busy two-core machine, past Playwright's page timeout. Build them
    # here, once, so each test times the page it drives rather than that set-up.
    with urllib.request.urlopen(f"{url}/analytics/_gallery", timeout=600) as warm:
        assert warm.status == 200
    try:
        yield url
    finally:
        server.shutdown()


@pytest.fixture
def console_errors(page: Any) -> Iterator[list[str]]:
    """Every console error, page error, CSP violation or dialog; tests assert it stays empty."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))

    def on_dialog(dialog: Any) -> None:
        seen.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield seen


def wait_for_charts(page: Any, count: int | None = None, timeout: float = 15_000) -> None:
    """Wait until every chart canvas on the page is built (and, if given, that there are ``count``)."""
    page.wait_for_function(
        """(count) => {
            const canvases = document.querySelectorAll('canvas[data-chart]');
            if (count !== null && canvases.length !== count) return false;
            return canvases.length > 0 && Array.from(canvases).every(c => c.dataset.chartReady === 'true');
        }""",
        arg=count,
        timeout=timeout,
    )


def chart_info(page: Any, canvas_id: str) -> dict[str, Any]:
    """What the live Chart.js instance on a canvas holds: type, labels, points per dataset."""
    return page.evaluate(
        """(id) => {
            const chart = window.analyticsCharts.get(id);
            if (!chart) return null;
            return {
                type: chart.config.type,
                labels: chart.data.labels || [],
                points: chart.data.datasets.map(d => d.data.length),
                datasets: chart.data.datasets.map(d => d.label),
            };
        }""",
        canvas_id,
    )


def log_in(page: Any, base_url: str, slug: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", f"admin@{slug}.example")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
