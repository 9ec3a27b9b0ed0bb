"""Orbit ID: a small agent identity provider written by an outside team.

It mounts the analytics plugin the way its README says (entry point, host
contract, configuration), and otherwise does things its own way: other table
names, its own Prometheus exporter on the default registry, its own limiter,
cache and scheduler, htmx 1.x, a strict Content-Security-Policy, and a factory
that tests call once per test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from flask import Flask, Response, render_template
from flask_apscheduler import APScheduler
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from prometheus_flask_exporter import PrometheusMetrics

from . import auth, console
from .extensions import cache, db, migrate
from .settings import DEFAULTS, from_environ

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build Orbit: defaults, then the environment, then ``config`` (tests pass theirs here)."""
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(from_environ(os.environ))
    app.config.update(config or {})

    db.init_app(app)
    migrate.init_app(app, db, directory=app.config["ORBIT_MIGRATIONS_DIR"])
    cache.init_app(app)
    Limiter(get_remote_address, app=app)
    scheduler = APScheduler()
    scheduler.init_app(app)
    PrometheusMetrics(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(console.bp)
    _register_error_pages(app)
    app.after_request(_security_headers)

    for plugin in entry_points(group="agentidp.plugins"):
        plugin.load().init_app(app)

    if app.config["ORBIT_START_SCHEDULER"]:
        scheduler.start(paused=app.config["ORBIT_SCHEDULER_PAUSED"])
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_template("orbit/error.html", title="Page not found"), 404

    @app.errorhandler(429)
    def too_many(error: Exception) -> tuple[str, int]:
        return render_template("orbit/error.html", title="Slow down"), 429

    @app.errorhandler(500)
    def server_error(error: Exception) -> tuple[str, int]:
        return render_template("orbit/error.html", title="Something went wrong"), 500
