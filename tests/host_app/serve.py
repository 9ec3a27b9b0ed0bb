"""The test host as a WSGI app for gunicorn, configured from the environment.

``HOST_APP_DATABASE_URL`` picks the database; ``HOST_APP_EXPORTER=flask``
gives the host its own prometheus-flask-exporter, set up before the plugins
load. Each response names the worker that served it (``X-Worker-Pid``) so
tests can tell that several workers answered.
"""

from __future__ import annotations

import os

from flask import Flask, Response

from host_app import create_host_app


def _with_exporter(app: Flask) -> None:
    from prometheus_flask_exporter import PrometheusMetrics

    PrometheusMetrics(app)


def _name_the_worker(response: Response) -> Response:
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response


app = create_host_app(
    os.environ["HOST_APP_DATABASE_URL"],
    before_plugins=_with_exporter if os.environ.get("HOST_APP_EXPORTER") == "flask" else None,
    TESTING=False,
    ANALYTICS_RATELIMIT="100000 per minute",  # tests send bursts to reach every worker
)
app.after_request(_name_the_worker)
